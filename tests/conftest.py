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
