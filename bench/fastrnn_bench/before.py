"""The grid's C engine at one thread, this tree against an older build, side by side.

Issue 11 asks that threading cost nothing at one thread: "no row slower than
today (>= 0.97x)", today being the build before the engine got its own threads
(commit 10b512f, layout ``fastrnn._ext``, its products on SciPy's OpenBLAS). This
runs ``test_grid.py`` on the full grid, C engine only, 1 thread, once per tree,
each in its own process (``trees.py``: ``OPENBLAS_NUM_THREADS=1``,
``FASTRNN_NUM_THREADS=1``, the trees alternating ``--repeat`` times, each row's
fastest median kept), and writes the records of the table ``tree-grid``:

    python bench/before.py --tree before=/work/wt/before/src --tree after=src
    python bench/before.py --tree before=... --tree after=... --quick -- --bench-cells=lstm

The first tree is the baseline: the report's ratio is t(first) / t(other), above 1
when the other is faster. Every configuration is validated in each tree's process
(its C engine against its NumPy engine) before it is timed.
"""

import argparse
import os
import sys

from . import BENCH_DIR, log
from . import records as records_mod
from .trees import parse_trees, run_trees

# the rows: the full grid's sizes, cells, dtypes and modes; the C engine at one thread
GRID_ARGS = ("--bench-grid=full", "--bench-engines=c", "--bench-threads=1")
# per row: half the grid's default second of timing (each row runs once per tree per repeat)
ROW_ARGS = ("--benchmark-max-time=0.5",)
QUICK_ARGS = ("--bench-grid=smoke", "--benchmark-max-time=0.01", "--benchmark-min-rounds=3")


def row_key(r):
    return (r["tree"], r["cell"], r["size"], r["dtype"], r["mode"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python bench/before.py",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Arguments after `--` go to pytest (e.g. "
                                       "--bench-cells=lstm, --benchmark-max-time=1).")
    p.add_argument("--tree", action="append", default=[], metavar="NAME=SRC",
                   help="a source tree (repeatable; the first is the baseline); give two")
    p.add_argument("--repeat", type=int, default=2, help="alternate the trees this many times")
    p.add_argument("--quick", action="store_true", help="a smoke run of the harness")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for other processes to leave the CPUs, and "
                        "again after any busy row")
    p.add_argument("--json", metavar="PATH", help="write the merged records here")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "RESULTS.md"))
    p.add_argument("--no-write", action="store_true", help="print the table, write no RESULTS.md")
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    args = p.parse_args(argv)
    trees = parse_trees(args.tree, p.error)
    if len(trees) < 2:
        p.error("--tree: give two trees (e.g. before=/work/wt/before/src after=src)")
    pytest_args = list(GRID_ARGS) + list(QUICK_ARGS if args.quick else ROW_ARGS) + extra
    if args.wait_idle > 0:
        from .timing import wait_idle
        wait_idle(args.wait_idle)
        pytest_args.append(f"--bench-wait-idle={args.wait_idle}")
    recs, metas = run_trees(trees, "test_grid.py", pytest_args, "grid", row_key, args.repeat)
    for r in recs:
        r["table"] = "tree-grid"
        r["quick"] = args.quick
    meta = dict(kind="tree-grid", trees=[dict(name=n, src=os.path.abspath(s)) for n, s in trees],
                repeat=args.repeat, quick=args.quick, runs=metas,
                command="python bench/before.py " + " ".join(argv + (["--"] + extra
                                                                     if extra else [])))
    if args.json:
        records_mod.write(args.json, recs, meta)
        log(f"wrote {args.json}")
    from . import report, report_threads
    data = records_mod.Data([dict(r, source="tree-grid") for r in recs],
                            [dict(meta, source="tree-grid")])
    if args.no_write:
        print(report_threads.threads_before(data))
    else:
        report.write(data, args.results)
        log(f"rebuilt the threads-before section of {args.results}")
    problems = [p for m in metas for p in m["problems"]]
    for line in problems:
        log(f"problem: {line}")
    return 1 if problems else 0
