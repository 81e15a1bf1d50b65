"""Shared fixtures: every engine-dependent test runs once per engine."""

import numpy as np
import pytest

import fastrnn

ENGINES = ["numpy", "c"]

# Per-dtype tolerances for comparing two computations of the same quantity.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(params=ENGINES)
def backend(request):
    """Select each engine in turn for the test, and restore the previous one after."""
    name = request.param
    if name == "c" and not fastrnn.c_engine_available():
        pytest.skip("the C engine is not built (test_c_engine_is_built fails instead)")
    previous = fastrnn.get_backend()
    fastrnn.set_backend(name)
    yield name
    fastrnn.set_backend(previous)


def numeric_grad(loss, arr, eps=1e-6):
    """Central-difference gradient of the scalar loss() with respect to arr (perturbed in place)."""
    grad = np.zeros_like(arr)
    flat, g = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = loss()
        flat[i] = old - eps
        down = loss()
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return grad


def assert_grad_close(name, analytic, numeric, tol=1e-6):
    """Normwise relative error of a gradient against its finite differences, with the worst entry."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-8)
    err = np.abs(analytic - numeric).max() / scale
    worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), numeric.shape)
    assert err <= tol, (f"{name}: relative error {err:.2e} at {worst}: "
                        f"analytic {analytic[worst]!r}, numeric {numeric[worst]!r}")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# (cell class name, constructor keyword arguments): every cell and variant
CELL_VARIANTS = [
    ("SRN", {"nonlinearity": "tanh"}),
    ("SRN", {"nonlinearity": "relu"}),
    ("SRN", {"nonlinearity": "sigmoid"}),
    ("SRN", {"nonlinearity": "tanh", "residual": True}),
    ("LSTM", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
]


def variant_id(v):
    name, kw = v
    return name + "".join(f"-{k}={val}" for k, val in kw.items())


def make_layer(variant, **kw):
    name, extra = variant
    return getattr(fastrnn, name)(**kw, **extra)


def state_like(layer, N, rng, dtype=np.float64):
    shape = (layer.num_layers * layer.num_directions, N, layer.hidden_size)
    if isinstance(layer, fastrnn.LSTM):
        return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype))
    return rng.standard_normal(shape).astype(dtype)
