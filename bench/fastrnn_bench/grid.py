"""What the grid benchmark measures: cells, sizes, dtypes, thread counts, modes, engines.

A *case* is one timed row: (cell, size, dtype, threads, mode, engine). A
*config* is a case without mode and engine: the unit that is validated once
before any of its cases is timed. Grids:

=======  =================================================================  ==============
grid     selection                                                          where
=======  =================================================================  ==============
smoke    one tiny size (5x2x8), float32 and float64, 1 and 2 threads        harness checks
default  ``QUICK_SIZES``, float32 and float64, 1 and 2 threads              ``pytest bench/``
full     issue 3's ``SIZES``, float32 and float64, 1 and 2 threads          the record
=======  =================================================================  ==============
"""

import argparse
import re
from collections import namedtuple

CELLS = ("srn", "lstm", "gru")
CELL_LABEL = {"srn": "SRN(tanh)", "lstm": "LSTM", "gru": "GRU"}
GATES = {"srn": 1, "lstm": 4, "gru": 3}
# (T, N, I, H): issue 3's sizes, input = hidden
SIZES = ((100, 1, 128, 128), (100, 8, 128, 128), (100, 32, 256, 256),
         (50, 64, 512, 512), (1000, 1, 32, 32))
QUICK_SIZES = ((100, 1, 128, 128), (100, 8, 128, 128), (1000, 1, 32, 32))
SMOKE_SIZES = ((5, 2, 8, 8),)
DTYPES = ("float32", "float64")
THREADS = (1, 2)
ENGINES = ("c", "numpy", "torch")
ENGINE_LABEL = {"c": "C", "numpy": "NumPy", "torch": "torch"}
MODES = ("fwd", "fwdbwd")
MODE_LABEL = {"fwd": "fwd", "fwdbwd": "fwd+bwd"}
# relative tolerances of the validation: max|a - ref| / max|ref|
RTOL = {"float32": 1e-4, "float64": 1e-10}

GRIDS = {
    "smoke": dict(sizes=SMOKE_SIZES, dtypes=DTYPES, threads=THREADS),
    "default": dict(sizes=QUICK_SIZES, dtypes=DTYPES, threads=THREADS),
    "full": dict(sizes=SIZES, dtypes=DTYPES, threads=THREADS),
}


def size_name(size):
    """``TxNxH`` (input = hidden) or ``TxNxIxH``."""
    T, N, I, H = size
    return f"{T}x{N}x{H}" if I == H else f"{T}x{N}x{I}x{H}"


def parse_size(text):
    """(T, N, I, H) from ``TxNxH`` (input = hidden) or ``TxNxIxH``."""
    parts = [int(p) for p in re.split(r"[x,]", text.strip().lower()) if p]
    if len(parts) == 3:
        T, N, H = parts
        return (T, N, H, H)
    if len(parts) == 4:
        return tuple(parts)
    raise argparse.ArgumentTypeError(f"size {text!r}: expected TxNxH (input = hidden) or TxNxIxH")


def gemm_flops(cell, size, mode="fwd"):
    """GEMM FLOPs the algorithm needs: a forward is the input projection of all T*N rows
    (2*T*N*I*G*H) plus T recurrent products (2*T*N*H*G*H); the backward needs about
    twice that (dx and dW_ih; dh_{t-1} and dW_hh), so forward+backward = 3x."""
    T, N, I, H = size
    return 2.0 * T * N * (I + H) * GATES[cell] * H * (3 if mode == "fwdbwd" else 1)


class Case(namedtuple("Case", "cell size dtype threads mode engine")):
    """One timed row of the grid."""

    __slots__ = ()

    @property
    def config(self):
        """(cell, size, dtype, threads): validated once for all its modes and engines."""
        return (self.cell, self.size, self.dtype, self.threads)

    @property
    def id(self):
        return (f"{self.cell}-{size_name(self.size)}-{self.dtype}-{threads_name(self.threads)}thr-"
                f"{self.mode}-{self.engine}")

    @property
    def group(self):
        """pytest-benchmark's group: the engines of one (config, mode) side by side."""
        return (f"{CELL_LABEL[self.cell]} {size_name(self.size)} {self.dtype} "
                f"{threads_name(self.threads)}thr {MODE_LABEL[self.mode]}")

    def fields(self):
        """The record fields that identify this case."""
        T, N, I, H = self.size
        return dict(table="grid", cell=self.cell, T=T, N=N, I=I, H=H,
                    size=size_name(self.size), dtype=self.dtype, threads=self.threads,
                    mode=self.mode, engine=self.engine)


def parse_threads(value):
    """A thread count, or None for "default": every library's own default, nothing limited
    (``timing.limit_threads(None)``; the busy-machine table)."""
    if value is None or str(value).strip().lower() == "default":
        return None
    n = int(value)
    if n < 1:
        raise ValueError(f"threads: expected a positive count or 'default', got {value!r}")
    return n


def threads_name(n):
    """``2`` or ``default`` (a record's ``threads`` field, for labels)."""
    return "default" if n is None or n == "default" else str(n)


def check_choice(values, allowed, what):
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{what}: unknown {bad}; expected some of {list(allowed)}")
    return list(values)


def select(grid="default", cells=None, sizes=None, dtypes=None, threads=None, modes=None,
           engines=None):
    """The cases of a grid, narrowed by any of the filters, in run order.

    The order keeps one config's cases together (cell, size, dtype, threads, then
    mode and engine), so each config is validated once, right before it is timed.
    ``sizes`` may hold sizes outside the grid (strings ``TxNxH`` or tuples).
    """
    if grid not in GRIDS:
        raise ValueError(f"grid: expected one of {list(GRIDS)}, got {grid!r}")
    g = GRIDS[grid]
    cells = check_choice(cells or CELLS, CELLS, "cells")
    dtypes = check_choice(dtypes or g["dtypes"], DTYPES, "dtypes")
    modes = check_choice(modes or MODES, MODES, "modes")
    engines = check_choice(engines or ENGINES, ENGINES, "engines")
    threads = [parse_threads(t) for t in (threads or g["threads"])]
    sizes = [parse_size(s) if isinstance(s, str) else tuple(s) for s in (sizes or g["sizes"])]
    return [Case(c, s, d, n, m, e) for c in cells for s in sizes for d in dtypes
            for n in threads for m in modes for e in engines]


def csv_list(text):
    """A comma list from the command line; empty items dropped."""
    return [v.strip() for v in (text or "").split(",") if v.strip()]
