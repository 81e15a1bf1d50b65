"""Property-based fuzzing: the C engine equals the NumPy engine on every drawn case.

Random shapes, layers, directions, lengths, dtypes, memory layouts (strided,
Fortran-ordered, read-only, zero-stride broadcast) and states; invalid draws
must raise the documented exception with the same message on both engines.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastrnn

if not fastrnn.c_engine_available():
    pytest.skip("the C engine is not built (test_build fails instead)", allow_module_level=True)

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CELLS = [("SRN", {"nonlinearity": "tanh"}), ("SRN", {"nonlinearity": "relu"}),
         ("SRN", {"nonlinearity": "sigmoid"}), ("SRN", {"nonlinearity": "tanh", "residual": True}),
         ("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]


@contextlib.contextmanager
def backend(name):
    previous = fastrnn.get_backend()
    fastrnn.set_backend(name)
    try:
        yield
    finally:
        fastrnn.set_backend(previous)


def assert_close(label, a, b, dtype):
    """Normwise relative agreement: max|a - b| <= tol * max|b| (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype == dtype, (label, a.shape, b.shape, a.dtype)
    nan = np.isnan(b)
    assert np.array_equal(np.isnan(a), nan), f"{label}: NaN in different places"
    a, b = a[~nan], b[~nan]
    if b.size == 0:
        return
    scale = max(np.abs(b).max(), 1.0)
    err = np.abs(a - b).max() / scale
    assert err <= TOL[np.dtype(dtype)], f"{label}: relative error {err:.3g} ({dtype})"


def layout(data, arr, label):
    """The same values in a drawn memory layout."""
    kind = data.draw(st.sampled_from(["contiguous", "strided", "fortran", "readonly"]),
                     label=label)
    if kind == "strided":
        big = np.zeros(tuple(2 * s for s in arr.shape), dtype=arr.dtype)
        view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
        view[...] = arr
        return view
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "readonly":
        ro = arr.copy()
        ro.flags.writeable = False
        return ro
    return arr


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def run(layer, x, state, lengths, dy, dstate):
    y, s = layer.forward(x, state, lengths=lengths)
    layer.zero_grad()
    dx, ds0 = layer.backward(dy, dstate)
    return y, s, dx, ds0, layer.grads_flat.copy()


@FUZZ
@given(data=st.data())
def test_c_engine_equals_numpy_engine(data):
    name, kw = data.draw(st.sampled_from(CELLS), label="cell")
    T = data.draw(st.integers(1, 64), label="T")
    N = data.draw(st.integers(1, 9), label="N")
    I = data.draw(st.integers(1, 33), label="I")
    H = data.draw(st.integers(1, 33), label="H")
    num_layers = data.draw(st.integers(1, 3), label="num_layers")
    bidirectional = data.draw(st.booleans(), label="bidirectional")
    batch_first = data.draw(st.booleans(), label="batch_first")
    bias = data.draw(st.booleans(), label="bias")
    dtype = np.dtype(data.draw(st.sampled_from([np.float32, np.float64]), label="dtype"))
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    rng = np.random.default_rng(seed)
    layer = getattr(fastrnn, name)(I, H, num_layers=num_layers, bias=bias,
                                   batch_first=batch_first, bidirectional=bidirectional,
                                   dtype=dtype, seed=seed, **kw)
    if kw.get("nonlinearity") == "relu" or kw.get("residual"):
        layer.params_flat *= 0.5  # keep unbounded cells from overflowing over 64 steps
    D = 2 if bidirectional else 1
    xshape = (N, T, I) if batch_first else (T, N, I)
    if data.draw(st.booleans(), label="broadcast x"):
        x = np.broadcast_to(rng.standard_normal(I).astype(dtype), xshape)  # zero strides
    else:
        x = layout(data, rng.standard_normal(xshape).astype(dtype), "x layout")
    lengths = None
    if data.draw(st.booleans(), label="use lengths"):
        lengths = rng.integers(1, T + 1, size=N)
    state = None
    if data.draw(st.booleans(), label="give state"):
        parts = tuple(layout(data, rng.standard_normal((num_layers * D, N, H)).astype(dtype),
                             "state layout") for _ in range(2 if name == "LSTM" else 1))
        state = parts if name == "LSTM" else parts[0]
    dy = rng.standard_normal(xshape[:2] + (D * H,)).astype(dtype)
    dstate = None
    if data.draw(st.booleans(), label="give dstate"):
        parts = tuple(rng.standard_normal((num_layers * D, N, H)).astype(dtype)
                      for _ in range(2 if name == "LSTM" else 1))
        dstate = parts if name == "LSTM" else parts[0]
    x_before = np.array(x, copy=True)
    with backend("numpy"):
        ref = run(layer, x, state, lengths, dy, dstate)
    with backend("c"):
        got = run(layer, x, state, lengths, dy, dstate)
    assert np.array_equal(np.asarray(x), x_before), "x was modified"
    for label, a, b in zip(("y", "state", "dx", "dstate0", "grads"), got, ref):
        for k, (aa, bb) in enumerate(zip(as_tuple(a), as_tuple(b))):
            assert_close(f"{label}[{k}]", aa, bb, dtype)


def error_of(fn):
    try:
        fn()
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        return type(exc), str(exc)
    return None


@FUZZ
@given(data=st.data())
def test_invalid_calls_raise_the_same_documented_error_on_both_engines(data):
    name = data.draw(st.sampled_from(["SRN", "LSTM", "GRU"]), label="cell")
    T, N, I, H = 4, 3, 5, 6
    layer = getattr(fastrnn, name)(I, H, seed=0)
    good_x = np.zeros((T, N, I), np.float32)
    bad = data.draw(st.sampled_from([
        ("rank", lambda: layer.forward(np.zeros((T, I), np.float32))),
        ("features", lambda: layer.forward(np.zeros((T, N, I + 1), np.float32))),
        ("empty", lambda: layer.forward(np.zeros((0, N, I), np.float32))),
        ("int x", lambda: layer.forward(np.zeros((T, N, I), np.int32))),
        ("complex x", lambda: layer.forward(np.zeros((T, N, I), np.complex64))),
        ("lengths 0", lambda: layer.forward(good_x, lengths=[1, 0, 2])),
        ("lengths > T", lambda: layer.forward(good_x, lengths=[1, T + 1, 2])),
        ("lengths float", lambda: layer.forward(good_x, lengths=[1.0, 2.0, 3.0])),
        ("lengths shape", lambda: layer.forward(good_x, lengths=[1, 2])),
        ("state shape", lambda: layer.forward(good_x, np.zeros((2, N, H), np.float32))),
        ("dy shape", lambda: (layer.forward(good_x), layer.backward(np.zeros((T, N + 1, H))))),
    ]), label="bad call")
    with backend("numpy"):
        ref = error_of(bad[1])
    with backend("c"):
        got = error_of(bad[1])
    assert ref is not None, f"{bad[0]}: no error raised"
    assert got == ref
