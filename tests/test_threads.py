"""Issue 11, "The engine owns its threads": the C engine's pool and its thread policy.

What is held here, on the C engine:

* The same bits for every thread count. Outputs (training and inference), final
  states, dx, dstate0, every parameter gradient and the state-gradient trace of
  ``fastrnn.diagnostics.backward_with_flow`` are compared bit for bit on 1, 2, 3 and
  4 threads (more than a small machine's cores on purpose: the count must not
  matter). A representative product of the options, not the full cartesian one:
  every cell variant of ``CELL_VARIANTS`` x every instruction set of
  ``_ext.available_isas()`` x two layer configurations,

    - "stacked": 2 layers, bidirectional, ``lengths``, biases, time-major;
    - "single": 1 layer, one direction, no lengths, no biases, ``batch_first``;

  the one in float64 and the other in float32 (alternating by variant, so every
  variant runs both dtypes), at sizes where a step is split over threads (N*G*H*H
  >= 32768 and H over one panel of the widest kernel, T*N over one 64-row block
  of the whole-sequence products) and again at tiny sizes that stay on one
  thread. The functional API (``reverse=True``, ``lengths``, ``out=``,
  ``state_grads=True``) for every variant, on both dtypes. A Stream's steps and
  chunks for every variant. The once-per-call products with the workers awake and
  asleep (a product under FR_WAKE_MIN_WORK does not wake them).
* Run to run: the same call twice on 2 threads, in this process and in a forked child.
* The policy: the default (the CPUs this process may use), FASTRNN_NUM_THREADS,
  ``set_num_threads``/``get_num_threads``, threadpoolctl's limits before and after
  the engine's first use, ``python -m fastrnn info``.
* The pool: a forked child (while the parent's pool is alive and another parent
  thread is in a 2-thread forward) starts its own and computes the same bits;
  two Python threads computing at once get the single-thread answers; the pool
  never grows past the largest count asked for; Ctrl-C stops a 2-thread forward
  (both directions of a bidirectional layer) and a bidirectional backward adds
  all of its gradients or none.

No assertion on time: where a call must be stopped, its full run would take far
longer than the subprocess timeout.
"""

import contextlib
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from queue import Empty

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import CELL_VARIANTS, make_layer, run_interrupted, state_like, variant_id
from fastrnn.lab.flow import backward_with_flow

_ext = pytest.importorskip("fastrnn.core._ext")

ISAS = _ext.available_isas()
THREAD_COUNTS = (1, 2, 3, 4)
GATES = {"SRN": 1, "LSTM": 4, "GRU": 3}
WIDEST_PANEL = 64        # the widest kernel's panel of hidden units (avx512 float32)
STEP_SPLIT_MACS = 32768  # a step is split over threads from N*G*H*H multiply-adds on

# (T, N, I, H) per configuration: "split" sizes share steps and products among threads
SIZES = {
    ("stacked", "split"): (11, 7, 13, 115),
    ("single", "split"): (13, 5, 13, 101),
    ("stacked", "tiny"): (4, 3, 3, 5),
    ("single", "tiny"): (3, 2, 4, 6),
}
CONFIGS = {
    "stacked": dict(num_layers=2, bidirectional=True, bias=True, batch_first=False),
    "single": dict(num_layers=1, bidirectional=False, bias=False, batch_first=True),
}

fork_only = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs the fork start method")


# --- helpers ------------------------------------------------------------------------

@contextlib.contextmanager
def num_threads(n):
    """Run the block with the engine on ``n`` threads; restore the count after."""
    previous = fastrnn.set_num_threads(n)
    try:
        yield
    finally:
        fastrnn.set_num_threads(previous)


@contextlib.contextmanager
def isa(name):
    previous = _ext.isa_setting()
    _ext.set_isa(name)
    try:
        yield
    finally:
        _ext.set_isa(previous)


@pytest.fixture
def c_engine():
    previous = fastrnn.get_backend()
    fastrnn.set_backend("c")
    yield
    fastrnn.set_backend(previous)


def assert_same_bits(label, got, want):
    """Bit-identical arrays (so -0.0 differs from 0.0 and NaNs compare by payload)."""
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), \
        f"{label}: {got.dtype}{got.shape} != {want.dtype}{want.shape}"
    if got.tobytes() == want.tobytes():
        return
    bits = np.dtype(f"u{got.itemsize}")
    bad = np.flatnonzero(got.reshape(-1).view(bits) != want.reshape(-1).view(bits))
    at = np.unravel_index(bad[0], got.shape)
    raise AssertionError(f"{label}: {bad.size} of {got.size} elements differ, first at {at}: "
                         f"{got[at]!r} != {want[at]!r}")


def assert_same_results(label, got, want):
    assert got.keys() == want.keys()
    for key in want:
        assert_same_bits(f"{label}: {key}", got[key], want[key])


def dtype_of(variant, config):
    """float64 for "stacked" on even variants and "single" on odd ones, else float32."""
    even = CELL_VARIANTS.index(variant) % 2 == 0
    return np.float64 if (config == "stacked") == even else np.float32


def layer_results(variant, config, size):
    """Everything a layer computes, as a dict of arrays (a fresh layer, fixed seeds)."""
    T, N, I, H = SIZES[(config, size)]
    opts, dtype = CONFIGS[config], dtype_of(variant, config)
    rng = np.random.default_rng(7)
    layer = make_layer(variant, input_size=I, hidden_size=H, dtype=dtype, seed=3, **opts)
    x = rng.standard_normal((N, T, I) if opts["batch_first"] else (T, N, I)).astype(dtype)
    state0 = state_like(layer, N, rng, dtype)
    lengths = None
    if config == "stacked":  # lengths from 1 to T, the full length more than once
        lengths = np.concatenate([[T, 1], rng.integers(1, T + 1, N - 3), [T]])
    out = {}
    y, state = layer.forward(x, state0, lengths=lengths, train=False)
    out.update(y_inference=y, **_named("state_inference", state))
    y, state = layer.forward(x, state0, lengths=lengths)
    out.update(y=y, **_named("state", state))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dstate = state_like(layer, N, rng, dtype)
    dx, dstate0 = layer.backward(dy, dstate)
    out.update(dx=dx, **_named("dstate0", dstate0))
    out.update({f"grad {name}": layer.grads[name].copy() for name in layer.grads})
    dx, dstate0, flow = backward_with_flow(layer, dy, dstate, accumulate=False)
    out.update(flow_dx=dx, **_named("flow_dstate0", dstate0))
    out.update({f"flow_dh{k}": dh for k, dh in enumerate(flow.dh)})
    out.update({f"flow_dc{k}": dc for k, dc in enumerate(flow.dc or [])})
    return out


def _named(name, state):
    """A state (an array, or the LSTM's (h, c)) as dict entries."""
    if isinstance(state, tuple):
        return {f"{name}_h": state[0], f"{name}_c": state[1]}
    return {name: state}


def results_on_each_count(compute, counts=THREAD_COUNTS):
    """compute() on each thread count: {count: results}."""
    results = {}
    for n in counts:
        with num_threads(n):
            results[n] = compute()
    return results


def assert_count_does_not_matter(results):
    first = min(results)
    for n, got in results.items():
        assert_same_results(f"{n} threads vs {first}", got, results[first])


# --- the same bits for every thread count -------------------------------------------

@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_layer_bits_do_not_depend_on_the_thread_count(c_engine, variant, config, isa_name):
    T, N, I, H = SIZES[(config, "split")]
    # the sizes really share each step and the whole-sequence products among threads
    assert N * GATES[variant[0]] * H * H >= STEP_SPLIT_MACS and H > WIDEST_PANEL and T * N > 64
    with isa(isa_name):
        results = results_on_each_count(lambda: layer_results(variant, config, "split"))
    assert_count_does_not_matter(results)


def _wake_min_work():
    """FR_WAKE_MIN_WORK from csrc/fr_pool.h: a once-per-call product of fewer
    multiply-adds does not wake sleeping workers."""
    header = Path(__file__).resolve().parents[1] / "csrc" / "fr_pool.h"
    if not header.exists():
        pytest.skip("needs the source tree (csrc/fr_pool.h)")
    return float(re.search(r"#define FR_WAKE_MIN_WORK ([0-9.]+)", header.read_text()).group(1))


@pytest.mark.parametrize("asleep", [False, True], ids=["workers awake", "workers asleep"])
def test_once_per_call_products_give_the_same_bits_with_workers_awake_or_asleep(c_engine,
                                                                                 asleep):
    """The input projection, dx and the weight gradients run once per call: split
    over the pool when they are large (and woken workers join), on the caller alone
    when they are small and the workers sleep. Either way, every count, the same bits."""
    T, N, I, H = 16, 16, 72, 128
    assert T * N * I * 4 * H >= _wake_min_work()  # large enough to wake the workers
    rng = np.random.default_rng(11)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)

    def compute():
        layer = fastrnn.LSTM(I, H, dtype=np.float32, seed=5)
        if asleep:
            time.sleep(0.05)  # far past the workers' spin: they sleep on their condition
        y, (h, c) = layer.forward(x)
        if asleep:
            time.sleep(0.05)
        dx, _ = layer.backward(dy)
        return {"y": y, "h": h, "c": c, "dx": dx,
                **{f"grad {k}": g.copy() for k, g in layer.grads.items()}}

    assert_count_does_not_matter(results_on_each_count(compute))


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_stream_bits_do_not_depend_on_the_thread_count(c_engine, variant):
    """A Stream's steps and chunks at a size where each step is split over threads."""
    N, I, H = 7, 13, 115
    assert N * GATES[variant[0]] * H * H >= STEP_SPLIT_MACS and H > WIDEST_PANEL
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((9, N, I))

    def compute():
        layer = make_layer(variant, input_size=I, hidden_size=H, num_layers=2,
                           dtype=np.float32, seed=3)
        stream = layer.stream(batch_size=N)
        steps = [stream.step(x_t.astype(np.float32)) for x_t in xs[:4]]
        chunk = stream.run(xs[4:].astype(np.float32))
        out = {"steps": np.stack(steps), "chunk": chunk}
        out.update(_named("state", stream.state))
        return out

    assert_count_does_not_matter(results_on_each_count(compute))


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_tiny_layer_bits_do_not_depend_on_the_thread_count(c_engine, variant, config):
    T, N, I, H = SIZES[(config, "tiny")]
    assert N * GATES[variant[0]] * H * H < STEP_SPLIT_MACS  # a step stays on one thread
    results = results_on_each_count(lambda: layer_results(variant, config, "tiny"))
    assert_count_does_not_matter(results)


def functional_results(variant, dtype):
    """One recurrence by the functional API: reverse, lengths, gradients added into
    ``out=``, the state-gradient trace."""
    name, options = variant
    kind, G = name.lower(), GATES[name]
    T, N, I, H = 10, 8, 9, 106
    rng = np.random.default_rng(11)
    a = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    x, h0, c0, W_ih, W_hh = a(T, N, I), a(N, H), a(N, H), a(G * H, I) / 3, a(G * H, H) / 10
    b_ih, b_hh = a(G * H), a(G * H)
    lengths = np.array([T, 1, 7, T, 3, 9, 2, 5])
    forward = {"srn": F.srn_forward, "lstm": F.lstm_forward, "gru": F.gru_forward}[kind]
    backward = {"srn": F.srn_backward, "lstm": F.lstm_backward, "gru": F.gru_backward}[kind]
    states = (h0, c0) if kind == "lstm" else (h0,)
    out = {}
    for train in (False, True):
        *ys, cache = forward(x, *states, W_ih, W_hh, b_ih, b_hh, lengths=lengths, reverse=True,
                             train=train, backend="c", **options)
        out.update({f"{'train' if train else 'inference'}_{k}": v for k, v in enumerate(ys)})
    sinks = {"dW_ih": a(G * H, I), "dW_hh": a(G * H, H), "db_ih": a(G * H), "db_hh": a(G * H)}
    finals = [a(N, H) for _ in states]
    grads = backward(a(T, N, H), *finals, cache, out=sinks, state_grads=True)
    out.update(grads)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_functional_bits_do_not_depend_on_the_thread_count(variant, dtype):
    results = results_on_each_count(lambda: functional_results(variant, dtype))
    assert {"dh_seq", "dx", "dW_hh"} <= results[1].keys()
    assert_count_does_not_matter(results)


@pytest.mark.parametrize("variant", [CELL_VARIANTS[0], CELL_VARIANTS[4], CELL_VARIANTS[6]],
                         ids=variant_id)
def test_the_same_call_twice_gives_the_same_bits(c_engine, variant):
    with num_threads(2):
        first, second = (layer_results(variant, "stacked", "split") for _ in range(2))
    assert_same_results("second call", second, first)


# --- the policy ---------------------------------------------------------------------

def run_python(code, env=None, timeout=60):
    """Run ``code`` in a fresh interpreter seeing this fastrnn, without the caller's
    FASTRNN_* settings unless given in ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("FASTRNN_")}
    full["PYTHONPATH"] = os.pathsep.join(sys.path)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full, timeout=timeout)


def output_of(code, env=None):
    proc = run_python(code, env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_the_default_is_the_cpus_this_process_may_use():
    words = output_of("""
        import os
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})       # before fastrnn is imported
        import fastrnn
        from fastrnn.core import threads
        restricted = fastrnn.get_num_threads()
        os.sched_setaffinity(0, cpus)
        print(restricted, threads.default_num_threads(), len(cpus))
    """)
    restricted, default, cpus = map(int, words)
    assert restricted == 1
    assert default == cpus == len(os.sched_getaffinity(0))


def test_fastrnn_num_threads_sets_the_count_at_import():
    assert output_of("import fastrnn; print(fastrnn.get_num_threads())",
                     {"FASTRNN_NUM_THREADS": "3"}) == ["3"]


@pytest.mark.parametrize("value", ["0", "x", "-1"])
def test_a_bad_fastrnn_num_threads_fails_the_import_clearly(value):
    proc = run_python("import fastrnn", {"FASTRNN_NUM_THREADS": value})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: FASTRNN_NUM_THREADS") and repr(value) in last, last


@pytest.mark.parametrize("value", ["0", "x", "-1", "1.5", "2 3", "\u0663", str(2**31)])
def test_default_num_threads_refuses_bad_values(monkeypatch, value):
    from fastrnn.core import threads
    monkeypatch.setenv("FASTRNN_NUM_THREADS", value)
    with pytest.raises(ValueError, match="FASTRNN_NUM_THREADS"):
        threads.default_num_threads()
    monkeypatch.setenv("FASTRNN_NUM_THREADS", " 5 ")
    assert threads.default_num_threads() == 5


def test_set_num_threads_returns_the_previous_count_and_refuses_bad_ones():
    with num_threads(3):
        assert fastrnn.set_num_threads(2) == 3
        assert fastrnn.get_num_threads() == 2
        assert fastrnn.set_num_threads(np.int64(1)) == 2  # a NumPy integer is an int
        for bad in (0, -1, 1.5, "2", None, True, np.bool_(True), 2**31, 2**40):
            with pytest.raises(ValueError, match="n: expected a positive int"):
                fastrnn.set_num_threads(bad)
            assert fastrnn.get_num_threads() == 1


def test_threadpool_limits_before_the_first_use_limits_the_engine():
    pytest.importorskip("threadpoolctl")
    words = output_of("""
        import numpy as np, fastrnn
        from fastrnn.core import _ext
        from threadpoolctl import threadpool_limits
        fastrnn.set_backend("c")
        layer = fastrnn.LSTM(16, 115, bidirectional=True, seed=0)
        x = np.random.default_rng(0).standard_normal((12, 7, 16)).astype(np.float32)
        before = fastrnn.get_num_threads()
        with threadpool_limits(1):
            inside = fastrnn.get_num_threads()
            y, _ = layer.forward(x)
            layer.backward(np.ones_like(y))
            workers_inside = _ext.pool_size()
        after = fastrnn.get_num_threads()
        again, _ = layer.forward(x)                # 2 threads: the pool starts now
        print(before, inside, workers_inside, after, _ext.pool_size(),
              again.tobytes() == y.tobytes())
    """, {"FASTRNN_NUM_THREADS": "2"})
    assert words == ["2", "1", "0", "2", "1", "True"]


def test_threadpool_limits_after_the_first_use_limits_the_engine(c_engine):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    variant = CELL_VARIANTS[5]
    with num_threads(2):
        want = layer_results(variant, "stacked", "split")
        with threadpoolctl.threadpool_limits(1):
            assert fastrnn.get_num_threads() == 1
            got = layer_results(variant, "stacked", "split")
        assert fastrnn.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(limits=3, user_api="fastrnn"):
            assert fastrnn.get_num_threads() == 3
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            assert fastrnn.get_num_threads() == 2  # NumPy's BLAS only
        assert fastrnn.get_num_threads() == 2
    assert_same_results("under threadpool_limits(1)", got, want)


def test_threadpool_info_lists_the_engine():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with num_threads(3):
        ours = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "fastrnn"]
    assert len(ours) == 1
    assert ours[0]["num_threads"] == 3 and ours[0]["version"] == fastrnn.__version__
    assert os.path.realpath(ours[0]["filepath"]) == os.path.realpath(_ext.__file__)


def test_info_prints_the_threads_the_isa_and_the_blas():
    proc = subprocess.run([sys.executable, "-m", "fastrnn", "info"], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                               "FASTRNN_NUM_THREADS": "3", "FASTRNN_ISA": "generic"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    engine = [line for line in lines if line.startswith("C engine:")]
    assert len(engine) == 1 and "3 threads" in engine[0] and "generic" in engine[0], lines
    assert any(line.startswith("BLAS") for line in lines), lines


# --- the pool: fork, several callers, no leaks, Ctrl-C ------------------------------

def _child_computes(queue):
    """In a forked child: the same layer's results twice on 2 threads, and the workers
    the child's own pool started."""
    with num_threads(2):
        first, second = (layer_results(CELL_VARIANTS[4], "stacked", "split") for _ in range(2))
    same = all(first[k].tobytes() == second[k].tobytes() for k in first)
    queue.put(({k: v.tobytes() for k, v in first.items()}, same, _ext.pool_size()))


@fork_only
def test_a_forked_child_gets_its_own_pool_and_the_same_bits(c_engine):
    with num_threads(2):
        want = layer_results(CELL_VARIANTS[4], "stacked", "split")
    assert _ext.pool_size() >= 1  # the parent's pool is alive
    stop, running = threading.Event(), threading.Event()

    def train():  # another parent thread, in 2-thread forwards when the parent forks
        layer = fastrnn.GRU(32, 125, num_layers=2, bidirectional=True, seed=0)
        x = np.random.default_rng(0).standard_normal((20, 9, 32)).astype(np.float32)
        while not stop.is_set():
            y, _ = layer.forward(x)
            layer.backward(np.ones_like(y))
            running.set()

    with num_threads(2):
        trainer = threading.Thread(target=train, daemon=True)
        trainer.start()
        try:
            assert running.wait(60)
            ctx = multiprocessing.get_context("fork")
            for _ in range(3):
                queue = ctx.Queue()
                child = ctx.Process(target=_child_computes, args=(queue,))
                child.start()
                try:  # read before joining: the child exits once its results are sent
                    got, same_twice, workers = queue.get(timeout=60)
                except Empty:
                    got = None
                finally:
                    child.join(timeout=60)
                    hung = child.is_alive()
                    if hung:
                        child.kill()
                assert got is not None and not hung, "the forked child hung"
                assert child.exitcode == 0
                assert same_twice, "the child's second call gave other bits"
                assert workers == 1, "the child started its own pool of one worker"
                for key in want:
                    assert got[key] == want[key].tobytes(), f"the child's {key} differs"
        finally:
            stop.set()
            trainer.join(timeout=60)
            assert not trainer.is_alive(), "the parent's training thread hung after the fork"


def test_two_callers_at_once_get_the_single_thread_answers(c_engine):
    variants = [CELL_VARIANTS[4], CELL_VARIANTS[6]]
    with num_threads(1):
        want = [layer_results(v, "stacked", "split") for v in variants]
    start = threading.Barrier(3)
    got = [[] for _ in variants]
    errors = []

    def call(k):
        try:
            start.wait()
            for _ in range(4):
                got[k].append(layer_results(variants[k], "stacked", "split"))
        except BaseException as e:  # reported below
            errors.append(e)

    def change_counts():  # the count changes while both compute: read once per call
        start.wait()
        for n in (2, 4, 3, 2, 1, 2) * 4:
            fastrnn.set_num_threads(n)
            threading.Event().wait(0.005)

    with num_threads(2):
        callers = [threading.Thread(target=call, args=(k,)) for k in range(2)]
        callers.append(threading.Thread(target=change_counts))
        for t in callers:
            t.start()
        for t in callers:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in callers), "a caller hung"
    assert not errors, errors
    for k in range(2):
        assert len(got[k]) == 4
        for i, results in enumerate(got[k]):
            assert_same_results(f"caller {k}, call {i}", results, want[k])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_the_pool_never_grows_past_the_largest_count_asked_for():
    words = output_of("""
        import os, numpy as np, fastrnn
        from fastrnn.core import _ext
        fastrnn.set_backend("c")
        layer = fastrnn.GRU(8, 115, bidirectional=True, seed=0)
        x = np.random.default_rng(0).standard_normal((12, 7, 8)).astype(np.float32)
        tasks = lambda: len(os.listdir("/proc/self/task"))
        fastrnn.set_num_threads(1)
        y, _ = layer.forward(x)
        layer.backward(np.ones_like(y))
        base, largest, ok, first = tasks(), 1, True, None
        for n in (3, 1, 2, 4, 2, 1, 3, 4, 1, 2) * 10:
            fastrnn.set_num_threads(n)
            largest = max(largest, n)
            y, _ = layer.forward(x)
            layer.backward(np.ones_like(y))
            layer.forward(x, train=False)
            first = _ext.pool_size() if first is None else first
            # every thread the process gained is one of the pool's workers
            ok = ok and _ext.pool_size() <= largest - 1 and tasks() - base == _ext.pool_size()
        print(ok, first, _ext.pool_size())
    """, {"FASTRNN_NUM_THREADS": "1"})
    assert words[0] == "True"
    assert words[1] == "2"  # the first call on 3 threads started 2 workers
    assert 2 <= int(words[2]) <= 3


# Sizes where the whole forward would take many minutes (here about 0.5 ms per step
# of a layer on 2 threads, 1.8 ms for both directions; T*4H is just under the 32-bit
# limit), while the subprocess timeout is one minute: finishing means Ctrl-C stopped it.
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-direction", "bidirectional"])
def test_ctrl_c_stops_a_forward_on_two_threads(bidirectional):
    # bidirectional: the second direction runs led by a worker, which must stop too
    assert run_interrupted("forward", 500000, 1024, threads=2,
                           bidirectional=bidirectional) == ["interrupted", "unchanged"]


_SIGNALS_CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time, numpy as np, fastrnn
    fastrnn.set_backend("c")
    threads, handler, directions, fractions = sys.argv[1:]
    fastrnn.set_num_threads(int(threads))
    fractions = [float(f) for f in fractions.split(",")]
    layer = fastrnn.LSTM(8, 256, bidirectional=directions == "2", seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((1500, 1, 8))
    y, _ = layer.forward(x)
    dy = np.ones_like(y)
    took = []
    for _ in range(2):
        layer.grads_flat[...] = 0
        start = time.perf_counter()
        layer.backward(dy)
        took.append(time.perf_counter() - start)
    once, pause = layer.grads_flat.copy(), min(took)
    layer.grads_flat[...] = 0
    seen, calling = [], [True]

    def on_sigint(sig, frame):  # with "raises", the last signal raises during the call
        seen.append(sig)
        if handler == "raises" and len(seen) == len(fractions) and calling[0]:
            raise KeyboardInterrupt

    def send():  # each signal f * pause after the one before
        for f in fractions:
            time.sleep(f * pause)
            os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=send)
    sender.start()
    try:
        layer.backward(dy)
        calling[0] = False
        outcome = "completed " + str(np.array_equal(layer.grads_flat, once))
    except KeyboardInterrupt:
        outcome = "interrupted " + str(not layer.grads_flat.any())
    signal.signal(signal.SIGINT, lambda s, f: None)
    sender.join()
    print(outcome, flush=True)
""")


# Each signal lands the given fraction of a backward's duration into the call the one
# before restarted; a raising handler raises at the last one, well inside its call (at
# the very end it could come after the call, whose gradients are then rightly added).
SWEEP = "0.55,0.65,0.75,0.85,0.95"
RAISE_SWEEP = "0.55,0.65,0.85,0.95,0.75"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("directions, threads, handler, fractions", [
    (2, 1, "returns", SWEEP), (2, 2, "returns", SWEEP),
    (2, 1, "raises", RAISE_SWEEP), (2, 2, "raises", RAISE_SWEEP),
    (1, 2, "raises", "0.75"),
], ids=["bidirectional-1-returns", "bidirectional-2-returns", "bidirectional-1-raises",
        "bidirectional-2-raises", "one-direction-2-raises-late"])
def test_ctrl_c_during_a_backward_adds_all_of_the_gradients_or_none(directions, threads,
                                                                     handler, fractions):
    """SIGINT during a backward (the directions one after the other on 1 thread, side
    by side on 2): a handler that returns lets the call complete with the gradients
    added once; one that raises leaves them as they were. Bugs found: a direction
    could be past its last step, its gradients added, when the other stopped; the
    pass then ran again (adding them twice) or raised (leaving them half added). And
    a signal after the last step (during the weight-gradient products, a large part
    of a backward) did not stop the kernel, but its KeyboardInterrupt came after the
    gradients were added."""
    proc = subprocess.run([sys.executable, "-c", _SIGNALS_CHILD, str(threads), handler,
                           str(directions), fractions],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() in (["completed", "True"], ["interrupted", "True"]), proc.stdout
