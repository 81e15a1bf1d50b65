"""Hardening: non-finite values, memory, threads and determinism.

Memory is measured with tracemalloc (NumPy reports its allocations to it, and
the C engine allocates only through NumPy), so the bounds are exact counts,
not noisy resident-set readings; one resident-set check guards against leaks
outside NumPy's allocator.
"""

import gc
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import fastrnn
from conftest import CELL_VARIANTS, make_layer, variant_id

VARIANTS = pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)

needs_c = pytest.mark.skipif(not fastrnn.c_engine_available(), reason="C engine not built")


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def run_both(fn):
    """fn() under each engine: {"numpy": ..., "c": ...}."""
    previous = fastrnn.get_backend()
    out = {}
    try:
        for name in ("numpy", "c"):
            fastrnn.set_backend(name)
            out[name] = fn()
    finally:
        fastrnn.set_backend(previous)
    return out


def same_nonfinite_pattern_and_values(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.array_equal(np.isposinf(a), np.isposinf(b))
    assert np.array_equal(np.isneginf(a), np.isneginf(b))
    finite = np.isfinite(b)
    np.testing.assert_allclose(a[finite], b[finite], rtol=tol, atol=tol)


# --- non-finite values ------------------------------------------------------------

@needs_c
@VARIANTS
@pytest.mark.parametrize("where", ["x nan", "x +inf", "x -inf", "state nan", "state inf",
                                   "weight nan", "weight inf"])
def test_non_finite_values_flow_alike_in_both_engines(variant, where, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, bidirectional=True,
                       dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 3, 3))
    h0 = rng.standard_normal((2, 3, 4))
    state = (h0, h0.copy()) if variant[0] == "LSTM" else h0
    value = np.nan if "nan" in where else (-np.inf if "-inf" in where else np.inf)
    if where.startswith("x"):
        x[2, 1, 0] = value
    elif where.startswith("state"):
        as_tuple(state)[0][0, 1, 2] = value
    else:
        layer.params["weight_hh_l0"][0, 0] = value

    def fb():
        with np.errstate(all="ignore"):
            y, s = layer.forward(x, state, lengths=[5, 4, 2])
            layer.zero_grad()
            dx, ds = layer.backward(np.ones_like(y))
        return [y, *as_tuple(s), dx, *as_tuple(ds), layer.grads_flat.copy()]

    res = run_both(fb)
    for a, b in zip(res["c"], res["numpy"]):
        same_nonfinite_pattern_and_values(a, b, 1e-12)
    y = res["numpy"][0]
    if where.startswith(("x", "state")):
        # only sequence 1 sees the value; 0 and 2 stay finite
        assert np.isfinite(y[:, [0, 2]]).all()


def test_clip_grad_norm_catches_non_finite_gradients():
    clip = pytest.importorskip("fastrnn.clip")
    layer = fastrnn.SRN(2, 3, seed=0, dtype=np.float64)
    layer.params["weight_hh_l0"][0, 0] = np.nan
    with np.errstate(all="ignore"):
        y, _ = layer.forward(np.ones((4, 1, 2)))
        layer.backward(np.ones_like(y))
    before = layer.grads_flat.copy()
    with pytest.raises(Exception, match="(?i)non-?finite|nan|inf"):
        clip.clip_grad_norm(layer.grads, 1.0, error_if_nonfinite=True)
    assert np.array_equal(layer.grads_flat, before, equal_nan=True)


# --- memory -----------------------------------------------------------------------

def traced_peak(fn):
    """(result, peak bytes traced above the starting point) of fn()."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


@needs_c
@pytest.mark.parametrize("cls", [fastrnn.SRN, fastrnn.LSTM, fastrnn.GRU])
def test_inference_memory_does_not_grow_with_T(cls):
    layer = cls(8, 16, seed=0)  # float32, C engine by default
    previous = fastrnn.get_backend()
    fastrnn.set_backend("c")
    try:
        extra = {}
        for T in (10_000, 100_000):
            x = np.zeros((T, 1, 8), np.float32)
            y, peak = traced_peak(lambda: layer.forward(x, train=False)[0])
            extra[T] = peak - y.nbytes  # everything but the output itself
            del y
    finally:
        fastrnn.set_backend(previous)
    assert extra[100_000] < 256 * 1024, f"working memory {extra[100_000]} bytes at T=1e5"
    assert extra[100_000] <= extra[10_000] + 64 * 1024, extra


@VARIANTS
def test_cache_is_released_with_the_layer(backend, variant):
    def make_and_run():
        layer = make_layer(variant, input_size=16, hidden_size=64, num_layers=2, seed=0)
        layer.forward(np.ones((200, 8, 16), np.float32))
        return layer

    make_and_run()  # first use may set up lazily created module state
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        layer = make_and_run()
        held = tracemalloc.get_traced_memory()[0] - base
        del layer
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held > 200 * 8 * 64 * 4, "the forward cache should hold at least the states"
    assert after < 64 * 1024, f"{after} bytes still held after the layer was dropped"


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@needs_c
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_repeated_calls_do_not_grow_resident_memory():
    previous = fastrnn.get_backend()
    fastrnn.set_backend("c")
    try:
        layers = [fastrnn.SRN(4, 8, seed=0), fastrnn.LSTM(4, 8, seed=0),
                  fastrnn.GRU(4, 8, seed=0, reset_after=False)]
        x = np.ones((5, 2, 4), np.float32)
        dy = np.ones((5, 2, 8), np.float32)

        def burst(n):
            for _ in range(n):
                for layer in layers:
                    layer.forward(x, lengths=[5, 3])
                    layer.backward(dy)

        burst(300)  # warm up allocator pools and caches
        gc.collect()
        before = resident_bytes()
        burst(3400)  # ~10^4 forward/backward pairs
        big = fastrnn.LSTM(64, 256, seed=0)
        for _ in range(3):
            y, _ = big.forward(np.ones((100, 32, 64), np.float32))
            big.backward(np.ones_like(y))
        del big, y
        gc.collect()
        burst(300)
        grown = resident_bytes() - before
    finally:
        fastrnn.set_backend(previous)
    assert grown < 8 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB"


# --- threads and determinism -------------------------------------------------------

@VARIANTS
def test_threads_running_separate_layers_get_the_single_threaded_answers(backend, variant):
    def job(seed):
        rng = np.random.default_rng(seed)
        layer = make_layer(variant, input_size=8, hidden_size=24, num_layers=2,
                           bidirectional=True, seed=seed)
        x = rng.standard_normal((60, 4, 8)).astype(np.float32)
        y, _ = layer.forward(x, lengths=[60, 30, 45, 7])
        dx, _ = layer.backward(np.ones_like(y))
        return y, dx, layer.grads_flat.copy()

    expected = [job(seed) for seed in range(4)]
    results = [None] * 4
    errors = []

    def worker(i):
        try:
            for _ in range(3):
                results[i] = job(i)
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            assert np.array_equal(a, b)


@VARIANTS
def test_same_call_twice_is_bit_identical(backend, variant, rng):
    layer = make_layer(variant, input_size=16, hidden_size=48, num_layers=2,
                       bidirectional=True, seed=3)
    x = rng.standard_normal((40, 6, 16)).astype(np.float32)
    dy = rng.standard_normal((40, 6, 96)).astype(np.float32)
    outs = []
    for _ in range(2):
        y, s = layer.forward(x, lengths=[40, 1, 17, 40, 33, 2])
        layer.zero_grad()
        dx, ds = layer.backward(dy)
        outs.append([y, *as_tuple(s), dx, *as_tuple(ds), layer.grads_flat.copy()])
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


PROCESS_SCRIPT = """
import hashlib, numpy as np, fastrnn
fastrnn.set_backend({backend!r})
rng = np.random.default_rng(0)
h = hashlib.sha256()
for cls in (fastrnn.SRN, fastrnn.LSTM, fastrnn.GRU):
    layer = cls(8, 32, num_layers=2, bidirectional=True, seed=1)
    y, _ = layer.forward(rng.standard_normal((30, 5, 8)).astype(np.float32))
    dx, _ = layer.backward(np.ones_like(y))
    for a in (y, dx, layer.grads_flat):
        h.update(a.tobytes())
print(h.hexdigest())
"""


def test_results_are_identical_across_processes(backend):
    digests = {subprocess.run([sys.executable, "-c", PROCESS_SCRIPT.format(backend=backend)],
                              capture_output=True, text=True, check=True).stdout.strip()
               for _ in range(2)}
    assert len(digests) == 1 and len(next(iter(digests))) == 64
