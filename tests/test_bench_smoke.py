"""The benchmark harness in bench/ (fastrnn_bench): it runs, validates and reports.

No timing is asserted: tiny configurations check that every engine is called, that
validation catches a wrong engine, that the report computes its ratios and targets
from the numbers it is given, that RESULTS.md keeps its hand-written text, and that
``pytest bench/ --benchmark-only`` produces JSON the report turns into tables.
"""

import json
import os
import subprocess
import sys

import pytest

import fastrnn

pytest.importorskip("threadpoolctl")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
sys.path.insert(0, BENCH)

from fastrnn_bench import grid, records, report, results_md, timing  # noqa: E402
from fastrnn_bench.engines import build  # noqa: E402
from fastrnn_bench.validation import Mismatch, validate  # noqa: E402

TINY = (4, 2, 3, 5)   # T, N, I, H


@pytest.fixture(autouse=True)
def keep_backend():
    """The engines switch the global backend; put it back after each test."""
    previous = fastrnn.get_backend()
    yield
    fastrnn.set_backend(previous)


def engines_here():
    return ["numpy"] + (["c"] if fastrnn.c_engine_available() else [])


# --- what is measured ----------------------------------------------------------------------

def test_select_keeps_each_config_together_and_filters():
    cases = grid.select("default", cells=["lstm"], sizes=["10x2x8", "3x1x4x6"],
                        dtypes=["float32"], threads=["1"], engines=["c", "numpy"])
    assert [c.size for c in cases[:4]] == [(10, 2, 8, 8)] * 4
    assert cases[4].size == (3, 1, 4, 6)
    assert [(c.mode, c.engine) for c in cases[:4]] == [("fwd", "c"), ("fwd", "numpy"),
                                                      ("fwdbwd", "c"), ("fwdbwd", "numpy")]
    assert cases[0].id == "lstm-10x2x8-float32-1thr-fwd-c"
    assert grid.size_name((3, 1, 4, 6)) == "3x1x4x6"
    with pytest.raises(ValueError, match="cells"):
        grid.select("default", cells=["rnn"])
    with pytest.raises(ValueError, match="grid"):
        grid.select("huge")


# --- engines and validation -------------------------------------------------------------------

@pytest.mark.parametrize("cell", grid.CELLS)
def test_engines_run_both_modes_and_validate(cell):
    names = engines_here() + (["torch"] if _has_torch() else [])
    built, problems = build(cell, TINY, "float64", names)
    assert not problems and sorted(built) == sorted(names)
    live, vals, probs = validate((cell, TINY, "float64", 1), built)
    assert sorted(live) == sorted(names) and not probs
    pairs = {v["pair"] for v in vals}
    assert f"{names[0]} train=False vs train=True" in pairs
    if "c" in names:
        assert "c vs numpy" in pairs
    for eng in live.values():
        for mode in grid.MODES:
            setup, target = eng.calls(mode)
            if setup:
                setup()
            part = target()
            assert (part is None) == (mode == "fwd")
            assert part is None or part > 0


def test_validation_names_the_array_that_differs():
    built, _ = build("gru", TINY, "float64", ["numpy"])
    wrong = build("gru", TINY, "float64", ["numpy"])[0]["numpy"]
    honest = wrong.run_all

    def run_all():
        out = honest()
        out["dx"] = out["dx"] + 1e-6
        return out
    wrong.run_all = run_all
    built["c"] = wrong              # stands in for an engine that computes dx wrong
    with pytest.raises(Mismatch, match="dx differs"):
        validate(("gru", TINY, "float64", 1), built)


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --- timing and load ------------------------------------------------------------------------

def test_rounds_for_respects_the_bounds():
    assert timing.rounds_for(1e-3, max_time=1.0, min_rounds=5, max_rounds=300) == 300
    assert timing.rounds_for(0.1, max_time=1.0, min_rounds=5, max_rounds=300) == 10
    assert timing.rounds_for(0.4, max_time=1.0, min_rounds=5, max_rounds=300) == 5
    assert timing.rounds_for(10.0, max_time=1.0, min_rounds=5, max_rounds=300) == 3


def test_time_blocks_gives_a_median_per_engine():
    built, _ = build("srn", TINY, "float32", engines_here())
    res = timing.time_blocks({n: e.calls("fwdbwd") for n, e in built.items()},
                             max_time=0.005, min_rounds=3, max_rounds=5)
    for name in built:
        r = res[name]
        assert 3 <= r["reps"] <= 5 and r["min"] <= r["median"] and r["part_median"] > 0


def test_load_meter_marks_busy_beyond_the_allowed_load():
    meter = timing.LoadMeter(threads=1, allowed=1.0)
    assert not meter.is_busy(others=1.2, load1=None)
    assert meter.is_busy(others=1.4, load1=None)
    assert not meter.is_busy(others=1.4, load1=None, resolution=0.5)
    assert timing.LoadMeter().is_busy(others=None, load1=1.5)  # no /proc/stat: load1 - 1 thread
    result = timing.LoadMeter().start().stop()
    assert set(result) == {"load1", "others", "stalls", "busy"}
    # a row whose pool stalled ran on fewer threads than it asked for: busy, unless the
    # competing processes were started on purpose (the busy-machine table)
    assert timing.LoadMeter().is_busy(others=0.0, load1=None, stalls=1)
    assert not timing.LoadMeter(allowed=1.0).is_busy(others=1.0, load1=None, stalls=3)
    assert not timing.LoadMeter().is_busy(others=0.0, load1=None, stalls=0)


def test_competitors_are_started_and_killed():
    from fastrnn_bench.children import competitors
    with competitors(2, settle_s=0.05) as pids:
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)                      # alive
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)                      # killed and reaped


# --- RESULTS.md ------------------------------------------------------------------------------

def test_results_md_keeps_hand_written_text_and_orders_new_sections(tmp_path):
    path = tmp_path / "RESULTS.md"
    text = results_md.update("", {"medians": "## Medians\n\nFIRST-RUN"})
    text = text.replace(results_md.ANALYSIS_PLACEHOLDER, "My analysis, by hand.")
    text = results_md.update(text, {"medians": "## Medians\n\nSECOND-RUN", "summary": "top"})
    assert "My analysis, by hand." in text and "FIRST-RUN" not in text and "SECOND-RUN" in text
    assert text.index("top") < text.index("## Medians") < text.index("My analysis")
    bare = ("# fastrnn benchmark results\n\nINTRO\n" + results_md.block("targets", "TARGETS")
            + "OUTRO\n")
    out = results_md.update(bare, {"gemm": "GEMM-1", "profiles": "PROFILES"})
    order = [out.index(s) for s in ("INTRO", "GEMM-1", "TARGETS", "OUTRO", "PROFILES")]
    assert order == sorted(order)
    assert results_md.update(out, results_md.sections(out)) == out
    path.write_text(out)
    results_md.write(str(path), {"gemm": "GEMM-2"})
    assert "GEMM-2" in path.read_text() and "GEMM-1" not in path.read_text()
    assert "INTRO" in path.read_text() and "OUTRO" in path.read_text()


def test_profiles_accumulate_by_title():
    old = "## Profiles\n\n### Profile: A\n\nold a\n### Profile: B\n\nb\n"
    merged = results_md.merge_subsections(old, "## Profiles\n\n### Profile: A\n\nnew a\n")
    assert merged.startswith("## Profiles") and "new a" in merged and "old a" not in merged
    assert merged.index("Profile: A") < merged.index("Profile: B")


# --- the report from pytest-benchmark JSON ------------------------------------------------------

def _bench(info, median):
    return {"name": "x", "fullname": "test_x.py::x", "extra_info": info,
            "stats": {"median": median, "min": median, "iqr": 0.0, "mean": median,
                      "stddev": 0.0, "rounds": 5, "iterations": 1}}


def test_report_ratios_targets_and_busy_rows_from_pytest_json(tmp_path):
    case = dict(table="grid", cell="lstm", T=100, N=1, I=128, H=128, size="100x1x128",
                dtype="float32", threads=1, mode="fwd", others=0.0, busy=False)
    doc = {"datetime": "now", "benchmarks": [
        _bench(dict(case, engine="c"), 1e-3),
        _bench(dict(case, engine="numpy"), 5e-3),
        _bench(dict(case, engine="torch", others=0.9, busy=True), 4e-3),
        _bench(dict(table="gemm", kind="square", phase="start", lib="numpy", dtype="float32",
                    threads=1, M=512, K=512, N=512), 2 * 512 ** 3 / 100e9),
        _bench(dict(case, engine="c", refused=True), 9.0)],
        "fastrnn_bench": {"grid": "full", "machine": {"c_engine_available": True},
                          "command": "python -m pytest bench/", "validations": []}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    data = records.load([str(path)])
    assert data.peaks[("float32", 1)] == pytest.approx(100.0)
    new = report.build(data)
    med = new["medians"]
    assert "| LSTM | 100x1x128 | fwd | 1.00 | 5.00 | 4.00 | 5.00x | 4.00x | 1.25x |" in med
    assert "0.90 **BUSY**" in med
    assert "BUSY MACHINE" in new["summary"] and "1 of 4 rows" in new["summary"]
    targets = {(t["group"], t["mode"]): t for t in report.target_rows(data)}
    vs_numpy = targets[("C vs NumPy engine (float32, 1 thread)", "fwd")]
    assert vs_numpy["status"] == "MISS" and vs_numpy["measured"] == pytest.approx(5.0)
    assert targets[("C vs PyTorch (float32, 1 thread)", "fwd")]["status"] == "PASS"


def test_overhead_section_compares_trees():
    recs = [dict(table="overhead", tree=tree, cell="lstm", H=16, train=False, level=level,
                 median_s=t * 1e-6, source="s")
            for tree, scale in (("before", 1.0), ("after", 0.25))
            for level, t in (("binding", 4 * scale), ("functional", 10 * scale),
                             ("layer", 30 * scale))]
    text = report.overhead_section(records.Data(recs, [dict(kind="overhead-trees", source="s")]))
    assert "| LSTM | 16 | False | layer | 30.0 | 7.50 | 4.00x | PASS |" in text


# --- the T=1 levels and the layouts ------------------------------------------------------------

@pytest.mark.skipif(not fastrnn.c_engine_available(), reason="the C engine is not built")
@pytest.mark.parametrize("cell", grid.CELLS)
def test_t1_levels_run_and_agree(cell):
    from fastrnn_bench.layouts import detect
    from fastrnn_bench.overhead import LEVELS, t1_calls
    assert detect(fastrnn) == "core"
    for train in (False, True):
        calls = t1_calls(cell, 16, train)      # raises Mismatch unless all levels agree
        assert sorted(calls) == sorted(LEVELS)


# --- end to end: pytest bench/ --benchmark-only, then the report --------------------------------

def test_pytest_bench_json_feeds_the_report(tmp_path):
    pytest.importorskip("pytest_benchmark")
    out = tmp_path / "run.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__)), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "pytest", "bench/test_grid.py", "bench/test_overhead.py",
           "--benchmark-only", "--bench-grid=smoke", "--bench-cells=lstm",
           "--bench-engines=" + ",".join(engines_here()), "-k", "lstm and (grid or (H16 and infer))",
           "--benchmark-max-time=0.001", "--benchmark-min-rounds=1",
           "--benchmark-warmup-iterations=1", f"--benchmark-json={out}", "-q"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = records.load([str(out)])
    assert {r["engine"] for r in data.table("grid")} == set(engines_here())
    assert data.main["validations"], "the config was not validated before timing"
    results = tmp_path / "RESULTS.md"
    report.write(data, str(results))
    text = results.read_text()
    assert "## Medians (ms) and ratios" in text and "## Analysis of misses" in text
    if fastrnn.c_engine_available():
        assert "## T=1 forward overhead" in text
