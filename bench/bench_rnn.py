#!/usr/bin/env python3
"""fastrnn speed benchmark: the C engine, the NumPy engine and PyTorch CPU, side by side.

A thin entry point, kept for its flags: it runs the grid and the GEMM peak on
pytest-benchmark (``bench/test_gemm.py``, ``bench/test_grid.py``), then rebuilds the
generated sections of bench/RESULTS.md and bench/ratios.png from the JSON
(``fastrnn_bench.report``). The same as, for the full grid:

    python -m pytest bench/test_gemm.py bench/test_grid.py --benchmark-only \\
        --bench-grid=full --benchmark-json=out.json
    python -m fastrnn_bench.report out.json --plot bench/ratios.png   # (from bench/)

    python bench/bench_rnn.py            # everything (the full grid), ~10 minutes on 2 cores
    python bench/bench_rnn.py --quick    # the default grid, short rows: a smoke run
    python bench/bench_rnn.py --cells lstm --sizes 50x64x512 --dtypes float32 --threads 1
    python bench/bench_rnn.py --profile lstm:50x64x512        # GEMM share vs the rest
    python bench/bench_rnn.py --help

Arguments after ``--`` go to pytest. Exit status: 0 ok, 1 an engine raised somewhere
(listed under "Problems"), 2 a validation mismatch (the run aborted).
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fastrnn_bench import BENCH_DIR, REPO, log  # noqa: E402
from fastrnn_bench import grid as grid_mod  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See bench/README.md.")
    csv = grid_mod.csv_list
    p.add_argument("--quick", action="store_true",
                   help="the default grid (sizes " + ", ".join(
                       grid_mod.size_name(s) for s in grid_mod.QUICK_SIZES)
                   + "), a 25 s budget: a smoke run, not the record")
    p.add_argument("--grid", choices=sorted(grid_mod.GRIDS), default=None,
                   help="the grid (default: full; --quick: default)")
    p.add_argument("--cells", type=csv, default=None, help="comma list of srn,lstm,gru")
    p.add_argument("--sizes", type=csv, default=None,
                   help="comma list of TxNxH (input = hidden) or TxNxIxH; default: issue 3's")
    p.add_argument("--dtypes", type=csv, default=None, help="comma list of float32,float64")
    p.add_argument("--threads", type=csv, default=None, help="comma list of thread counts (1,2)")
    p.add_argument("--engines", type=csv, default=None,
                   help="comma list of c,numpy,torch (the NumPy engine validates in any case)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timing in all, spread over the rows (default 420, quick 25)")
    p.add_argument("--min-reps", type=int, default=None,
                   help="rounds per row at least (5; quick 3)")
    p.add_argument("--max-reps", type=int, default=300, help="rounds per row at most (300)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for other processes to leave the CPUs")
    p.add_argument("--json", metavar="PATH", help="keep the pytest-benchmark JSON here")
    p.add_argument("--results", metavar="PATH", default=os.path.join(BENCH_DIR, "RESULTS.md"),
                   help="markdown report (default bench/RESULTS.md)")
    p.add_argument("--plot", metavar="PATH", default=os.path.join(BENCH_DIR, "ratios.png"),
                   help="ratio plot (default bench/ratios.png)")
    p.add_argument("--no-write", action="store_true", help="print only: no RESULTS.md, no plot")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM throughput measurement")
    p.add_argument("--profile", metavar="CELL:TxNxH[:DTYPE[:THREADS]]", action="append",
                   default=[], help="only profile this configuration (repeatable); merged into "
                                    "RESULTS.md's Profiles")
    p.add_argument("--profile-misses", action="store_true",
                   help="after the run, profile each (cell, size) with a MISS at float32/1 thread")
    argv = list(argv)
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    args = p.parse_args(argv)
    args.pytest_extra = extra
    args.command = "python bench/bench_rnn.py" + "".join(" " + shlex.quote(a) for a in argv)
    args.grid = args.grid or ("default" if args.quick else "full")
    if args.budget is None:
        args.budget = 25.0 if args.quick else 420.0
    if args.min_reps is None:
        args.min_reps = 3 if args.quick else 5
    from fastrnn_bench.profile import parse_spec
    try:
        args.profile = [parse_spec(spec) for spec in args.profile]
        args.cases = grid_mod.select(args.grid, args.cells, args.sizes, args.dtypes,
                                     args.threads, None, args.engines)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        p.error(str(exc))
    return args


def pytest_command(args, json_path):
    """The pytest run this invocation stands for."""
    here = os.path.relpath(BENCH_DIR, REPO)                 # pytest runs in the repository
    files = ([] if args.no_gemm else [os.path.join(here, "test_gemm.py")]) + \
        [os.path.join(here, "test_grid.py")]
    opts = [f"--bench-grid={args.grid}",
            f"--benchmark-max-time={args.budget / max(len(args.cases), 1):.4g}",
            f"--benchmark-min-rounds={args.min_reps}",
            f"--bench-max-rounds={max(args.max_reps, args.min_reps)}"]
    for name in ("cells", "sizes", "dtypes", "threads", "engines"):
        if getattr(args, name):
            opts.append(f"--bench-{name}={','.join(getattr(args, name))}")
    return ([sys.executable, "-m", "pytest", *files, "--benchmark-only",
             f"--benchmark-json={json_path}", "-p", "no:cacheprovider", *opts,
             *args.pytest_extra])


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from fastrnn_bench import records, report
    from fastrnn_bench.children import child_env
    from fastrnn_bench.profile import misses_from, run as run_profile
    if args.wait_idle > 0:
        from fastrnn_bench.timing import wait_idle
        wait_idle(args.wait_idle)
    if args.profile:
        lines = []
        for spec in args.profile:
            lines += run_profile(spec)
        if not args.no_write:
            report.write(records.Data([], [dict(kind="profiles", profiles=lines,
                                                source="profile")]), args.results)
            log(f"merged into {args.results}")
        return 0
    with tempfile.TemporaryDirectory(prefix="fastrnn-bench-") as tmp:
        json_path = args.json or os.path.join(tmp, "bench.json")
        cmd = pytest_command(args, json_path)
        log("running: " + " ".join(shlex.quote(c) for c in cmd[1:]))
        rc = subprocess.call(cmd, cwd=REPO, env=child_env())
        if not os.path.exists(json_path):
            log(f"pytest exited with status {rc} and wrote no JSON")
            return rc or 1
        paths = [json_path]
        if args.profile_misses:
            specs, peaks = misses_from([json_path])
            lines = []
            for spec in specs:
                lines += run_profile(spec, peak=peaks.get((spec[2], spec[3])))
            prof = os.path.join(tmp, "profiles.json")
            records.write(prof, [], dict(kind="profiles", profiles=lines))
            paths.append(prof)
        data = records.load(paths)
        if data.main is not None:
            data.main["wrapper"] = args.command
        log("\ntargets:")
        report.print_targets(data)
        if not args.no_write:
            report.write(data, args.results, args.plot)
            log(f"wrote {args.results} and {args.plot}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
