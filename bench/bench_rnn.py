#!/usr/bin/env python3
"""fastrnn speed benchmark: the C engine, the NumPy engine and PyTorch CPU, side by side.

One process run measures, for SRN (tanh), LSTM and GRU at the sizes of issue 3,
float32 and float64, forward-only (``layer.forward(x, train=False)``) and
forward+backward (``forward(x, train=True)`` then ``backward(dy)``), with 1 and
then 2 threads for every engine (threadpoolctl for the BLAS libraries and
OpenMP, ``torch.set_num_threads`` for torch). In the same run it measures the
machine's SGEMM/DGEMM throughput and reports each engine's GFLOP/s as a
fraction of it. Order of work, per configuration: VALIDATE (C vs NumPy engine,
and vs torch: outputs, final states, dx, dstate0 and every parameter gradient;
abort on mismatch), then TIME (warm-up, engines interleaved round-robin,
median of an adaptive number of repeats), then REPORT (ratios).

    python bench/bench_rnn.py            # everything, about 10 minutes on 2 cores
    python bench/bench_rnn.py --quick    # smoke run, about 1 minute
    python bench/bench_rnn.py --cells lstm --sizes 50x64x512 --dtypes float32 --threads 1
    python bench/bench_rnn.py --profile lstm:50x64x512        # GEMM share vs the rest
    python bench/bench_rnn.py --help

Writes bench/RESULTS.md (unless --no-write) and bench/ratios.png (if matplotlib
imports), and --json PATH. See bench/README.md for what the columns mean.
Exit status: 0 ok, 1 an engine raised somewhere (listed under "Problems"),
2 a validation mismatch (aborted before timing that configuration).
"""

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

try:
    import fastrnn
except ImportError:  # a source checkout that is not installed: the NumPy engine still runs
    sys.path.insert(0, os.path.join(REPO, "src"))
    import fastrnn

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    sys.exit("bench_rnn.py needs threadpoolctl to control BLAS threads: "
             "pip install threadpoolctl (or pip install '.[bench]')")

try:
    import scipy
    from scipy.linalg import blas as scipy_blas
except ImportError:  # fastrnn depends on scipy, so this is unexpected
    scipy = scipy_blas = None

try:
    import torch
except ImportError:
    torch = None

# --- what is measured ---------------------------------------------------------------

CELLS = ("srn", "lstm", "gru")
CELL_LABEL = {"srn": "SRN(tanh)", "lstm": "LSTM", "gru": "GRU"}
GATES = {"srn": 1, "lstm": 4, "gru": 3}
# (T, N, I, H): issue 3's sizes, input = hidden
SIZES = ((100, 1, 128, 128), (100, 8, 128, 128), (100, 32, 256, 256),
         (50, 64, 512, 512), (1000, 1, 32, 32))
QUICK_SIZES = ((100, 1, 128, 128), (100, 8, 128, 128), (1000, 1, 32, 32))
DTYPES = ("float32", "float64")
THREADS = (1, 2)
ENGINES = ("c", "numpy", "torch")
ENGINE_LABEL = {"c": "C", "numpy": "NumPy", "torch": "torch"}
MODES = ("fwd", "fwdbwd")
MODE_LABEL = {"fwd": "forward (train=False)", "fwdbwd": "forward+backward"}
# a 1-minute load average above this at the start or end marks the run as on a busy machine
BUSY_LOAD = 1.0
# relative tolerances of the validation: max|a - ref| / max|ref|
RTOL = {"float32": 1e-4, "float64": 1e-10}


def size_name(size):
    T, N, I, H = size
    return f"{T}x{N}x{H}" if I == H else f"{T}x{N}x{I}x{H}"


def parse_size(text):
    parts = [int(p) for p in re.split(r"[x,]", text.strip().lower()) if p]
    if len(parts) == 3:
        T, N, H = parts
        return (T, N, H, H)
    if len(parts) == 4:
        return tuple(parts)
    raise argparse.ArgumentTypeError(f"size {text!r}: expected TxNxH (input = hidden) or TxNxIxH")


def gemm_flops(cell, size):
    """FLOPs of the GEMMs a forward needs: the input projection of all T*N rows
    (2*T*N*I*G*H) plus T recurrent products (2*T*N*H*G*H). The backward needs
    about twice that (dx and dW_ih; dh_{t-1} and dW_hh), so forward+backward = 3x."""
    T, N, I, H = size
    return 2.0 * T * N * (I + H) * GATES[cell] * H


# --- small utilities ------------------------------------------------------------------

def log(*args, **kw):
    print(*args, **kw, flush=True)


def fmt_ms(seconds):
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_ratio(r):
    return "n/a" if r is None else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")


def fmt_pct(p):
    return "n/a" if p is None else f"{100 * p:.0f}%"


def ratio(slow, fast):
    """Speed-up of the engine that took ``fast`` over the one that took ``slow``."""
    if slow is None or fast is None or fast <= 0:
        return None
    return slow / fast


def time_call(fn, min_time=0.2, min_samples=5, max_samples=200, sample_time=2e-3):
    """Median seconds per call of ``fn()``; calls are batched so a sample lasts >= sample_time."""
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


@contextlib.contextmanager
def limit_threads(n):
    """n threads for every engine: BLAS and OpenMP via threadpoolctl, torch's intra-op pool."""
    with threadpool_limits(limits=n):
        old = None
        if torch is not None:
            old = torch.get_num_threads()
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(old)


class Mismatch(Exception):
    pass


# --- the machine -------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                              cwd=REPO).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def describe_machine():
    info = {}
    cpuinfo = _read("/proc/cpuinfo")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    info["cpu_model"] = m.group(1).strip() if m else platform.processor() or "unknown"
    lscpu = {}
    for line in _run(["lscpu"]).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            lscpu[k.strip()] = v.strip()
    info["lscpu"] = {k: lscpu[k] for k in ("Model name", "Vendor ID", "CPU family", "Model",
                                          "CPU(s)", "Thread(s) per core", "Core(s) per socket",
                                          "L1d cache", "L2 cache", "L3 cache",
                                          "Hypervisor vendor", "CPU max MHz") if k in lscpu}
    flags = set(lscpu.get("Flags", "").split())
    if not flags:
        m = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
        flags = set(m.group(1).split()) if m else set()
    info["simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16",
                                "avx512_vnni", "amx_tile") if f in flags]
    info["logical_cpus"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cpus"] = os.cpu_count()
    m = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    info["memory_gib"] = round(int(m.group(1)) / 2**20, 1) if m else None
    info["platform"] = platform.platform()
    info["python"] = sys.version.split()[0]
    info["numpy"] = np.__version__
    info["scipy"] = getattr(scipy, "__version__", None)
    info["torch"] = getattr(torch, "__version__", None)
    import threadpoolctl
    info["threadpoolctl"] = threadpoolctl.__version__
    info["fastrnn"] = getattr(fastrnn, "__version__", None)
    info["fastrnn_path"] = os.path.dirname(fastrnn.__file__)
    info["c_engine_available"] = bool(fastrnn.c_engine_available())
    info["default_backend"] = fastrnn.get_backend()
    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"])
    info["git"] = (commit + ("+dirty" if dirty else "")) if commit else None
    info["env"] = {k: os.environ.get(k) for k in (
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS", "FASTRNN_BACKEND", "FASTRNN_NATIVE")}
    info["blas"] = [{k: lib.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                             "architecture", "threading_layer", "num_threads",
                                             "filepath")}
                    for lib in threadpool_info()]
    if torch is not None:
        par = torch.__config__.parallel_info()
        info["torch_parallel"] = [l.strip() for l in par.splitlines()
                                  if any(s in l for s in ("backend", "Math Kernel", "MKL-DNN",
                                                          "oneDNN", "OpenMP"))]
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    info["date_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def loadavg():
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def blas_threads_under_limit(n):
    with limit_threads(n):
        libs = [f"{lib.get('prefix')}={lib.get('num_threads')}" for lib in threadpool_info()]
        if torch is not None:
            libs.append(f"torch={torch.get_num_threads()}")
    return libs


# --- GEMM throughput ------------------------------------------------------------------------

def gemm_seconds(lib, dtype, M, K, Nn, min_time=0.15):
    """Median seconds of C[M, Nn] = A[M, K] @ B[K, Nn] through numpy's or scipy's BLAS."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((K, Nn)).astype(dtype)
    C = np.empty((M, Nn), dtype=dtype)
    if lib == "numpy":
        def fn():
            np.matmul(A, B, out=C)
    else:
        # row-major C = A @ B is column-major C^T = B^T A^T: no copies (the C engine's trick)
        gemm = scipy_blas.sgemm if dtype == "float32" else scipy_blas.dgemm
        At, Bt, Ct = A.T, B.T, C.T

        def fn():
            gemm(1.0, Bt, At, beta=0.0, c=Ct, overwrite_c=True)
    return time_call(fn, min_time=min_time)


def measure_gemm(dtypes, threads, sizes, cells, quick):
    """Square and RNN-shaped GEMM throughput (GFLOP/s) per dtype and thread count, both BLAS."""
    libs = ["numpy"] + (["scipy"] if scipy_blas is not None else [])
    squares = (512,) if quick else (512, 1024)
    out = {"square": [], "proj": [], "peak": {}, "square_end": [], "peak_start": {},
           "peak_end": {}}
    for dtype in dtypes:
        for n in threads:
            with limit_threads(n):
                best = 0.0
                for s in squares:
                    for lib in libs:
                        t = gemm_seconds(lib, dtype, s, s, s)
                        gf = 2.0 * s ** 3 / t / 1e9
                        best = max(best, gf)
                        out["square"].append(dict(dtype=dtype, threads=n, lib=lib, M=s, K=s, N=s,
                                                  gflops=gf))
                out["peak"][f"{dtype}/{n}"] = best
                log(f"  GEMM {dtype} {n} thread(s): peak {best:.1f} GFLOP/s (square "
                    f"{'/'.join(map(str, squares))}, best of {'/'.join(libs)})")
                seen = set()
                for size in sizes:
                    T, N, I, H = size
                    for cell in cells:
                        shape = (T * N, I, GATES[cell] * H)
                        if shape in seen:
                            continue
                        seen.add(shape)
                        for lib in libs:
                            t = gemm_seconds(lib, dtype, *shape, min_time=0.08)
                            out["proj"].append(dict(dtype=dtype, threads=n, lib=lib,
                                                    M=shape[0], K=shape[1], N=shape[2],
                                                    gflops=2.0 * np.prod(shape) / t / 1e9))
    return out


def remeasure_peak(gemm, quick):
    """Square GEMMs again at the end of the run; the peak becomes the higher of the two
    measurements (on a shared machine the start may have been unlucky)."""
    for dtype_n in list(gemm["peak"]):
        dtype, n = dtype_n.split("/")
        with limit_threads(int(n)):
            best = 0.0
            for s in ((512,) if quick else (512, 1024)):
                for lib in ["numpy"] + (["scipy"] if scipy_blas is not None else []):
                    t = gemm_seconds(lib, dtype, s, s, s)
                    gf = 2.0 * s ** 3 / t / 1e9
                    best = max(best, gf)
                    gemm["square_end"].append(dict(dtype=dtype, threads=int(n), lib=lib,
                                                   M=s, K=s, N=s, gflops=gf))
        gemm["peak_start"][dtype_n] = gemm["peak"][dtype_n]
        gemm["peak_end"][dtype_n] = best
        gemm["peak"][dtype_n] = max(best, gemm["peak"][dtype_n])


def peak_of(gemm, dtype, threads):
    return gemm["peak"].get(f"{dtype}/{threads}") if gemm else None


# --- the engines ------------------------------------------------------------------------------

def make_layer(cell, size, dtype, seed=0):
    T, N, I, H = size
    if cell == "srn":
        return fastrnn.SRN(I, H, nonlinearity="tanh", dtype=dtype, seed=seed)
    return {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU}[cell](I, H, dtype=dtype, seed=seed)


class FastrnnEngine:
    """One fastrnn layer run through one backend ("c" or "numpy") via the layer API."""

    def __init__(self, backend, cell, size, dtype, x, dy):
        self.backend, self.cell = backend, cell
        self.layer = make_layer(cell, size, dtype)
        self.x, self.dy = x, dy

    def _use(self):
        fastrnn.set_backend(self.backend)  # global switch, outside the timed region

    def run_all(self):
        """Everything validation compares, from one inference and one training step."""
        self._use()
        layer = self.layer
        y_inf, state_inf = layer.forward(self.x, train=False)
        layer.zero_grad()
        y, state = layer.forward(self.x, train=True)
        dx, dstate0 = layer.backward(self.dy)
        out = {"y(train=False)": y_inf, "y": y, "dx": dx}
        names = ("h", "c") if isinstance(state, tuple) else ("h",)
        for k, name in enumerate(names):
            pick = (lambda s: s[k]) if isinstance(state, tuple) else (lambda s: s)
            out[f"{name}_T(train=False)"] = pick(state_inf)
            out[f"{name}_T"] = pick(state)
            out[f"d{name}0"] = pick(dstate0)
        for name, g in layer.grads.items():
            out["grad " + name] = g.copy()
        return out

    def time_fwd(self):
        self._use()
        x, layer = self.x, self.layer
        t0 = time.perf_counter()
        layer.forward(x, train=False)
        return time.perf_counter() - t0, None

    def time_fwdbwd(self):
        self._use()
        x, dy, layer = self.x, self.dy, self.layer
        layer.zero_grad()
        t0 = time.perf_counter()
        layer.forward(x, train=True)
        t1 = time.perf_counter()
        layer.backward(dy)
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0


class TorchEngine:
    """torch.nn.RNN/LSTM/GRU on CPU with the fastrnn layer's weights (state_dict keys agree)."""

    def __init__(self, cell, size, dtype, x, dy, state_dict):
        T, N, I, H = size
        tdtype = torch.float32 if dtype == "float32" else torch.float64
        if cell == "srn":
            m = torch.nn.RNN(I, H, nonlinearity="tanh", dtype=tdtype)
        else:
            m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, dtype=tdtype)
        m.load_state_dict({k: torch.from_numpy(np.array(v, dtype=dtype))
                           for k, v in state_dict.items()})
        self.m, self.cell = m, cell
        self.x_inf = torch.from_numpy(x.copy())
        self.x = torch.from_numpy(x.copy()).requires_grad_(True)
        self.dy = torch.from_numpy(dy.copy())

    def run_all(self):
        m = self.m
        with torch.inference_mode():
            y_inf, state_inf = m(self.x_inf)
        m.zero_grad(set_to_none=True)
        self.x.grad = None
        y, state = m(self.x)
        y.backward(self.dy)
        out = {"y(train=False)": y_inf.numpy(), "y": y.detach().numpy(),
               "dx": self.x.grad.numpy()}
        names = ("h", "c") if isinstance(state, tuple) else ("h",)
        for k, name in enumerate(names):
            pick = (lambda s: s[k]) if isinstance(state, tuple) else (lambda s: s)
            out[f"{name}_T(train=False)"] = pick(state_inf).numpy()
            out[f"{name}_T"] = pick(state).detach().numpy()
        for name, p in m.named_parameters():
            out["grad " + name] = p.grad.numpy().copy()
        return out

    def time_fwd(self):
        m, x = self.m, self.x_inf
        with torch.inference_mode():
            t0 = time.perf_counter()
            m(x)
            return time.perf_counter() - t0, None

    def time_fwdbwd(self):
        m, x, dy = self.m, self.x, self.dy
        m.zero_grad(set_to_none=True)
        x.grad = None
        t0 = time.perf_counter()
        y, _ = m(x)
        t1 = time.perf_counter()
        y.backward(dy)
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0


# --- validation -------------------------------------------------------------------------------

def rel_err(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf"), f"shape {a.shape} != {ref.shape}"
    diff = np.abs(a - ref)
    if not np.all(np.isfinite(diff)):
        bad = np.unravel_index(np.flatnonzero(~np.isfinite(diff))[0], diff.shape)
        return float("inf"), f"non-finite at {tuple(int(i) for i in bad)}"
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    scale = float(np.max(np.abs(ref)))
    err = float(diff[worst]) / (scale if scale > 0 else 1.0)
    return err, (f"worst at {tuple(int(i) for i in worst)}: {float(a[worst]):.9g} vs "
                 f"{float(ref[worst]):.9g} (max|ref| = {scale:.3g})")


def compare(what, got, ref, rtol, keys=None):
    """Max relative error over the shared keys; raises Mismatch naming the first bad array."""
    keys = [k for k in ref if k in got] if keys is None else keys
    missing = [k for k in ref if k not in got and not k.startswith("dc0") and not k.startswith("dh0")]
    if missing:
        raise Mismatch(f"{what}: missing {missing}")
    worst = 0.0
    for k in keys:
        err, where = rel_err(got[k], ref[k])
        if not err <= rtol:
            raise Mismatch(f"{what}: {k} differs: relative error {err:.3g} > {rtol:g}; {where}")
        worst = max(worst, err)
    return worst


# --- timing -------------------------------------------------------------------------------

def time_group(fns, budget, min_reps, max_reps, rounds=3):
    """Median seconds per engine. ``fns``: name -> callable returning (total, part).

    Each engine runs in blocks of consecutive calls, one block per engine per round,
    the engine order rotating each round: rounds spread slow drift of this shared
    machine's load over all engines alike, while blocks keep one engine's thread pool
    from running into another's still-spinning workers (interleaving single calls
    of OpenBLAS, torch's OpenMP and the C engine made the 2-thread numbers of all of
    them several times slower). Each block starts after a short pause and one untimed
    call."""
    names = list(fns)
    est = {}
    for name in names:
        fns[name]()                            # warm-up (validation already ran once)
        est[name] = max(fns[name]()[0], 1e-7)
    share = budget / max(len(names), 1)
    # a call far slower than its share (a busy machine, a slow engine) gets 3 repeats, not min_reps
    reps = {n: int(min(max_reps, max(min_reps if est[n] * min_reps <= 3 * share else 3,
                                     share / est[n]))) for n in names}
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
                fn = fns[name]
                todo = reps[name] * (k + 1) // rounds - reps[name] * k // rounds
                time.sleep(0.005)
                fn()                           # untimed: wakes this engine's threads
                for _ in range(todo):
                    total, part = fn()
                    totals[name].append(total)
                    if part is not None:
                        parts[name].append(part)
    finally:
        if was_enabled:
            gc.enable()
    res = {}
    for name in names:
        t = totals[name]
        q = np.percentile(t, [25, 75])
        res[name] = dict(median=statistics.median(t), min=min(t), iqr=float(q[1] - q[0]),
                         reps=len(t),
                         part_median=statistics.median(parts[name]) if parts[name] else None)
    return res


# --- the run ------------------------------------------------------------------------------

def run_benchmark(args, gemm, problems):
    """Validate then time every selected configuration; returns (records, validations)."""
    records, validations = [], []
    n_groups = (len(args.cells) * len(args.sizes) * len(args.dtypes) * len(args.threads)
                * len(MODES))
    budget = args.budget / max(n_groups, 1)
    log(f"timing budget {budget:.2f} s per (config, mode) group, {n_groups} groups; "
        f"repeats {args.min_reps}..{args.max_reps} per engine")
    for cell in args.cells:
        for size in args.sizes:
            T, N, I, H = size
            for dtype in args.dtypes:
                rng = np.random.default_rng(1234)
                x = rng.standard_normal((T, N, I)).astype(dtype)
                dy = rng.standard_normal((T, N, H)).astype(dtype)
                engines = {}
                for name in args.engines:
                    try:
                        if name == "torch":
                            engines[name] = TorchEngine(cell, size, dtype, x, dy,
                                                        engines_np_state(cell, size, dtype))
                        else:
                            engines[name] = FastrnnEngine(name, cell, size, dtype, x, dy)
                    except Exception as exc:  # noqa: BLE001 - reported, run goes on
                        problems.append(f"{cell} {size_name(size)} {dtype}: building the {name} "
                                        f"engine raised {type(exc).__name__}: {exc}")
                        log("  !!", problems[-1])
                for n in args.threads:
                    with limit_threads(n):
                        tag = f"{CELL_LABEL[cell]} {size_name(size)} {dtype} {n}thr"
                        live = validate(tag, cell, size, dtype, n, engines, validations, problems)
                        for mode in MODES:
                            fns = {name: getattr(live[name], "time_" + mode) for name in live}
                            if not fns:
                                continue
                            try:
                                res = time_group(fns, budget, args.min_reps, args.max_reps)
                            except Exception as exc:  # noqa: BLE001
                                problems.append(f"{tag} {mode}: timing raised "
                                                f"{type(exc).__name__}: {exc}")
                                log("  !!", problems[-1])
                                continue
                            load1 = (loadavg() or (None,))[0]
                            flops = gemm_flops(cell, size) * (3 if mode == "fwdbwd" else 1)
                            peak = peak_of(gemm, dtype, n)
                            for name, r in res.items():
                                gflops = flops / r["median"] / 1e9
                                records.append(dict(
                                    cell=cell, T=T, N=N, I=I, H=H, size=size_name(size),
                                    dtype=dtype, threads=n, mode=mode, engine=name,
                                    median_s=r["median"], min_s=r["min"], iqr_s=r["iqr"],
                                    reps=r["reps"], fwd_part_s=r["part_median"],
                                    us_per_step=r["median"] / T * 1e6,
                                    gflops=gflops,
                                    frac_peak=(gflops / peak) if peak else None,
                                    load1=load1))
                            log("  " + line_for(tag, mode, res))
    return records, validations


def engines_np_state(cell, size, dtype):
    """The parameters every fastrnn engine's layer has (same seed), for torch to load."""
    return make_layer(cell, size, dtype).state_dict()


def validate(tag, cell, size, dtype, threads, engines, validations, problems):
    """Run every engine once and compare with the NumPy engine; returns the engines that ran."""
    rtol = RTOL[dtype]
    outs, live = {}, {}
    for name, eng in engines.items():
        try:
            outs[name] = eng.run_all()
            live[name] = eng
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{tag}: the {ENGINE_LABEL[name]} engine raised "
                            f"{type(exc).__name__}: {exc}")
            log("  !!", problems[-1])
            log("".join(traceback.format_exc(limit=3)))
    ref = outs.get("numpy")
    if ref is None:
        log(f"  {tag}: no NumPy reference to validate against; timing without validation")
        return live
    for name in ("c", "torch"):
        if name not in outs:
            continue
        got = outs[name]
        keys = [k for k in ref if k in got]
        err = compare(f"{tag}: {ENGINE_LABEL[name]} engine vs NumPy engine", got, ref, rtol, keys)
        validations.append(dict(config=tag, cell=cell, size=size_name(size), dtype=dtype,
                                threads=threads, pair=f"{name} vs numpy", max_rel_err=err,
                                rtol=rtol, arrays=len(keys)))
    # the inference path agrees with the training path within each engine
    for name, got in outs.items():
        err = compare(f"{tag}: {ENGINE_LABEL[name]} forward train=False vs train=True",
                      {"y": got["y(train=False)"]}, {"y": got["y"]}, rtol)
        validations.append(dict(config=tag, cell=cell, size=size_name(size), dtype=dtype,
                                threads=threads, pair=f"{name} train=False vs train=True",
                                max_rel_err=err, rtol=rtol, arrays=1))
    return live


def line_for(tag, mode, res):
    parts = [f"{tag} {mode:6s}:"]
    for name in ENGINES:
        if name in res:
            parts.append(f"{ENGINE_LABEL[name]} {fmt_ms(res[name]['median'])} ms"
                         f" ({res[name]['reps']}x)")
        else:
            parts.append(f"{ENGINE_LABEL[name]} n/a")
    med = {n: r["median"] for n, r in res.items()}
    parts.append(f"| C vs NumPy {fmt_ratio(ratio(med.get('numpy'), med.get('c')))}")
    parts.append(f"C vs torch {fmt_ratio(ratio(med.get('torch'), med.get('c')))}")
    parts.append(f"torch vs NumPy {fmt_ratio(ratio(med.get('numpy'), med.get('torch')))}")
    return "  ".join(parts)


# --- targets of issue 3 ----------------------------------------------------------------------

def index_records(records):
    return {(r["cell"], r["size"], r["dtype"], r["threads"], r["mode"], r["engine"]): r
            for r in records}


def evaluate_targets(records, gemm, cells, c_available):
    """Every target of issue 3 that the selected configurations cover, one row each.

    A row is kept only when its baseline ran (the NumPy engine, torch, or for the
    thread and machine targets the NumPy engine at the same configuration), so a
    filtered run lists only what it could have measured; a missing C number is
    PENDING (no C engine) or n/a (C raised there)."""
    idx = index_records(records)
    rows = []

    def med(cell, size, dtype, n, mode, engine):
        r = idx.get((cell, size, dtype, n, mode, engine))
        return r["median_s"] if r else None

    def ran(cell, size, dtype, n, mode, engine):
        return (cell, size, dtype, n, mode, engine) in idx

    def add(group, cell, size, dtype, n, mode, measured, required, what, base_ran):
        if not base_ran:
            return
        if measured is None:
            status = "n/a" if c_available else "PENDING"
            margin = "not measured (see Problems)" if c_available else "C engine not available"
        elif measured >= required:
            status, margin = "PASS", f"+{100 * (measured / required - 1):.0f}%"
        else:
            status = "MISS"
            margin = (f"{100 * (1 - measured / required):.0f}% short "
                      f"(needs {required / measured:.2f}x more)")
        rows.append(dict(group=group, cell=cell, size=size, dtype=dtype, threads=n, mode=mode,
                         what=what, measured=measured, required=required, status=status,
                         margin=margin))

    sizes_n = {}
    for r in records:
        sizes_n[r["size"]] = r["N"]
    sizes = sorted(sizes_n, key=lambda s: (sizes_n[s], s))
    f32 = "float32"
    # 1. against the NumPy engine, float32, 1 thread, forward and forward+backward
    vs_numpy = {"1000x1x32": 10.0, "100x1x128": 10.0, "100x8x128": 3.0, "50x64x512": 1.3}
    for size, req in vs_numpy.items():
        for cell in cells:
            for mode in MODES:
                add("C vs NumPy engine (float32, 1 thread)", cell, size, f32, 1, mode,
                    ratio(med(cell, size, f32, 1, mode, "numpy"), med(cell, size, f32, 1, mode, "c")),
                    req, "speed-up", ran(cell, size, f32, 1, mode, "numpy"))
    # 2. against PyTorch, float32, 1 thread: 2x at N <= 8; at N >= 32 1.0x LSTM, 1.3x SRN, GRU
    for size in sizes:
        N = sizes_n[size]
        for cell in cells:
            if N <= 8:
                req = 2.0
            elif N >= 32:
                req = 1.0 if cell == "lstm" else 1.3
            else:
                continue
            for mode in MODES:
                add("C vs PyTorch (float32, 1 thread)", cell, size, f32, 1, mode,
                    ratio(med(cell, size, f32, 1, mode, "torch"), med(cell, size, f32, 1, mode, "c")),
                    req, "speed-up", ran(cell, size, f32, 1, mode, "torch"))
    # 3. against the machine: forward+backward at (50, 64, 512) reaches 90% of SGEMM
    if gemm:
        for cell in cells:
            r = idx.get((cell, "50x64x512", f32, 1, "fwdbwd", "c"))
            add("C vs the machine's SGEMM peak (float32, 1 thread, fwd+bwd)", cell, "50x64x512",
                f32, 1, "fwdbwd", r["frac_peak"] if r else None, 0.90, "fraction of peak",
                ran(cell, "50x64x512", f32, 1, "fwdbwd", "numpy"))
    # 4. float64: at least 1.5x PyTorch everywhere (every size, cell, mode, thread count)
    for n in (1, 2):
        for size in sizes:
            for cell in cells:
                for mode in MODES:
                    add("C vs PyTorch, float64 (everywhere)", cell, size, "float64", n, mode,
                        ratio(med(cell, size, "float64", n, mode, "torch"),
                              med(cell, size, "float64", n, mode, "c")), 1.5, "speed-up",
                        ran(cell, size, "float64", n, mode, "torch"))
    # 5. 2 threads: not slower than 1 anywhere ...
    for dtype in DTYPES:
        for size in sizes:
            for cell in cells:
                for mode in MODES:
                    add("C with 2 threads not slower than with 1", cell, size, dtype, 2, mode,
                        ratio(med(cell, size, dtype, 1, mode, "c"), med(cell, size, dtype, 2, mode, "c")),
                        1.0, "t(1 thr) / t(2 thr)",
                        ran(cell, size, dtype, 1, mode, "numpy") and ran(cell, size, dtype, 2, mode, "numpy"))
    # ... and at least PyTorch's 2-thread speed at N >= 32
    for size in sizes:
        if sizes_n[size] < 32:
            continue
        for cell in cells:
            for mode in MODES:
                add("C vs PyTorch with 2 threads at N >= 32 (float32)", cell, size, f32, 2, mode,
                    ratio(med(cell, size, f32, 2, mode, "torch"), med(cell, size, f32, 2, mode, "c")),
                    1.0, "speed-up", ran(cell, size, f32, 2, mode, "torch"))
    return rows


# --- reports ------------------------------------------------------------------------------------

PLACEHOLDER = ("_Placeholder, for the lead: for each MISS above, what bounds it (GEMM share, "
               "elementwise share, call overhead; see `--profile` / `--profile-misses`) and "
               "what would close it._")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def previous_analysis(path):
    """The lead's text under '## Analysis of misses' in an existing RESULTS.md, if any."""
    text = _read(path)
    m = re.search(r"^## Analysis of misses\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        return None
    body = m.group(1).strip()
    if not body or PLACEHOLDER in body:
        return None
    return body


def write_markdown(path, args, machine, gemm, records, validations, targets, problems,
                   profiles, elapsed, load_start, load_end, plot_note):
    c_ok = machine["c_engine_available"] and "c" in args.engines
    kept = previous_analysis(path)
    L = ["# fastrnn benchmark results", ""]
    if not c_ok:
        L += ["> **PENDING THE C ENGINE. Not final.** This file was generated while "
              "`fastrnn.c_engine_available()` was False (or the C engine was filtered out), so "
              "every C column is n/a and every target is PENDING. It shows the NumPy engine "
              "against PyTorch only. Rerun `python bench/bench_rnn.py` once the C engine "
              "builds.", ""]
    busy = [v for v in (load_start, load_end) if v and v[0] > BUSY_LOAD]
    if busy:
        L += [f"> **Busy machine.** The 1-minute load average was {load_start[0] if load_start else '?'} "
              f"at the start and {load_end[0] if load_end else '?'} at the end (above {BUSY_LOAD}: "
              "other processes competed for the 2 cores). Numbers, above all the 2-thread ones, "
              "are unreliable; the `load` column shows it per row. Rerun on an idle machine "
              "(`--wait-idle`).", ""]
    if args.quick:
        L += ["> **Quick run** (`--quick`: fewer sizes and repeats). A smoke test, not the "
              "record.", ""]
    L += [f"Generated {machine['date_utc']} by `{args.command}` in {elapsed / 60:.1f} min; "
          f"fastrnn {machine['fastrnn']} (git {machine['git']}), C engine "
          f"{'available' if machine['c_engine_available'] else 'NOT available'}.", ""]

    L += ["## Machine", ""]
    ls = machine["lscpu"]
    L += [f"- CPU: {machine['cpu_model']}"
          + (f" (vendor {ls.get('Vendor ID')}, family {ls.get('CPU family')}, model "
             f"{ls.get('Model')})" if ls.get("CPU family") else "")
          + (f", hypervisor {ls['Hypervisor vendor']}" if ls.get("Hypervisor vendor") else ""),
          f"- Cores: {machine['logical_cpus']} logical CPUs ({machine['usable_cpus']} usable by "
          f"this process); threads per core {ls.get('Thread(s) per core', '?')}; caches L1d "
          f"{ls.get('L1d cache', '?')}, L2 {ls.get('L2 cache', '?')}, L3 {ls.get('L3 cache', '?')}",
          f"- SIMD: {', '.join(machine['simd']) or 'unknown'}",
          f"- Memory: {machine['memory_gib']} GiB",
          f"- Load average (1, 5, 15 min) at start {load_start}, at end {load_end} "
          "(a shared machine: load above ~0.2 means another process competed for a core)",
          f"- OS: {machine['platform']}",
          f"- Python {machine['python']}, NumPy {machine['numpy']}, SciPy {machine['scipy']}, "
          f"torch {machine['torch'] or 'not installed'}, threadpoolctl {machine['threadpoolctl']}",
          "- Environment: " + ", ".join(f"`{k}={v if v is not None else '(unset)'}`"
                                        for k, v in machine["env"].items()),
          ""]
    L += ["BLAS and OpenMP libraries loaded in this process (threadpoolctl, before any limit):", ""]
    L += [md_table(["user_api", "internal_api", "prefix", "version", "architecture",
                    "threading", "num_threads", "file"],
                   [[b["user_api"], b["internal_api"], b["prefix"], b["version"],
                     b["architecture"] or "", b["threading_layer"] or "", b["num_threads"],
                     os.path.basename(b["filepath"] or "")] for b in machine["blas"]]), ""]
    L += ["NumPy's matmul (the NumPy engine) goes through the `numpy.libs` OpenBLAS; the C "
          "engine gets `sgemm`/`dgemm` from `scipy.linalg.cython_blas`, i.e. the `scipy.libs` "
          "OpenBLAS; torch uses its own MKL/oneDNN, which threadpoolctl cannot see and "
          "`torch.set_num_threads` controls."]
    if machine.get("torch_parallel"):
        L += ["torch: " + "; ".join(machine["torch_parallel"])
              + f"; mkldnn available: {machine.get('torch_mkldnn')}"]
    L += ["", "Thread settings: each thread count n runs inside `threadpool_limits(limits=n)` "
          "(every BLAS and OpenMP pool) with `torch.set_num_threads(n)`; measured under those "
          "limits:", ""]
    for n, libs in machine.get("threads_under_limit", {}).items():
        L.append(f"- n={n}: " + ", ".join(libs))
    L += [""]

    L += ["## Method", "",
          f"- Sizes (T, N, input=hidden): {', '.join(size_name(s) for s in args.sizes)}; cells: "
          f"{', '.join(CELL_LABEL[c] for c in args.cells)}; dtypes {', '.join(args.dtypes)}; "
          f"threads {', '.join(map(str, args.threads))}; engines "
          f"{', '.join(ENGINE_LABEL[e] for e in args.engines)}.",
          "- Modes: `fwd` = `layer.forward(x, train=False)` (torch: `module(x)` under "
          "`torch.inference_mode()`); `fwd+bwd` = `layer.forward(x, train=True)` then "
          "`layer.backward(dy)` (torch: `x.requires_grad_()`, parameters requiring grad, "
          "`y.backward(dy)`), gradients zeroed outside the timed region; every engine computes "
          "dx and all parameter gradients.",
          "- Validation, before timing each (cell, size, dtype, threads): the C engine and torch "
          "against the NumPy engine on outputs, final states, dx, dstate0 (C only) and every "
          "parameter gradient, and each engine's `train=False` output against its "
          "`train=True` output; error = max|a - ref| / max|ref|, tolerance "
          + ", ".join(f"{k} {v:g}" for k, v in RTOL.items()) + ". A mismatch aborts the run.",
          f"- Timing: one warm-up and one estimate call per engine, then 3 rounds; in each round "
          f"every engine runs a block of consecutive calls (after a 5 ms pause and one untimed "
          f"call), the engine order rotating, so slow drift in machine load hits all engines "
          f"alike while no engine's thread pool competes with another's spinning workers. "
          f"Repeats adapt to a budget of "
          f"{args.budget:.0f} s in all, between {args.min_reps} and {args.max_reps} per engine. "
          "Tables give the median; the JSON also has min, IQR and repeat counts.",
          "- Ratios are speed-ups, `A vs B` = time(B) / time(A): above 1 means A is faster.",
          "- GFLOP/s count the GEMM FLOPs the algorithm needs: forward 2*T*N*(I+H)*G*H "
          "(G = 1, 4, 3 for SRN, LSTM, GRU), forward+backward 3x that. `%peak` divides by the "
          "GEMM peak of the same dtype and thread count below.",
          ""]

    if gemm:
        L += ["## GEMM throughput of this machine (GFLOP/s)", "",
              "Square C[n,n] = A[n,n] @ B[n,n], median per call; `numpy` = `np.matmul` "
              "(NumPy's OpenBLAS), `scipy` = `scipy.linalg.blas.?gemm` (SciPy's OpenBLAS, the one "
              "the C engine calls), measured at the start of the run (shown) and again at the "
              "end. **Peak** = the best of all of these, the reference for `%peak`.", ""]
        rows = []
        for key, peak in gemm["peak"].items():
            dtype, n = key.split("/")
            cells_ = []
            for lib in ("numpy", "scipy"):
                for s in sorted({g["M"] for g in gemm["square"]}):
                    g = [g for g in gemm["square"] if g["dtype"] == dtype and g["threads"] == int(n)
                         and g["lib"] == lib and g["M"] == s]
                    cells_.append(f"{g[0]['gflops']:.1f}" if g else "n/a")
            rows.append([("SGEMM" if dtype == "float32" else "DGEMM"), n] + cells_
                        + [f"{gemm.get('peak_start', {}).get(key, peak):.1f} / "
                           + (f"{gemm['peak_end'][key]:.1f}" if key in gemm.get("peak_end", {})
                              else "n/a"), f"**{peak:.1f}**"])
        sq = sorted({g["M"] for g in gemm["square"]})
        L += [md_table(["GEMM", "threads"] + [f"{lib} {s}" for lib in ("numpy", "scipy")
                                              for s in sq] + ["best at start / end", "peak"],
                       rows), ""]
        if gemm["proj"]:
            L += ["The input projection at the benchmark's shapes, (T*N x I) @ (I x G*H):", ""]
            rows = {}
            for g in gemm["proj"]:
                key = (g["M"], g["K"], g["N"], g["dtype"])
                rows.setdefault(key, {})[(g["lib"], g["threads"])] = g["gflops"]
            hdr = [(lib, n) for n in sorted({g["threads"] for g in gemm["proj"]})
                   for lib in ("numpy", "scipy")]
            L += [md_table(["M x K x N", "dtype"] + [f"{lib} {n}thr" for lib, n in hdr],
                           [[f"{k[0]}x{k[1]}x{k[2]}", k[3]]
                            + [f"{v[h]:.1f}" if h in v else "n/a" for h in hdr]
                            for k, v in sorted(rows.items(), key=lambda kv: (kv[0][3], kv[0]))]),
                  ""]

    L += ["## Medians (ms) and ratios", ""]
    if plot_note:
        L += [plot_note, ""]
    idx = index_records(records)
    for dtype in args.dtypes:
        for n in args.threads:
            L += [f"### {dtype}, {n} thread{'s' if n > 1 else ''}", ""]
            rows = []
            for cell in args.cells:
                for size in args.sizes:
                    sn = size_name(size)
                    for mode in MODES:
                        r = {e: idx.get((cell, sn, dtype, n, mode, e)) for e in ENGINES}
                        t = {e: (r[e]["median_s"] if r[e] else None) for e in ENGINES}
                        if not any(t.values()):
                            continue
                        fp = {e: (r[e]["frac_peak"] if r[e] else None) for e in ENGINES}
                        part = "" if mode == "fwd" else " / ".join(
                            fmt_ms(r[e]["fwd_part_s"] if r[e] else None) for e in ENGINES)
                        rows.append([CELL_LABEL[cell], sn, "fwd+bwd" if mode == "fwdbwd" else "fwd",
                                     fmt_ms(t["c"]), fmt_ms(t["numpy"]), fmt_ms(t["torch"]),
                                     fmt_ratio(ratio(t["numpy"], t["c"])),
                                     fmt_ratio(ratio(t["torch"], t["c"])),
                                     fmt_ratio(ratio(t["numpy"], t["torch"])),
                                     fmt_pct(fp["c"]), fmt_pct(fp["numpy"]), fmt_pct(fp["torch"]),
                                     part, next((f"{r[e]['load1']:.1f}" for e in ENGINES
                                                 if r[e] and r[e].get("load1") is not None), "")])
            L += [md_table(["cell", "T x N x H", "mode", "C ms", "NumPy ms", "torch ms",
                            "C vs NumPy", "C vs torch", "torch vs NumPy", "C %peak",
                            "NumPy %peak", "torch %peak", "train-fwd ms C / NumPy / torch",
                            "load"],
                           rows), ""]

    L += ["## Targets (issue 3)", ""]
    if not targets:
        L += ["No target is covered by the selected configurations.", ""]
    groups = []
    for t in targets:
        if t["group"] not in groups:
            groups.append(t["group"])
    for g in groups:
        rows_g = [t for t in targets if t["group"] == g]
        counts = {s: sum(1 for t in rows_g if t["status"] == s)
                  for s in ("PASS", "MISS", "PENDING", "n/a")}
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        L += [f"### {g}: {summary}", ""]
        rows = []
        for t in rows_g:
            meas = t["measured"]
            if t["what"] == "fraction of peak":
                ms, rq = fmt_pct(meas), fmt_pct(t["required"])
            else:
                ms, rq = fmt_ratio(meas), f">= {t['required']:g}x"
            rows.append([CELL_LABEL[t["cell"]], t["size"], t["dtype"], t["threads"],
                         "fwd+bwd" if t["mode"] == "fwdbwd" else "fwd", t["what"], ms, rq,
                         f"**{t['status']}**" if t["status"] == "MISS" else t["status"],
                         t["margin"]])
        L += [md_table(["cell", "T x N x H", "dtype", "threads", "mode", "measured as",
                        "measured", "target", "status", "margin"], rows), ""]

    L += ["## Analysis of misses", ""]
    if kept:
        L += ["_(Kept from the previous RESULTS.md: check it against the numbers above.)_", "",
              kept, ""]
    else:
        L += [PLACEHOLDER, ""]

    L += ["## Threads: is the GIL released?", "",
          "Measured by `python bench/bench_threads.py`: two threads each running an "
          "independent long sequence against one thread running both; see "
          "[THREADS.md](THREADS.md)"
          + ("." if os.path.exists(os.path.join(HERE, "THREADS.md"))
             else " (not generated yet)."), ""]

    L += ["## Validation", ""]
    if validations:
        worst = {}
        for v in validations:
            key = (v["pair"], v["dtype"])
            if key not in worst or v["max_rel_err"] > worst[key]["max_rel_err"]:
                worst[key] = v
        L += [f"{len(validations)} comparisons, all within tolerance. Worst relative error per "
              "pair:", ""]
        L += [md_table(["pair", "dtype", "worst error", "tolerance", "where"],
                       [[k[0], k[1], f"{v['max_rel_err']:.2e}", f"{v['rtol']:g}", v["config"]]
                        for k, v in sorted(worst.items())]), ""]
    else:
        L += ["No comparison ran.", ""]
    if problems:
        L += ["## Problems", "", "These engines raised instead of running; their cells are n/a:",
              ""] + [f"- {p}" for p in problems] + [""]
    if profiles:
        L += ["## Profiles", ""] + profiles
    text = "\n".join(L).rstrip() + "\n"
    with open(path, "w") as f:
        f.write(text)


def write_plot(path, args, records, c_ok):
    """Speed-up bars per (dtype, threads); returns a note for RESULTS.md."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "(No plot: matplotlib is not installed.)"
    idx = index_records(records)
    if c_ok:
        series = [("c", "numpy", "fwd"), ("c", "numpy", "fwdbwd"),
                  ("c", "torch", "fwd"), ("c", "torch", "fwdbwd")]
    else:
        series = [("torch", "numpy", "fwd"), ("torch", "numpy", "fwdbwd")]
    panels = [(d, n) for d in args.dtypes for n in args.threads]
    labels = [f"{CELL_LABEL[c]}\n{size_name(s)}" for c in args.cells for s in args.sizes]
    keys = [(c, size_name(s)) for c in args.cells for s in args.sizes]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 0.75 * len(keys) + 2),
                                                      3.2 * len(panels)), squeeze=False)
    width = 0.8 / len(series)
    for ax, (dtype, n) in zip(axes[:, 0], panels):
        for j, (a, b, mode) in enumerate(series):
            vals = []
            for cell, sn in keys:
                ra, rb = idx.get((cell, sn, dtype, n, mode, a)), idx.get((cell, sn, dtype, n, mode, b))
                vals.append(ra and rb and rb["median_s"] / ra["median_s"] or np.nan)
            xs = np.arange(len(keys)) + (j - (len(series) - 1) / 2) * width
            ax.bar(xs, vals, width, label=f"{ENGINE_LABEL[a]} vs {ENGINE_LABEL[b]}, "
                                          f"{'fwd+bwd' if mode == 'fwdbwd' else 'fwd'}")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(fmt)
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(np.arange(len(keys)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("speed-up (x)")
        ax.set_title(f"{dtype}, {n} thread{'s' if n > 1 else ''}"
                     + ("" if c_ok else "  (C engine n/a: torch vs the NumPy engine)"), fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=len(series))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![speed-up ratios]({os.path.basename(path)})"


# --- profile: the C engine's time split into GEMM and the rest ------------------------------------

def gemm_list(cell, size):
    """(M, K, N, count, phase) of every GEMM the engine contract needs (issue 3's structure)."""
    T, N, I, H = size
    G = GATES[cell] * H
    return [(T * N, I, G, 1, "fwd", "input projection x @ W_ih^T"),
            (N, H, G, T, "fwd", "recurrent h_{t-1} @ W_hh^T, per step"),
            (N, G, H, T, "bwd", "dh_{t-1} = dgates @ W_hh, per step"),
            (G, T * N, I, 1, "bwd", "dW_ih += dgates^T @ x"),
            (G, T * N, H, 1, "bwd", "dW_hh += dgates^T @ h_prev"),
            (T * N, G, I, 1, "bwd", "dx = dgates @ W_ih")]


def run_profile(spec, args, machine, gemm):
    """Time the engine at one configuration and the same GEMMs alone; returns markdown lines."""
    cell, size, dtype, n = spec
    engine = "c" if (machine["c_engine_available"] and "c" in args.engines) else "numpy"
    lib = "scipy" if engine == "c" else "numpy"
    T, N, I, H = size
    tag = f"{CELL_LABEL[cell]} {size_name(size)} {dtype}, {n} thread{'s' if n > 1 else ''}"
    log(f"profile: {tag}, {ENGINE_LABEL[engine]} engine, GEMMs through {lib}'s BLAS")
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    with limit_threads(n):
        eng = FastrnnEngine(engine, cell, size, dtype, x, dy)
        res = time_group({"fwd": eng.time_fwd, "fwdbwd": eng.time_fwdbwd},
                         budget=2.0 if args.quick else 6.0, min_reps=5, max_reps=300)
        t_fwd = res["fwd"]["median"]
        t_train_fwd = res["fwdbwd"]["part_median"]
        t_bwd = res["fwdbwd"]["median"] - t_train_fwd
        # the fixed per-call cost of the layer API and the engine: the same cell at T=N=I=H=1
        tiny = (1, 1, 1, 1)
        xt = np.ones((1, 1, 1), dtype=dtype)
        small = FastrnnEngine(engine, cell, tiny, dtype, xt, xt)
        call_fwd = statistics.median([small.time_fwd()[0] for _ in range(300)])
        tb = [small.time_fwdbwd() for _ in range(300)]
        call_train_fwd = statistics.median([p for _, p in tb])
        call_bwd = statistics.median([t - p for t, p in tb])
        # the GEMMs alone, each shape timed in a loop, minus the per-call cost of the loop itself
        overhead = gemm_seconds(lib, dtype, 1, 1, 1, min_time=0.1)
        rows, gemm_t = [], {"fwd": 0.0, "bwd": 0.0}
        for M, K, Nn, count, phase, what in gemm_list(cell, size):
            t = max(gemm_seconds(lib, dtype, M, K, Nn, min_time=0.1) - overhead, 0.0)
            gemm_t[phase] += t * count
            rows.append([what, f"{M}x{K}x{Nn}", count, f"{t * 1e6:.2f}",
                         f"{2.0 * M * K * Nn / t / 1e9:.1f}" if t > 0 else "n/a",
                         f"{t * count * 1e3:.3f}"])
    peak = peak_of(gemm, dtype, n)
    flops_f = gemm_flops(cell, size)
    lines = [f"### Profile: {tag} ({ENGINE_LABEL[engine]} engine)", ""]
    if engine != "c":
        lines += ["> The C engine was not available: this profiles the NumPy engine instead "
                  "(GEMMs through NumPy's BLAS).", ""]
    lines += [f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
              f"load average {loadavg()}. GEMMs alone at the engine's shapes (median per call, "
              f"minus {overhead * 1e6:.2f} us per call of loop overhead, which a 1x1x1 GEMM "
              "measures):", ""]
    lines += [md_table(["GEMM", "M x K x N", "calls", "us per call", "GFLOP/s", "ms in all"],
                       rows), ""]
    split = []
    for phase, total, call in (("forward (train=False)", t_fwd, call_fwd),
                               ("forward (train=True)", t_train_fwd, call_train_fwd),
                               ("backward", t_bwd, call_bwd)):
        g = gemm_t["fwd" if phase.startswith("forward") else "bwd"]
        rest = total - g - call
        ideal = (flops_f * (2 if phase == "backward" else 1)) / (peak * 1e9) if peak else None
        split.append([phase, f"{total * 1e3:.3f}", f"{g * 1e3:.3f} ({100 * g / total:.0f}%)",
                      f"{call * 1e3:.3f} ({100 * call / total:.0f}%)",
                      f"{rest * 1e3:.3f} ({100 * rest / total:.0f}%)",
                      f"{ideal * 1e3:.3f}" if ideal else "n/a"])
    lines += ["Where the time goes (ms, share of the phase):", ""]
    lines += [md_table(["phase", "engine total", "GEMMs alone", "fixed call cost (T=N=H=1)",
                        "rest: elementwise, memory, per-step overhead",
                        "GEMM FLOPs at peak"], split), ""]
    lines += ["`GEMMs alone` is what BLAS needs for the same products called back to back (an "
              "engine that computes some products itself, e.g. small-batch recurrent ones, is "
              "compared with what BLAS would need for them); "
              "`rest` = total - GEMMs - fixed call cost, i.e. the fused elementwise passes, cache "
              "writes, memory traffic and per-step overhead. `GEMM FLOPs at peak` is the floor "
              f"at the measured {dtype} peak ({peak:.1f} GFLOP/s)." if peak else
              "`rest` = total - GEMMs - fixed call cost.", ""]
    log("\n".join(lines))
    return lines


def parse_profile(text):
    parts = text.split(":")
    if len(parts) < 2 or parts[0] not in CELLS:
        raise argparse.ArgumentTypeError(f"--profile {text!r}: expected CELL:TxNxH[:DTYPE[:THREADS]]"
                                         f", CELL in {CELLS}")
    size = parse_size(parts[1])
    dtype = parts[2] if len(parts) > 2 else "float32"
    if dtype not in DTYPES:
        raise argparse.ArgumentTypeError(f"--profile {text!r}: dtype must be one of {DTYPES}")
    n = int(parts[3]) if len(parts) > 3 else 1
    return (parts[0], size, dtype, n)


def append_profiles(path, lines):
    text = _read(path)
    if not text:
        text = "# fastrnn benchmark results\n\n(Only profiles so far: run bench/bench_rnn.py.)\n"
    if "\n## Profiles\n" not in text:
        text = text.rstrip() + "\n\n## Profiles\n"
    with open(path, "w") as f:
        f.write(text.rstrip() + "\n\n" + "\n".join(lines).rstrip() + "\n")


# --- main ----------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See bench/README.md.")
    csv = lambda s: [v.strip() for v in s.split(",") if v.strip()]  # noqa: E731
    p.add_argument("--quick", action="store_true",
                   help="smoke run (~1 min): sizes " + ", ".join(size_name(s) for s in QUICK_SIZES)
                   + ", few repeats")
    p.add_argument("--cells", type=csv, default=None, help=f"comma list of {','.join(CELLS)}")
    p.add_argument("--sizes", type=csv, default=None,
                   help="comma list of TxNxH (input = hidden) or TxNxIxH; default: issue 3's")
    p.add_argument("--dtypes", type=csv, default=None, help="comma list of float32,float64")
    p.add_argument("--threads", type=csv, default=None, help="comma list of thread counts (1,2)")
    p.add_argument("--engines", type=csv, default=None,
                   help="comma list of c,numpy,torch (numpy is the reference: keep it to validate)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timing in all, spread over the configurations "
                        "(default 420, quick 25)")
    p.add_argument("--min-reps", type=int, default=None, help="repeats per engine at least (5; quick 3)")
    p.add_argument("--max-reps", type=int, default=300, help="repeats per engine at most (300)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for the 1-minute load average to fall below "
                        "0.5 (this is a shared machine); default: do not wait")
    p.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    p.add_argument("--results", metavar="PATH", default=os.path.join(HERE, "RESULTS.md"),
                   help="markdown report (default bench/RESULTS.md)")
    p.add_argument("--plot", metavar="PATH", default=os.path.join(HERE, "ratios.png"),
                   help="ratio plot (default bench/ratios.png)")
    p.add_argument("--no-write", action="store_true", help="print only: no RESULTS.md, no plot")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM throughput measurement")
    p.add_argument("--profile", metavar="CELL:TxNxH[:DTYPE[:THREADS]]", action="append",
                   type=parse_profile, default=[],
                   help="only profile this configuration (C engine, or NumPy if C is missing): "
                        "GEMM share vs the rest, printed and appended to RESULTS.md; repeatable")
    p.add_argument("--profile-misses", action="store_true",
                   help="after the run, profile each (cell, size) with a MISS at float32/1 thread")
    args = p.parse_args(argv)
    args.command = "python bench/bench_rnn.py" + ("".join(" " + shlex.quote(a) for a in argv))

    def check(values, allowed, what):
        bad = [v for v in values if v not in allowed]
        if bad:
            p.error(f"--{what}: unknown {bad}; expected some of {allowed}")
        return values

    args.cells = check(args.cells or list(CELLS), CELLS, "cells")
    args.dtypes = check(args.dtypes or list(DTYPES), DTYPES, "dtypes")
    args.engines = check(args.engines or list(ENGINES), ENGINES, "engines")
    try:
        args.threads = [int(t) for t in (args.threads or THREADS)]
        if args.sizes:
            args.sizes = [parse_size(s) for s in args.sizes]
    except (ValueError, argparse.ArgumentTypeError) as exc:
        p.error(str(exc))
    if not args.sizes:
        args.sizes = list(QUICK_SIZES if args.quick else SIZES)
    if args.budget is None:
        args.budget = 25.0 if args.quick else 420.0
    if args.min_reps is None:
        args.min_reps = 3 if args.quick else 5
    args.max_reps = max(args.max_reps, args.min_reps)
    return args


def wait_idle(limit_s, threshold=0.5):
    """Wait (up to limit_s) until the 1-minute load average is below threshold."""
    t0 = time.time()
    while True:
        load = loadavg()
        if not load or load[0] < threshold:
            return True
        if time.time() - t0 > limit_s:
            log(f"load average still {load[0]} after {limit_s:.0f} s: starting anyway")
            return False
        log(f"waiting for an idle machine: load average {load[0]} >= {threshold}")
        time.sleep(15)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    started = time.perf_counter()
    load_start = loadavg()
    if load_start and load_start[0] > BUSY_LOAD:
        log(f"WARNING: 1-minute load average {load_start[0]}: other processes are using this "
            "machine's cores; timings, above all the 2-thread ones, will be unreliable.")
    machine = describe_machine()
    c_ok = machine["c_engine_available"]
    if "c" in args.engines and not c_ok:
        log("NOTE: the C engine is not available (fastrnn.c_engine_available() is False): the C "
            "column is n/a and the targets are PENDING. Build it with `pip install -e . "
            "--no-build-isolation` and rerun.")
        args.engines = [e for e in args.engines if e != "c"]
    if "torch" in args.engines and torch is None:
        log("NOTE: torch is not importable: the torch column is n/a (optional: "
            "pip install torch==2.13.0).")
        args.engines = [e for e in args.engines if e != "torch"]
    if torch is not None:
        torch.manual_seed(0)
    log(f"fastrnn bench on {machine['cpu_model']} ({machine['logical_cpus']} CPUs), load "
        f"{load_start}; engines {args.engines}; Python {machine['python']}, NumPy "
        f"{machine['numpy']}, SciPy {machine['scipy']}, torch {machine['torch']}")
    machine["threads_under_limit"] = {n: blas_threads_under_limit(n) for n in args.threads}

    gemm = None
    if args.profile:
        if not args.no_gemm:
            gemm = measure_gemm(sorted({p[2] for p in args.profile}), sorted({p[3] for p in args.profile}),
                                [], [], quick=True)
        lines = []
        for spec in args.profile:
            lines += run_profile(spec, args, machine, gemm)
        if not args.no_write:
            append_profiles(args.results, lines)
            log(f"appended to {args.results}")
        return 0

    if not args.no_gemm:
        log("GEMM throughput:")
        gemm = measure_gemm(args.dtypes, args.threads, args.sizes, args.cells, args.quick)

    problems = []
    log("benchmark (validate, then time):")
    try:
        records, validations = run_benchmark(args, gemm, problems)
        if gemm:
            log("GEMM peak again, at the end:")
            remeasure_peak(gemm, args.quick)
            for key in gemm["peak"]:
                log(f"  {key}: start {gemm['peak_start'][key]:.1f}, end "
                    f"{gemm['peak_end'][key]:.1f} GFLOP/s")
            for r in records:
                peak = peak_of(gemm, r["dtype"], r["threads"])
                r["frac_peak"] = r["gflops"] / peak if peak else None
    except Mismatch as exc:
        log("\n" + "!" * 78 + f"\nVALIDATION FAILED, run aborted:\n  {exc}\n" + "!" * 78)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(aborted=str(exc), machine=machine, gemm=gemm), f, indent=1,
                          default=str)
        return 2

    targets = evaluate_targets(records, gemm, args.cells, c_ok and "c" in args.engines)
    profiles = []
    if args.profile_misses:
        misses = sorted({(t["cell"], t["size"]) for t in targets
                         if t["status"] == "MISS" and t["dtype"] == "float32"
                         and t["threads"] == 1})
        for cell, sn in misses:
            profiles += run_profile((cell, parse_size(sn), "float32", 1), args, machine, gemm)

    elapsed = time.perf_counter() - started
    load_end = loadavg()
    log("\ntargets:")
    for t in targets:
        if t["status"] in ("PASS", "MISS"):
            log(f"  {t['status']:4s} {t['group']}: {CELL_LABEL[t['cell']]} {t['size']} "
                f"{t['dtype']} {t['threads']}thr {t['mode']}: {t['measured']:.3g} vs "
                f"{t['required']:g} ({t['margin']})")
    pending = sum(1 for t in targets if t["status"] == "PENDING")
    if pending:
        log(f"  {pending} targets PENDING (no C engine)")
    if not args.no_write:
        note = write_plot(args.plot, args, records, c_ok and "c" in args.engines)
        write_markdown(args.results, args, machine, gemm, records, validations, targets,
                       problems, profiles, elapsed, load_start, load_end, note)
        log(f"wrote {args.results}" + (f" and {args.plot}" if note.startswith("!") else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(machine=machine, args={k: v for k, v in vars(args).items()},
                           gemm=gemm, records=records, validations=validations,
                           targets=targets, problems=problems, elapsed_s=elapsed,
                           load_start=load_start, load_end=load_end), f, indent=1, default=str)
        log(f"wrote {args.json}")
    log(f"done in {elapsed / 60:.1f} min")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
