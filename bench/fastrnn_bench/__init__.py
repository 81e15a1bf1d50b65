"""fastrnn's benchmark library: the parts every benchmark in ``bench/`` shares.

==============  ===========================================================================
module          one job
==============  ===========================================================================
grid            what is measured: cells, sizes, dtypes, thread counts, modes, engines, cases
engines         how each engine is called (fastrnn C, fastrnn NumPy, torch) with one weight set
validation      the engines against the NumPy engine before anything is timed
timing          thread limits, repeat counts, the block timer, the load on the machine
machine         the machine description (CPU, ISA, BLAS and its threads, versions, env)
layouts         where fastrnn keeps its binding in each source layout (before/after issue 10)
gemm            the machine's GEMM throughput (the %peak reference) and GEMM shapes
targets         issue 3's targets evaluated on a set of records
records         one record format, read from pytest-benchmark JSON or the child runners
results_md      generated sections of RESULTS.md between markers; the hand-written rest kept
report          markdown tables and the sections; ``python -m fastrnn_bench.report``
profile         one configuration's time split into GEMMs, call cost and the rest
overhead        the T=1 forward overhead at the binding, functional and layer levels
children        a measurement in a child process, alone or with competing processes
==============  ===========================================================================

Nothing here imports fastrnn, torch or threadpoolctl at import time: every
benchmark module asks :func:`import_fastrnn` when it needs the library, so a
child process can put another source tree (``PYTHONPATH=/tree/src``) first.
"""

import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)


def import_fastrnn():
    """The fastrnn package: installed, on PYTHONPATH, or else this checkout's ``src/``."""
    try:
        import fastrnn
    except ImportError:
        sys.path.insert(0, os.path.join(REPO, "src"))
        import fastrnn
    return fastrnn


def import_torch():
    """torch, or None when it is not installed (it is optional: the torch columns are n/a)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def log(*args, **kw):
    """Progress on stdout, flushed (benchmarks run for minutes)."""
    print(*args, **kw, flush=True)
