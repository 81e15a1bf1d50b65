"""The streaming step (issue 12): one step with a carried state, per engine, and the
memory floor (reading the packed weights once).

    python -m pytest bench/test_streaming.py --benchmark-only
    python -m pytest bench/test_streaming.py --benchmark-only --bench-threads=1,2 -k lstm

Skipped, with a note in the JSON (and so in RESULTS.md), while fastrnn's layers have
no ``stream`` method. See fastrnn_bench/streaming.py for the engines.
"""

import pytest

from fastrnn_bench.grid import csv_list
from fastrnn_bench.pytest_plugin import timed_row
from fastrnn_bench.streaming import DTYPE, ENGINES, StepEngines, configs, stream_missing
from fastrnn_bench.timing import limit_threads
from fastrnn_bench.validation import Mismatch

_built = {}


def _threads(config):
    """--bench-threads if given, else 1: the floor is a one-thread read."""
    return [int(t) for t in csv_list(config.getoption("bench_threads"))] or [1]


def pytest_generate_tests(metafunc):
    if "stream_case" in metafunc.fixturenames:
        cells = csv_list(metafunc.config.getoption("bench_cells")) or None
        cases = [(c, N, H, n, e) for (c, N, H) in (configs(cells=cells) if cells else configs())
                 for n in _threads(metafunc.config) for e in ENGINES]
        metafunc.parametrize("stream_case", cases,
                             ids=[f"{c}-N{N}-H{H}-{n}thr-{e}" for c, N, H, n, e in cases])


def test_streaming(benchmark, stream_case, run_state):
    cell, N, H, threads, engine = stream_case
    why = stream_missing()
    if why:
        run_state.note("streaming", why)
        pytest.skip(why)
    key = (cell, N, H, threads)
    with limit_threads(threads):
        if key not in _built:
            _built.clear()                                # one config's engines alive at a time
            try:
                _built[key] = StepEngines(cell, N, H, DTYPE)
            except Mismatch as exc:
                pytest.exit(f"VALIDATION FAILED, run aborted:\n  {exc}", returncode=2)
            run_state.validations += [dict(v, config=f"{cell} N={N} H={H}", dtype=DTYPE)
                                      for v in _built[key].validations]
        eng = _built[key]
        if engine not in eng.calls:
            pytest.skip(f"{engine}: not available here (torch not installed?)")
        benchmark.group = f"step {cell} N={N} H={H} {threads}thr"
        eng.use(engine)
        timed_row(benchmark, run_state, eng.calls[engine], threads=threads, calibrate=True,
                  fields=dict(table="streaming", cell=cell, N=N, H=H, I=H, dtype=DTYPE,
                              threads=threads, engine=engine,
                              packed_nbytes=eng.packed_nbytes))
