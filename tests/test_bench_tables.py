"""The benchmark tables of issues 11 and 12 (bench/): threads, the build before, a busy
machine, the barrier model and the streaming step.

No timing is asserted: the tables and targets are computed from numbers the tests
give them, the thread controls are checked to reach every engine, and tiny runs
check that each runner produces the records its table reads.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn

pytest.importorskip("threadpoolctl")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from fastrnn_bench import records, report, report_streaming, report_threads  # noqa: E402
from fastrnn_bench import results_md, scaling, streaming, targets_threads, timing  # noqa: E402

C_BUILT = fastrnn.c_engine_available()


@pytest.fixture(autouse=True)
def keep_backend_and_threads():
    previous, threads = fastrnn.get_backend(), fastrnn.get_num_threads()
    yield
    fastrnn.set_backend(previous)
    fastrnn.set_num_threads(threads)


def data_of(recs, metas=()):
    return records.Data([dict(r, source=r.get("source", "t")) for r in recs],
                        [dict(m, source=m.get("source", "t")) for m in metas])


def grid_rec(cell, size, dtype, threads, mode, engine, ms, **kw):
    T, N, H = (int(v) for v in size.split("x"))
    return dict(table="grid", cell=cell, size=size, T=T, N=N, I=H, H=H, dtype=dtype,
                threads=threads, mode=mode, engine=engine, median_s=ms * 1e-3, **kw)


# --- thread controls ---------------------------------------------------------------------------

def test_limit_threads_sets_each_engines_own_control_and_restores_it():
    from threadpoolctl import threadpool_info
    fastrnn.set_num_threads(2)
    with timing.limit_threads(1):
        assert fastrnn.get_num_threads() == 1
        assert all(lib["num_threads"] == 1 for lib in threadpool_info()
                   if lib["user_api"] == "blas")
        torch = sys.modules.get("torch")
        if torch is not None:
            assert torch.get_num_threads() == 1
    assert fastrnn.get_num_threads() == 2
    with timing.limit_threads(None):                     # default: nothing touched
        assert fastrnn.get_num_threads() == 2
    assert timing.threads_under_limit(1)[0] == "fastrnn=1"


def test_pool_stalls_is_the_engines_counter():
    stalls = timing.pool_stalls()
    if C_BUILT:
        from fastrnn.core import _ext
        assert stalls == _ext.pool_stalls()
    else:
        assert stalls is None


# --- issue 11's targets and tables ---------------------------------------------------------------

def test_thread_targets_use_each_sizes_requirement():
    recs = [grid_rec("lstm", "50x64x512", "float32", 1, "fwd", "c", 10.0),
            grid_rec("lstm", "50x64x512", "float32", 2, "fwd", "c", 6.0),      # 1.67x >= 1.6
            grid_rec("lstm", "50x64x512", "float32", 2, "fwd", "torch", 5.7),  # 0.95x < 1.0
            grid_rec("lstm", "100x8x128", "float32", 1, "fwd", "c", 1.0),
            grid_rec("lstm", "100x8x128", "float32", 2, "fwd", "c", 0.84),     # 1.19x < 1.25
            grid_rec("gru", "1000x1x32", "float64", 1, "fwdbwd", "c", 2.0),
            grid_rec("gru", "1000x1x32", "float64", 2, "fwdbwd", "c", 2.08, busy=True)]
    rows = {(t["group"], t["what"]): t for t in targets_threads.grid_targets(recs)}
    g = targets_threads
    big = rows[(g.GROUP_SPEEDUP, "LSTM 50x64x512 float32 fwd")]
    assert big["status"] == "PASS" and big["required"] == 1.6
    assert big["measured"] == pytest.approx(10 / 6)
    mid = rows[(g.GROUP_SPEEDUP, "LSTM 100x8x128 float32 fwd")]
    assert mid["status"] == "MISS" and mid["required"] == 1.25 and "short" in mid["margin"]
    small = rows[(g.GROUP_SPEEDUP, "GRU 1000x1x32 float64 fwd+bwd")]
    assert small["required"] == 0.95 and small["status"] == "PASS" and small["busy"]
    vs_torch = rows[(g.GROUP_VS_TORCH, "LSTM 50x64x512 float32 fwd")]
    assert vs_torch["status"] == "MISS" and vs_torch["measured"] == pytest.approx(0.95)
    text = report_threads.threads_scaling(data_of(recs))
    assert "| LSTM | 50x64x512 | fwd | 1.67x |" in text


def test_before_table_and_target_compare_the_first_tree_with_the_last():
    def rec(tree, mode, ms):
        return dict(grid_rec("srn", "100x1x128", "float32", 1, mode, "c", ms),
                    table="tree-grid", tree=tree, layout="flat" if tree == "before" else "core")
    recs = [rec("before", "fwd", 1.0), rec("today", "fwd", 0.5),
            rec("before", "fwdbwd", 1.0), rec("today", "fwdbwd", 1.05)]
    rows = targets_threads.before_targets(recs)
    assert [(t["status"], round(t["measured"], 3)) for t in rows] == [("PASS", 2.0),
                                                                     ("MISS", 0.952)]
    text = report_threads.threads_before(data_of(recs))
    assert "| SRN(tanh) | 100x1x128 | float32 | fwd+bwd | 1.00 | 1.05 | 0.95x | **MISS** |" in text
    assert "layout `flat`" in text


def test_busy_targets_and_table():
    def rec(engine, k, ms, **kw):
        return dict(table="busy", cell="lstm", size="100x32x256", T=100, N=32, I=256, H=256,
                    dtype="float32", threads="default", threads_used=2, mode="fwdbwd",
                    engine=engine, competitors=k, cpus=2, median_s=ms * 1e-3, others=k + 0.0,
                    busy=False, **kw)
    recs = [rec("c", 0, 10, pool_stalls_total=0), rec("c", 1, 25, pool_stalls_total=3),
            rec("c", 2, 29, pool_stalls_total=7),
            rec("torch", 0, 10), rec("torch", 1, 200), rec("torch", 2, 900),
            rec("numpy", 0, 20), rec("numpy", 1, 30), rec("numpy", 2, 40)]
    rows = targets_threads.busy_targets(recs)
    assert [(t["status"], t["required"]) for t in rows] == [("MISS", 2.0), ("PASS", 3.0)]
    assert rows[0]["measured"] == pytest.approx(2.5) and "25% over" in rows[0]["margin"]
    assert "NumPy 1.50x, PyTorch 20.00x; fastrnn pool stalls 3" == rows[0]["beside"]
    assert "one per core" in rows[1]["what"]
    text = report_threads.busy_section(data_of(recs))
    assert "| LSTM | 100x32x256 | float32 | fwd+bwd | C | default (2) | 10.0 | 2.50x | 2.90x | " \
           "0 / 3 / 7 |" in text
    section = report_threads.targets_section(data_of(recs))
    assert "### Busy machine" in section and "**MISS**" in section


def test_busy_competitor_counts():
    from fastrnn_bench.children import parse_competitors
    assert parse_competitors("1,all") == [0, 1, os.cpu_count()]
    assert parse_competitors("0,2,2") == [0, 2]


# --- (d) the barrier and its model ---------------------------------------------------------------

def test_panel_width_is_read_from_the_kernels_source():
    assert scaling.panel_width("avx512", "float32") == 64
    assert scaling.panel_width("avx512", "float64") == 32
    assert scaling.panel_width("avx2", "float32") == 16
    assert scaling.panel_width("nonexistent", "float32") is None


def test_the_model_splits_panels_like_the_engine():
    assert scaling.panel_share(96, 48, 2) == 0.5                 # 2 panels, 2 threads
    assert scaling.panel_share(128, 48, 2) == pytest.approx(2 / 3)  # 3 panels: 2 on one
    assert scaling.panel_share(96, 48, 4) == 0.5                 # no more panels than 2
    assert scaling.panel_share(512, 48, 4) == pytest.approx(3 / 11)
    assert scaling.is_split("lstm", 2, 96) and not scaling.is_split("srn", 2, 96)
    assert scaling.predict(10.0, 1.0, 96, 48, 2) == pytest.approx(10 / 6)
    assert scaling.predict(10.0, 1.0, 96, 48, 2, split=False) == 1.0
    # linear: b (p - 1); log2: b log2(p)
    assert scaling.barrier(1.0, 16) == 15 and scaling.barrier(1.0, 16, "log2") == 4
    p, s = scaling.best_threads(100.0, 1.0, 4096, 48)
    assert 2 < p < 64 and s == max(scaling.predict(100.0, 1.0, 4096, 48, q)
                                   for q in range(1, 65))


def test_barrier_rows_feed_the_scaling_sections():
    def brec(threads, ms, mode="fwd"):
        return dict(table="barrier", cell="lstm", T=1000, N=2, I=96, H=96, size="1000x2x96",
                    dtype="float32", mode=mode, threads=threads, median_s=ms * 1e-3,
                    isa="avx512", others=0.0, stalls=0, busy=False)
    recs = [brec(1, 4.0), brec(2, 2.5)]                   # 4 us/step, 2.5: b = 0.5 us
    per = scaling.barrier_per_step(recs)
    assert per[("lstm", "float32", "fwd")]["b"] == pytest.approx(0.5e-6)
    grid = [grid_rec("lstm", "50x64x512", "float32", 1, "fwd", "c", 5.0),
            grid_rec("lstm", "50x64x512", "float32", 2, "fwd", "c", 2.9)]
    data = data_of(recs, [dict(kind="barrier", machine={"cpu_model": "X"})])
    sections = report_threads.scaling_md(data, grid)
    model = sections["scaling-model"]
    # work 100 us/step, 16 panels of 32 (csrc/isa_avx512.c): p=2 -> 8/16 of the work + 0.5 us
    nr = scaling.panel_width("avx512", "float32")
    panels = -(-512 // nr)
    expect = 100 / (100 * -(-panels // 2) / panels + 0.5)
    assert f"| LSTM | 50x64x512 | fwd | 100 | {panels} | 0.50 | {expect:.2f}x | 1.72x |" in model
    assert "0.50" in report_threads.scaling_section(data)
    no_grid = report_threads.scaling_md(data, [])["scaling-model"]
    assert "No grid rows" in no_grid


def test_scaling_md_keeps_its_analysis(tmp_path):
    path = str(tmp_path / "SCALING.md")
    order, skel = report_threads.SCALING_ORDER, report_threads.SCALING_SKELETON
    results_md.write(path, {"scaling-barrier": "B1", "scaling-model": "M1"}, order, skel)
    text = open(path).read().replace(report_threads.SCALING_PLACEHOLDER, "Mine.")
    open(path, "w").write(text)
    results_md.write(path, {"scaling-barrier": "B2"}, order, skel)
    text = open(path).read()
    assert "B2" in text and "B1" not in text and "M1" in text and "Mine." in text


@pytest.mark.skipif(not C_BUILT, reason="the C engine is not built")
def test_barrier_measurement_gives_records_for_both_thread_counts():
    recs = scaling.measure(cells=["gru"], dtypes=["float64"], modes=["fwd"], max_time=0.001,
                           min_rounds=1, quick=True)
    assert sorted(r["threads"] for r in recs) == [1, 2]
    assert all(r["split"] and r["table"] == "barrier" for r in recs)


# --- issue 12: the streaming step ------------------------------------------------------------

def _standin():
    sys.path.insert(0, TESTS)
    import bench_stream_standin
    return bench_stream_standin


@pytest.mark.skipif(not C_BUILT, reason="the C engine is not built")
@pytest.mark.parametrize("cell", ["srn", "lstm", "gru"])
def test_step_engines_validate_and_step(cell, monkeypatch):
    standin = _standin()
    for cls in (fastrnn.SRN, fastrnn.LSTM, fastrnn.GRU):
        if not hasattr(cls, "stream"):
            monkeypatch.setattr(cls, "stream", lambda self, batch_size:
                                standin.StandInStream(self, batch_size), raising=False)
    assert streaming.stream_missing() is None
    eng = streaming.StepEngines(cell, 2, 8)
    assert eng.packed_nbytes > 0
    assert {v["pair"].split()[0] for v in eng.validations} >= {"stream", "layer", "numpy"}
    for name, call in eng.calls.items():
        eng.use(name)
        call()
        call()


def test_step_validation_catches_a_wrong_engine(monkeypatch):
    eng = streaming.StepEngines.__new__(streaming.StepEngines)
    eng.cell, eng.N, eng.H, eng.dtype, eng.validations = "lstm", 1, 4, "float32", []
    eng.reference = np.ones((3, 1, 4), np.float32)
    with pytest.raises(streaming.Mismatch, match="stream's steps differ"):
        eng._check("stream", [np.ones((1, 4)) * 1.01] * 3)


def test_streaming_section_and_targets():
    def srec(cell, N, H, engine, us, **kw):
        return dict(table="streaming", cell=cell, N=N, H=H, I=H, dtype="float32", threads=1,
                    engine=engine, median_s=us * 1e-6, packed_nbytes=4 * 4 * H * H * 2, **kw)
    recs = []
    for cell in ("lstm", "gru"):
        recs += [srec(cell, 1, 256, "stream", 12), srec(cell, 1, 256, "cell", 30),
                 srec(cell, 1, 256, "floor-sum", 9), srec(cell, 1, 256, "floor-max", 10),
                 srec(cell, 1, 1024, "stream", 500), srec(cell, 1, 1024, "floor-max", 400)]
    recs += [srec(c, 1, 16, "stream", us) for c, us in (("srn", 2), ("lstm", 4), ("gru", 6))]
    over = [dict(table="overhead", tree=tree, cell="lstm", H=256, train=False, level="layer",
                 median_s=us * 1e-6) for tree, us in (("before", 100), ("today", 20))]
    data = data_of(recs + over)
    rows = {t["what"]: t for t in report_streaming.target_rows(data)}
    assert rows["LSTM H=256 N=1: stream / torch LSTMCell"]["status"] == "PASS"       # 0.4x
    floor = rows["LSTM H=256 N=1: stream / memory floor"]
    assert floor["measured"] == pytest.approx(12 / 9) and floor["status"] == "PASS"
    assert rows["GRU H=1024 N=1: stream / memory floor"]["status"] == "PASS"          # 1.25x
    assert rows["GRU H=16 N=1: fixed cost of one step call (us)"]["status"] == "MISS"
    t1 = rows["LSTM H=256 N=1 T=1 forward(train=False): before / today (speed-up)"]
    assert t1["measured"] == pytest.approx(5.0) and t1["status"] == "PASS"
    text = report_streaming.streaming_section(data)
    assert "9.00 (sum)" in text and "### Targets (issue 12): " in text
    note = report_streaming.streaming_section(data_of([], [dict(notes={"streaming": "WHY"})]))
    assert "Not measured: WHY" in note


def test_results_md_has_the_new_sections_and_analyses():
    text = results_md.update("", {})
    order = [text.index(s) for s in ("generated: threads-scaling", "generated: threads-before",
                                     "generated: busy", "generated: targets-threads",
                                     "generated: scaling", "## Analysis: threads",
                                     "## Analysis: busy machine", "generated: streaming",
                                     "## Analysis: streaming")]
    assert order == sorted(order)
    with open(os.path.join(BENCH, "RESULTS.md")) as f:
        committed = f.read()
    assert set(results_md.sections(committed)) == set(results_md.ORDER)
    for heading in ("## Analysis: threads", "## Analysis: busy machine", "## Analysis: streaming"):
        assert heading in committed
    with open(os.path.join(BENCH, "SCALING.md")) as f:
        scaling_md = f.read()
    assert set(results_md.sections(scaling_md)) == set(report_threads.SCALING_ORDER)
    assert "## Analysis" in scaling_md


# --- the runners, end to end on tiny sizes ---------------------------------------------------

def _env(extra=()):
    src = os.path.dirname(os.path.dirname(fastrnn.__file__))
    path = [src, *extra, os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))


@pytest.mark.skipif(not C_BUILT, reason="the C engine is not built")
def test_streaming_runner_writes_rows_or_a_note(tmp_path):
    pytest.importorskip("pytest_benchmark")
    base = [sys.executable, "-m", "pytest", "bench/test_streaming.py", "--benchmark-only",
            "-k", "lstm and H16", "--benchmark-max-time=0.001", "--benchmark-min-rounds=1",
            "--benchmark-warmup-iterations=1", "-q"]
    if not hasattr(fastrnn.LSTM, "stream"):        # the table is skipped, with its note
        out = tmp_path / "none.json"
        proc = subprocess.run(base + [f"--benchmark-json={out}"], cwd=REPO, env=_env(),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        text = report_streaming.streaming_section(records.load([str(out)]))
        assert "Not measured" in text and "stream" in text
    out = tmp_path / "rows.json"                    # with the stand-in (or the real) stream
    proc = subprocess.run(base + ["-p", "bench_stream_standin", f"--benchmark-json={out}"],
                          cwd=REPO, env=_env([TESTS]), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = records.load([str(out)])
    assert {r["engine"] for r in data.table("streaming")} >= {"stream", "layer", "numpy",
                                                              "floor-sum", "floor-max"}
    assert "Fixed cost of one step call" in report_streaming.streaming_section(data)


@pytest.mark.skipif(not C_BUILT, reason="the C engine is not built")
def test_before_runner_compares_two_trees(tmp_path):
    pytest.importorskip("pytest_benchmark")
    src = os.path.dirname(os.path.dirname(fastrnn.__file__))
    out = tmp_path / "before.json"
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "before.py"), "--tree",
                           f"a={src}", "--tree", f"b={src}", "--quick", "--repeat", "1",
                           "--json", str(out), "--no-write", "--", "--bench-cells=lstm",
                           "--bench-dtypes=float32", "--bench-modes=fwd"],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        recs = json.load(f)["records"]
    assert {(r["table"], r["tree"], r["engine"], r["threads"]) for r in recs} == {
        ("tree-grid", "a", "c", 1), ("tree-grid", "b", "c", 1)}
    assert "| LSTM | 5x2x8 | float32 | fwd |" in proc.stdout
