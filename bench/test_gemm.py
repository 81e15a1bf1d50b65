"""The machine's GEMM throughput: the %peak reference (square) and the input projection.

Runs first and, for the square GEMMs, again last in a run (the "end" phase): the
peak is the best of both. ``python -m pytest bench/test_gemm.py --benchmark-only``.
"""

from fastrnn_bench.gemm import gemm_call
from fastrnn_bench.pytest_plugin import timed_row
from fastrnn_bench.timing import limit_threads


def test_gemm(benchmark, gemm_case, run_state):
    kind, phase, lib, dtype, threads, M, K, N = gemm_case
    benchmark.group = f"GEMM {dtype} {threads}thr"
    call = gemm_call(lib, dtype, M, K, N)
    with limit_threads(threads):
        timed_row(benchmark, run_state, call, threads=threads, calibrate=True,
                  fields=dict(table="gemm", kind=kind, phase=phase, lib=lib, dtype=dtype,
                              threads=threads, M=M, K=K, N=N))
