"""The engine path under hostile use: aliasing, edited caches, direct binding calls, Ctrl-C, fork.

Each test here was written against a defect found by an adversarial pass
(issue 9: items 3, 5, 6, 7) or a rule of the C boundary (issue 10: the binding
checks everything C relies on). The binding tests also run in the sanitizer
build (.ci/sanitize), where an out-of-bounds access would abort the run.
"""

import multiprocessing
import sys
import threading

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import CELL_VARIANTS, make_layer, variant_id
from conftest import run_interrupted as _interrupt

_ext = pytest.importorskip("fastrnn.core._ext")


# --- item 3: backward never reads the caller's x or lengths -----------------------------

@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_changing_x_and_lengths_after_forward_does_not_change_the_gradients(backend, variant):
    rng = np.random.default_rng(0)
    T, N, I, H = 6, 3, 4, 5
    x = rng.standard_normal((T, N, I))
    lengths = np.array([6, 2, 4], dtype=np.int64)
    dy = rng.standard_normal((T, N, 2 * H))

    def gradients(mutate):
        layer = make_layer(variant, input_size=I, hidden_size=H, num_layers=2,
                           bidirectional=True, dtype=np.float64, seed=1)
        xs, ls = x.copy(), lengths.copy()
        layer.forward(xs, lengths=ls)
        if mutate:
            xs[...] = 7.0
            ls[...] = 1
        dx, _ = layer.backward(dy)
        return dx, layer.grads_flat.copy()

    for a, b in zip(gradients(False), gradients(True)):
        np.testing.assert_array_equal(a, b)


def test_functional_cache_keeps_private_read_only_copies(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3))
    lengths = np.array([5, 3], dtype=np.int64)
    W_ih, W_hh = rng.standard_normal((4 * 4, 3)), rng.standard_normal((4 * 4, 4))
    _, _, _, cache = F.lstm_forward(x, None, None, W_ih, W_hh, lengths=lengths)
    ref = F.lstm_backward(np.ones((5, 2, 4)), None, None, cache)
    x[...] = 0.0
    lengths[...] = 1
    again = F.lstm_backward(np.ones((5, 2, 4)), None, None, cache)
    for key in ("dx", "dh0", "dc0", "dW_ih", "dW_hh"):
        np.testing.assert_array_equal(ref[key], again[key])
    assert not cache.data["x"].flags.writeable and not np.shares_memory(cache.data["x"], x)


# --- item 5 and the C boundary: the binding checks every array it hands to C ----------------

def _lstm_args(T=4, N=3, I=5, H=6, dtype=np.float32):
    rng = np.random.default_rng(2)
    a = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=a(T, N, I), h0=a(N, H), c0=a(N, H), W_ih=a(4 * H, I), W_hh=a(4 * H, H),
                b_ih=a(4 * H), b_hh=a(4 * H))


def _forward(args, **kw):
    return _ext.forward("lstm", args["x"], args["h0"], args["c0"], args["W_ih"], args["W_hh"],
                        args["b_ih"], args["b_hh"], **kw)


@pytest.mark.parametrize("name, bad, match", [
    ("W_hh", lambda a: a["W_hh"][:-4], "W_hh"),               # (4H-4, H): rows read past the end
    ("W_hh", lambda a: np.zeros((16, 4), np.float32), "h0"),   # another H: h0 no longer fits
    ("W_ih", lambda a: a["W_ih"][:, :-1].copy(), "W_ih"),      # another I
    ("W_ih", lambda a: np.asfortranarray(a["W_ih"]), "W_ih"),  # not C-contiguous
    ("b_ih", lambda a: a["b_ih"][:-1], "b_ih"),
    ("b_hh", lambda a: a["b_hh"].astype(np.float64), "b_hh"),  # another dtype
    ("h0", lambda a: a["h0"][:2], "h0"),
    ("c0", lambda a: None, "c0"),
    ("c0", lambda a: a["c0"].ravel(), "c0"),
])
def test_binding_refuses_wrong_arrays(name, bad, match):
    args = _lstm_args()
    args[name] = bad(args)
    with pytest.raises(ValueError, match=match):
        _forward(args)


@pytest.mark.parametrize("lengths, match", [
    (np.array([4, 0, 2], np.int64), "lengths"),
    (np.array([4, 5, 2], np.int64), "lengths"),
    (np.array([4, 2], np.int64), "lengths"),
    (np.array([4, 2, 1], np.int32), "lengths"),
])
def test_binding_refuses_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        _forward(_lstm_args(), lengths=lengths)


def test_binding_refuses_bad_cells_and_dtypes():
    args = _lstm_args()
    with pytest.raises(ValueError, match="cell"):
        _ext.forward("rnn", *args.values())
    with pytest.raises(TypeError, match="x"):
        _ext.forward("lstm", args["x"].astype(np.float16), *list(args.values())[1:])


@pytest.mark.parametrize("key, edit", [
    ("x", lambda v: np.zeros((v.shape[0] * 4,) + v.shape[1:], v.dtype)),  # larger x
    ("hs", lambda v: v[:-1]),                                             # truncated states
    ("cs", lambda v: v[:, :1]),
    ("gates", lambda v: v.reshape(-1)),
    ("W_ih", lambda v: v[:, :2].copy()),
    ("lengths", lambda v: np.array([9, 9, 9], np.int64)),
    ("hs", lambda v: None),
])
def test_edited_functional_cache_is_refused_not_crashed(key, edit):
    args = _lstm_args(dtype=np.float64)
    lengths = np.array([4, 2, 3], np.int64)
    _, _, _, cache = F.lstm_forward(args["x"], args["h0"], args["c0"], args["W_ih"],
                                    args["W_hh"], lengths=lengths, backend="c")
    cache.data[key] = edit(cache.data[key])
    with pytest.raises(ValueError):
        F.lstm_backward(None, None, None, cache)


def test_binding_refuses_read_only_gradient_sinks():
    args = _lstm_args(dtype=np.float64)
    _, _, _, cache = _forward(args)
    H, I = 6, 5
    dW_ih = np.zeros((4 * H, I))
    dW_ih.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _ext.backward(cache, np.zeros((4, 3, H)), np.zeros((3, H)), np.zeros((3, H)), dW_ih,
                      np.zeros((4 * H, H)), np.zeros(4 * H), np.zeros(4 * H))


# --- item 6: Ctrl-C stops a long kernel at a step boundary -----------------------------

# Sizes where the whole call would take minutes (about 4 ms per step at H=2048):
# the subprocess timeout is far shorter, so finishing means Ctrl-C stopped it.
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_long_forward_and_leaves_the_layer_unchanged():
    assert _interrupt("forward", 60000, 2048) == ["interrupted", "unchanged"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_long_backward_and_leaves_the_gradients_unchanged():
    # the forward (with its cache) runs before the signal, the backward is stopped
    assert _interrupt("backward", 3000, 1024, timeout=120) == ["interrupted", "unchanged"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_handler_that_returns_lets_the_call_complete_correctly():
    assert _interrupt("handler", 3000, 1024, timeout=120) == ["completed", "1", "True"]


@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (1, False)])
def test_an_error_between_passes_leaves_the_gradients_unchanged(backend, monkeypatch,
                                                                  num_layers, bidirectional):
    if backend == "c" and num_layers == 1:
        pytest.skip("one C call per layer: it adds into the gradients after its last step, "
                    "where nothing can stop it (the Ctrl-C tests above cover the kernel)")
    layer = fastrnn.GRU(3, 4, num_layers=num_layers, bidirectional=bidirectional,
                        dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    y, _ = layer.forward(x)
    layer.backward(np.ones_like(y))
    before = layer.grads_flat.copy()
    calls = []
    real = F.engine_backward_layer

    def failing(*args, **kw):
        out = real(*args, **kw)
        calls.append(1)
        if len(calls) == num_layers:
            raise KeyboardInterrupt  # as if Ctrl-C came right after the last layer's pass
        return out

    monkeypatch.setattr(F, "engine_backward_layer", failing)
    with pytest.raises(KeyboardInterrupt):
        layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(layer.grads_flat, before)


# --- item 7: fork while another thread trains ------------------------------------------

def _child_forward(queue):
    layer = fastrnn.LSTM(16, 32, seed=3)
    x = np.linspace(-1, 1, 10 * 4 * 16, dtype=np.float32).reshape(10, 4, 16)
    y, _ = layer.forward(x, train=False)
    queue.put(y.tobytes())


# The C engine only: the NumPy engine's products run on NumPy's own OpenBLAS,
# whose fork handler stops its thread pool under a call in progress (the
# training thread then hangs); that is NumPy's behaviour, not fastrnn's.
@pytest.mark.skipif(sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs the fork start method")
def test_fork_while_another_thread_trains():
    fastrnn.set_backend("c")
    stop = threading.Event()

    def train():
        layer = fastrnn.LSTM(32, 128, seed=0)
        x = np.random.default_rng(0).standard_normal((20, 32, 32)).astype(np.float32)
        while not stop.is_set():
            y, _ = layer.forward(x)
            layer.backward(np.ones_like(y))

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    try:
        expected_layer = fastrnn.LSTM(16, 32, seed=3)
        x = np.linspace(-1, 1, 10 * 4 * 16, dtype=np.float32).reshape(10, 4, 16)
        expected = expected_layer.forward(x, train=False)[0].tobytes()
        ctx = multiprocessing.get_context("fork")
        for _ in range(5):
            queue = ctx.Queue()
            child = ctx.Process(target=_child_forward, args=(queue,))
            child.start()
            child.join(timeout=60)
            alive = child.is_alive()
            if alive:
                child.kill()
            assert not alive, "the forked child hung"
            assert child.exitcode == 0
            assert queue.get(timeout=10) == expected
    finally:
        stop.set()
        worker.join(timeout=60)
        assert not worker.is_alive(), "the training thread hung after the fork"
