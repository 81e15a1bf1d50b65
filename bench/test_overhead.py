"""The T=1 forward overhead at the binding, functional and layer levels (issue 10).

    python -m pytest bench/test_overhead.py --benchmark-only
    python bench/overhead.py --tree before=/work/wt/before/src --tree after=src   # side by side

See fastrnn_bench/overhead.py for what each level calls.
"""

import pytest

from fastrnn_bench.overhead import CELLS, DTYPE, HIDDEN, LEVELS, TRAINS, t1_calls
from fastrnn_bench.pytest_plugin import skip_unavailable, timed_row
from fastrnn_bench.timing import limit_threads
from fastrnn_bench.trees import tree_info

_calls = {}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("train", TRAINS, ids=["infer", "train"])
@pytest.mark.parametrize("H", HIDDEN, ids=[f"H{h}" for h in HIDDEN])
@pytest.mark.parametrize("cell", CELLS)
def test_overhead(benchmark, cell, H, train, level, run_state):
    skip_unavailable(["c"])
    key = (cell, H, train)
    if key not in _calls:
        _calls.clear()
        _calls[key] = t1_calls(cell, H, train)          # the three levels checked to agree
    benchmark.group = f"T=1 {cell} H={H} train={train}"
    with limit_threads(1):
        timed_row(benchmark, run_state, _calls[key][level], threads=1, calibrate=True,
                  fields=dict(table="overhead", cell=cell, H=H, train=train, level=level,
                              dtype=DTYPE, **tree_info()))
