"""Initializers: per-gate-block statistics, PyTorch's gains, layers built by name, errors."""

import math

import numpy as np
import pytest

import fastrnn
from fastrnn import init

H, X, G = 64, 48, 4


def blocks(w, gates=G):
    h = w.shape[0] // gates
    return [w[k * h:(k + 1) * h] for k in range(gates)]


def test_xavier_uniform_bound_and_spread_per_gate_block():
    w = np.empty((G * H, X))
    init.xavier_uniform_(w, gates=G, rng=0)
    bound = math.sqrt(6.0 / (H + X))      # fans of ONE block, not of the stacked matrix
    for b in blocks(w):
        assert np.abs(b).max() <= bound
        assert np.abs(b).max() > 0.95 * bound
        assert b.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("fn,std", [
    (lambda w: init.xavier_normal_(w, gates=G, rng=1), math.sqrt(2.0 / (H + X))),
    (lambda w: init.kaiming_normal_(w, gates=G, rng=2), math.sqrt(2.0) / math.sqrt(X)),
    (lambda w: init.kaiming_uniform_(w, gates=G, rng=3), math.sqrt(2.0) / math.sqrt(X)),
    (lambda w: init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh", gates=G, rng=4),
     (5 / 3) / math.sqrt(H)),
])
def test_std_of_each_block(fn, std):
    w = fn(np.empty((G * H, X)))
    for b in blocks(w):
        assert b.std() == pytest.approx(std, rel=0.06)
        assert abs(b.mean()) < 0.1 * std


def test_gains_equal_torch():
    torch = pytest.importorskip("torch")
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))


def test_xavier_bound_equals_torch_on_one_block():
    torch = pytest.importorskip("torch")
    t = torch.empty(H, X, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(t, gain=2.0)
    ours = init.xavier_uniform_(np.empty((H, X)), gain=2.0, rng=0)
    # same distribution U(-a, a): both maxima approach the same bound a
    a = 2.0 * math.sqrt(6.0 / (H + X))
    assert np.abs(ours).max() <= a and t.abs().max().item() <= a
    assert np.abs(ours).max() > 0.95 * a and t.abs().max().item() > 0.95 * a


@pytest.mark.parametrize("rows,cols", [(16, 16), (16, 24), (16, 8)])
def test_orthogonal_per_block(rows, cols):
    w = init.orthogonal_(np.empty((3 * rows, cols)), gain=1.5, gates=3, rng=5)
    for b in blocks(w, 3):
        gram = b @ b.T if rows <= cols else b.T @ b
        np.testing.assert_allclose(gram, 2.25 * np.eye(min(rows, cols)), atol=1e-12)
    if rows == cols:   # the stacked matrix is not one orthogonal matrix: blocks are separate
        assert not np.allclose(w[:rows] @ w[rows:2 * rows].T, 0, atol=1e-3)


def test_identity_per_block():
    w = init.identity_(np.full((3 * 5, 5), 7.0), gates=3)
    for b in blocks(w, 3):
        np.testing.assert_array_equal(b, np.eye(5))


def test_lstm_forget_bias():
    layer = fastrnn.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    before = layer.state_dict()
    init.lstm_forget_bias_(layer, 1.0)
    for name, p in layer.params.items():
        if name.startswith("bias_ih"):
            np.testing.assert_array_equal(p[5:10], 1.0)
        elif name.startswith("bias_hh"):
            np.testing.assert_array_equal(p[5:10], 0.0)
        if name.startswith("bias"):
            np.testing.assert_array_equal(np.delete(p, range(5, 10)),
                                          np.delete(before[name], range(5, 10)))
        else:
            np.testing.assert_array_equal(p, before[name])


def test_layer_built_with_a_scheme_by_name():
    lstm = fastrnn.LSTM(6, 8, init="keras", dtype=np.float64, seed=0)
    for b in blocks(lstm.params["weight_hh_l0"]):
        np.testing.assert_allclose(b @ b.T, np.eye(8), atol=1e-12)
    bound = math.sqrt(6.0 / (8 + 6))
    assert np.abs(lstm.params["weight_ih_l0"]).max() <= bound
    f = lstm.params["bias_ih_l0"] + lstm.params["bias_hh_l0"]
    np.testing.assert_array_equal(f[8:16], 1.0)
    np.testing.assert_array_equal(np.delete(f, range(8, 16)), 0.0)

    irnn = fastrnn.SRN(2, 10, nonlinearity="relu", init="irnn", dtype=np.float64, seed=1)
    np.testing.assert_array_equal(irnn.params["weight_hh_l0"], np.eye(10))
    np.testing.assert_array_equal(irnn.params["bias_ih_l0"], 0)
    assert 0 < irnn.params["weight_ih_l0"].std() < 0.01

    gru = fastrnn.GRU(4, 6, init="orthogonal", seed=2)
    assert gru.dtype == np.float32
    for b in blocks(gru.params["weight_hh_l0"], 3):
        np.testing.assert_allclose(b @ b.T, np.eye(6), atol=1e-5)


def test_default_is_unchanged_and_a_partial_dict_keeps_the_rest():
    a = fastrnn.GRU(4, 6, seed=3)
    b = fastrnn.GRU(4, 6, seed=3, init=None)
    np.testing.assert_array_equal(a.params_flat, b.params_flat)
    k = 1 / math.sqrt(6)
    assert np.abs(a.params_flat).max() <= k            # PyTorch's uniform(-1/sqrt(H), 1/sqrt(H))
    c = fastrnn.GRU(4, 6, seed=3, init={"weight_hh": "orthogonal", "bias_hh": 0.5})
    np.testing.assert_array_equal(c.params["weight_ih_l0"], a.params["weight_ih_l0"])
    np.testing.assert_array_equal(c.params["bias_ih_l0"], a.params["bias_ih_l0"])
    np.testing.assert_array_equal(c.params["bias_hh_l0"], 0.5)
    assert not np.allclose(c.params["weight_hh_l0"], a.params["weight_hh_l0"])


def test_initialize_is_reproducible_and_accepts_callables():
    a = fastrnn.SRN(3, 4, dtype=np.float64, seed=0)
    b = fastrnn.SRN(3, 4, dtype=np.float64, seed=9)
    init.initialize(a, "xavier_normal", seed=5)
    init.initialize(b, "xavier_normal", seed=5)
    np.testing.assert_array_equal(a.params_flat, b.params_flat)
    init.initialize(a, {"weight_ih": lambda blk, rng: blk.fill(0.25)})
    np.testing.assert_array_equal(a.params["weight_ih_l0"], 0.25)


def test_errors_leave_the_layer_unchanged():
    layer = fastrnn.GRU(3, 4, seed=0)
    before = layer.params_flat.copy()
    with pytest.raises(ValueError, match="scheme"):
        init.initialize(layer, "glorious")
    with pytest.raises(ValueError, match="LSTM"):
        init.initialize(layer, {"forget_bias": 1.0})
    with pytest.raises(ValueError, match="keys"):
        init.initialize(layer, {"weights": "orthogonal"})
    with pytest.raises(ValueError, match="initializer"):
        init.initialize(layer, {"weight_hh": "nope"})

    def boom(block, rng):
        if block.ndim == 1:
            raise RuntimeError("boom")
        block.fill(9.0)
    with pytest.raises(RuntimeError, match="boom"):
        init.initialize(layer, {"weight_hh": boom, "bias": boom})
    np.testing.assert_array_equal(layer.params_flat, before)
    with pytest.raises(TypeError, match="SRN, LSTM or GRU"):
        init.initialize(fastrnn.Linear(2, 2), "orthogonal")
    with pytest.raises(ValueError, match="gates"):
        init.xavier_uniform_(np.empty((10, 3)), gates=4)
    with pytest.raises(TypeError, match="floating"):
        init.orthogonal_(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="scheme"):
        fastrnn.LSTM(2, 3, init="bogus")
    with pytest.raises(ValueError, match="bias=False"):
        fastrnn.LSTM(2, 3, bias=False, init="keras")
