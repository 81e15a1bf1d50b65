"""One benchmark file run against several source trees, each in its own process.

Two tables compare this checkout with an older build side by side: the T=1
overhead (``overhead.py``, issue 10 and 12) and the grid's C engine at 1 thread
(``before.py``, issue 11: "no row slower than before"). Both run a pytest file of
bench/ once per tree, with that tree's ``src/`` first on ``PYTHONPATH`` (the child
is checked to have imported that fastrnn), the trees alternating ``repeat`` times
(A B, B A, ...), each row keeping its fastest median over the repeats.

Every tree's child runs single-threaded from the start: ``OPENBLAS_NUM_THREADS=1``
(the pre-restructure build ran its products on SciPy's OpenBLAS) and
``FASTRNN_NUM_THREADS=1`` (today's engine, its own pool), besides the harness's
own ``limit_threads(1)`` around every row.

A tree is a ``src`` directory with fastrnn built in place (``python setup.py
build_ext --inplace`` in its checkout). ``tree_info()`` says which tree a child
runs; ``layouts.py`` knows where each layout keeps its binding.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile

from . import BENCH_DIR, REPO, import_fastrnn, log
from . import records as records_mod
from .layouts import detect, detect_src

# what every tree's child runs with (see the module docstring)
ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "FASTRNN_NUM_THREADS": "1"}


@functools.lru_cache(maxsize=None)
def tree_info():
    """Which fastrnn this process runs: tree name, layout, path, git, the kernels' ISA (a
    dict: copy it before changing it)."""
    from .machine import git_describe, kernels
    fastrnn = import_fastrnn()
    path = os.path.dirname(fastrnn.__file__)
    return dict(tree=os.environ.get("FASTRNN_BENCH_TREE") or "this tree",
                layout=detect(fastrnn), fastrnn_path=path, git=git_describe(path),
                isa=kernels(fastrnn).get("isa"))


def parse_trees(specs, error, default_name="this tree"):
    """[(name, src)] from ``NAME=SRC`` strings (default: this checkout's src/); ``error``
    reports a bad spec (argparse's ``parser.error``)."""
    trees = []
    for spec in specs or [f"{default_name}={os.path.join(REPO, 'src')}"]:
        name, sep, src = spec.partition("=")
        if not sep or not name or not src:
            error(f"--tree {spec!r}: expected NAME=SRC_DIR")
        trees.append((name, src))
    if len({n for n, _ in trees}) != len(trees):
        error("--tree: the names must differ")
    return trees



def tree_parser(prog, description, epilog, tree_help, repeat, wait_help, results_help):
    """The command line every tree tool shares (``bench/before.py``, ``bench/overhead.py``):
    --tree, --repeat, --quick, --wait-idle, --json, --results, --no-write; arguments after
    ``--`` go to pytest (``parse_tree_args``)."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", action="append", default=[], metavar="NAME=SRC", help=tree_help)
    p.add_argument("--repeat", type=int, default=repeat, help="alternate the trees this many times")
    p.add_argument("--quick", action="store_true", help="a smoke run of the harness")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS", help=wait_help)
    p.add_argument("--json", metavar="PATH", help="write the merged records here")
    p.add_argument("--results", default=os.path.join(BENCH_DIR, "RESULTS.md"), help=results_help)
    p.add_argument("--no-write", action="store_true", help="print the table, write no RESULTS.md")
    return p


def parse_tree_args(p, argv):
    """(args, trees, pytest arguments after ``--`` plus the idle wait, the command line): the
    wait itself happens here, before any tree runs; the children wait again after busy rows."""
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    args = p.parse_args(argv)
    trees = parse_trees(args.tree, p.error)
    command = f"{p.prog} " + " ".join(argv + (["--"] + extra if extra else []))
    if args.wait_idle > 0:
        from .timing import wait_idle
        wait_idle(args.wait_idle)
        extra = extra + [f"--bench-wait-idle={args.wait_idle}"]
    return args, trees, extra, command

def tree_env(name, src):
    """The environment of a tree's child: its src/ first on PYTHONPATH, one thread."""
    path = [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, FASTRNN_BENCH_TREE=name, PYTHONPATH=os.pathsep.join(path),
                **ONE_THREAD_ENV)


def run_tree(name, src, test_file, json_path, pytest_args, table):
    """pytest ``test_file`` (in bench/) with ``src`` first on PYTHONPATH; returns (records of
    ``table``, each with the tree's name, layout, path and git; the run's meta)."""
    src = os.path.abspath(src)
    if not os.path.isdir(os.path.join(src, "fastrnn")):
        raise SystemExit(f"--tree {name}={src}: no fastrnn package there (give the src/ dir)")
    cmd = [sys.executable, "-m", "pytest", os.path.join(BENCH_DIR, test_file),
           "--benchmark-only", f"--benchmark-json={json_path}", "-q", "-p", "no:cacheprovider",
           *pytest_args]
    log(f"tree {name} ({src}): {' '.join(cmd[2:])}")
    rc = subprocess.call(cmd, cwd=REPO, env=tree_env(name, src))
    if rc == 2 or not os.path.exists(json_path):
        raise SystemExit(f"tree {name}: pytest exited with status {rc}"
                         + (" (a validation mismatch)" if rc == 2 else ""))
    with open(json_path) as f:
        recs, meta = records_mod.from_pytest(json.load(f), json_path)
    recs = [r for r in recs if r.get("table") == table]
    if not recs:
        raise SystemExit(f"tree {name}: no {table} rows (is its C engine built? "
                         f"`python setup.py build_ext --inplace` in its checkout)")
    machine = meta.get("machine") or {}
    for r in recs:
        r.setdefault("tree", name)
        r.setdefault("layout", detect_src(src))
        r.setdefault("fastrnn_path", machine.get("fastrnn_path"))
        r.setdefault("git", machine.get("git"))
        r.setdefault("isa", machine.get("isa"))
    wrong = {r["fastrnn_path"] for r in recs if not str(r["fastrnn_path"]).startswith(src)}
    if wrong:
        raise SystemExit(f"tree {name}: the child imported fastrnn from {wrong}, not {src}")
    return recs, dict(meta, problems=meta.get("problems") or [])


def fastest(runs, key):
    """Each row's record with the lowest median over the repeats (``key(record)`` names a
    row, the tree included)."""
    best = {}
    for r in runs:
        k = key(r)
        if k not in best or r["median_s"] < best[k]["median_s"]:
            best[k] = r
    return list(best.values())


def run_trees(trees, test_file, pytest_args, table, key, repeat=1):
    """Every tree, alternating ``repeat`` times; returns (fastest records in the order of
    ``trees``, one meta per child run)."""
    runs, metas = [], []
    with tempfile.TemporaryDirectory(prefix="fastrnn-trees-") as tmp:
        for rep in range(max(1, repeat)):
            order = trees if rep % 2 == 0 else trees[::-1]
            for name, src in order:
                recs, meta = run_tree(name, src, test_file,
                                      os.path.join(tmp, f"{rep}-{len(metas)}.json"),
                                      pytest_args, table)
                runs += recs
                metas.append(dict(tree=name, src=os.path.abspath(src),
                                  machine=meta.get("machine"), load_start=meta.get("load_start"),
                                  load_end=meta.get("load_end"), problems=meta["problems"],
                                  validations=len(meta.get("validations") or [])))
    rank = {name: k for k, (name, _) in enumerate(trees)}
    return sorted(fastest(runs, key), key=lambda r: rank[r["tree"]]), metas
