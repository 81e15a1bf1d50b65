"""The pytest side of the benchmarks: options, parametrization, fixtures, JSON hooks.

``bench/conftest.py`` imports everything here, so ``python -m pytest bench/
--benchmark-only`` runs the grid (``test_grid.py``), the GEMM peak
(``test_gemm.py``) and the T=1 overhead (``test_overhead.py``) on
pytest-benchmark, and ``--benchmark-json=PATH`` writes a JSON the report reads
(``python -m fastrnn_bench.report PATH``): every benchmark's ``extra_info`` is a
record (``records.py``), and the run's description is added under the key
``fastrnn_bench``.

Options (``--bench-*``; the grid also from the environment variable
``FASTRNN_BENCH_GRID``): see ``pytest bench/ --help`` or bench/README.md.
"""

import os
import statistics
import time

import pytest

from . import grid as grid_mod
from . import import_fastrnn, timing
from .engines import build, unavailable
from .gemm import LIBS, SQUARES, projection_shapes
from .validation import Mismatch, validate


def pytest_addoption(parser):
    g = parser.getgroup("fastrnn-bench", "fastrnn benchmarks (bench/)")
    g.addoption("--bench-grid", default=os.environ.get("FASTRNN_BENCH_GRID", "default"),
                choices=sorted(grid_mod.GRIDS),
                help="smoke (harness check), default (a few minutes) or full (issue 3's "
                     "sizes, the record); default: $FASTRNN_BENCH_GRID or 'default'")
    for name, what in (("cells", "srn,lstm,gru"), ("sizes", "TxNxH or TxNxIxH"),
                       ("dtypes", "float32,float64"), ("threads", "1,2"),
                       ("modes", "fwd,fwdbwd"), ("engines", "c,numpy,torch")):
        g.addoption(f"--bench-{name}", default="", metavar="LIST",
                    help=f"comma list ({what}) narrowing the grid")
    g.addoption("--bench-max-rounds", type=int, default=300,
                help="at most this many rounds per grid row (300)")
    g.addoption("--bench-wait-idle", type=float, default=0.0, metavar="SECONDS",
                help="wait up to SECONDS for other processes to leave the CPUs: before the "
                     "first row, and before any row that follows a busy one")
    g.addoption("--bench-refuse-busy", action="store_true",
                help="fail a row (and leave it out of the report) when other processes used "
                     f"more than {timing.BUSY_THRESHOLD} cores while it ran")


class RunState:
    """What one pytest run collects besides the timings: validations, problems, load."""

    def __init__(self, config):
        self.config = config
        self.validations, self.problems = [], []
        self.t0 = time.perf_counter()
        self.load_start = timing.loadavg()
        self.others_start = None
        self.machine = None
        self._engines_key = self._engines = None
        self._validated = {}
        self.notes = {}                # table -> why it has no rows (e.g. streaming skipped)
        self.last_busy = True          # so that --bench-wait-idle also waits before row 1

    def note(self, table, text):
        """Say, in the JSON and so in RESULTS.md, why ``table`` has no rows."""
        self.notes[table] = text

    def option(self, name):
        value = self.config.getoption(name)
        if name == "benchmark_max_time":            # pytest-benchmark keeps it as a string
            value = float(value)
        return value

    def selection(self):
        o = self.option
        return grid_mod.select(o("bench_grid"), grid_mod.csv_list(o("bench_cells")),
                               grid_mod.csv_list(o("bench_sizes")),
                               grid_mod.csv_list(o("bench_dtypes")),
                               grid_mod.csv_list(o("bench_threads")),
                               grid_mod.csv_list(o("bench_modes")),
                               grid_mod.csv_list(o("bench_engines")))

    # the grid's engines: built once per (cell, size, dtype), validated once per config
    def engines_for(self, case):
        """``(engines, problems)``: the validated engines of ``case``'s config, and what
        raised while building or validating them (call under the config's thread limit).
        Only the current (cell, size, dtype)'s engines are kept alive: the run order
        (``grid.select``) keeps a config's rows together."""
        key = (case.cell, case.size, case.dtype)
        if key != self._engines_key:
            wanted = sorted({e for e in self.engines_selected()} | {"numpy"},
                            key=grid_mod.ENGINES.index)
            wanted = [e for e in wanted if e not in unavailable(wanted)]
            self._engines = None                    # free the previous size's engines first
            self._engines_key, self._engines = key, build(*key, wanted)
        built, build_problems = self._engines
        if case.config not in self._validated:
            try:
                live, vals, probs = validate(case.config, built)
            except Mismatch as exc:
                pytest.exit(f"VALIDATION FAILED, run aborted:\n  {exc}", returncode=2)
            self.validations += vals
            # names only: the engines (and their caches) of earlier configs must be freed
            self._validated[case.config] = (set(live), build_problems + probs)
        names, problems = self._validated[case.config]
        return {n: e for n, e in built.items() if n in names}, problems

    def engines_selected(self):
        return grid_mod.csv_list(self.option("bench_engines")) or list(grid_mod.ENGINES)

    def meta(self):
        import pytest_benchmark
        sel = self.selection()
        o = self.option
        return dict(
            kind="pytest",
            command="python -m pytest " + " ".join(self.config.invocation_params.args),
            wrapper=os.environ.get("FASTRNN_BENCH_WRAPPER"),
            grid=o("bench_grid"), tree=os.environ.get("FASTRNN_BENCH_TREE"),
            selection=dict(cells=sorted({c.cell for c in sel}, key=grid_mod.CELLS.index),
                           sizes=list(dict.fromkeys(grid_mod.size_name(c.size) for c in sel)),
                           dtypes=sorted({c.dtype for c in sel}),
                           threads=sorted({c.threads for c in sel}),
                           modes=sorted({c.mode for c in sel}),
                           engines=sorted({c.engine for c in sel}, key=grid_mod.ENGINES.index)),
            timing=dict(max_time=o("benchmark_max_time"), min_rounds=o("benchmark_min_rounds"),
                        max_rounds=o("bench_max_rounds")),
            machine=self.machine, load_start=self.load_start, load_end=timing.loadavg(),
            others_start=self.others_start,
            threads_under_limit={n: timing.threads_under_limit(n)
                                 for n in sorted({c.threads for c in sel})},
            elapsed_s=time.perf_counter() - self.t0, validations=self.validations,
            notes=self.notes,
            problems=self.problems, pytest_benchmark=pytest_benchmark.__version__)


def _state(config):
    return config._fastrnn_bench


def pytest_configure(config):
    config._fastrnn_bench = RunState(config)
    _PROBLEMS.clear()
    _REFUSED.clear()


def pytest_sessionstart(session):
    from .machine import describe
    state = _state(session.config)
    import_fastrnn()
    state.others_start = timing.sample_others(0.5)
    state.machine = describe()


def pytest_generate_tests(metafunc):
    state = _state(metafunc.config)
    if "grid_case" in metafunc.fixturenames:
        cases = state.selection()
        metafunc.parametrize("grid_case", cases, ids=[c.id for c in cases])
    if "gemm_case" in metafunc.fixturenames:
        sel = state.selection()
        dtypes = sorted({c.dtype for c in sel})
        threads = sorted({c.threads for c in sel})
        squares = SQUARES if state.option("bench_grid") == "full" else SQUARES[:1]
        cases = []
        for phase in ("start", "end"):
            for dtype in dtypes:
                for n in threads:
                    cases += [("square", phase, lib, dtype, n, s, s, s)
                              for s in squares for lib in LIBS]
                    if phase == "start":
                        shapes = projection_shapes(sorted({c.size for c in sel}),
                                                   sorted({c.cell for c in sel}))
                        cases += [("proj", phase, lib, dtype, n, *shape)
                                  for shape in shapes for lib in LIBS]
        metafunc.parametrize("gemm_case", cases,
                             ids=["-".join(map(str, c)) for c in cases])


# the projection GEMMs are context, not a reference: shorter rows
PROJ_MAX_TIME = 0.25


def pytest_collection_modifyitems(config, items):
    """The GEMM peak first and again last (its "end" phase); everything else between.
    The projection GEMMs get at most ``PROJ_MAX_TIME`` seconds each."""
    max_time = float(config.getoption("benchmark_max_time"))
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("gemm_case")
        if case and case[0] == "proj":
            item.add_marker(pytest.mark.benchmark(max_time=min(max_time, PROJ_MAX_TIME)))

    def rank(item):
        case = getattr(item, "callspec", None) and item.callspec.params.get("gemm_case")
        if case:
            return 0 if case[1] == "start" else 2
        return 1
    items.sort(key=rank)


def pytest_runtest_logreport(report):
    if report.failed:
        msg = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash")
                  and report.longrepr.reprcrash else report.longrepr).splitlines()
        line = f"{report.nodeid} ({report.when}): {msg[0] if msg else '?'}"
        (_REFUSED if REFUSED in line else _PROBLEMS).append(line)


REFUSED = "machine busy:"   # the failure message of a row refused by --bench-refuse-busy
# pytest_runtest_logreport has no config: failures are collected here, read at the end
_PROBLEMS, _REFUSED = [], []


def pytest_benchmark_update_json(config, benchmarks, output_json):
    state = _state(config)
    state.problems = list(_PROBLEMS)
    output_json["fastrnn_bench"] = dict(state.meta(), refused=list(_REFUSED))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """pytest-benchmark writes no JSON when no row ran (a table skipped, e.g. streaming
    before ``layer.stream`` exists): write one with no rows and the run's description, so
    the report can say why the table is empty."""
    config = session.config
    path = config.getoption("benchmark_json", None)
    bs = getattr(config, "_benchmarksession", None)
    if path is None or bs is None or bs.benchmarks or os.path.exists(path):
        return
    import datetime
    import json
    state = _state(config)
    state.problems = list(_PROBLEMS)
    doc = {"datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
           "benchmarks": [], "fastrnn_bench": dict(state.meta(), refused=list(_REFUSED))}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)


@pytest.fixture(scope="session")
def run_state(request):
    return _state(request.config)


# --- one timed row ------------------------------------------------------------------------

def _quiet(setup):
    """pytest-benchmark treats a set-up's return value as arguments: return nothing."""
    if setup is None:
        return None

    def call():
        setup()
    return call


# a pause before each row: the previous row's thread pools (OpenBLAS workers spin for up to
# ~0.1 s after a call, OpenMP's and fastrnn's briefly) go to sleep before this row starts
PAUSE_BEFORE_ROW_S = 0.1


def timed_row(benchmark, state, target, setup=None, threads=1, fields=(), calibrate=False):
    """Time ``target`` on pytest-benchmark and record the row's fields and load.

    ``calibrate=False`` (the grid): one warm-up call, then ``benchmark.pedantic`` with
    set-up between calls and as many one-call rounds as fill ``--benchmark-max-time``
    (``timing.rounds_for``). ``calibrate=True`` (microsecond calls): pytest-benchmark's
    own calibration, several calls per round. In the grid, ``target`` may return a part
    time, whose median goes into ``fwd_part_s``.
    """
    opt = state.option
    wait = opt("bench_wait_idle")
    if wait > 0 and state.last_busy:
        timing.wait_idle(wait)
    if not benchmark.disabled:
        time.sleep(PAUSE_BEFORE_ROW_S)
    parts = []

    def timed():
        part = target()
        if part is not None:
            parts.append(part)
    meter = timing.LoadMeter(threads=threads).start()
    if calibrate:
        benchmark(target)                               # its return value is no part time
    else:
        setup = _quiet(setup)
        if setup:
            setup()
        t0 = time.perf_counter()
        target()
        est = time.perf_counter() - t0
        rounds = timing.rounds_for(est, opt("benchmark_max_time"), opt("benchmark_min_rounds"),
                                   opt("bench_max_rounds"))
        parts.clear()
        benchmark.pedantic(timed, setup=setup, rounds=rounds, warmup_rounds=1)
        parts[:] = parts[1:]                            # drop the warm-up round's part
    load = meter.stop()
    state.last_busy = load["busy"]
    benchmark.extra_info.update(dict(fields), **load,
                                quick=opt("benchmark_max_time") < 0.1,
                                fwd_part_s=statistics.median(parts) if parts else None)
    if load["busy"] and opt("bench_refuse_busy") and not benchmark.disabled:
        benchmark.extra_info["refused"] = True
        why = (f"the engine's pool stalled {load['stalls']} time(s) (a worker lost its CPU)"
               if load.get("stalls") else
               f"other processes used {load['others']} cores (limit {timing.BUSY_THRESHOLD})")
        pytest.fail(f"{REFUSED} {why} during this row; left out of the report")


def skip_unavailable(engines):
    why = unavailable(engines)
    if why:
        pytest.skip("; ".join(why.values()))


__all__ = ["pytest_addoption", "pytest_configure", "pytest_sessionstart", "pytest_sessionfinish",
           "pytest_generate_tests", "pytest_collection_modifyitems", "pytest_runtest_logreport",
           "pytest_benchmark_update_json", "run_state"]
