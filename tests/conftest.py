"""Shared fixtures: every engine-dependent test runs once per engine."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

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


# --- Ctrl-C during a long call (test_engine_safety, test_threads) -----------------------

INTERRUPT_CHILD = textwrap.dedent("""
    import signal, sys, numpy as np, fastrnn
    fastrnn.set_backend("c")
    kind, T, H, D = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    layer = fastrnn.LSTM(8, H, num_layers=2, bidirectional=D == 2, seed=0)
    rng = np.random.default_rng(0)
    small = rng.standard_normal((3, 2, 8)).astype(np.float32)
    layer.forward(small)                     # a cache to keep
    layer.backward(np.ones((3, 2, D * H), np.float32))
    grads, cache = layer.grads_flat.copy(), layer._cache
    x = rng.standard_normal((T, 1, 8)).astype(np.float32)
    if kind == "backward":
        layer.forward(x)
        cache = layer._cache
        dy = np.ones((T, 1, D * H), np.float32)
    if kind == "handler":                    # a handler that returns: the call completes
        seen = []
        signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    print("go", flush=True)
    try:
        if kind == "backward":
            layer.backward(dy)
        else:
            y, _ = layer.forward(x, train=False)
    except KeyboardInterrupt:
        same = np.array_equal(layer.grads_flat, grads) and layer._cache is cache
        y2, _ = layer.forward(small, train=False)   # the layer still works
        print("interrupted", "unchanged" if same else "CHANGED", flush=True)
        sys.exit(0)
    if kind == "handler":
        ref, _ = layer.forward(x[:50], train=False)
        print("completed", len(seen), np.array_equal(ref, y[:50]), flush=True)
    else:
        print("completed", flush=True)
""")


def run_interrupted(kind, T, H, timeout=60, threads=None, bidirectional=False):
    """Run INTERRUPT_CHILD (a 2-layer LSTM, hidden size H, over T steps: kind "forward",
    "backward", or "handler" for a SIGINT handler that returns) in a subprocess, send it
    SIGINT once the call has started, and return its output words. ``threads`` sets
    FASTRNN_NUM_THREADS (None: the child's default)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if threads is not None:
        env["FASTRNN_NUM_THREADS"] = str(threads)
    argv = [kind, str(T), str(H), "2" if bidirectional else "1"]
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_CHILD, *argv],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "go"
        threading.Event().wait(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return out.split()


# --- helpers shared by the mask and projection tests -----------------------------------

def assert_close_normwise(label, got, want, dtype):
    """Dicts of arrays agreeing normwise within RTOL[dtype] (max |got - want| over
    max(max |want|, 1)), of that dtype, naming the worst entry."""
    assert got.keys() == want.keys(), f"{label}: {sorted(got)} != {sorted(want)}"
    for k in want:
        g, w = got[k], want[k]
        assert g.dtype == w.dtype == np.dtype(dtype), f"{label}: {k} dtype {g.dtype}, {w.dtype}"
        diff = np.abs(g - w)
        err = diff.max() / max(np.abs(w).max(), 1.0)
        if not err <= RTOL[dtype]:
            at = np.unravel_index(np.argmax(diff), diff.shape)
            pytest.fail(f"{label}: {k} ({np.dtype(dtype).name}) normwise error {err:.3g} > "
                        f"{RTOL[dtype]:g} at {at}: {g[at]!r} vs {w[at]!r}")


def zone_weights(rng, shape):
    """Zoneout keep weights mixing the training 0/1 values and inference-like fractions."""
    d = rng.random(shape)
    d[d < 0.25] = 0.0
    d[d > 0.75] = 1.0
    return d


def cached_masks(cache):
    """The masks a cache keeps for the backward (an ``RNNCache`` or an engine's own dict)."""
    data = getattr(cache, "data", cache)
    if "masks" in data:           # the NumPy engine's
        return data["masks"] or fastrnn.functional.Masks()
    return fastrnn.functional.Masks(data["mask_x"], data["mask_h"], data["zone_h"],
                                    data["zone_c"])


def with_backend(name, fn):
    """fn() with the engine ``name`` selected, the previous one restored after."""
    previous = fastrnn.get_backend()
    fastrnn.set_backend(name)
    try:
        return fn()
    finally:
        fastrnn.set_backend(previous)


class isa:
    """``with isa("avx2"):`` runs the C kernels with that instruction set, then restores
    the previous setting."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        from fastrnn.core import _ext
        self.previous = _ext.isa_setting()
        _ext.set_isa(self.name)

    def __exit__(self, *exc):
        from fastrnn.core import _ext
        _ext.set_isa(self.previous)


def assert_stream_is_inference(layer, x, backend):
    """A stream's steps, and its chunks after a reset, give forward(train=False)'s output:
    the same bits on the C engine (which steps with the same kernels), RTOL on NumPy's."""
    y, _ = layer.forward(x, train=False)
    s = layer.stream(batch_size=x.shape[1])
    ys = np.stack([s.step(x_t) for x_t in x])
    assert ys.shape == y.shape
    if backend == "c":
        assert np.array_equal(ys, y)
    else:
        np.testing.assert_allclose(ys, y, rtol=RTOL[x.dtype.type], atol=RTOL[x.dtype.type])
    s.reset()
    assert np.array_equal(s.run(x[:4]), layer.forward(x[:4], train=False)[0])
