"""Finite-difference checks of BPTT in float64, on both engines.

The loss is a random linear functional of every output and final state,
L = sum(y * wy) + sum(hT * wh) (+ sum(cT * wc)), so that dy and dstate both
reach every parameter. Central differences with eps = 1e-6 have truncation
and rounding error near 1e-10 relative here; BPTT must agree to 1e-6.
"""

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import (CELL_VARIANTS, assert_grad_close, make_layer, numeric_grad, state_like,
                      variant_id)

MAX_REL_ERR = 1e-6


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


LAYER_CONFIGS = [
    dict(num_layers=1, bidirectional=False, batch_first=False, lengths=None),
    dict(num_layers=2, bidirectional=True, batch_first=False, lengths=[4, 2, 3]),
    dict(num_layers=1, bidirectional=True, batch_first=True, lengths=[1, 4, 4]),
]


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
@pytest.mark.parametrize("config", LAYER_CONFIGS,
                         ids=["plain", "2layers-bidir-lengths", "bidir-batchfirst-lengths"])
def test_layer_gradients_match_finite_differences(backend, variant, config, rng):
    config = dict(config)
    lengths = config.pop("lengths")
    T, N, I, H = 4, 3, 3, 4
    layer = make_layer(variant, input_size=I, hidden_size=H, dtype=np.float64, seed=7, **config)
    if variant[0] == "SRN" and variant[1]["nonlinearity"] == "relu":
        # keep pre-activations away from relu's kink, where differences are not derivatives
        layer.params_flat[...] += 0.05
    x = rng.standard_normal((N, T, I) if layer.batch_first else (T, N, I))
    state0 = state_like(layer, N, rng)
    y, state = layer.forward(x, state0, lengths=lengths)
    wy = rng.standard_normal(y.shape)
    w_state = tuple(rng.standard_normal(s.shape) for s in as_tuple(state))

    def loss():
        y, state = layer.forward(x, state0, lengths=lengths)
        return float((y * wy).sum() + sum((s * w).sum() for s, w in zip(as_tuple(state), w_state)))

    loss()
    layer.zero_grad()
    dstate = w_state if isinstance(state, tuple) else w_state[0]
    dx, dstate0 = layer.backward(wy, dstate)
    for name, p in layer.params.items():
        assert_grad_close(name, layer.grads[name], numeric_grad(loss, p), MAX_REL_ERR)
    assert_grad_close("dx", dx, numeric_grad(loss, x), MAX_REL_ERR)
    for k, (s0, ds0) in enumerate(zip(as_tuple(state0), as_tuple(dstate0))):
        assert_grad_close(f"dstate0[{k}]", ds0, numeric_grad(loss, s0), MAX_REL_ERR)


FUNCTIONAL = {
    "srn": lambda x, s, W, U, b, c, **kw: F.srn_forward(x, s[0], W, U, b, c, **kw),
    "lstm": lambda x, s, W, U, b, c, **kw: F.lstm_forward(x, s[0], s[1], W, U, b, c, **kw),
    "gru": lambda x, s, W, U, b, c, **kw: F.gru_forward(x, s[0], W, U, b, c, **kw),
}


@pytest.mark.parametrize("cell,kw", [("srn", {}), ("srn", {"residual": True}), ("lstm", {}),
                                     ("gru", {"reset_after": True}),
                                     ("gru", {"reset_after": False})])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_functional_gradients_match_finite_differences(backend, cell, kw, bias, reverse, rng):
    T, N, I, H = 3, 2, 3, 4
    G = F.GATES[cell]
    x = rng.standard_normal((T, N, I))
    W = rng.standard_normal((G * H, I)) * 0.5
    U = rng.standard_normal((G * H, H)) * 0.5
    b = rng.standard_normal(G * H) * 0.5 if bias else None
    c = rng.standard_normal(G * H) * 0.5 if bias else None
    states = [rng.standard_normal((N, H)) for _ in range(2 if cell == "lstm" else 1)]
    lengths = np.array([3, 2])
    out = FUNCTIONAL[cell](x, states, W, U, b, c, lengths=lengths, reverse=reverse, **kw)
    weights = [rng.standard_normal(a.shape) for a in out[:-1]]

    def loss():
        out = FUNCTIONAL[cell](x, states, W, U, b, c, lengths=lengths, reverse=reverse,
                               train=False, **kw)
        return float(sum((a * w).sum() for a, w in zip(out[:-1], weights)))

    cache = out[-1]
    if cell == "lstm":
        g = F.lstm_backward(weights[0], weights[1], weights[2], cache)
    else:
        g = getattr(F, f"{cell}_backward")(weights[0], weights[1], cache)
    checks = [("dx", x, g["dx"]), ("dW_ih", W, g["dW_ih"]), ("dW_hh", U, g["dW_hh"]),
              ("dh0", states[0], g["dh0"])]
    if cell == "lstm":
        checks.append(("dc0", states[1], g["dc0"]))
    if bias:
        checks += [("db_ih", b, g["db_ih"]), ("db_hh", c, g["db_hh"])]
    else:
        assert g["db_ih"] is None and g["db_hh"] is None
    for name, arr, analytic in checks:
        assert_grad_close(name, analytic, numeric_grad(loss, arr), MAX_REL_ERR)


def test_gradients_accumulate_until_zero_grad(backend, rng):
    layer = fastrnn.LSTM(3, 4, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    dy = rng.standard_normal((5, 2, 4))
    layer.forward(x)
    layer.backward(dy)
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for k in once:
        np.testing.assert_allclose(layer.grads[k], 2 * once[k], rtol=1e-12, atol=1e-14)
    layer.zero_grad()
    assert not layer.grads_flat.any()
