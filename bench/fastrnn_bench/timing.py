"""Thread limits, repeat counts, the block timer, and the load on the machine.

Load. The machine is shared, so every timed row records how busy it was:

* ``load1``, the 1-minute load average when the row ended (what earlier
  records had). It counts this benchmark's own threads too, and it lags: a
  1-thread benchmark drives it towards 1.0 on its own.
* ``others``, the CPU (in cores) that every *other* process, and the
  hypervisor's steal, used while the row ran: the busy jiffies of
  ``/proc/stat`` minus this process's own CPU time (``getrusage``), divided by
  the wall time. A quiet machine gives ~0.0, one competing CPU-bound process
  ~1.0. This is what decides whether a row is *busy*: ``others`` above
  ``BUSY_THRESHOLD`` (0.3 cores; where ``/proc/stat`` is missing, ``load1``
  above 0.3 plus this row's own threads).
* ``stalls``, how many times the C engine's pool found a worker off its CPU
  during the row (``pool_stalls()``) and ran that call, and the next quarter
  second, on one thread. A row with stalls measured fewer threads than it
  asked for: it is busy too, unless competing processes were started on
  purpose (the busy-machine table, where the count is reported).
"""

import contextlib
import gc
import os
import resource
import statistics
import time

import numpy as np

from . import import_fastrnn, import_torch, log

# a row during which other processes used more than this many cores is marked busy
BUSY_THRESHOLD = 0.3


# --- threads --------------------------------------------------------------------------

@contextlib.contextmanager
def limit_threads(n):
    """n threads for every engine, each through its own control; ``n`` None changes nothing
    (every library's default: what the busy-machine table measures).

    * the C engine: ``fastrnn.set_num_threads(n)`` (its own pool; the pre-restructure
      build has no such call and ran on SciPy's OpenBLAS, which the next line limits);
    * the NumPy engine: ``threadpoolctl.threadpool_limits(n, user_api="blas")``, every
      BLAS in the process (NumPy's OpenBLAS; SciPy's, if loaded);
    * torch: ``torch.set_num_threads(n)`` (its own MKL/oneDNN/OpenMP, which threadpoolctl
      does not reach).

    Each is put back on exit.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    torch = import_torch()
    fastrnn = import_fastrnn()
    set_fastrnn = getattr(fastrnn, "set_num_threads", None)
    with threadpool_limits(limits=n, user_api="blas"):
        old_fastrnn = set_fastrnn(n) if set_fastrnn else None
        old_torch = None
        if torch is not None:
            old_torch = torch.get_num_threads()
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(old_torch)
            if set_fastrnn:
                set_fastrnn(old_fastrnn)


def threads_under_limit(n):
    """What each thread pool reports inside ``limit_threads(n)``, e.g. ``fastrnn=2``."""
    from threadpoolctl import threadpool_info
    torch = import_torch()
    fastrnn = import_fastrnn()
    with limit_threads(n):
        libs = [f"{lib.get('prefix')}={lib.get('num_threads')}" for lib in threadpool_info()
                if lib.get("user_api") != "fastrnn"]
        if hasattr(fastrnn, "get_num_threads"):
            libs.insert(0, f"fastrnn={fastrnn.get_num_threads()}")
        if torch is not None:
            libs.append(f"torch={torch.get_num_threads()}")
    return libs


def pool_stalls():
    """How many times the C engine's calls in this process found a worker off its CPU and
    went on with one thread for a while (``fastrnn.core._ext.pool_stalls()``); None for a
    build without the counter (the pre-restructure one) or without the C engine."""
    import sys
    ext = sys.modules.get("fastrnn.core._ext")
    if ext is None:
        try:
            import_fastrnn()
            from fastrnn.core import _ext as ext
        except ImportError:
            return None
    fn = getattr(ext, "pool_stalls", None)
    return int(fn()) if fn else None


# --- repeat counts and timers -------------------------------------------------------------

def rounds_for(estimate_s, max_time, min_rounds, max_rounds):
    """Repeats of a call that took ``estimate_s``: enough to fill ``max_time`` seconds,
    at least ``min_rounds`` (pytest-benchmark's ``--benchmark-min-rounds``) and at most
    ``max_rounds``; a call far slower than its share (a busy machine, a slow engine)
    gets 3 repeats instead of ``min_rounds``."""
    est = max(estimate_s, 1e-7)
    if est * min_rounds > 3 * max_time:
        return max(1, min(3, max_rounds))
    return int(min(max_rounds, max(min_rounds, max_time / est)))


def time_call(fn, min_time=0.2, min_samples=5, max_samples=200, sample_time=2e-3):
    """Median seconds per call of ``fn()``; calls are batched so a sample lasts >= sample_time.

    For calls that need no set-up between them (a GEMM, a T=1 step)."""
    fn()
    t0 = time.perf_counter()
    fn()
    est = max(time.perf_counter() - t0, 1e-7)
    batch = max(1, int(sample_time / est))
    samples, start = [], time.perf_counter()
    while len(samples) < max_samples and (len(samples) < min_samples
                                          or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch)
    return statistics.median(samples)


def time_blocks(calls, max_time, min_rounds, max_rounds, rounds=3):
    """Median seconds per call of several engines, timed in blocks, outside pytest.

    ``calls``: name -> ``(setup, target)`` (see ``engines.Engine.calls``); ``setup``
    runs untimed before each call, ``target`` may return a part time (the forward
    inside a training step). Each engine runs ``rounds`` blocks of consecutive calls,
    one block per engine per round, the engine order rotating: rounds spread slow
    drift of a shared machine's load over all engines alike, while blocks keep one
    engine's thread pool from running into another's still-spinning workers. Each
    block starts after a short pause and one untimed call.

    Returns name -> dict(median, min, iqr, reps, part_median).
    """
    names = list(calls)

    def once(name):
        setup, target = calls[name]
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        part = target()
        return time.perf_counter() - t0, part

    est = {}
    for name in names:
        once(name)                                   # warm-up
        est[name] = once(name)[0]
    reps = {n: rounds_for(est[n], max_time, min_rounds, max_rounds) for n in names}
    rounds = max(1, min(rounds, min(reps.values())))
    totals = {n: [] for n in names}
    parts = {n: [] for n in names}
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for k in range(rounds):
            order = names[k % len(names):] + names[:k % len(names)]
            for name in order:
                todo = reps[name] * (k + 1) // rounds - reps[name] * k // rounds
                time.sleep(0.005)
                once(name)                           # untimed: wakes this engine's threads
                for _ in range(todo):
                    total, part = once(name)
                    totals[name].append(total)
                    if part is not None:
                        parts[name].append(part)
    finally:
        if was_enabled:
            gc.enable()
    return {n: summarize(totals[n], parts[n]) for n in names}


def summarize(times, parts=()):
    """median, min, IQR and count of a list of seconds (and the median part, if any)."""
    q = np.percentile(times, [25, 75])
    return dict(median=statistics.median(times), min=min(times), iqr=float(q[1] - q[0]),
                reps=len(times), part_median=statistics.median(parts) if parts else None)


# --- the load on the machine ---------------------------------------------------------------

def loadavg():
    """(1, 5, 15)-minute load averages, rounded, or None where the OS has none."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def _busy_jiffies():
    """All CPUs' busy time in seconds since boot (user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class LoadMeter:
    """How busy the rest of the machine was between ``start()`` and ``stop()``.

    ``stop()`` returns dict(load1, others, stalls, busy); see the module docstring. ``allowed``
    is the CPU other processes may use without the row counting as busy beyond the
    threshold, e.g. the competing processes the busy-machine table starts on purpose.
    """

    def __init__(self, threads=1, allowed=0.0, threshold=BUSY_THRESHOLD):
        self.threads, self.allowed, self.threshold = threads, allowed, threshold
        self._t0 = self._busy0 = self._own0 = self._stalls0 = None

    def start(self):
        self._stalls0 = pool_stalls()
        self._t0, self._busy0, self._own0 = time.perf_counter(), _busy_jiffies(), _own_cpu()
        return self

    def stop(self):
        wall = time.perf_counter() - self._t0
        busy1, own1 = _busy_jiffies(), _own_cpu()
        load = loadavg()
        load1 = load[0] if load else None
        others = resolution = None
        if busy1 is not None and self._busy0 is not None and wall > 0:
            ncpu = os.cpu_count() or 1
            others = ((busy1 - self._busy0) - (own1 - self._own0)) / wall
            others = min(max(0.0, others), ncpu)
            # /proc/stat counts whole clock ticks per CPU: over a short window (a smoke
            # run's rows) that is coarse, and only what exceeds it counts as busy
            resolution = ncpu / os.sysconf("SC_CLK_TCK") / wall
        stalls1 = pool_stalls()
        stalls = (stalls1 - self._stalls0 if stalls1 is not None and self._stalls0 is not None
                  else None)
        return dict(load1=load1, others=None if others is None else round(others, 3),
                    stalls=stalls, busy=self.is_busy(others, load1, resolution or 0.0, stalls))

    def is_busy(self, others, load1, resolution=0.0, stalls=None):
        if stalls and not self.allowed:
            return True
        if others is not None:
            return others - resolution > self.allowed + self.threshold
        if load1 is not None:
            return load1 > self.allowed + self.threshold + self.threads
        return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.result = self.stop()
        return False


def sample_others(seconds=1.0):
    """CPU used by other processes over ``seconds`` while this one sleeps (None: unknown)."""
    meter = LoadMeter().start()
    time.sleep(seconds)
    return meter.stop()["others"]


def wait_idle(limit_s, threshold=BUSY_THRESHOLD, sample_s=2.0):
    """Wait (up to ``limit_s`` seconds) until other processes use less than ``threshold``
    cores (sampled over ``sample_s``; the 1-minute load average where /proc/stat is
    missing). Returns True when the machine became idle, False on timeout."""
    t0 = time.time()
    sample_s = min(sample_s, max(limit_s / 2, 0.2))
    while True:
        others = sample_others(sample_s)
        level = others if others is not None else (loadavg() or (0.0,))[0]
        if level < threshold:
            return True
        if time.time() - t0 > limit_s:
            log(f"other processes still use {level:.2f} cores after {limit_s:.0f} s: "
                "starting anyway (the rows will be marked busy)")
            return False
        log(f"waiting for an idle machine: other processes use {level:.2f} cores "
            f"(>= {threshold}), load average {loadavg()}")
        time.sleep(max(0.0, min(10.0, limit_s - (time.time() - t0) - sample_s)))


if __name__ == "__main__":
    # python -m fastrnn_bench.timing wait SECONDS: run_all.sh's quiet-machine check before
    # each part (exit status 0 either way: a part that starts busy has its rows marked)
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "wait":
        wait_idle(float(sys.argv[2]))
    else:
        sys.exit("usage: python -m fastrnn_bench.timing wait SECONDS")
