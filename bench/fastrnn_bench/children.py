"""A measurement in a child process, alone or with competing CPU-bound processes.

The busy-machine table: each engine in its own process, timed with 0, 1, 2, ...
competing processes (``python -c "while True: pass"``) started around it, each
time divided by its quiet time. The configuration is validated in the parent (every
engine against the NumPy engine) before any child is timed.

    python bench/busy.py --cells lstm --sizes 100x8x128 --engines c,numpy,torch
    python bench/busy.py --competitors 0,1,2 --json busy.json --no-write

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
    spec = json.load(sys.stdin)
    size = grid_mod.parse_size(spec["size"])
    with limit_threads(spec["threads"]):
        built, problems = build(spec["cell"], size, spec["dtype"], [spec["engine"]])
        if problems:
            raise SystemExit("\n".join(problems))
        calls = {spec["engine"]: built[spec["engine"]].calls(spec["mode"])}
        meter = LoadMeter(threads=spec["threads"], allowed=spec["competitors"]).start()
        res = time_blocks(calls, spec.get("max_time", 1.0), spec.get("min_rounds", 5),
                          spec.get("max_rounds", 300), rounds=1)[spec["engine"]]
        load = meter.stop()
    T, N, I, H = size
    record = dict(table="busy", cell=spec["cell"], size=grid_mod.size_name(size), T=T, N=N,
                  I=I, H=H, dtype=spec["dtype"], threads=spec["threads"], mode=spec["mode"],
                  engine=spec["engine"], competitors=spec["competitors"],
                  median_s=res["median"], min_s=res["min"], iqr_s=res["iqr"], reps=res["reps"],
                  fwd_part_s=res["part_median"], pid=os.getpid(), **load)
    print(json.dumps(record))


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
            done.add(case.config)
        if case.engine in unavailable([case.engine]):
            continue
        for k in ks:
            spec = dict(cell=case.cell, size=grid_mod.size_name(case.size), dtype=case.dtype,
                        threads=case.threads, mode=case.mode, engine=case.engine,
                        max_time=max_time, min_rounds=min_rounds, max_rounds=max_rounds)
            r = measure_in_child(spec, k)
            log(f"  {case.id} with {k} competitor(s): {r['median_s'] * 1e3:.3f} ms "
                f"(others {r['others']})")
            recs.append(r)
    return recs


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/busy.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="lstm")
    p.add_argument("--sizes", default="100x8x128")
    p.add_argument("--dtypes", default="float32")
    p.add_argument("--threads", default="1")
    p.add_argument("--modes", default="fwd")
    p.add_argument("--engines", default="c,numpy,torch")
    p.add_argument("--competitors", default="0,1,2", help="comma list of competitor counts")
    p.add_argument("--max-time", type=float, default=1.0, help="seconds of timing per child")
    p.add_argument("--quick", action="store_true", help="a smoke run of the harness")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "RESULTS.md"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    L = grid_mod.csv_list
    cases = grid_mod.select("full", L(args.cells), L(args.sizes), L(args.dtypes),
                            L(args.threads), L(args.modes), L(args.engines))
    ks = [int(k) for k in L(args.competitors)]
    if 0 not in ks:
        ks = [0] + ks
    recs = busy_table(cases, ks, max_time=0.02 if args.quick else args.max_time,
                      min_rounds=3 if args.quick else 5)
    for r in recs:
        r["quick"] = args.quick
    meta = dict(kind="busy", quick=args.quick,
                command="python bench/busy.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if args.json:
        records_mod.write(args.json, recs, meta)
    from . import report
    data = records_mod.Data([dict(r, source="busy") for r in recs], [dict(meta, source="busy")])
    if args.no_write:
        print(report.busy_section(data))
    else:
        report.write(data, args.results)
    return 0


if __name__ == "__main__":
    child_main()
