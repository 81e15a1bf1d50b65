"""The machine's GEMM throughput: the %peak reference, and the GEMMs an engine needs.

Square SGEMM/DGEMM at 512 and 1024 through the BLAS copies in the process:
``numpy`` = ``np.matmul`` (NumPy's OpenBLAS, the NumPy engine's) and, when SciPy is
installed, ``scipy`` = ``scipy.linalg.blas.?gemm`` (SciPy's OpenBLAS), with 1 and 2
threads, measured at the start of a run and again at the end. The **peak** of a
(dtype, threads) is the best of all of them: what a tuned GEMM reaches on this
machine, the reference of ``%peak`` (the C engine runs its own kernels and no BLAS;
SciPy is no dependency of fastrnn). The input projection ``(T*N x I) @ (I x G*H)``
is also measured at each benchmark shape.
"""

import importlib.util

import numpy as np

from .grid import GATES
from .timing import time_call

SQUARES = (512, 1024)
LIBS = ("numpy", "scipy") if importlib.util.find_spec("scipy") else ("numpy",)


def gemm_call(lib, dtype, M, K, N):
    """A zero-argument call computing C[M, N] = A[M, K] @ B[K, N] through ``lib``'s BLAS."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    C = np.empty((M, N), dtype=dtype)
    if lib == "numpy":
        return lambda: np.matmul(A, B, out=C)
    from scipy.linalg import blas
    gemm = blas.sgemm if dtype == "float32" else blas.dgemm
    At, Bt, Ct = A.T, B.T, C.T
    # row-major C = A @ B is column-major C^T = B^T A^T: no copies (the C engine's trick)
    return lambda: gemm(1.0, Bt, At, beta=0.0, c=Ct, overwrite_c=True)


def gflops(M, K, N, seconds):
    return 2.0 * M * K * N / seconds / 1e9


def gemm_seconds(lib, dtype, M, K, N, min_time=0.15):
    """Median seconds of one GEMM call (the library's own timer, outside pytest)."""
    return time_call(gemm_call(lib, dtype, M, K, N), min_time=min_time)


def projection_shapes(sizes, cells):
    """The distinct input-projection shapes (T*N, I, G*H) of the benchmark's sizes."""
    seen = []
    for T, N, I, H in sizes:
        for cell in cells:
            shape = (T * N, I, GATES[cell] * H)
            if shape not in seen:
                seen.append(shape)
    return seen


def peaks(records):
    """{(dtype, threads): best square GFLOP/s} over ``gemm`` records (start and end)."""
    best = {}
    for r in records:
        if r.get("table") == "gemm" and r.get("kind") == "square":
            key = (r["dtype"], r["threads"])
            best[key] = max(best.get(key, 0.0), r["gflops"])
    return best


def measure_peak(dtype, threads, squares=(512,), min_time=0.15):
    """The peak for one (dtype, threads), measured now (for a profile run on its own)."""
    from .timing import limit_threads
    best = 0.0
    with limit_threads(threads):
        for s in squares:
            for lib in LIBS:
                best = max(best, gflops(s, s, s, gemm_seconds(lib, dtype, s, s, s, min_time)))
    return best


def gemm_list(cell, size):
    """(M, K, N, count, phase, what) of every GEMM the engine contract needs (issue 3)."""
    T, N, I, H = size
    G = GATES[cell] * H
    return [(T * N, I, G, 1, "fwd", "input projection x @ W_ih^T"),
            (N, H, G, T, "fwd", "recurrent h_{t-1} @ W_hh^T, per step"),
            (N, G, H, T, "bwd", "dh_{t-1} = dgates @ W_hh, per step"),
            (G, T * N, I, 1, "bwd", "dW_ih += dgates^T @ x"),
            (G, T * N, H, 1, "bwd", "dW_hh += dgates^T @ h_prev"),
            (T * N, G, I, 1, "bwd", "dx = dgates @ W_ih")]
