"""One record format for every table, read from whatever measured it.

A *record* is a flat dict: ``table`` (which table it belongs to: ``grid``,
``gemm``, ``overhead``, ``busy``, ...), the fields that identify the row (cell,
size, dtype, threads, mode, engine, ...), the timing (``median_s``, ``min_s``,
``iqr_s``, ``reps``) and the load (``load1``, ``others``, ``busy``).

Sources:

* pytest-benchmark JSON (``pytest bench/ --benchmark-json=PATH``): each
  benchmark's ``extra_info`` holds the identifying fields and the load, its
  ``stats`` the timing; ``bench/conftest.py`` adds the run's description under
  the key ``fastrnn_bench`` (machine, validations, problems, command, load).
* this library's own JSON (``{"format": FORMAT, "meta": {...}, "records": [...]}``),
  written by the runners that do not time in pytest: the before/after trees of
  ``overhead.py`` (which merges the trees' pytest JSON), the busy-machine children,
  profiles.

A new table needs no change here: give its records a new ``table`` name.
"""

import json
import sys

from .gemm import gflops, peaks
from .grid import gemm_flops

FORMAT = "fastrnn-bench/1"


def from_pytest(doc, source):
    """(records, meta) of one pytest-benchmark JSON document."""
    meta = dict(doc.get("fastrnn_bench") or {})
    meta.setdefault("kind", "pytest")
    meta["source"] = source
    meta.setdefault("datetime", doc.get("datetime"))
    records = []
    for b in doc.get("benchmarks", []):
        info = b.get("extra_info") or {}
        if "table" not in info or info.get("refused"):
            continue
        s = b["stats"]
        r = dict(info)
        r.update(median_s=s["median"], min_s=s["min"], iqr_s=s["iqr"], mean_s=s["mean"],
                 stddev_s=s["stddev"], reps=s["rounds"], iterations=s.get("iterations", 1),
                 name=b.get("name"), source=source)
        records.append(r)
    return records, meta


def from_own(doc, source):
    meta = dict(doc.get("meta") or {})
    meta["source"] = source
    return [dict(r, source=source) for r in doc.get("records", [])], meta


def write(path, records, meta):
    """This library's own JSON format."""
    with open(path, "w") as f:
        json.dump({"format": FORMAT, "meta": meta, "records": records}, f, indent=1,
                  default=str)


class Data:
    """Every record and run description of one report, with the derived numbers.

    ``metas``: one dict per source (``kind``: pytest, overhead-trees, busy,
    profiles). ``main`` is the pytest run that measured the grid, if any."""

    def __init__(self, records, metas):
        self.records, self.metas = records, metas
        for r in records:
            if r.get("table") == "gemm":
                r["gflops"] = gflops(r["M"], r["K"], r["N"], r["median_s"])
        self.peaks = peaks(records)
        for r in records:
            if r.get("table") == "grid":
                r["gflops"] = gemm_flops(r["cell"], (r["T"], r["N"], r["I"], r["H"]),
                                         r["mode"]) / r["median_s"] / 1e9
                peak = self.peaks.get((r["dtype"], r["threads"]))
                r["frac_peak"] = r["gflops"] / peak if peak else None
                r["us_per_step"] = r["median_s"] / r["T"] * 1e6
        # the runs that timed grid (or GEMM) rows; the first is the main one (later ones
        # complete it, e.g. run_all.sh's rerun of the rows refused as busy)
        self.grid_runs = [m for m in metas if m.get("kind") == "pytest"
                          and any(r.get("table") in ("grid", "gemm")
                                  and r.get("source") == m["source"] for r in records)]
        self.main = self.grid_runs[0] if self.grid_runs else None

    def table(self, name):
        return [r for r in self.records if r.get("table") == name]

    def of_kind(self, kind):
        return [m for m in self.metas if m.get("kind") == kind]


def load(paths):
    """``Data`` from JSON files of either format (see the module docstring)."""
    records, metas = [], []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        if doc.get("format") == FORMAT:
            r, m = from_own(doc, path)
        elif "benchmarks" in doc:
            r, m = from_pytest(doc, path)
        else:
            raise ValueError(f"{path}: neither pytest-benchmark JSON nor {FORMAT} JSON")
        records += r
        metas.append(m)
    return Data(records, metas)


def refused(path):
    """pytest node ids (relative to bench/) of the rows a run refused as busy."""
    with open(path) as f:
        doc = json.load(f)
    return [b["fullname"] for b in doc.get("benchmarks", [])
            if (b.get("extra_info") or {}).get("refused")]


def problems(paths):
    """What raised in these pytest runs (engines, timing), refusals as busy left out."""
    return [p for m in load(paths).of_kind("pytest") for p in (m.get("problems") or [])]


def latest_full_grid(runs_dir, exclude=None):
    """The newest ``grid.json`` under ``runs_dir/*/`` from a full-grid run (not a smoke run),
    other than ``exclude``; None if there is none. SCALING.md's model needs the grid's
    1-thread C times when a run (``run_all.sh --only barrier``) has none of its own."""
    import glob
    import os
    found = []
    for path in glob.glob(os.path.join(runs_dir, "*", "grid.json")):
        if exclude and os.path.samefile(os.path.dirname(path), exclude):
            continue
        try:
            with open(path) as f:
                meta = json.load(f).get("fastrnn_bench") or {}
        except (OSError, ValueError):
            continue
        if meta.get("grid") == "full":
            found.append((os.path.getmtime(path), path))
    return max(found)[1] if found else None


USAGE = """usage: python -m fastrnn_bench.records refused RUN.json    (node ids to rerun)
       python -m fastrnn_bench.records problems RUN.json...  (exit status 1 if any)
       python -m fastrnn_bench.records latest-grid RUNS_DIR [EXCLUDE_DIR]  (a full grid.json)"""

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "refused":
        for node in refused(sys.argv[2]):          # nothing at all when none was refused
            print(node)
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "latest-grid":
        print(latest_full_grid(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None) or "")
    elif len(sys.argv) >= 3 and sys.argv[1] == "problems":
        found = problems(sys.argv[2:])
        print("\n".join(found))
        sys.exit(1 if found else 0)
    else:
        sys.exit(USAGE)
