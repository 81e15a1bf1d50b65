# The compiled engine's Cython layer: the kernels are in csrc/ (see csrc/fastrnn.h).
"""Thin, checking wrappers over fastrnn's C kernels.

Each function takes C-contiguous float32 or float64 arrays (all of one dtype,
as fastrnn.functional prepares them), checks every size against the 32-bit
ints of BLAS before allocating anything, allocates the outputs, caches and
workspace with NumPy, calls the kernel with the GIL released for the whole
sequence, and turns the kernel's status into an exception.

BLAS is SciPy's (``scipy.linalg.cython_blas``), handed to C as function
pointers: nothing to link. The kernels' instruction set (generic, avx2,
avx512) is picked per CPU at run time; ``set_isa`` (or the FASTRNN_ISA
environment variable at import) forces one, for tests and benchmarks.
"""

import os
import sys

import numpy as np

from cython cimport floating
from libc.stdint cimport int64_t, uintptr_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "fastrnn.h" nogil:
    int FASTRNN_OK
    int FASTRNN_EINVAL
    int FASTRNN_EISA
    int FASTRNN_TANH
    int FASTRNN_RELU
    int FASTRNN_SIGMOID
    int FASTRNN_ISA_AUTO
    int FASTRNN_ISA_GENERIC
    int FASTRNN_ISA_AVX2
    int FASTRNN_ISA_AVX512
    int FASTRNN_CHUNK_STEPS

    ctypedef void (*fastrnn_sgemm_fn)(char *, char *, int *, int *, int *, float *, float *,
                                      int *, float *, int *, float *, float *, int *) noexcept nogil
    ctypedef void (*fastrnn_dgemm_fn)(char *, char *, int *, int *, int *, double *, double *,
                                      int *, double *, int *, double *, double *, int *) noexcept nogil
    ctypedef struct fastrnn_ctx:
        fastrnn_sgemm_fn sgemm
        fastrnn_dgemm_fn dgemm
        int isa
        int blas_threads

    int fastrnn_abi_version()
    int fastrnn_best_isa()
    int fastrnn_isa_available(int isa)

    size_t fastrnn_srn_fwd_ws(int T, int N, int I, int H, int train)
    size_t fastrnn_srn_bwd_ws(int T, int N, int I, int H)
    size_t fastrnn_lstm_fwd_ws(int T, int N, int I, int H, int train)
    size_t fastrnn_lstm_bwd_ws(int T, int N, int I, int H)
    size_t fastrnn_gru_fwd_ws(int T, int N, int I, int H, int train, int reset_after)
    size_t fastrnn_gru_bwd_ws(int T, int N, int I, int H, int reset_after)
    size_t fastrnn_rgemm_ws(int K, int Nc)

    int fastrnn_srn_fwd_seq_f32(float *y, float *hT, float *hs, float *acts, float *ws,
                                const float *x, const float *h0, const float *W_ih,
                                const float *W_hh, const float *b_ih, const float *b_hh,
                                const int64_t *lengths, int nonlinearity, int residual,
                                int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx)
    int fastrnn_srn_fwd_seq_f64(double *y, double *hT, double *hs, double *acts, double *ws,
                                const double *x, const double *h0, const double *W_ih,
                                const double *W_hh, const double *b_ih, const double *b_hh,
                                const int64_t *lengths, int nonlinearity, int residual,
                                int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx)
    int fastrnn_srn_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih,
                                float *db_hh, float *dh0, float *trace_dh, float *ws,
                                const float *dy, const float *dhT, const float *x,
                                const float *W_ih, const float *W_hh, const float *hs,
                                const float *acts, const int64_t *lengths, int nonlinearity,
                                int residual, int reverse, int T, int N, int I, int H,
                                const fastrnn_ctx *ctx)
    int fastrnn_srn_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                                double *db_hh, double *dh0, double *trace_dh, double *ws,
                                const double *dy, const double *dhT, const double *x,
                                const double *W_ih, const double *W_hh, const double *hs,
                                const double *acts, const int64_t *lengths, int nonlinearity,
                                int residual, int reverse, int T, int N, int I, int H,
                                const fastrnn_ctx *ctx)
    int fastrnn_lstm_fwd_seq_f32(float *y, float *hT, float *cT, float *hs, float *cs,
                                 float *gates, float *ws, const float *x, const float *h0,
                                 const float *c0, const float *W_ih, const float *W_hh,
                                 const float *b_ih, const float *b_hh, const int64_t *lengths,
                                 int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx)
    int fastrnn_lstm_fwd_seq_f64(double *y, double *hT, double *cT, double *hs, double *cs,
                                 double *gates, double *ws, const double *x, const double *h0,
                                 const double *c0, const double *W_ih, const double *W_hh,
                                 const double *b_ih, const double *b_hh,
                                 const int64_t *lengths, int reverse, int T, int N, int I,
                                 int H, const fastrnn_ctx *ctx)
    int fastrnn_lstm_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih,
                                 float *db_hh, float *dh0, float *dc0, float *trace_dh,
                                 float *trace_dc, float *ws, const float *dy, const float *dhT,
                                 const float *dcT, const float *x, const float *W_ih,
                                 const float *W_hh, const float *hs, const float *cs,
                                 const float *gates, const int64_t *lengths, int reverse,
                                 int T, int N, int I, int H, const fastrnn_ctx *ctx)
    int fastrnn_lstm_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                                 double *db_hh, double *dh0, double *dc0, double *trace_dh,
                                 double *trace_dc, double *ws, const double *dy,
                                 const double *dhT, const double *dcT, const double *x,
                                 const double *W_ih, const double *W_hh, const double *hs,
                                 const double *cs, const double *gates,
                                 const int64_t *lengths, int reverse, int T, int N, int I,
                                 int H, const fastrnn_ctx *ctx)
    int fastrnn_gru_fwd_seq_f32(float *y, float *hT, float *hs, float *gates, float *aux,
                                float *ws, const float *x, const float *h0, const float *W_ih,
                                const float *W_hh, const float *b_ih, const float *b_hh,
                                const int64_t *lengths, int reverse, int reset_after,
                                int T, int N, int I, int H, const fastrnn_ctx *ctx)
    int fastrnn_gru_fwd_seq_f64(double *y, double *hT, double *hs, double *gates,
                                double *aux, double *ws, const double *x, const double *h0,
                                const double *W_ih, const double *W_hh, const double *b_ih,
                                const double *b_hh, const int64_t *lengths, int reverse,
                                int reset_after, int T, int N, int I, int H,
                                const fastrnn_ctx *ctx)
    int fastrnn_gru_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih,
                                float *db_hh, float *dh0, float *trace_dh, float *ws,
                                const float *dy, const float *dhT, const float *x,
                                const float *W_ih, const float *W_hh, const float *hs,
                                const float *gates, const float *aux, const int64_t *lengths,
                                int reverse, int reset_after, int T, int N, int I, int H,
                                const fastrnn_ctx *ctx)
    int fastrnn_gru_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                                double *db_hh, double *dh0, double *trace_dh, double *ws,
                                const double *dy, const double *dhT, const double *x,
                                const double *W_ih, const double *W_hh, const double *hs,
                                const double *gates, const double *aux,
                                const int64_t *lengths, int reverse, int reset_after,
                                int T, int N, int I, int H, const fastrnn_ctx *ctx)

    int fastrnn_vmath_f32(float *out, const float *inp, size_t n, int f, int isa)
    int fastrnn_vmath_f64(double *out, const double *inp, size_t n, int f, int isa)
    int fastrnn_rgemm_f32(float *C, int ldc, float *ws, const float *A, int lda,
                          const float *B, int trans_b, int beta, int M, int Nc, int K, int isa)
    int fastrnn_rgemm_f64(double *C, int ldc, double *ws, const double *A, int lda,
                          const double *B, int trans_b, int beta, int M, int Nc, int K,
                          int isa)


ABI_VERSION = 3
if fastrnn_abi_version() != ABI_VERSION:
    raise ImportError(f"fastrnn._ext: the C kernels have ABI {fastrnn_abi_version()}, "
                      f"expected {ABI_VERSION}; rebuild with 'pip install .'")

INT_MAX = 2**31 - 1
CHUNK_STEPS = FASTRNN_CHUNK_STEPS
NONLINEARITIES = {"tanh": FASTRNN_TANH, "relu": FASTRNN_RELU, "sigmoid": FASTRNN_SIGMOID}
_ISA_CODES = {"auto": FASTRNN_ISA_AUTO, "generic": FASTRNN_ISA_GENERIC,
              "avx2": FASTRNN_ISA_AVX2, "avx512": FASTRNN_ISA_AVX512}
_ISA_NAMES = {v: k for k, v in _ISA_CODES.items()}

# The BLAS and the instruction set every kernel call uses (copied per call).
cdef fastrnn_ctx _ctx
_ctx.sgemm = <fastrnn_sgemm_fn>sgemm
_ctx.dgemm = <fastrnn_dgemm_fn>dgemm
_ctx.isa = FASTRNN_ISA_AUTO
_ctx.blas_threads = 1


# --- BLAS threads ------------------------------------------------------------------
#
# The kernels' own products (the per-step one, and the input projection and dx
# when they beat the BLAS) run on one thread; when the BLAS has more, the
# whole-sequence products go to it instead. The count comes from threadpoolctl
# when it is installed (it sees threadpool_limits and the environment), else
# from the environment variables OpenBLAS reads at start-up.

_blas_threads_override = None
ctypedef int (*_threads_fn)() noexcept nogil
cdef _threads_fn _thread_fns[4]
cdef int _n_thread_fns = -1   # -1: not looked up yet
_slow_controllers = []         # BLAS controllers only reachable through Python
_keep_alive = []               # the ctypes handles behind _thread_fns


def _env_blas_threads():
    for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


cdef int _find_blas_thread_getters() except -1:
    """Once: OpenBLAS's own openblas_get_num_threads for every loaded BLAS (a C call
    per kernel call, ~free), through threadpoolctl's discovery of the libraries."""
    global _n_thread_fns, _slow_controllers
    _n_thread_fns = 0
    _slow_controllers = []
    try:
        import ctypes
        import threadpoolctl
        controllers = threadpoolctl.ThreadpoolController().lib_controllers
    except Exception:  # threadpoolctl not installed: the environment decides
        return 0
    for lc in controllers:
        if lc.user_api != "blas":
            continue
        fn = None
        if lc.internal_api == "openblas" and getattr(lc, "threading_layer", "") != "openmp":
            for name in (f"{pre}openblas_get_num_threads{suf}" for pre in ("", "scipy_")
                         for suf in ("", "64_", "_64")):
                fn = getattr(lc.dynlib, name, None)
                if fn is not None:
                    break
        if fn is not None and _n_thread_fns < 4:
            _thread_fns[_n_thread_fns] = <_threads_fn><uintptr_t>ctypes.cast(
                fn, ctypes.c_void_p).value
            _n_thread_fns += 1
            _keep_alive.append(lc.dynlib)
        else:
            _slow_controllers.append(lc)
    return 0


cdef int _blas_threads_now() except -1:
    if _blas_threads_override is not None:
        return _blas_threads_override
    if _n_thread_fns < 0:
        _find_blas_thread_getters()
    if _n_thread_fns == 0 and not _slow_controllers:
        return _env_blas_threads()
    cdef int n = 1, i
    for i in range(_n_thread_fns):
        n = max(n, _thread_fns[i]())
    for lc in _slow_controllers:
        n = max(n, lc.get_num_threads() or 1)
    return n


def blas_threads():
    """The number of threads the BLAS runs with now, as the kernels see it."""
    return _blas_threads_now()


def set_blas_threads(n):
    """Override the BLAS thread count the kernels plan with (None: query it); for tests."""
    global _blas_threads_override
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n: expected None or a positive int, got {n!r}")
    _blas_threads_override = n


cdef inline fastrnn_ctx _call_ctx() except *:
    """The context for one kernel call: a copy, so set_isa elsewhere cannot race it."""
    cdef fastrnn_ctx ctx = _ctx
    ctx.blas_threads = _blas_threads_now()
    return ctx


# --- instruction sets ----------------------------------------------------------

def available_isas():
    """The instruction sets the kernels can use on this CPU, best last."""
    return [name for name in ("generic", "avx2", "avx512")
            if fastrnn_isa_available(_ISA_CODES[name])]


cdef int _isa_code(name) except -1:
    if not isinstance(name, str) or name not in _ISA_CODES:
        raise ValueError(f"isa: expected one of {tuple(_ISA_CODES)}, got {name!r}")
    code = _ISA_CODES[name]
    if not fastrnn_isa_available(code):
        raise ValueError(f"isa: {name!r} is not available on this CPU or build "
                         f"(available: {available_isas()})")
    return code


def set_isa(name):
    """Force the kernels' instruction set: "auto" (default), "generic", "avx2", "avx512"."""
    _ctx.isa = _isa_code(name)


def get_isa():
    """The instruction set the kernels run with now (never "auto")."""
    code = fastrnn_best_isa() if _ctx.isa == FASTRNN_ISA_AUTO else _ctx.isa
    return _ISA_NAMES[code]


def isa_setting():
    """What set_isa last chose: "auto" or a forced instruction set."""
    return _ISA_NAMES[_ctx.isa]


_env_isa = os.environ.get("FASTRNN_ISA", "").strip().lower()
if _env_isa:
    set_isa(_env_isa)


# --- checks ----------------------------------------------------------------------

def check_sizes(T, N, I, H, G, itemsize=8):
    """Raise ValueError, before anything is allocated, unless the sizes fit the kernels.

    Every BLAS dimension and leading dimension the kernels pass is one of
    T*N, G*H, I, H (32-bit ints), and every buffer they touch must be
    addressable: the largest is (T, N, max(G*H, I)) or the packed weights.
    """
    T, N, I, H, G, itemsize = (int(v) for v in (T, N, I, H, G, itemsize))
    dims = f"(T={T}, N={N}, I={I}, H={H}, G={G})"
    for what, size in (("T*N", T * N), ("G*H", G * H), ("I", I), ("H", H)):
        if size > INT_MAX:
            raise ValueError(f"sizes too large for the C engine: {what} = {size} exceeds "
                             f"the 32-bit BLAS limit {INT_MAX} {dims}")
    largest = max((T + 1) * N * max(G * H, I), (G * H + 64) * max(H, I) + 64) * itemsize
    if largest > sys.maxsize:
        raise ValueError(f"sizes too large for the C engine: a buffer of {largest} bytes "
                         f"exceeds the address space {dims}")


cdef int _check(int status, str where) except -1:
    if status == FASTRNN_OK:
        return 0
    if status == FASTRNN_EINVAL:
        raise ValueError(f"{where}: the C kernel refused its arguments (FASTRNN_EINVAL)")
    if status == FASTRNN_EISA:
        raise RuntimeError(f"{where}: instruction set {_ISA_NAMES.get(_ctx.isa)!r} "
                           "is not available on this CPU")
    raise RuntimeError(f"{where}: the C kernel failed with status {status}")


cdef inline const int64_t *_lengths_ptr(const int64_t[::1] lengths) noexcept:
    cdef const int64_t *p = NULL
    if lengths is not None:
        p = &lengths[0]
    return p


def _dtype(x):
    if x.dtype == np.float32:
        return np.float32
    if x.dtype == np.float64:
        return np.float64
    raise TypeError(f"x: expected float32 or float64, got dtype {x.dtype}")


# --- SRN ---------------------------------------------------------------------------

cdef object _srn_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                         const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
                         const floating[::1] b_ih, const floating[::1] b_hh,
                         int nonlinearity, const int64_t[::1] lengths, bint reverse,
                         bint train, bint residual):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], h0.shape[1], 1, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    y = np.empty((T, N, H), dtype)
    hT = np.empty((N, H), dtype)
    hs = np.empty((T + 1, N, H), dtype) if train else None
    acts = np.empty((T, N, H), dtype) if train and residual else None
    ws = np.empty(fastrnn_srn_fwd_ws(T, N, I, H, train), dtype)
    cdef floating[:, :, ::1] y_v = y, hs_v = hs, acts_v = acts
    cdef floating[:, ::1] hT_v = hT
    cdef floating[::1] ws_v = ws
    cdef floating *hs_p = NULL if hs is None else &hs_v[0, 0, 0]
    cdef floating *acts_p = NULL if acts is None else &acts_v[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_srn_fwd_seq_f32(
                &y_v[0, 0, 0], &hT_v[0, 0], hs_p, acts_p, &ws_v[0], &x[0, 0, 0], &h0[0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &b_ih[0], &b_hh[0], len_p, nonlinearity, residual,
                reverse, T, N, I, H, &ctx)
        else:
            status = fastrnn_srn_fwd_seq_f64(
                &y_v[0, 0, 0], &hT_v[0, 0], hs_p, acts_p, &ws_v[0], &x[0, 0, 0], &h0[0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &b_ih[0], &b_hh[0], len_p, nonlinearity, residual,
                reverse, T, N, I, H, &ctx)
    _check(status, "srn_forward")
    return y, hT, hs, acts


def srn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, int nonlinearity, lengths, bint reverse,
                bint train, bint residual):
    """-> (y, hT, hs or None, acts or None); see csrc/fastrnn.h for the shapes."""
    if _dtype(x) is np.float32:
        return _srn_forward[float](x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity, lengths,
                                   reverse, train, residual)
    return _srn_forward[double](x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity, lengths,
                                reverse, train, residual)


cdef object _srn_backward(const floating[:, :, ::1] dy, const floating[:, ::1] dhT,
                          const floating[:, :, ::1] x, const floating[:, ::1] W_ih,
                          const floating[:, ::1] W_hh, const floating[:, :, ::1] hs,
                          const floating[:, :, ::1] acts, const int64_t[::1] lengths,
                          int nonlinearity, bint residual, bint reverse,
                          floating[:, ::1] dW_ih, floating[:, ::1] dW_hh,
                          floating[::1] db_ih, floating[::1] db_hh,
                          floating[:, :, ::1] trace_dh):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], dhT.shape[1], 1, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = dhT.shape[1]
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((T, N, I), dtype)
    dh0 = np.empty((N, H), dtype)
    ws = np.empty(fastrnn_srn_bwd_ws(T, N, I, H), dtype)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] dh0_v = dh0
    cdef floating[::1] ws_v = ws
    cdef const floating *acts_p = NULL
    if acts is not None:
        acts_p = &acts[0, 0, 0]
    cdef floating *tr_p = NULL if trace_dh is None else &trace_dh[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_srn_bwd_seq_f32(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], tr_p, &ws_v[0], &dy[0, 0, 0], &dhT[0, 0], &x[0, 0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &hs[0, 0, 0], acts_p, len_p, nonlinearity,
                residual, reverse, T, N, I, H, &ctx)
        else:
            status = fastrnn_srn_bwd_seq_f64(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], tr_p, &ws_v[0], &dy[0, 0, 0], &dhT[0, 0], &x[0, 0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &hs[0, 0, 0], acts_p, len_p, nonlinearity,
                residual, reverse, T, N, I, H, &ctx)
    _check(status, "srn_backward")
    return dx, dh0


def srn_backward(dy, dhT, x, W_ih, W_hh, hs, acts, lengths, int nonlinearity, bint residual,
                 bint reverse, dW_ih, dW_hh, db_ih, db_hh, trace_dh):
    """-> (dx, dh0); dW_ih, dW_hh, db_ih, db_hh are added into; trace_dh filled if given."""
    if _dtype(x) is np.float32:
        return _srn_backward[float](dy, dhT, x, W_ih, W_hh, hs, acts, lengths, nonlinearity,
                                    residual, reverse, dW_ih, dW_hh, db_ih, db_hh, trace_dh)
    return _srn_backward[double](dy, dhT, x, W_ih, W_hh, hs, acts, lengths, nonlinearity,
                                 residual, reverse, dW_ih, dW_hh, db_ih, db_hh, trace_dh)


# --- LSTM --------------------------------------------------------------------------

cdef object _lstm_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                          const floating[:, ::1] c0, const floating[:, ::1] W_ih,
                          const floating[:, ::1] W_hh, const floating[::1] b_ih,
                          const floating[::1] b_hh, const int64_t[::1] lengths,
                          bint reverse, bint train):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], h0.shape[1], 4, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    y = np.empty((T, N, H), dtype)
    hT = np.empty((N, H), dtype)
    cT = np.empty((N, H), dtype)
    hs = cs = gates = None
    if train:
        hs = np.empty((T + 1, N, H), dtype)
        cs = np.empty((T + 1, N, H), dtype)
        gates = np.empty((T, N, 4 * H), dtype)
    ws = np.empty(fastrnn_lstm_fwd_ws(T, N, I, H, train), dtype)
    cdef floating[:, :, ::1] y_v = y, hs_v = hs, cs_v = cs, g_v = gates
    cdef floating[:, ::1] hT_v = hT, cT_v = cT
    cdef floating[::1] ws_v = ws
    cdef floating *hs_p = NULL
    cdef floating *cs_p = NULL
    cdef floating *g_p = NULL
    if train:
        hs_p, cs_p, g_p = &hs_v[0, 0, 0], &cs_v[0, 0, 0], &g_v[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_lstm_fwd_seq_f32(
                &y_v[0, 0, 0], &hT_v[0, 0], &cT_v[0, 0], hs_p, cs_p, g_p, &ws_v[0],
                &x[0, 0, 0], &h0[0, 0], &c0[0, 0], &W_ih[0, 0], &W_hh[0, 0], &b_ih[0],
                &b_hh[0], len_p, reverse, T, N, I, H, &ctx)
        else:
            status = fastrnn_lstm_fwd_seq_f64(
                &y_v[0, 0, 0], &hT_v[0, 0], &cT_v[0, 0], hs_p, cs_p, g_p, &ws_v[0],
                &x[0, 0, 0], &h0[0, 0], &c0[0, 0], &W_ih[0, 0], &W_hh[0, 0], &b_ih[0],
                &b_hh[0], len_p, reverse, T, N, I, H, &ctx)
    _check(status, "lstm_forward")
    return y, hT, cT, hs, cs, gates


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, bint reverse, bint train):
    """-> (y, hT, cT, hs, cs, gates), the last three None unless train."""
    if _dtype(x) is np.float32:
        return _lstm_forward[float](x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                    train)
    return _lstm_forward[double](x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse, train)


cdef object _lstm_backward(const floating[:, :, ::1] dy, const floating[:, ::1] dhT,
                           const floating[:, ::1] dcT, const floating[:, :, ::1] x,
                           const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
                           const floating[:, :, ::1] hs, const floating[:, :, ::1] cs,
                           const floating[:, :, ::1] gates, const int64_t[::1] lengths,
                           bint reverse, floating[:, ::1] dW_ih, floating[:, ::1] dW_hh,
                           floating[::1] db_ih, floating[::1] db_hh,
                           floating[:, :, ::1] trace_dh, floating[:, :, ::1] trace_dc):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], dhT.shape[1], 4, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = dhT.shape[1]
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((T, N, I), dtype)
    dh0 = np.empty((N, H), dtype)
    dc0 = np.empty((N, H), dtype)
    ws = np.empty(fastrnn_lstm_bwd_ws(T, N, I, H), dtype)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] dh0_v = dh0, dc0_v = dc0
    cdef floating[::1] ws_v = ws
    cdef floating *trh_p = NULL if trace_dh is None else &trace_dh[0, 0, 0]
    cdef floating *trc_p = NULL if trace_dc is None else &trace_dc[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_lstm_bwd_seq_f32(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], &dc0_v[0, 0], trh_p, trc_p, &ws_v[0], &dy[0, 0, 0],
                &dhT[0, 0], &dcT[0, 0], &x[0, 0, 0], &W_ih[0, 0], &W_hh[0, 0],
                &hs[0, 0, 0], &cs[0, 0, 0], &gates[0, 0, 0], len_p, reverse, T, N, I, H,
                &ctx)
        else:
            status = fastrnn_lstm_bwd_seq_f64(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], &dc0_v[0, 0], trh_p, trc_p, &ws_v[0], &dy[0, 0, 0],
                &dhT[0, 0], &dcT[0, 0], &x[0, 0, 0], &W_ih[0, 0], &W_hh[0, 0],
                &hs[0, 0, 0], &cs[0, 0, 0], &gates[0, 0, 0], len_p, reverse, T, N, I, H,
                &ctx)
    _check(status, "lstm_backward")
    return dx, dh0, dc0


def lstm_backward(dy, dhT, dcT, x, W_ih, W_hh, hs, cs, gates, lengths, bint reverse,
                  dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc):
    """-> (dx, dh0, dc0); parameter gradients are added into; traces filled if given."""
    if _dtype(x) is np.float32:
        return _lstm_backward[float](dy, dhT, dcT, x, W_ih, W_hh, hs, cs, gates, lengths,
                                     reverse, dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc)
    return _lstm_backward[double](dy, dhT, dcT, x, W_ih, W_hh, hs, cs, gates, lengths,
                                  reverse, dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc)


# --- GRU ---------------------------------------------------------------------------

cdef object _gru_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                         const floating[:, ::1] W_ih, const floating[:, ::1] W_hh,
                         const floating[::1] b_ih, const floating[::1] b_hh,
                         const int64_t[::1] lengths, bint reverse, bint reset_after,
                         bint train):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], h0.shape[1], 3, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    y = np.empty((T, N, H), dtype)
    hT = np.empty((N, H), dtype)
    hs = gates = aux = None
    if train:
        hs = np.empty((T + 1, N, H), dtype)
        gates = np.empty((T, N, 3 * H), dtype)
        aux = np.empty((T, N, H), dtype)
    ws = np.empty(fastrnn_gru_fwd_ws(T, N, I, H, train, reset_after), dtype)
    cdef floating[:, :, ::1] y_v = y, hs_v = hs, g_v = gates, aux_v = aux
    cdef floating[:, ::1] hT_v = hT
    cdef floating[::1] ws_v = ws
    cdef floating *hs_p = NULL
    cdef floating *g_p = NULL
    cdef floating *aux_p = NULL
    if train:
        hs_p, g_p, aux_p = &hs_v[0, 0, 0], &g_v[0, 0, 0], &aux_v[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_gru_fwd_seq_f32(
                &y_v[0, 0, 0], &hT_v[0, 0], hs_p, g_p, aux_p, &ws_v[0], &x[0, 0, 0],
                &h0[0, 0], &W_ih[0, 0], &W_hh[0, 0], &b_ih[0], &b_hh[0], len_p, reverse,
                reset_after, T, N, I, H, &ctx)
        else:
            status = fastrnn_gru_fwd_seq_f64(
                &y_v[0, 0, 0], &hT_v[0, 0], hs_p, g_p, aux_p, &ws_v[0], &x[0, 0, 0],
                &h0[0, 0], &W_ih[0, 0], &W_hh[0, 0], &b_ih[0], &b_hh[0], len_p, reverse,
                reset_after, T, N, I, H, &ctx)
    _check(status, "gru_forward")
    return y, hT, hs, gates, aux


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths, bint reverse, bint reset_after,
                bint train):
    """-> (y, hT, hs, gates, aux), the last three None unless train."""
    if _dtype(x) is np.float32:
        return _gru_forward[float](x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                   reset_after, train)
    return _gru_forward[double](x, h0, W_ih, W_hh, b_ih, b_hh, lengths, reverse,
                                reset_after, train)


cdef object _gru_backward(const floating[:, :, ::1] dy, const floating[:, ::1] dhT,
                          const floating[:, :, ::1] x, const floating[:, ::1] W_ih,
                          const floating[:, ::1] W_hh, const floating[:, :, ::1] hs,
                          const floating[:, :, ::1] gates, const floating[:, :, ::1] aux,
                          const int64_t[::1] lengths, bint reverse, bint reset_after,
                          floating[:, ::1] dW_ih, floating[:, ::1] dW_hh,
                          floating[::1] db_ih, floating[::1] db_hh,
                          floating[:, :, ::1] trace_dh):
    check_sizes(x.shape[0], x.shape[1], x.shape[2], dhT.shape[1], 3, sizeof(floating))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = dhT.shape[1]
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((T, N, I), dtype)
    dh0 = np.empty((N, H), dtype)
    ws = np.empty(fastrnn_gru_bwd_ws(T, N, I, H, reset_after), dtype)
    cdef floating[:, :, ::1] dx_v = dx
    cdef floating[:, ::1] dh0_v = dh0
    cdef floating[::1] ws_v = ws
    cdef floating *tr_p = NULL if trace_dh is None else &trace_dh[0, 0, 0]
    cdef const int64_t *len_p = _lengths_ptr(lengths)
    cdef fastrnn_ctx ctx = _call_ctx()
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_gru_bwd_seq_f32(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], tr_p, &ws_v[0], &dy[0, 0, 0], &dhT[0, 0], &x[0, 0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &hs[0, 0, 0], &gates[0, 0, 0], &aux[0, 0, 0],
                len_p, reverse, reset_after, T, N, I, H, &ctx)
        else:
            status = fastrnn_gru_bwd_seq_f64(
                &dx_v[0, 0, 0], &dW_ih[0, 0], &dW_hh[0, 0], &db_ih[0], &db_hh[0],
                &dh0_v[0, 0], tr_p, &ws_v[0], &dy[0, 0, 0], &dhT[0, 0], &x[0, 0, 0],
                &W_ih[0, 0], &W_hh[0, 0], &hs[0, 0, 0], &gates[0, 0, 0], &aux[0, 0, 0],
                len_p, reverse, reset_after, T, N, I, H, &ctx)
    _check(status, "gru_backward")
    return dx, dh0


def gru_backward(dy, dhT, x, W_ih, W_hh, hs, gates, aux, lengths, bint reverse,
                 bint reset_after, dW_ih, dW_hh, db_ih, db_hh, trace_dh):
    """-> (dx, dh0); parameter gradients are added into; trace_dh filled if given."""
    if _dtype(x) is np.float32:
        return _gru_backward[float](dy, dhT, x, W_ih, W_hh, hs, gates, aux, lengths, reverse,
                                    reset_after, dW_ih, dW_hh, db_ih, db_hh, trace_dh)
    return _gru_backward[double](dy, dhT, x, W_ih, W_hh, hs, gates, aux, lengths, reverse,
                                 reset_after, dW_ih, dW_hh, db_ih, db_hh, trace_dh)


# --- test hooks --------------------------------------------------------------------

_VMATH = {"exp": 0, "tanh": 1, "sigmoid": 2, "relu": 3}


cdef object _vmath(const floating[::1] inp, int f, int isa):
    out = np.empty(inp.shape[0], np.float32 if floating is float else np.float64)
    cdef floating[::1] out_v = out
    cdef size_t n = inp.shape[0]
    cdef int status
    if n == 0:
        return out
    with nogil:
        if floating is float:
            status = fastrnn_vmath_f32(&out_v[0], &inp[0], n, f, isa)
        else:
            status = fastrnn_vmath_f64(&out_v[0], &inp[0], n, f, isa)
    _check(status, "vmath")
    return out


def vmath(name, a, isa="auto"):
    """The kernels' vectorized exp, tanh, sigmoid or relu applied to a 1-d array."""
    if name not in _VMATH:
        raise ValueError(f"name: expected one of {tuple(_VMATH)}, got {name!r}")
    a = np.ascontiguousarray(a)
    if a.ndim != 1:
        raise ValueError(f"a: expected a 1-d array, got {a.ndim} dimensions")
    if _dtype(a) is np.float32:
        return _vmath[float](a, _VMATH[name], _isa_code(isa))
    return _vmath[double](a, _VMATH[name], _isa_code(isa))


cdef object _rgemm(const floating[:, ::1] A, const floating[:, ::1] B, bint trans_b,
                   floating[:, ::1] C, bint beta, int isa):
    cdef int M = A.shape[0], K = A.shape[1]
    cdef int Nc = B.shape[0] if trans_b else B.shape[1]
    if (B.shape[1] if trans_b else B.shape[0]) != K or C.shape[0] != M or C.shape[1] != Nc:
        raise ValueError("rgemm: inconsistent shapes")
    ws = np.empty(fastrnn_rgemm_ws(K, Nc), np.float32 if floating is float else np.float64)
    cdef floating[::1] ws_v = ws
    cdef int status
    with nogil:
        if floating is float:
            status = fastrnn_rgemm_f32(&C[0, 0], Nc, &ws_v[0], &A[0, 0], K, &B[0, 0],
                                       trans_b, beta, M, Nc, K, isa)
        else:
            status = fastrnn_rgemm_f64(&C[0, 0], Nc, &ws_v[0], &A[0, 0], K, &B[0, 0],
                                       trans_b, beta, M, Nc, K, isa)
    _check(status, "rgemm")


def rgemm(A, B, C, trans_b=False, beta=False, isa="auto"):
    """C (+)= A @ (B.T if trans_b else B) with the kernels' per-step product, in place."""
    if _dtype(A) is np.float32:
        _rgemm[float](A, B, trans_b, C, beta, _isa_code(isa))
    else:
        _rgemm[double](A, B, trans_b, C, beta, _isa_code(isa))
    return C


def abi_version():
    """The C kernels' ABI version."""
    return fastrnn_abi_version()
