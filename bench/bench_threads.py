#!/usr/bin/env python3
"""Is the GIL released? Two threads, two independent long sequences, two cores.

Each of two layers (different weights and inputs) runs one long sequence. Timed:

* sequential: one thread runs sequence A, then sequence B;
* concurrent: thread 1 runs A while thread 2 runs B.

BLAS is limited to 1 thread (threadpoolctl), so any overlap comes from Python
threads running at once, which only happens where an engine releases the GIL.
The speed-up sequential / concurrent is ~2x on 2 free cores when the whole
sequence runs without the GIL (what issue 3 asks of the C engine), and near 1x
when Python holds it per step (the NumPy engine: only its matmuls release it).
Before any timing, every answer computed in a thread must equal, bit for bit,
the single-threaded answer for the same layer and input; otherwise the run
aborts (exit status 2).

    python bench/bench_threads.py                   # LSTM T=2000 N=8 H=128, both engines
    python bench/bench_threads.py --cell gru --T 5000 --N 1 --H 64 --engines c
    python bench/bench_threads.py --wait-idle 600   # wait for a quiet machine first

Writes bench/THREADS.md (unless --no-write), linked from bench/RESULTS.md.
"""

import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fastrnn_bench import import_fastrnn  # noqa: E402
from fastrnn_bench.engines import make_layer  # noqa: E402
from fastrnn_bench.grid import CELL_LABEL  # noqa: E402
from fastrnn_bench.machine import describe  # noqa: E402
from fastrnn_bench.timing import BUSY_THRESHOLD, LoadMeter, limit_threads, loadavg, wait_idle  # noqa: E402

fastrnn = import_fastrnn()


def run_once(layer, backend, x, dy, mode):
    """One sequence through the layer API; returns every array it produced."""
    fastrnn.set_backend(backend)  # the same value from every thread: a no-op race
    if mode == "fwd":
        y, state = layer.forward(x, train=False)
        return [y] + list(state if isinstance(state, tuple) else [state])
    layer.zero_grad()
    y, state = layer.forward(x, train=True)
    dx, dstate0 = layer.backward(dy)
    out = [y, dx] + list(state if isinstance(state, tuple) else [state])
    out += list(dstate0 if isinstance(dstate0, tuple) else [dstate0])
    return out + [layer.grads_flat.copy()]


def concurrent(jobs):
    """Run each job in its own thread, all released at once; (seconds, results)."""
    results = [None] * len(jobs)
    errors = []
    go = threading.Event()

    def work(k, job):
        go.wait()
        try:
            results[k] = job()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed, results


def sequential(jobs):
    t0 = time.perf_counter()
    results = [job() for job in jobs]
    return time.perf_counter() - t0, results


def same(a_list, b_list):
    return len(a_list) == len(b_list) and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(a_list, b_list))


def verdict(speedup, control_speedup=None):
    if control_speedup is not None and control_speedup < 1.5 and speedup < 1.6:
        return (f"inconclusive: the control got only {control_speedup:.2f}x "
                "(a core was busy)")
    if speedup >= 1.6:
        return "yes: for (nearly) the whole sequence"
    if speedup >= 1.15:
        return "partly"
    return "no"


def control(repeats):
    """The machine's own two-thread speed-up on work that surely runs without the GIL:
    a loop of 512x512 float32 matmuls (BLAS, 1 thread). ~2x on two free cores; ~1x means
    another process held a core and no engine could have done better."""
    a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    out = [np.empty_like(a) for _ in range(2)]
    jobs = [lambda k=k: [np.matmul(a, a, out=out[k]) for _ in range(60)] for k in range(2)]
    jobs[0]()
    seq_t, par_t = [], []
    for _ in range(repeats):
        seq_t.append(sequential(jobs)[0])
        par_t.append(concurrent(jobs)[0])
    s, p = statistics.median(seq_t), statistics.median(par_t)
    return dict(engine="control", mode="matmul", sequential_s=s, concurrent_s=p, speedup=s / p,
                seq_all=seq_t, par_all=par_t)


def bench(backend, args, mode):
    size = (args.T, args.N, args.H, args.H)
    rng = np.random.default_rng(7)
    layers = [make_layer(args.cell, size, args.dtype, seed=s) for s in (1, 2)]
    xs = [rng.standard_normal((args.T, args.N, args.H)).astype(args.dtype) for _ in layers]
    dys = [rng.standard_normal((args.T, args.N, args.H)).astype(args.dtype) for _ in layers]
    jobs = [lambda k=k: run_once(layers[k], backend, xs[k], dys[k], mode) for k in range(2)]
    # single-threaded answers, then the concurrent ones must equal them exactly
    reference = [job() for job in jobs]
    _, again = concurrent(jobs)
    for k in range(2):
        if not same(again[k], reference[k]):
            raise SystemExit(f"\nMISMATCH: {CELL_LABEL[args.cell]} {backend} {mode}: sequence "
                             f"{k} computed in a second thread differs from its single-threaded "
                             "answer. Aborted.")
    seq_t, par_t = [], []
    for r in range(args.repeats):
        # alternate which comes first, so load drift hits both alike
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            if which == 0:
                t, res = sequential(jobs)
                seq_t.append(t)
            else:
                t, res = concurrent(jobs)
                par_t.append(t)
            for k in range(2):
                if not same(res[k], reference[k]):
                    raise SystemExit(f"\nMISMATCH during timing: {backend} {mode} sequence {k}.")
    s, p = statistics.median(seq_t), statistics.median(par_t)
    return dict(engine=backend, mode=mode, sequential_s=s, concurrent_s=p, speedup=s / p,
                seq_all=seq_t, par_all=par_t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", default="lstm", choices=("srn", "lstm", "gru"))
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--N", type=int, default=8)
    ap.add_argument("--H", type=int, default=128, help="hidden size (= input size)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--engines", default="c,numpy",
                    help="comma list of c,numpy (c is skipped with a note if unavailable)")
    ap.add_argument("--modes", default="fwd,fwdbwd",
                    help="fwd (train=False) and/or fwdbwd (forward train=True + backward)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="T=500, 3 repeats")
    ap.add_argument("--out", default=os.path.join(HERE, "THREADS.md"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load average to fall below 0.5")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.T, args.repeats = min(args.T, 500), min(args.repeats, 3)
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    notes = []
    if "c" in engines and not fastrnn.c_engine_available():
        notes.append("The C engine is not available (`fastrnn.c_engine_available()` is False): "
                     "its rows are missing. **Pending the C engine: rerun "
                     "`python bench/bench_threads.py` once it builds.**")
        engines.remove("c")
    print(f"two threads vs one: {CELL_LABEL[args.cell]} T={args.T} N={args.N} H={args.H} "
          f"{args.dtype}, BLAS 1 thread, engines {engines}, load {loadavg()}", flush=True)
    for n in notes:
        print("NOTE:", n, flush=True)
    load_start = loadavg()
    meter = LoadMeter(threads=2).start()
    rows = []
    with limit_threads(1):
        ctl = control(args.repeats)
        rows.append(ctl)
        print(f"  control (GIL-free BLAS matmul loop): speed-up {ctl['speedup']:.2f}x "
              "(what this machine allows right now)", flush=True)
        for engine in engines:
            for mode in modes:
                r = bench(engine, args, mode)
                r["verdict"] = verdict(r["speedup"], ctl["speedup"])
                rows.append(r)
                print(f"  {engine:5s} {mode:6s}: one thread doing both "
                      f"{r['sequential_s'] * 1e3:.1f} ms, two threads "
                      f"{r['concurrent_s'] * 1e3:.1f} ms -> speed-up {r['speedup']:.2f}x "
                      f"(answers bit-identical to single-threaded); GIL released? {r['verdict']}",
                      flush=True)
    load_end = loadavg()
    load = meter.stop()
    if args.no_write:
        return 0
    machine = describe()
    L = ["# Threads: two independent sequences on two cores", ""]
    if load["busy"]:
        L += [f"> **Busy machine**: other processes used {load['others']} cores on average "
              f"during the run (more than {BUSY_THRESHOLD}), so the two threads could not both "
              "run and the speed-up says little about the GIL. Rerun on an idle machine "
              "(`--wait-idle 600`).", ""]
    if notes:
        L += ["> " + n for n in notes] + [""]
    L += [f"Generated {machine['date_utc']} by `python bench/bench_threads.py"
          + "".join(" " + a for a in (sys.argv[1:] if argv is None else argv)) + "`; "
          f"{machine['cpu_model']}, {machine['logical_cpus']} CPUs, Python {machine['python']}, "
          f"NumPy {machine['numpy']}, fastrnn git {machine['git']}, kernels ISA "
          f"{machine.get('isa', 'n/a')}. Load average at start {load_start}, at end {load_end}; "
          f"other processes used {load['others']} cores on average during the run (another "
          "process on this shared machine takes a core away from the two threads).", "",
          f"Workload: {CELL_LABEL[args.cell]}, T={args.T}, N={args.N}, input=hidden={args.H}, "
          f"{args.dtype}; two layers with different weights and inputs; BLAS limited to 1 "
          "thread (threadpoolctl). `fwd` = `forward(x, train=False)`; `fwd+bwd` = "
          "`forward(x, train=True)` + `backward(dy)`. Median of "
          f"{args.repeats} repeats of each arrangement, alternated.", "",
          "Speed-up = (one thread runs A then B) / (two threads run A and B at once): about 2x "
          "means the engine released the GIL for the whole sequence; about 1x means it holds "
          "it. Every result computed in a thread was checked to equal the single-threaded "
          "one bit for bit. The control row runs work that surely releases the GIL (BLAS "
          "matmuls): read an engine's speed-up against it, since on this shared machine "
          "another process can take the second core.", "",
          "| engine | mode | one thread, both (ms) | two threads (ms) | speed-up | GIL released? |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        if r["engine"] == "control":
            L.append(f"| control: 60 matmuls 512x512 float32, no GIL | - | "
                     f"{r['sequential_s'] * 1e3:.1f} | {r['concurrent_s'] * 1e3:.1f} | "
                     f"{r['speedup']:.2f}x | what the machine allows now (2x = two free cores) |")
            continue
        L.append(f"| {'C' if r['engine'] == 'c' else 'NumPy'} | "
                 f"{'fwd+bwd' if r['mode'] == 'fwdbwd' else 'fwd'} | "
                 f"{r['sequential_s'] * 1e3:.1f} | {r['concurrent_s'] * 1e3:.1f} | "
                 f"{r['speedup']:.2f}x | {r['verdict']} |")
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
