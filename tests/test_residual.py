"""The residual recurrence h_t = h_{t-1} + f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh):
exact BPTT (finite differences in float64), and its gradient highway."""

import numpy as np
import pytest

import fastrnn
from fastrnn import diagnostics as dg
from fastrnn import functional as F
from conftest import numeric_grad


def _loss(x, h0, ws, dy, dhT, **kw):
    y, hT, _ = F.srn_forward(x, h0, *ws, train=False, residual=True, **kw)
    return float(np.sum(dy * y) + np.sum(dhT * hT))



@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
def test_residual_srn_finite_differences(backend, nonlinearity, reverse, lengths):
    rng = np.random.default_rng(0)
    T, N, I, H = 5, 3, 2, 4
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((N, H))
    ws = [0.5 * rng.standard_normal(s) for s in ((H, I), (H, H), (H,), (H,))]
    if nonlinearity == "relu":       # keep pre-activations away from the kink
        ws[2] += 0.3
    dy = rng.standard_normal((T, N, H))
    dhT = rng.standard_normal((N, H))
    kw = dict(nonlinearity=nonlinearity, reverse=reverse, lengths=lengths)
    _, _, cache = F.srn_forward(x, h0, *ws, residual=True, **kw)
    res = F.srn_backward(dy, dhT, cache)
    def f():
        return _loss(x, h0, ws, dy, dhT, **kw)
    checks = [("dW_ih", ws[0]), ("dW_hh", ws[1]), ("db_ih", ws[2]), ("db_hh", ws[3]),
              ("dx", x), ("dh0", h0)]
    for name, arr in checks:
        np.testing.assert_allclose(res[name], numeric_grad(f, arr), rtol=1e-6, atol=1e-8,
                                   err_msg=f"residual SRN {nonlinearity}, reverse={reverse}, "
                                           f"lengths={lengths}: {name}")
    if lengths is not None:          # padding gets no gradient, and the outputs there are 0
        y, _, _ = F.srn_forward(x, h0, *ws, residual=True, train=False, **kw)
        assert not y[4:, 1].any() and not res["dx"][2:, 1].any()


def test_residual_layer_finite_differences(backend):
    """A 2-layer bidirectional residual SRN, every parameter, the input and the state."""
    rng = np.random.default_rng(1)
    T, N, I, H = 4, 2, 2, 3
    layer = fastrnn.SRN(I, H, num_layers=2, bidirectional=True, residual=True,
                        dtype=np.float64, seed=5)
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((4, N, H))
    lengths = [4, 3]
    dy = rng.standard_normal((T, N, 2 * H))
    dhT = rng.standard_normal((4, N, H))
    def f():
        y, hT = layer.forward(x, h0, lengths=lengths, train=False)
        return float(np.sum(dy * y) + np.sum(dhT * hT))
    layer.zero_grad()
    layer.forward(x, h0, lengths=lengths)
    dx, dh0 = layer.backward(dy, dhT)
    grads = layer.grads_flat.copy()
    np.testing.assert_allclose(grads, numeric_grad(f, layer.params_flat), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dh0, numeric_grad(f, h0), rtol=1e-6, atol=1e-8)


def test_residual_forward_is_the_recurrence(backend):
    rng = np.random.default_rng(2)
    T, N, I, H = 6, 2, 3, 4
    x = rng.standard_normal((T, N, I))
    ws = [0.4 * rng.standard_normal(s) for s in ((H, I), (H, H), (H,), (H,))]
    y, hT, _ = F.srn_forward(x, None, *ws, residual=True, train=False)
    h = np.zeros((N, H))
    for t in range(T):
        h = h + np.tanh(x[t] @ ws[0].T + ws[2] + h @ ws[1].T + ws[3])
        np.testing.assert_allclose(y[t], h, rtol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_residual_identity_path_carries_the_gradient_unchanged(backend, nonlinearity):
    """With g = 0 (zero weights) the step Jacobian is I: ||dL/dh_k|| is constant,
    where the plain SRN's gradient is 0 after one step."""
    T = 50
    layer = fastrnn.SRN(2, 4, residual=True, nonlinearity=nonlinearity, dtype=np.float64)
    layer.params_flat[...] = 0
    x = np.random.default_rng(0).standard_normal((T, 3, 2))
    lags, norms = dg.gradient_flow(layer, x).by_lag()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-14)
    J = dg.step_jacobians(layer, x)
    np.testing.assert_array_equal(J, np.broadcast_to(np.eye(4), J.shape))
    plain = fastrnn.SRN(2, 4, nonlinearity=nonlinearity, dtype=np.float64)
    plain.params_flat[...] = 0
    lags, norms = dg.gradient_flow(plain, x).by_lag()
    assert norms[0] == pytest.approx(1.0) and not norms[1:].any()
