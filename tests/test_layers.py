"""The layer API: shapes, lengths semantics, dtypes, state_dict, and every documented error."""

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import CELL_VARIANTS, make_layer, state_like, variant_id

VARIANTS = pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


# --- shapes and parameters -----------------------------------------------------

@VARIANTS
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_output_and_state_shapes(backend, variant, bidirectional, batch_first, rng):
    layer = make_layer(variant, input_size=3, hidden_size=5, num_layers=2,
                       bidirectional=bidirectional, batch_first=batch_first, seed=0)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((4, 6, 3) if batch_first else (6, 4, 3)).astype(np.float32)
    y, state = layer.forward(x)
    assert y.shape == ((4, 6, D * 5) if batch_first else (6, 4, D * 5))
    assert y.dtype == np.float32
    for s in as_tuple(state):
        assert s.shape == (2 * D, 4, 5) and s.dtype == np.float32
    dx, dstate0 = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
    for s in as_tuple(dstate0):
        assert s.shape == (2 * D, 4, 5)


@pytest.mark.parametrize("cls,G", [(fastrnn.SRN, 1), (fastrnn.LSTM, 4), (fastrnn.GRU, 3)])
def test_parameter_names_shapes_and_order_are_pytorchs(cls, G):
    layer = cls(3, 5, num_layers=2, bidirectional=True)
    expected = []
    for k in range(2):
        for suffix in ("", "_reverse"):
            inp = 3 if k == 0 else 10
            expected += [(f"weight_ih_l{k}{suffix}", (G * 5, inp)),
                         (f"weight_hh_l{k}{suffix}", (G * 5, 5)),
                         (f"bias_ih_l{k}{suffix}", (G * 5,)),
                         (f"bias_hh_l{k}{suffix}", (G * 5,))]
    assert [(k, v.shape) for k, v in layer.params.items()] == expected
    assert list(layer.state_dict()) == [k for k, _ in expected]
    assert list(layer.grads) == [k for k, _ in expected]
    no_bias = cls(3, 5, bias=False)
    assert list(no_bias.params) == ["weight_ih_l0", "weight_hh_l0"]


def test_initialization_is_pytorchs_uniform_and_seeded():
    a = fastrnn.LSTM(3, 16, seed=1, dtype=np.float64)
    b = fastrnn.LSTM(3, 16, seed=1, dtype=np.float64)
    c = fastrnn.LSTM(3, 16, seed=2, dtype=np.float64)
    assert np.array_equal(a.params_flat, b.params_flat)
    assert not np.array_equal(a.params_flat, c.params_flat)
    assert np.abs(a.params_flat).max() <= 0.25  # 1/sqrt(16)
    assert np.abs(a.params_flat).max() > 0.2     # and actually spread over the range


def test_params_are_live_views_of_the_flat_buffer(backend, rng):
    layer = fastrnn.SRN(2, 3, seed=0, dtype=np.float64)
    x = rng.standard_normal((4, 1, 2))
    y0, _ = layer.forward(x)
    layer.params["weight_hh_l0"][...] = 0
    layer.params["weight_ih_l0"] *= 2
    assert not layer.params_flat[6:15].any()  # weight_hh_l0 follows the 3x2 weight_ih_l0
    y1, _ = layer.forward(x)
    expected = np.tanh(x @ layer.params["weight_ih_l0"].T + layer.params["bias_ih_l0"]
                       + layer.params["bias_hh_l0"])
    np.testing.assert_allclose(y1, expected, rtol=1e-12)
    assert not np.allclose(y0, y1)


# --- lengths ------------------------------------------------------------------------

@VARIANTS
def test_lengths_equal_running_each_sequence_alone(backend, variant, rng):
    T, N = 6, 3
    lengths = np.array([6, 2, 4])
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                       dtype=np.float64, seed=3)
    x = rng.standard_normal((T, N, 3))
    x_padded = x.copy()
    x_padded[2:, 1] = np.nan  # padding may hold anything
    x_padded[4:, 2] = 1e300
    state0 = state_like(layer, N, rng)
    y, state = layer.forward(x_padded, state0, lengths=lengths)
    dy = rng.standard_normal(y.shape)
    dy[2:, 1] = np.nan  # so may the gradient of outputs that do not exist
    dy[4:, 2] = 1e300
    dstate = tuple(rng.standard_normal(s.shape) for s in as_tuple(state))
    dx, dstate0 = layer.backward(dy, dstate if len(dstate) == 2 else dstate[0])
    grads = layer.grads_flat.copy()
    alone_grads = np.zeros_like(grads)
    for n, L in enumerate(lengths):
        s0 = tuple(s[:, n:n + 1] for s in as_tuple(state0))
        y_n, state_n = layer.forward(x[:L, n:n + 1], s0 if len(s0) == 2 else s0[0])
        np.testing.assert_allclose(y[:L, n:n + 1], y_n, rtol=1e-12, atol=1e-14)
        assert np.all(y[L:, n] == 0), "outputs past a sequence's end must be exactly 0"
        for a, b in zip(as_tuple(state), as_tuple(state_n)):
            np.testing.assert_allclose(a[:, n:n + 1], b, rtol=1e-12, atol=1e-14)
        layer.zero_grad()
        ds_n = tuple(d[:, n:n + 1] for d in dstate)
        dx_n, dstate0_n = layer.backward(dy[:L, n:n + 1], ds_n if len(ds_n) == 2 else ds_n[0])
        alone_grads += layer.grads_flat
        np.testing.assert_allclose(dx[:L, n:n + 1], dx_n, rtol=1e-10, atol=1e-12)
        assert np.all(dx[L:, n] == 0)
        for a, b in zip(as_tuple(dstate0), as_tuple(dstate0_n)):
            np.testing.assert_allclose(a[:, n:n + 1], b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads, alone_grads, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lengths,error,match", [
    ([3, 0], ValueError, r"1 <= lengths\[n\] <= T = 4, got lengths\[1\] = 0"),
    ([5, 1], ValueError, r"got lengths\[0\] = 5"),
    ([3], ValueError, r"expected shape \(N,\) = \(2,\), got \(1,\)"),
    ([3.0, 2.0], TypeError, "integer array, got dtype float64"),
    ([True, True], TypeError, "integer array, got dtype bool"),
])
def test_bad_lengths_raise(backend, lengths, error, match):
    layer = fastrnn.GRU(2, 3)
    with pytest.raises(error, match=match):
        layer.forward(np.zeros((4, 2, 2), np.float32), lengths=np.array(lengths))


# --- dtypes and inputs -----------------------------------------------------------------

@VARIANTS
def test_float32_agrees_with_float64_on_the_same_weights(backend, variant, rng):
    l64 = make_layer(variant, input_size=4, hidden_size=6, num_layers=2, bidirectional=True,
                     dtype=np.float64, seed=5)
    l32 = make_layer(variant, input_size=4, hidden_size=6, num_layers=2, bidirectional=True,
                     dtype=np.float32)
    l32.load_state_dict(l64.state_dict())
    x = rng.standard_normal((7, 3, 4))
    dy = rng.standard_normal((7, 3, 12))
    y64, _ = l64.forward(x)
    y32, _ = l32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32 and y64.dtype == np.float64
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    dx64, _ = l64.backward(dy)
    dx32, _ = l32.backward(dy.astype(np.float32))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(l32.grads_flat, l64.grads_flat, rtol=1e-4, atol=1e-4)


def test_other_float_precisions_are_cast_to_the_layer_dtype(backend, rng):
    layer = fastrnn.LSTM(3, 4, seed=0)  # float32
    x = rng.standard_normal((5, 2, 3))
    y64, _ = layer.forward(x)
    y32, _ = layer.forward(x.astype(np.float32))
    y16, _ = layer.forward(x.astype(np.float16))
    assert y64.dtype == y32.dtype == y16.dtype == np.float32
    assert np.array_equal(y64, y32)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, object])
def test_non_float_input_raises_type_error(backend, dtype):
    layer = fastrnn.SRN(3, 4)
    x = np.zeros((2, 2, 3), dtype=dtype)
    with pytest.raises(TypeError, match="x: expected a real floating-point array"):
        layer.forward(x)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "complex64"])
def test_layer_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(TypeError, match="expected float32 or float64"):
        fastrnn.GRU(3, 4, dtype=dtype)


@VARIANTS
def test_inputs_are_never_modified(backend, variant, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, bidirectional=True,
                       dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    state0 = state_like(layer, 2, rng)
    copies = [a.copy() for a in (x, *as_tuple(state0))]
    y, state = layer.forward(x, state0, lengths=[5, 3])
    dy = rng.standard_normal(y.shape)
    dstate = tuple(np.ones_like(s) for s in as_tuple(state))
    d_copies = [a.copy() for a in (dy, *dstate)]
    layer.backward(dy, dstate if len(dstate) == 2 else dstate[0])
    for a, b in zip((x, *as_tuple(state0)), copies):
        assert np.array_equal(a, b)
    for a, b in zip((dy, *dstate), d_copies):
        assert np.array_equal(a, b)


@VARIANTS
def test_strided_fortran_and_readonly_inputs_give_the_same_result(backend, variant, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    y, _ = layer.forward(x)
    big = np.zeros((10, 2, 6))
    big[::2, :, ::2] = x
    fortran = np.asfortranarray(x)
    readonly = x.copy()
    readonly.flags.writeable = False
    for variant_x in (big[::2, :, ::2], fortran, readonly):
        y2, _ = layer.forward(variant_x)
        assert np.array_equal(y, y2)


@VARIANTS
def test_batch_first_equals_time_major(backend, variant, rng):
    tm = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                    dtype=np.float64, seed=1)
    bf = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                    batch_first=True, dtype=np.float64, seed=1)
    x = rng.standard_normal((5, 2, 3))
    y, s = tm.forward(x, lengths=[5, 3])
    y_bf, s_bf = bf.forward(x.transpose(1, 0, 2), lengths=[5, 3])
    np.testing.assert_array_equal(y, y_bf.transpose(1, 0, 2))
    for a, b in zip(as_tuple(s), as_tuple(s_bf)):
        np.testing.assert_array_equal(a, b)
    dy = rng.standard_normal(y.shape)
    dx, _ = tm.backward(dy)
    dx_bf, _ = bf.backward(dy.transpose(1, 0, 2))
    np.testing.assert_array_equal(dx, dx_bf.transpose(1, 0, 2))
    np.testing.assert_array_equal(tm.grads_flat, bf.grads_flat)


@VARIANTS
def test_nan_in_one_sequence_leaves_the_others_untouched(backend, variant, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                       dtype=np.float64, seed=0)
    x = rng.standard_normal((6, 3, 3))
    y_clean, s_clean = layer.forward(x)
    dx_clean, _ = layer.backward(np.ones_like(y_clean))
    x[2, 1, 0] = np.nan
    y, s = layer.forward(x)
    assert np.isnan(y[:, 1]).any()
    assert np.array_equal(y[:, [0, 2]], y_clean[:, [0, 2]])
    for a, b in zip(as_tuple(s), as_tuple(s_clean)):
        assert np.isnan(a[:, 1]).all()
        assert np.array_equal(a[:, [0, 2]], b[:, [0, 2]])
    dx, _ = layer.backward(np.ones_like(y))
    if variant[1].get("nonlinearity") != "relu":  # relu'(NaN) is 0: (a > 0) is False
        assert np.isnan(dx[:, 1]).any()
    assert np.array_equal(dx[:, [0, 2]], dx_clean[:, [0, 2]])


def test_train_false_keeps_no_cache_and_gives_the_same_outputs(backend, rng):
    layer = fastrnn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    y_inf, h_inf = layer.forward(x, train=False)
    assert layer._cache is None
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.ones_like(y_inf))
    y_train, h_train = layer.forward(x)
    assert np.array_equal(y_train, y_inf) and np.array_equal(h_train, h_inf)


# --- errors ---------------------------------------------------------------------------

def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="forward"):
        fastrnn.LSTM(2, 3).backward(np.zeros((1, 1, 3), np.float32))


@pytest.mark.parametrize("shape,match", [
    ((4, 2), r"x: expected shape \(T, N, 3\) with T, N >= 1, got \(4, 2\)"),
    ((4, 2, 5), r"x: expected shape \(T, N, 3\) with T, N >= 1, got \(4, 2, 5\)"),
    ((0, 2, 3), r"got \(0, 2, 3\)"),
])
def test_wrong_input_shape_raises(backend, shape, match):
    with pytest.raises(ValueError, match=match):
        fastrnn.SRN(3, 4).forward(np.zeros(shape, np.float32))


def test_wrong_state_shapes_raise(backend):
    x = np.zeros((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"state: expected shape .* = \(2, 2, 5\), got \(1, 2, 5\)"):
        fastrnn.GRU(3, 5, bidirectional=True).forward(x, np.zeros((1, 2, 5)))
    with pytest.raises(TypeError, match=r"state: expected a tuple \(h, c\)"):
        fastrnn.LSTM(3, 5).forward(x, np.zeros((1, 2, 5)))
    with pytest.raises(ValueError, match=r"state\[1\]: expected shape"):
        fastrnn.LSTM(3, 5).forward(x, (np.zeros((1, 2, 5)), np.zeros((1, 3, 5))))
    with pytest.raises(TypeError, match="state: expected an array h, got a tuple"):
        fastrnn.SRN(3, 5).forward(x, (np.zeros((1, 2, 5)),))


def test_wrong_dy_and_dstate_shapes_raise_and_change_nothing(backend, rng):
    layer = fastrnn.LSTM(3, 5, seed=0)
    y, _ = layer.forward(rng.standard_normal((4, 2, 3)))
    with pytest.raises(ValueError, match=r"dy: expected the shape of y \(4, 2, 5\), got \(4, 3, 5\)"):
        layer.backward(np.zeros((4, 3, 5)))
    with pytest.raises(ValueError, match=r"dstate\[0\]: expected shape"):
        layer.backward(None, (np.zeros((1, 1, 5)), np.zeros((1, 2, 5))))
    assert not layer.grads_flat.any()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(input_size=0, hidden_size=3), ValueError, "input_size: expected a positive int, got 0"),
    (dict(input_size=2, hidden_size=2.5), TypeError, "hidden_size: expected a positive int, got float"),
    (dict(input_size=2, hidden_size=3, num_layers=0), ValueError, "num_layers"),
    (dict(input_size=2, hidden_size=3, nonlinearity="gelu"), ValueError, "nonlinearity: expected one of"),
    (dict(input_size=2, hidden_size=3, bidirectional="yes"), TypeError, "bidirectional: expected a bool"),
])
def test_bad_constructor_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        fastrnn.SRN(**kwargs)


def test_backend_selection(monkeypatch):
    previous = fastrnn.get_backend()
    try:
        fastrnn.set_backend("numpy")
        assert fastrnn.get_backend() == "numpy"
        with pytest.raises(ValueError, match=r"set_backend: expected one of \('c', 'numpy'\), got 'cuda'"):
            fastrnn.set_backend("cuda")
        assert fastrnn.get_backend() == "numpy"
        monkeypatch.setenv("FASTRNN_BACKEND", "NumPy")
        assert fastrnn.core.backend._default() == "numpy"
        monkeypatch.setenv("FASTRNN_BACKEND", "gpu")
        with pytest.raises(ValueError, match="FASTRNN_BACKEND"):
            fastrnn.core.backend._default()
    finally:
        fastrnn.set_backend(previous)


# --- state_dict -------------------------------------------------------------------------

def test_state_dict_round_trip_accepts_any_array_like(rng):
    src = fastrnn.GRU(3, 4, num_layers=2, dtype=np.float64, seed=0)
    dst = fastrnn.GRU(3, 4, num_layers=2, dtype=np.float32, seed=1)
    sd = src.state_dict()
    mixed = {k: (np.asfortranarray(v) if v.ndim == 2 else v.tolist()) for k, v in sd.items()}
    big = np.zeros((24, 8))
    big[::2, ::2] = sd["weight_hh_l0"]
    mixed["weight_hh_l0"] = big[::2, ::2]
    dst.load_state_dict(mixed)
    for k, v in sd.items():
        assert dst.params[k].dtype == np.float32
        np.testing.assert_array_equal(dst.params[k], v.astype(np.float32))
    sd["weight_ih_l0"][...] = 99  # state_dict returns copies
    assert not (src.params["weight_ih_l0"] == 99).any()


@pytest.mark.parametrize("mutate,error,match", [
    (lambda d: d.pop("bias_hh_l1"), KeyError, "missing keys \\['bias_hh_l1'\\]"),
    (lambda d: d.update(extra=np.zeros(3)), KeyError, "unexpected keys \\['extra'\\]"),
    (lambda d: d.update(weight_hh_l1=np.zeros((12, 5))), ValueError,
     r"state_dict\['weight_hh_l1'\]: expected shape \(12, 4\), got \(12, 5\)"),
    (lambda d: d.update(bias_ih_l1=np.zeros(12, dtype=np.int64)), TypeError,
     r"state_dict\['bias_ih_l1'\]: expected a real floating-point array, got dtype int64"),
])
def test_load_state_dict_validates_everything_first(mutate, error, match):
    layer = fastrnn.GRU(3, 4, num_layers=2, seed=0)
    before = layer.params_flat.copy()
    bad = {k: np.full(v.shape, 7.0) for k, v in layer.params.items()}
    mutate(bad)
    with pytest.raises(error, match=match):
        layer.load_state_dict(bad)
    assert np.array_equal(layer.params_flat, before), "a failed load must change nothing"


# --- functional API --------------------------------------------------------------------

def test_functional_checks_its_arguments(backend):
    x = np.zeros((3, 2, 4))
    with pytest.raises(ValueError, match=r"W_hh: expected shape \(4\*H, H\) with H >= 1, got \(12, 4\)"):
        F.lstm_forward(x, None, None, np.zeros((12, 4)), np.zeros((12, 4)))
    with pytest.raises(ValueError, match=r"W_ih: expected shape \(3\*H, I\) = \(9, 4\), got \(12, 4\)"):
        F.gru_forward(x, None, np.zeros((12, 4)), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="b_ih, b_hh: expected both arrays or both None"):
        F.gru_forward(x, None, np.zeros((9, 4)), np.zeros((9, 3)), np.zeros(9), None)
    with pytest.raises(ValueError, match=r"h0: expected shape \(N, H\) = \(2, 3\), got \(3, 3\)"):
        F.gru_forward(x, np.zeros((3, 3)), np.zeros((9, 4)), np.zeros((9, 3)))
    with pytest.raises(TypeError, match="W_ih: expected a real floating-point array, got dtype int64"):
        F.srn_forward(x, None, np.zeros((3, 4), dtype=np.int64), np.zeros((3, 3)))
    y, h, cache = F.srn_forward(x, None, np.zeros((3, 4)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="expected a cache from lstm_forward, got one from srn_forward"):
        F.lstm_backward(None, None, None, cache)
    with pytest.raises(TypeError, match="cache: expected the RNNCache"):
        F.srn_backward(None, None, {"x": x})
    with pytest.raises(ValueError, match=r"dy: expected shape \(T, N, H\) = \(3, 2, 3\)"):
        F.srn_backward(np.zeros((3, 2, 4)), None, cache)
    with pytest.raises(ValueError, match=r"out\['dW_hh'\]: expected a writeable C-contiguous float64"):
        F.srn_backward(None, None, cache, out={"dW_ih": np.zeros((3, 4)),
                                               "dW_hh": np.zeros((3, 3), np.float32)})


def test_functional_dtype_follows_W_ih(backend, rng):
    x = rng.standard_normal((3, 2, 4))  # float64 input, float32 weights
    W = rng.standard_normal((4, 4)).astype(np.float32)
    U = rng.standard_normal((4, 4)).astype(np.float32)
    y, h, cache = F.srn_forward(x, None, W, U)
    assert y.dtype == h.dtype == np.float32
    g = F.srn_backward(np.ones_like(y, dtype=np.float64), None, cache)
    assert all(g[k].dtype == np.float32 for k in ("dx", "dh0", "dW_ih", "dW_hh"))
