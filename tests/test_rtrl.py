"""RTRL: forward-mode gradients equal BPTT's, shared weights, online learning."""

import numpy as np
import pytest

import fastrnn
from fastrnn import functional as F
from fastrnn.rtrl import RTRL, rtrl_cost

from conftest import CELL_VARIANTS, make_layer, variant_id

VARIANTS = CELL_VARIANTS + [("SRN", {"nonlinearity": "tanh", "bias": False}),
                            ("LSTM", {"bias": False})]


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_rtrl_equals_bptt(backend, variant):
    rng = np.random.default_rng(0)
    T, N, I, H = 7, 3, 2, 4
    layer = make_layer(variant, input_size=I, hidden_size=H, dtype=np.float64, seed=1)
    lstm = isinstance(layer, fastrnn.LSTM)
    x = rng.standard_normal((T, N, I))
    dy = rng.standard_normal((T, N, H))          # a loss at every step
    dhT, dcT = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    y, _ = layer.forward(x, (h0[None], c0[None]) if lstm else h0[None])
    layer.zero_grad()
    layer.backward(dy, (dhT[None], dcT[None]) if lstm else dhT[None])
    bptt = layer.grads_flat.copy()

    rt = RTRL(layer).reset(N, h0, c0 if lstm else None)
    g = np.zeros(rt.num_params)
    for t in range(T):
        h = rt.step(x[t])
        np.testing.assert_allclose(h, y[t], rtol=1e-12, atol=1e-14)
        dh = dy[t] + (dhT if t == T - 1 else 0)
        g += rt.grad(dh, dcT if (lstm and t == T - 1) else None)
    scale = np.abs(bptt).max()
    np.testing.assert_allclose(g, bptt, rtol=0, atol=1e-10 * scale,
                               err_msg=f"{variant_id(variant)}: RTRL vs BPTT")
    # the flat layout is the layer's: the split views line up with the named grads
    parts = rt.split(g)
    np.testing.assert_allclose(parts["dW_hh"], layer.grads["weight_hh_l0"], atol=1e-10 * scale)
    if layer.bias:
        np.testing.assert_allclose(parts["db_ih"], layer.grads["bias_ih_l0"], atol=1e-10 * scale)
    else:
        assert parts["db_ih"] is None


def test_rtrl_from_weights_equals_functional_bptt(backend):
    rng = np.random.default_rng(4)
    T, N, I, H = 9, 2, 3, 5
    ws = [0.5 * rng.standard_normal(s) for s in ((3 * H, I), (3 * H, H), (3 * H,), (3 * H,))]
    x = rng.standard_normal((T, N, I))
    _, hT, cache = F.gru_forward(x, None, *ws, reset_after=False)
    v = rng.standard_normal((N, H))
    ref = F.gru_backward(None, v, cache)
    rt = RTRL.from_weights("gru", *ws, reset_after=False)
    rt.forward(x)
    g = rt.split(rt.grad(v))
    for key in ("dW_ih", "dW_hh", "db_ih", "db_hh"):
        np.testing.assert_allclose(g[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)
    with pytest.raises(TypeError, match="C-contiguous"):
        RTRL.from_weights("gru", np.asfortranarray(ws[0]), *ws[1:])
    with pytest.raises(ValueError, match="dc"):
        rt.grad(v, v)


def test_rtrl_shares_the_layers_weights_and_grads():
    rng = np.random.default_rng(1)
    layer = fastrnn.SRN(2, 3, dtype=np.float64, seed=0)
    rt = RTRL(layer).reset(2)
    x = rng.standard_normal((4, 2, 2))
    rt.step(x[0])
    layer.params["weight_hh_l0"][...] *= 0.5            # an in-place update by someone else
    h = rt.step(x[1])
    W_ih, W_hh = layer.params["weight_ih_l0"], layer.params["weight_hh_l0"]
    b = layer.params["bias_ih_l0"] + layer.params["bias_hh_l0"]
    # recompute: step 0 with the old W_hh does not depend on it (h0 = 0)
    h_0 = np.tanh(x[0] @ W_ih.T + b)
    np.testing.assert_allclose(h, np.tanh(x[1] @ W_ih.T + h_0 @ W_hh.T + b), rtol=1e-13)
    layer.zero_grad()
    g = rt.accumulate(np.ones((2, 3)))
    assert g is layer.grads_flat and np.array_equal(layer.grads_flat, rt.grad(np.ones((2, 3))))
    before = layer.params_flat.copy()
    rt.sgd(np.ones((2, 3)), lr=0.1)
    np.testing.assert_allclose(layer.params_flat, before - 0.1 * rt.grad(np.ones((2, 3))))
    with pytest.raises(ValueError, match="num_layers"):
        RTRL(fastrnn.SRN(2, 3, num_layers=2))
    with pytest.raises(RuntimeError, match="reset"):
        RTRL(fastrnn.GRU(2, 3)).step(np.zeros((1, 2)))


def test_rtrl_learns_online_on_an_unbounded_stream():
    """Echo the input from 2 steps back, updating every step; no sequence boundaries."""
    rng = np.random.default_rng(0)
    H = 8
    layer = fastrnn.SRN(1, H, dtype=np.float64, seed=3)
    rt = RTRL(layer).reset(1)
    W_out = np.zeros((1, H))

    def stream():
        while True:                      # unbounded
            yield rng.uniform(-1, 1, size=(1, 1))

    past = [np.zeros((1, 1))] * 2
    losses = []
    for t, x_t in enumerate(stream()):
        h = rt.step(x_t)
        err = h @ W_out.T - past[-2]
        losses.append(float(err[0, 0] ** 2))
        rt.sgd(err @ W_out, lr=0.05)     # the recurrent weights, by RTRL
        W_out -= 0.05 * err.T @ h        # the readout
        past = [past[-1], x_t]
        if t == 3999:
            break
    early, late = np.mean(losses[:300]), np.mean(losses[-300:])
    assert rt.t == 4000
    assert late < 0.2 * early, (early, late)
    assert late < 0.05                   # the variance of the target is 1/3


def test_rtrl_cost_is_s_squared_p():
    c = rtrl_cost("srn", 2, 32)
    assert c["params"] == 32 * (2 + 32 + 2) and c["state_size"] == 32
    assert c["madds_per_step"] == 32 ** 2 * c["params"]
    lstm = rtrl_cost("lstm", 3, 8, bias=False, batch=4)
    assert lstm["state_size"] == 16 and lstm["params"] == 4 * 8 * (3 + 8)
    assert lstm["sensitivity_floats"] == 4 * 16 * lstm["params"]
    rt = RTRL(fastrnn.LSTM(3, 8, bias=False)).reset(4)
    assert rt.S.shape == (4, 16, lstm["params"])
