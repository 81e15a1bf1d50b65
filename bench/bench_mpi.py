#!/usr/bin/env python3
"""Data-parallel training throughput over MPI: 1 rank vs 2 ranks, and a model for k machines.

The training step of issue 14: an LSTM (input = hidden = 512) on T=50 steps of
a global batch of N=64 sequences, float32: forward, backward (MSE against a
fixed target), ``DataParallel.allreduce_grads``, ``clip_grad_norm`` and an
Adam step. With K ranks each rank runs N/K sequences on 1 engine thread and
1 BLAS thread, so 2 ranks on 2 cores use the same cores as 1 rank would use
threads. Each configuration runs under ``mpiexec -n K`` (this script
launches it); the ranks' parameters are checked bit-identical at the end.

    python bench/bench_mpi.py              # 1 and 2 ranks at 50x64x512, about 2 minutes
    python bench/bench_mpi.py --smoke      # tiny sizes: checks the script, measures nothing
    python bench/bench_mpi.py --ranks 1 2 4 --steps 20

Writes bench/MPI_RESULTS.md (unless --no-write): the measured table (time per
step split into compute, allreduce and update; sequences/s; speed-up over 1
rank; the 1.7x target), then the cost model of bench/MPI.md evaluated with the
measured compute and update times for H = 512 and 1024 and k = 2..64 machines
on a 10 Gbit/s network. Run it on an otherwise idle machine: the load average
is recorded at the start and at the end.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET = 1.7                         # issue 14: 2 ranks >= 1.7x the throughput of 1 rank
NETWORK_BYTES_PER_S = 10e9 / 8       # 10 Gbit/s
LATENCY_S = 50e-6                    # one message step over TCP on 10 GbE, order of magnitude
MODEL_KS = (2, 4, 8, 16, 32, 64)


def lstm_parameters(I, H):
    """The LSTM layer's parameter count: W_ih (4H, I), W_hh (4H, H), b_ih, b_hh (4H,)."""
    return 4 * H * (I + H) + 8 * H


# --- the worker: one configuration, run by every rank under mpiexec ----------------------

def worker(args):
    try:
        import fastrnn
    except ImportError:
        sys.path.insert(0, os.path.join(REPO, "src"))
        import fastrnn
    import hashlib

    import numpy as np

    from fastrnn.train.distributed import DataParallel

    dtype = np.dtype(args.dtype)
    model = fastrnn.LSTM(args.input, args.hidden, dtype=dtype, seed=0)
    opt = fastrnn.optim.Adam(model, lr=1e-4)
    dp = DataParallel(model, optimizer=opt, num_threads=args.threads)
    if args.batch % dp.size:
        raise SystemExit(f"--batch {args.batch} is not a multiple of the {dp.size} ranks")
    n = args.batch // dp.size
    rng = np.random.default_rng(1 + dp.rank)
    x = rng.standard_normal((args.T, n, args.input)).astype(dtype)
    target = rng.standard_normal((args.T, n, args.hidden)).astype(dtype)
    clock = time.perf_counter
    phases = {"compute": [], "allreduce": [], "update": [], "step": []}
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            dp.comm.Barrier()
            wall0 = clock()
        t0 = clock()
        model.zero_grad()
        y, _ = model.forward(x)
        _, dy = fastrnn.mse(y, target)
        model.backward(dy, None)
        t1 = clock()
        dp.allreduce_grads()
        t2 = clock()
        fastrnn.clip_grad_norm(model.grads, 1.0)
        opt.step()
        t3 = clock()
        if step >= args.warmup:
            for k, v in (("compute", t1 - t0), ("allreduce", t2 - t1), ("update", t3 - t2),
                         ("step", t3 - t0)):
                phases[k].append(v)
    wall = clock() - wall0
    digest = hashlib.sha256(model.params_flat.tobytes()).hexdigest()
    rows = dp.gather({"rank": dp.rank, "wall_s": wall, "digest": digest,
                      **{f"{k}_ms": 1e3 * statistics.median(v) for k, v in phases.items()}})
    if dp.is_root:
        if len({r["digest"] for r in rows}) != 1:
            raise SystemExit("ranks ended with different parameters")
        print("RESULT " + json.dumps({
            "ranks": dp.size, "T": args.T, "batch": args.batch, "per_rank_batch": n,
            "input": args.input, "hidden": args.hidden, "dtype": args.dtype,
            "parameters": int(model.num_parameters), "steps": args.steps,
            "threads": dp.num_threads, "engine": fastrnn.get_backend(),
            "wall_s": max(r["wall_s"] for r in rows), "per_rank": rows}), flush=True)


# --- the driver --------------------------------------------------------------------------

def package_root():
    """The directory holding the fastrnn this Python imports (installed, or this tree's src/)."""
    try:
        import fastrnn
    except ImportError:
        return os.path.join(REPO, "src")
    return os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))


def mpiexec():
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    path = local if os.path.exists(local) else shutil.which("mpiexec")
    if path is None:
        sys.exit("bench_mpi.py needs mpiexec: pip install '.[mpi]' (mpi4py and the mpich wheel)")
    return path


def run_config(ranks, args, hidden, steps, warmup, batch=None):
    batch = args.batch if batch is None else batch
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker",
           "--T", str(args.T), "--batch", str(batch), "--input", str(hidden),
           "--hidden", str(hidden), "--dtype", args.dtype, "--steps", str(steps),
           "--warmup", str(warmup), "--threads", str(args.threads)]
    env = dict(os.environ)
    env.setdefault("HYDRA_LAUNCHER", "fork")
    env["PYTHONPATH"] = package_root() + os.pathsep + env.get("PYTHONPATH", "")
    log(f"  mpiexec -n {ranks}: LSTM {args.T}x{batch}x{hidden} {args.dtype}, "
        f"{warmup}+{steps} steps ...")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    if out.returncode != 0:
        sys.exit(f"bench_mpi.py: {' '.join(cmd)} failed ({out.returncode}):\n"
                 f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if len(lines) != 1:
        sys.exit(f"bench_mpi.py: expected one RESULT line from rank 0, got:\n{out.stdout[-2000:]}")
    return json.loads(lines[0][len("RESULT "):])


def throughput(r):
    """Global sequences per second: the batch times the steps, over the slowest rank's wall time."""
    return r["batch"] * r["steps"] / r["wall_s"]


def worst(r, key):
    return max(p[key] for p in r["per_rank"])


def allreduce_seconds(P, k, bytes_per_value=4, bandwidth=NETWORK_BYTES_PER_S,
                      latency=LATENCY_S):
    """DataParallel's reduction over k machines: Alltoall then Allgather of P/k-value chunks.

    Each rank sends and receives 2 (k-1)/k P values (a ring allreduce's
    volume) in 2 (k-1) message steps.
    """
    return 2 * (k - 1) / k * P * bytes_per_value / bandwidth + 2 * (k - 1) * latency


def model_rows(P, compute_s, update_s, batch, bytes_per_value=4, compute_at=None,
               ks=MODEL_KS):
    """The cost model of bench/MPI.md for k machines; times in seconds.

    ``compute_s``: one rank's forward+backward over the whole global batch;
    ``update_s``: clip + optimizer step (replicated on every rank);
    ``compute_at``: optional {k: measured forward+backward over batch/k}, else
    ``compute_s / k``. Strong scaling keeps the global batch (each machine
    takes batch/k); weak scaling gives each machine the whole batch (the
    global batch k times larger).
    """
    one = compute_s + update_s
    compute_at = compute_at or {}
    rows = []
    for k in ks:
        comm = allreduce_seconds(P, k, bytes_per_value)
        part = compute_at.get(k, compute_s / k)
        strong = part + update_s + comm if k <= batch else None
        weak = compute_s + update_s + comm
        rows.append({"k": k, "allreduce_ms": 1e3 * comm, "measured": k in compute_at,
                     "compute_ms": None if strong is None else 1e3 * part,
                     "strong_speedup": None if strong is None else one / strong,
                     "strong_eff": None if strong is None else one / strong / k,
                     "weak_eff": one / weak})
    return rows


def stops_paying(rows):
    """The smallest k whose strong-scaling efficiency falls below 50%, or None."""
    for r in rows:
        if r["strong_eff"] is not None and r["strong_eff"] < 0.5:
            return r["k"]
    return None


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def fmt(v, spec, unit=""):
    return "n/a" if v is None else format(v, spec) + unit


def report(results, models, meta):
    lines = ["# Data-parallel training over MPI: measured", "",
             f"Generated by `python bench/bench_mpi.py{meta['argv']}` on {meta['date']}.",
             f"Machine: {meta['machine']}, {meta['cpus']} CPUs; {meta['mpi']}; load average "
             f"{meta['load_start']:.2f} at the start, {meta['load_end']:.2f} at the end. "
             "The cost model these numbers feed is explained in [MPI.md](MPI.md).", "",
             "## 1 rank vs more ranks on this machine", "",
             f"LSTM, T x global N x (input = hidden) = {meta['size']}, {meta['dtype']}, engine "
             f"{results[0]['engine']}; a step is "
             "forward + backward (MSE) + `allreduce_grads` + `clip_grad_norm` + Adam; "
             f"{meta['threads']} engine/BLAS thread per rank; medians over {meta['steps']} steps "
             "after warm-up, the slowest rank's; throughput = global batch x steps / the slowest "
             "rank's wall time.", "",
             "| ranks | N per rank | step ms | compute ms | allreduce ms | update ms | "
             "sequences/s | speed-up |", "|---|---|---|---|---|---|---|---|"]
    base = throughput(results[0]) if results[0]["ranks"] == 1 else None
    for r in results:
        tp = throughput(r)
        lines.append(f"| {r['ranks']} | {r['per_rank_batch']} | {worst(r, 'step_ms'):.1f} | "
                     f"{worst(r, 'compute_ms'):.1f} | {worst(r, 'allreduce_ms'):.2f} | "
                     f"{worst(r, 'update_ms'):.2f} | {tp:.1f} | "
                     f"{fmt(None if base is None else tp / base, '.2f', 'x')} |")
    two = [r for r in results if r["ranks"] == 2]
    if base is not None and two:
        s = throughput(two[0]) / base
        verdict = "PASS" if s >= TARGET else "MISS"
        lines += ["", f"Target (issue 14): 2 ranks >= {TARGET}x the throughput of 1 rank: "
                      f"**{s:.2f}x, {verdict}**."]
    lines += ["", "## The model for k machines on a 10 Gbit/s network", "",
              "Per step: compute + update + allreduce, allreduce = 2(k-1)/k * P values "
              f"(4 bytes each in float32) / 1.25 GB/s + 2(k-1) x {LATENCY_S * 1e6:.0f} us "
              "(bench/MPI.md). Update (clip + Adam, replicated on every machine) is the 1-rank "
              f"median measured above (H = {meta['hidden']}) or in a 1-rank run at each other "
              f"H. Strong scaling: the global batch stays {meta['batch']}, each machine takes "
              f"{meta['batch']}/k sequences, and its forward+backward over them is measured in "
              "a 1-rank run (marked (1/k) where it is only the 1-rank time / k); weak: each "
              "machine keeps the whole batch (the global batch grows k-fold).", ""]
    for m in models:
        lines += [f"### H = {m['hidden']}: P = {m['P']:,} parameters, compute "
                  f"{1e3 * m['compute_s']:.0f} ms, update {1e3 * m['update_s']:.1f} ms", "",
                  "| k | allreduce ms | strong: compute per machine ms | strong: speed-up | "
                  "strong: efficiency | weak: efficiency |", "|---|---|---|---|---|---|"]
        for row in m["rows"]:
            eff = row["strong_eff"]
            mark = "" if row["measured"] or row["compute_ms"] is None else " (1/k)"
            lines.append(f"| {row['k']} | {row['allreduce_ms']:.1f} | "
                         f"{fmt(row['compute_ms'], '.1f', mark)} | "
                         f"{fmt(row['strong_speedup'], '.1f', 'x')} | "
                         f"{fmt(None if eff is None else 100 * eff, '.0f', '%')} | "
                         f"{100 * row['weak_eff']:.0f}% |")
        k = stops_paying(m["rows"])
        lines += ["", "Strong scaling stops paying (efficiency < 50%) at "
                      + (f"k = {k}." if k else f"no k <= {MODEL_KS[-1]}."), ""]
    return "\n".join(lines) + "\n"


def describe_machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        version = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; "
                                  "print(MPI.Get_library_version().splitlines()[0])"],
                                 capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = "MPI: unknown"
    return cpu, version or "MPI: unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and few steps: checks the script, measures nothing")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--batch", type=int, default=64, help="global batch N (default 64)")
    p.add_argument("--input", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--model-hidden", type=int, nargs="+", default=[512, 1024],
                   help="hidden sizes for the k-machine model (each other than --hidden is "
                        "measured in a 1-rank run)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="threads per rank (default 1)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per mpiexec run")
    p.add_argument("--no-write", action="store_true", help="print, do not write MPI_RESULTS.md")
    p.add_argument("--out", default=os.path.join(HERE, "MPI_RESULTS.md"))
    args = p.parse_args(argv)
    if args.input is None:
        args.input = args.hidden
    if args.worker:
        return worker(args)
    if args.smoke:
        args.T, args.batch, args.hidden, args.steps, args.warmup = 5, 4, 16, 3, 1
        args.model_hidden = [16, 32]
    load_start = loadavg()
    results = [run_config(k, args, args.hidden, args.steps, args.warmup) for k in args.ranks]
    one = next((r for r in results if r["ranks"] == 1), None)
    models = []
    few = max(2, args.steps // 4)
    for h in args.model_hidden:
        r = one if (one is not None and h == args.hidden) else run_config(1, args, h, few, 1)
        m = {"hidden": h, "P": lstm_parameters(h, h), "compute_s": worst(r, "compute_ms") / 1e3,
             "update_s": worst(r, "update_ms") / 1e3}
        # strong scaling: one machine's forward+backward over its batch/k, measured
        at = {k: worst(run_config(1, args, h, few, 1, batch=args.batch // k), "compute_ms") / 1e3
              for k in MODEL_KS if k <= args.batch and args.batch % k == 0}
        m["rows"] = model_rows(m["P"], m["compute_s"], m["update_s"], args.batch,
                               4 if args.dtype == "float32" else 8, compute_at=at)
        models.append(m)
    cpu, mpi = describe_machine()
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    meta = {"argv": (" " + argv_text) if argv_text else "",
            "date": datetime.date.today().isoformat(), "machine": cpu,
            "cpus": os.cpu_count(), "mpi": mpi, "load_start": load_start,
            "load_end": loadavg(), "size": f"{args.T}x{args.batch}x{args.hidden}",
            "dtype": args.dtype, "threads": args.threads, "steps": args.steps,
            "batch": args.batch, "hidden": args.hidden}
    text = report(results, models, meta)
    print(text)
    if args.smoke:
        print("(smoke run: the numbers above are not measurements)")
    if not args.no_write:
        with open(args.out, "w") as f:
            f.write(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
