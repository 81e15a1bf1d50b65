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

import os

from . import log
from . import records as records_mod
from .trees import parse_tree_args, run_trees, tree_parser

# the rows: the full grid's sizes, cells, dtypes and modes; the C engine at one thread
GRID_ARGS = ("--bench-grid=full", "--bench-engines=c", "--bench-threads=1")
# per row: half the grid's default second of timing (each row runs once per tree per repeat)
ROW_ARGS = ("--benchmark-max-time=0.5",)
QUICK_ARGS = ("--bench-grid=smoke", "--benchmark-max-time=0.01", "--benchmark-min-rounds=3")


def row_key(r):
    return (r["tree"], r["cell"], r["size"], r["dtype"], r["mode"])


def main(argv=None):
    p = tree_parser("python bench/before.py", __doc__.split("\n\n")[0],
                    "Arguments after `--` go to pytest (e.g. --bench-cells=lstm, "
                    "--benchmark-max-time=1).",
                    "a source tree (repeatable; the first is the baseline); give two", 2,
                    "first wait up to SECONDS for other processes to leave the CPUs, and "
                    "again after any busy row", None)
    args, trees, extra, command = parse_tree_args(p, argv)
    if len(trees) < 2:
        p.error("--tree: give two trees (e.g. before=/work/wt/before/src after=src)")
    pytest_args = list(GRID_ARGS) + list(QUICK_ARGS if args.quick else ROW_ARGS) + extra
    recs, metas = run_trees(trees, "test_grid.py", pytest_args, "grid", row_key, args.repeat)
    for r in recs:
        r["table"] = "tree-grid"
        r["quick"] = args.quick
    meta = dict(kind="tree-grid", trees=[dict(name=n, src=os.path.abspath(s)) for n, s in trees],
                repeat=args.repeat, quick=args.quick, runs=metas, command=command)
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
