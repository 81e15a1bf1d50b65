"""A measurement in a child process, alone or with competing CPU-bound processes.

The busy-machine table (issue 11 (c)): each engine in its own process (so one
pool's spinning never hurts another), timed with 0, 1, 2, ... competing processes
(``python -c "while True: pass"``) started around it, each time divided by its
quiet time, in one run. By default every engine keeps its default thread settings
(``--threads default``: fastrnn's ``FASTRNN_NUM_THREADS`` or the CPUs it may use,
NumPy's BLAS default, torch's default), which is what a user who sets nothing gets.
The configuration is validated in the parent (every engine against the NumPy
engine) before any child is timed. The fastrnn child also reports
``pool_stalls()``: how many times a call found a worker off its CPU and went on
with one thread for a while (8 ms, doubling up to a quarter second while
stalls recur).

    python bench/busy.py                                   # issue 11's rows (defaults below)
    python bench/busy.py --cells lstm --sizes 100x8x128 --threads 1 --competitors 0,1,2
    python bench/busy.py --competitors 0,1,all --json busy.json --no-write

Reusable parts: ``competitors(n)`` (a context manager), ``measure_in_child(spec)``
(one engine, one mode, in a fresh interpreter; returns its record) and the child's
entry point ``python -m fastrnn_bench.children`` (a JSON spec on stdin, one JSON
record on stdout).
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

from . import BENCH_DIR, REPO, import_fastrnn, log
from . import grid as grid_mod
from . import records as records_mod

COMPETITOR = "while True: pass"


@contextlib.contextmanager
def competitors(n, settle_s=0.3):
    """``n`` CPU-bound processes running for the duration of the block; yields their pids.

    They are this process's children and are killed (by pid) on exit, whatever happens."""
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", COMPETITOR],
                                          stdin=subprocess.DEVNULL))
        if n:
            time.sleep(settle_s)                       # let them reach the run queue
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def child_env():
    """The environment a child needs to import this fastrnn and this fastrnn_bench."""
    src = os.path.dirname(os.path.dirname(import_fastrnn().__file__))
    path = [src, BENCH_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def measure_in_child(spec, n_competitors=0, timeout=900):
    """Time one engine in a fresh interpreter while ``n_competitors`` processes compete.

    ``spec``: cell, size ("TxNxH"), dtype, threads, mode, engine, and optionally
    max_time, min_rounds, max_rounds. Returns the child's record (``table`` "busy")."""
    spec = dict(spec, competitors=n_competitors)
    with competitors(n_competitors):
        out = subprocess.run([sys.executable, "-m", "fastrnn_bench.children"],
                             input=json.dumps(spec), capture_output=True, text=True,
                             env=child_env(), cwd=REPO, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"child for {spec} exited with status {out.returncode}:\n"
                           f"{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main():
    """The child: read a spec on stdin, time it, print one JSON record."""
    from .engines import build
    from .timing import LoadMeter, limit_threads, time_blocks
    from .timing import pool_stalls
    spec = json.load(sys.stdin)
    size = grid_mod.parse_size(spec["size"])
    threads = grid_mod.parse_threads(spec["threads"])
    with limit_threads(threads):
        built, problems = build(spec["cell"], size, spec["dtype"], [spec["engine"]])
        if problems:
            raise SystemExit("\n".join(problems))
        engine = built[spec["engine"]]
        calls = {spec["engine"]: engine.calls(spec["mode"])}
        threads_used = engine_threads(spec["engine"])
        meter = LoadMeter(threads=threads or os.cpu_count() or 1,
                          allowed=spec["competitors"]).start()
        res = time_blocks(calls, spec.get("max_time", 1.0), spec.get("min_rounds", 5),
                          spec.get("max_rounds", 300), rounds=1)[spec["engine"]]
        load = meter.stop()
    T, N, I, H = size
    record = dict(table="busy", cell=spec["cell"], size=grid_mod.size_name(size), T=T, N=N,
                  I=I, H=H, dtype=spec["dtype"], threads=grid_mod.threads_name(threads),
                  threads_used=threads_used, mode=spec["mode"], engine=spec["engine"],
                  competitors=spec["competitors"], cpus=os.cpu_count(),
                  median_s=res["median"], min_s=res["min"], iqr_s=res["iqr"], reps=res["reps"],
                  fwd_part_s=res["part_median"], pid=os.getpid(),
                  pool_stalls_total=pool_stalls() if spec["engine"] == "c" else None, **load)
    print(json.dumps(record))


def engine_threads(engine):
    """The thread count an engine runs with in this process (a label for the table)."""
    if engine == "c":
        fastrnn = import_fastrnn()
        return fastrnn.get_num_threads() if hasattr(fastrnn, "get_num_threads") else None
    if engine == "torch":
        import torch
        return torch.get_num_threads()
    from threadpoolctl import threadpool_info
    counts = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return max(counts) if counts else None


def busy_table(cases, ks=(0, 1, 2), max_time=1.0, min_rounds=5, max_rounds=300):
    """Records of the busy-machine table: every grid case timed with k competitors, each
    in its own child; every config validated first, in this process."""
    from .engines import build, unavailable
    from .timing import limit_threads
    from .validation import validate
    recs, done = [], set()
    for case in cases:
        if case.config not in done:
            engines = sorted({c.engine for c in cases} | {"numpy"}, key=grid_mod.ENGINES.index)
            engines = [e for e in engines if e not in unavailable(engines)]
            with limit_threads(case.threads):
                validate(case.config, build(case.cell, case.size, case.dtype, engines)[0])
            log(f"  validated {case.cell} {grid_mod.size_name(case.size)} {case.dtype} "
                f"({grid_mod.threads_name(case.threads)} threads)")
            done.add(case.config)
        if case.engine in unavailable([case.engine]):
            continue
        for k in ks:
            spec = dict(cell=case.cell, size=grid_mod.size_name(case.size), dtype=case.dtype,
                        threads=case.threads, mode=case.mode, engine=case.engine,
                        max_time=max_time, min_rounds=min_rounds, max_rounds=max_rounds)
            r = measure_in_child(spec, k)
            log(f"  {case.id} with {k} competitor(s): {r['median_s'] * 1e3:.3f} ms "
                f"(others {r['others']}"
                + (f", pool stalls {r['pool_stalls_total']}" if r.get("pool_stalls_total")
                   is not None else "") + ")")
            recs.append(r)
    return recs


# issue 11's rows: a small, a mid and a large size, every cell, one training step
BUSY_DEFAULTS = dict(cells="srn,lstm,gru", sizes="100x1x128,100x32x256,50x64x512",
                     dtypes="float32", threads="default", modes="fwdbwd",
                     engines="c,numpy,torch", competitors="0,1,all")


def parse_competitors(text):
    """Competitor counts from a comma list; ``all`` is one per CPU; 0 (quiet) always first."""
    ks = []
    for k in grid_mod.csv_list(text):
        k = (os.cpu_count() or 1) if k == "all" else int(k)
        if k < 0:
            raise ValueError(f"competitors: expected counts >= 0 or 'all', got {k}")
        if k not in ks:
            ks.append(k)
    return [0] + [k for k in ks if k != 0]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/busy.py", description=__doc__.split("\n\n")[0])
    d = BUSY_DEFAULTS
    p.add_argument("--cells", default=d["cells"])
    p.add_argument("--sizes", default=d["sizes"])
    p.add_argument("--dtypes", default=d["dtypes"])
    p.add_argument("--threads", default=d["threads"],
                   help="comma list of counts, or 'default' (every engine's own default: "
                        f"the table's setting; default {d['threads']})")
    p.add_argument("--modes", default=d["modes"])
    p.add_argument("--engines", default=d["engines"])
    p.add_argument("--competitors", default=d["competitors"],
                   help="comma list of competitor counts; 'all' = one per CPU "
                        f"(default {d['competitors']})")
    p.add_argument("--max-time", type=float, default=1.0, help="seconds of timing per child")
    p.add_argument("--quick", action="store_true", help="a smoke run of the harness")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for other processes to leave the CPUs")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "RESULTS.md"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    L = grid_mod.csv_list
    cases = grid_mod.select("full", L(args.cells), L(args.sizes), L(args.dtypes),
                            L(args.threads), L(args.modes), L(args.engines))
    ks = parse_competitors(args.competitors)
    if args.wait_idle > 0:
        from .timing import wait_idle
        wait_idle(args.wait_idle)
    recs = busy_table(cases, ks, max_time=0.02 if args.quick else args.max_time,
                      min_rounds=3 if args.quick else 5)
    for r in recs:
        r["quick"] = args.quick
    from .machine import describe
    meta = dict(kind="busy", quick=args.quick, competitors=ks, machine=describe(),
                command="python bench/busy.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if args.json:
        records_mod.write(args.json, recs, meta)
    from . import report, report_threads
    data = records_mod.Data([dict(r, source="busy") for r in recs], [dict(meta, source="busy")])
    if args.no_write:
        print(report_threads.busy_section(data))
    else:
        report.write(data, args.results)
    return 0


if __name__ == "__main__":
    child_main()
