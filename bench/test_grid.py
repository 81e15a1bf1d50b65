"""The grid: each engine's time per call, per (cell, size, dtype, threads, mode).

    python -m pytest bench/test_grid.py --benchmark-only                     # default grid
    python -m pytest bench/test_grid.py --benchmark-only --bench-grid=full   # the record
    python -m pytest bench/test_grid.py --benchmark-only --bench-cells=lstm --bench-threads=1

Each configuration is validated (every engine against the NumPy engine) before
its first row is timed; a mismatch aborts the run with status 2.
"""

import pytest

from fastrnn_bench.grid import ENGINE_LABEL
from fastrnn_bench.pytest_plugin import skip_unavailable, timed_row
from fastrnn_bench.timing import limit_threads


def test_grid(benchmark, grid_case, run_state):
    case = grid_case
    skip_unavailable([case.engine])
    benchmark.group = case.group
    with limit_threads(case.threads):
        live, problems = run_state.engines_for(case)
        if case.engine not in live:
            label = f"the {ENGINE_LABEL[case.engine]} engine"
            pytest.fail("\n".join(p for p in problems if label in p)
                        or f"{label} did not run")
        setup, target = live[case.engine].calls(case.mode)
        timed_row(benchmark, run_state, target, setup, threads=case.threads,
                  fields=case.fields())
