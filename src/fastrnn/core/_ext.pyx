# The compiled engine's Cython layer: the kernels are in csrc/ (see csrc/fastrnn.h).
"""Thin, checking binding of fastrnn's C kernels.

Two entry points, one per pass, for every cell: ``forward`` and ``backward``.
Each checks every array it hands to C (type, dtype, C-contiguity, the exact
shape the sizes imply, writeability of outputs) and ``lengths`` (int64 (N,),
each in [1, T]), and every size against the kernels' 32-bit ints, before
allocating anything; allocates the outputs, the cache and the workspace with
NumPy; runs the kernel with the GIL released for the whole sequence; and turns
its status into an exception. Nothing reachable from Python can make the
kernels read or write out of bounds.

Ctrl-C: a call from the main thread watches SIGINT; the kernel stops at the
next step boundary and the interpreter's handler runs (KeyboardInterrupt by
default) with the caller's arrays and accumulated gradients untouched.

The kernels run on the engine's own threads (``set_num_threads``; the results
are the same bits for every count) and their own matrix products: no BLAS.
Their instruction set (generic, avx2, avx512) is picked per CPU at run time;
``set_isa`` (or the FASTRNN_ISA environment variable at import) forces one,
for tests and benchmarks.
"""

import os
import sys
import threading

cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from cpython.pythread cimport PyThread_get_thread_ident
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport memcpy, memset

import numpy as np

cnp.import_array()

ABI_VERSION = FASTRNN_ABI_VERSION
if fastrnn_abi_version() != FASTRNN_ABI_VERSION:
    raise ImportError(f"fastrnn.core._ext: the C kernels have ABI {fastrnn_abi_version()}, "
                      f"the binding expects {FASTRNN_ABI_VERSION}; rebuild with 'pip install .'")

INT_MAX = 2**31 - 1
CHUNK_STEPS = FASTRNN_CHUNK_STEPS
CELLS = {"srn": FASTRNN_SRN, "lstm": FASTRNN_LSTM, "gru": FASTRNN_GRU}
NONLINEARITIES = {"tanh": FASTRNN_TANH, "relu": FASTRNN_RELU, "sigmoid": FASTRNN_SIGMOID}
_ISA_CODES = {"auto": FASTRNN_ISA_AUTO, "generic": FASTRNN_ISA_GENERIC,
              "avx2": FASTRNN_ISA_AVX2, "avx512": FASTRNN_ISA_AVX512}
_ISA_NAMES = {v: k for k, v in _ISA_CODES.items()}

# The instruction set every kernel call uses (copied per call).
cdef fastrnn_ctx _ctx
_ctx.isa = FASTRNN_ISA_AUTO
_ctx.num_threads = 0           # the process-wide count (set_num_threads)
_ctx.interrupt = NULL

# Ctrl-C: the flag the kernels read, and the thread whose calls may watch SIGINT.
cdef volatile int _interrupt_flag = 0
cdef long _main_thread_ident = threading.main_thread().ident


# --- threads ---------------------------------------------------------------------

def set_num_threads(n):
    """Set the engine's thread count (the calling thread included); returns the previous."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= INT_MAX:
        raise ValueError(f"n: expected a positive int up to {INT_MAX}, got {n!r}")
    return fastrnn_set_num_threads(n)


def get_num_threads():
    """The engine's thread count (the calling thread included)."""
    return fastrnn_get_num_threads()


def pool_size():
    """How many worker threads the engine has started so far."""
    return fastrnn_pool_size()


def pool_stalls():
    """How many times a call found its workers stalled (a busy machine) and went on alone."""
    return fastrnn_pool_stalls()


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

    Every product dimension and row stride the kernels use is one of
    T*N, G*H, I, H (32-bit ints), and every buffer they touch must be
    addressable: the largest is (T, N, max(G*H, I)) or a packed operand.
    """
    T, N, I, H, G, itemsize = (int(v) for v in (T, N, I, H, G, itemsize))
    dims = f"(T={T}, N={N}, I={I}, H={H}, G={G})"
    for what, size in (("T*N", T * N), ("G*H", G * H), ("I", I), ("H", H)):
        if size > INT_MAX:
            raise ValueError(f"sizes too large for the C engine: {what} = {size} exceeds "
                             f"the 32-bit limit {INT_MAX} {dims}")
    largest = max((T + 1) * N * max(G * H, I), (G * H + 64) * max(H, I) + 64) * itemsize
    if largest > sys.maxsize:
        raise ValueError(f"sizes too large for the C engine: a buffer of {largest} bytes "
                         f"exceeds the address space {dims}")


cdef str _dtype_name(int typenum):
    return "float32" if typenum == cnp.NPY_FLOAT32 else "float64"


cdef str _describe(object arr):
    if not isinstance(arr, np.ndarray):
        return "None" if arr is None else f"a {type(arr).__name__}"
    order = "" if arr.flags.c_contiguous else "non-C-contiguous "
    return f"a {order}{arr.dtype} array of shape {tuple(arr.shape)}"


cdef void *_buffer(str where, str name, object arr, int typenum, tuple shape,
                   bint writeable=False) except NULL:
    """The data pointer of ``arr`` after checking it is exactly what C will read or write:
    an ndarray of ``typenum``, C-contiguous, of ``shape``, writeable if an output."""
    cdef cnp.ndarray a
    cdef int k, ndim = len(shape)
    cdef bint ok = cnp.PyArray_Check(arr)
    if ok:
        a = <cnp.ndarray>arr
        ok = (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_NDIM(a) == ndim
              and cnp.PyArray_IS_C_CONTIGUOUS(a) and (not writeable or cnp.PyArray_ISWRITEABLE(a)))
        k = 0
        while ok and k < ndim:
            ok = cnp.PyArray_DIMS(a)[k] == <cnp.npy_intp>shape[k]
            k += 1
    if not ok:
        what = "writeable " if writeable else ""
        raise ValueError(f"{where}: {name}: expected a {what}C-contiguous {_dtype_name(typenum)} "
                         f"array of shape {shape}, got {_describe(arr)}")
    return cnp.PyArray_DATA(a)


cdef const int64_t *_lengths(str where, object lengths, int T, int N) except? NULL:
    """NULL for no lengths, else the checked int64 (N,) array's data: each in [1, T]."""
    if lengths is None:
        return NULL
    cdef const int64_t *p = <const int64_t *>_buffer(where, "lengths", lengths, cnp.NPY_INT64,
                                                     (N,))
    cdef int n
    for n in range(N):
        if p[n] < 1 or p[n] > T:
            raise ValueError(f"{where}: lengths: expected 1 <= lengths[n] <= T = {T}, "
                             f"got lengths[{n}] = {p[n]}")
    return p


cdef int _typenum_of(str where, object x) except -1:
    if cnp.PyArray_Check(x):
        t = cnp.PyArray_TYPE(<cnp.ndarray>x)
        if t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64:
            return t
    raise TypeError(f"{where}: x: expected a float32 or float64 ndarray, got {_describe(x)}")


cdef object _empty(tuple shape, int typenum):
    cdef cnp.npy_intp dims[3]
    cdef int k
    for k in range(len(shape)):
        dims[k] = shape[k]
    return cnp.PyArray_EMPTY(len(shape), dims, typenum, 0)


cdef int _check_status(int status, str where) except -1:
    if status == FASTRNN_OK:
        return 0
    if status == FASTRNN_EINVAL:
        raise ValueError(f"{where}: the C kernel refused its arguments (FASTRNN_EINVAL)")
    if status == FASTRNN_EISA:
        raise RuntimeError(f"{where}: instruction set {_ISA_NAMES.get(_ctx.isa)!r} "
                           "is not available on this CPU")
    raise RuntimeError(f"{where}: the C kernel failed with status {status}")


cdef size_t _ws_shortfall = 0  # a test hook: give kernels this many elements too few


def _set_workspace_shortfall(n):
    """Test hook: hand every kernel ``n`` workspace elements fewer than it asks for."""
    global _ws_shortfall
    _ws_shortfall = n


cdef _restore(list sinks, list saved):
    if saved is not None:
        for sink, copy in zip(sinks, saved):
            np.copyto(sink, copy)


cdef int _run(fastrnn_rnn *a, int count, int pass_, int typenum, str where,
              list sinks=None) except -1:
    """Size and allocate the workspaces, run the pass on ``count`` recurrences at once (the
    directions of a layer run concurrently) without the GIL, raise on failure.

    From the main thread the call watches SIGINT: an interrupted kernel returns
    at a step boundary having touched no accumulated gradient, the pending
    handler runs (KeyboardInterrupt propagates from here), and if it returns
    the pass is run again from the start.

    ``sinks``: the arrays a backward adds into, copied before a watched call
    and put back if it is interrupted, so that a call adds all or nothing:
    of two recurrences one can be past its last step (and have added) when
    the other stops, and a signal that comes after the last step does not
    stop the kernel but its KeyboardInterrupt is raised all the same."""
    global _interrupt_flag
    cdef fastrnn_ctx ctx = _ctx
    cdef int i
    workspaces = []
    for i in range(count):
        a[i].ws_size = fastrnn_workspace_size(&a[i], pass_, &ctx)
        if a[i].ws_size == 0:
            _check_status(FASTRNN_EINVAL, where)
        a[i].ws_size -= min(_ws_shortfall, a[i].ws_size)
        workspaces.append(_empty((<cnp.npy_intp>max(a[i].ws_size, <size_t>1),), typenum))
        a[i].ws = cnp.PyArray_DATA(<cnp.ndarray>workspaces[i])
    cdef bint f64 = typenum == cnp.NPY_FLOAT64
    cdef bint watching = False
    cdef int status
    if <long>PyThread_get_thread_ident() == _main_thread_ident:
        PyErr_CheckSignals()  # a Ctrl-C that came before the call is raised now
        watching = fastrnn_sigint_watch(&_interrupt_flag)
        if watching:
            ctx.interrupt = &_interrupt_flag
    saved = [np.array(s, copy=True) for s in sinks] if watching and sinks else None
    try:
        while True:
            with nogil:
                if pass_ == FASTRNN_FORWARD:
                    status = (fastrnn_forward_f64(a, count, &ctx) if f64
                              else fastrnn_forward_f32(a, count, &ctx))
                else:
                    status = (fastrnn_backward_f64(a, count, &ctx) if f64
                              else fastrnn_backward_f32(a, count, &ctx))
            if status != FASTRNN_EINTR:
                break
            _restore(sinks, saved)
            _interrupt_flag = 0
            PyErr_CheckSignals()
        if _interrupt_flag and saved is not None:  # the signal came after the last step
            _interrupt_flag = 0
            try:
                PyErr_CheckSignals()
            except BaseException:
                _restore(sinks, saved)
                raise
    finally:
        if watching:
            fastrnn_sigint_unwatch()
    return _check_status(status, where)


cdef int _cell_code(str where, object cell) except -1:
    code = CELLS.get(cell) if isinstance(cell, str) else None
    if code is None:
        raise ValueError(f"{where}: cell: expected one of {tuple(CELLS)}, got {cell!r}")
    return code


cdef int _nl_code(str where, object nonlinearity) except -1:
    code = NONLINEARITIES.get(nonlinearity) if isinstance(nonlinearity, str) else None
    if code is None:
        raise ValueError(f"{where}: nonlinearity: expected one of {tuple(NONLINEARITIES)}, "
                         f"got {nonlinearity!r}")
    return code


# --- the two passes --------------------------------------------------------------

cdef object _setup_forward(fastrnn_rnn *a, int *typenum_out, str where, cell, x, h0, c0,
                           W_ih, W_hh, b_ih, b_hh, lengths, bint reverse, bint train,
                           nonlinearity, bint residual, bint reset_after, packed=None):
    """Check the arguments of one forward and fill ``a``; returns ``(y, hT, cT, cache)``,
    allocated and not yet computed."""
    memset(a, 0, sizeof(a[0]))
    a[0].cell = _cell_code(where, cell)
    cdef int G = fastrnn_gates(a[0].cell), typenum = _typenum_of(where, x)
    typenum_out[0] = typenum
    cdef bint lstm = a[0].cell == FASTRNN_LSTM, gru = a[0].cell == FASTRNN_GRU
    if cnp.PyArray_NDIM(<cnp.ndarray>x) != 3 or not cnp.PyArray_Check(W_hh) \
            or cnp.PyArray_NDIM(<cnp.ndarray>W_hh) != 2:
        raise ValueError(f"{where}: x: expected a 3-d array (T, N, I) and W_hh a 2-d array "
                         f"(G*H, H), got {_describe(x)} and {_describe(W_hh)}")
    check_sizes(x.shape[0], x.shape[1], x.shape[2], W_hh.shape[1], G,
                cnp.PyArray_ITEMSIZE(<cnp.ndarray>x))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = W_hh.shape[1], GH = G * H
    a[0].steps, a[0].batch, a[0].input_size, a[0].hidden_size = T, N, I, H
    a[0].nonlinearity = _nl_code(where, nonlinearity) if a[0].cell == FASTRNN_SRN else 0
    a[0].residual = residual and a[0].cell == FASTRNN_SRN
    a[0].reset_after = reset_after if gru else 0
    a[0].reverse = reverse
    a[0].x = _buffer(where, "x", x, typenum, (T, N, I))
    a[0].h0 = _buffer(where, "h0", h0, typenum, (N, H))
    a[0].W_ih = _buffer(where, "W_ih", W_ih, typenum, (GH, I))
    a[0].W_hh = _buffer(where, "W_hh", W_hh, typenum, (GH, H))
    a[0].b_ih = _buffer(where, "b_ih", b_ih, typenum, (GH,))
    a[0].b_hh = _buffer(where, "b_hh", b_hh, typenum, (GH,))
    a[0].lengths = _lengths(where, lengths, T, N)
    if lstm:
        a[0].c0 = _buffer(where, "c0", c0, typenum, (N, H))
    if packed is not None:  # the kernel checks what the buffer was packed for
        size = packed.shape[0] if cnp.PyArray_Check(packed) and packed.ndim == 1 else 0
        a[0].packed = _buffer(where, "packed", packed, typenum, (size,))
        a[0].packed_size = size
    y = _empty((T, N, H), typenum)
    hT = _empty((N, H), typenum)
    cT = _empty((N, H), typenum) if lstm else None
    a[0].y, a[0].hT = cnp.PyArray_DATA(<cnp.ndarray>y), cnp.PyArray_DATA(<cnp.ndarray>hT)
    if lstm:
        a[0].cT = cnp.PyArray_DATA(<cnp.ndarray>cT)
    cache = None
    if train:
        cache = dict(cell=cell, nonlinearity=nonlinearity, residual=bool(a[0].residual),
                     reset_after=bool(a[0].reset_after), reverse=bool(reverse), x=x, W_ih=W_ih,
                     W_hh=W_hh, lengths=lengths, hs=_empty((T + 1, N, H), typenum),
                     cs=_empty((T + 1, N, H), typenum) if lstm else None,
                     gates=_empty((T, N, GH), typenum) if lstm or gru else None,
                     aux=_empty((T, N, H), typenum) if gru or a[0].residual else None)
        a[0].hs = cnp.PyArray_DATA(<cnp.ndarray>cache["hs"])
        if cache["cs"] is not None:
            a[0].cs = cnp.PyArray_DATA(<cnp.ndarray>cache["cs"])
        if cache["gates"] is not None:
            a[0].gates = cnp.PyArray_DATA(<cnp.ndarray>cache["gates"])
        if cache["aux"] is not None:
            a[0].aux = cnp.PyArray_DATA(<cnp.ndarray>cache["aux"])
    return y, hT, cT, cache




def forward(cell, x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths=None, bint reverse=False,
            bint train=True, nonlinearity="tanh", bint residual=False, bint reset_after=True,
            packed=None):
    """One recurrence (one layer, one direction) forward: see csrc/fastrnn.h.

    ``cell`` is "srn", "lstm" or "gru"; ``c0`` is used by the LSTM only. All
    arrays share the dtype of ``x`` (float32 or float64) and are C-contiguous:
    x (T, N, I), h0 and c0 (N, H), W_ih (G*H, I), W_hh (G*H, H), b_ih and b_hh
    (G*H,), lengths None or int64 (N,); ``packed`` None or what ``pack`` made
    of the same weights (the kernel then reads it instead). Returns ``(y, hT,
    cT, cache)``: ``cT`` None except for the LSTM, ``cache`` None unless
    ``train``, else the dict ``backward`` takes.
    """
    where = f"{cell}_forward"
    cdef fastrnn_rnn a
    cdef int typenum
    out = _setup_forward(&a, &typenum, where, cell, x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths,
                         reverse, train, nonlinearity, residual, reset_after, packed)
    _run(&a, 1, FASTRNN_FORWARD, typenum, where)
    return out


def forward_directions(cell, x, states, weights, lengths=None, bint train=True,
                       nonlinearity="tanh", bint residual=False, bint reset_after=True,
                       packed=(None, None)):
    """Both directions of a bidirectional layer at once (they run concurrently).

    ``states`` is ``[(h0, c0), (h0, c0)]`` and ``weights`` ``[(W_ih, W_hh, b_ih,
    b_hh), (...)]``, forward direction first (the second runs in reverse);
    returns ``[(y, hT, cT, cache), (...)]`` as ``forward`` does for each.
    """
    where = f"{cell}_forward"
    cdef fastrnn_rnn a[2]
    cdef int typenum[2]
    cdef int d
    outs = []
    for d in range(2):
        W_ih, W_hh, b_ih, b_hh = weights[d]
        outs.append(_setup_forward(&a[d], &typenum[d], where, cell, x, states[d][0],
                                   states[d][1], W_ih, W_hh, b_ih, b_hh, lengths, d == 1, train,
                                   nonlinearity, residual, reset_after, packed[d]))
    _run(a, 2, FASTRNN_FORWARD, typenum[0], where)
    return outs


cdef object _setup_backward(fastrnn_rnn *a, int *typenum_out, str where, cache, dy, dhT, dcT,
                            dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc):
    """Check the arguments of one backward (the cache's arrays again: it is reachable
    from Python) and fill ``a``; returns ``(dx, dh0, dc0)``, allocated."""
    if not isinstance(cache, dict):
        raise TypeError(f"backward: cache: expected the dict of a forward with train=True, "
                        f"got {type(cache).__name__}")
    cell = cache.get("cell")
    memset(a, 0, sizeof(a[0]))
    a[0].cell = _cell_code(where, cell)
    x, W_hh = cache.get("x"), cache.get("W_hh")
    cdef int G = fastrnn_gates(a[0].cell), typenum = _typenum_of(where, x)
    typenum_out[0] = typenum
    cdef bint lstm = a[0].cell == FASTRNN_LSTM, gru = a[0].cell == FASTRNN_GRU
    if cnp.PyArray_NDIM(<cnp.ndarray>x) != 3 or not cnp.PyArray_Check(W_hh) \
            or cnp.PyArray_NDIM(<cnp.ndarray>W_hh) != 2:
        raise ValueError(f"{where}: cache: expected x a 3-d array (T, N, I) and W_hh a 2-d "
                         f"array (G*H, H), got {_describe(x)} and {_describe(W_hh)}")
    check_sizes(x.shape[0], x.shape[1], x.shape[2], W_hh.shape[1], G,
                cnp.PyArray_ITEMSIZE(<cnp.ndarray>x))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], H = W_hh.shape[1], GH = G * H
    a[0].steps, a[0].batch, a[0].input_size, a[0].hidden_size = T, N, I, H
    a[0].nonlinearity = _nl_code(where, cache.get("nonlinearity")) if a[0].cell == FASTRNN_SRN else 0
    a[0].residual = bool(cache.get("residual")) and a[0].cell == FASTRNN_SRN
    a[0].reset_after = bool(cache.get("reset_after")) if gru else 0
    a[0].reverse = bool(cache.get("reverse"))
    a[0].x = _buffer(where, "cache['x']", x, typenum, (T, N, I))
    a[0].W_ih = _buffer(where, "cache['W_ih']", cache.get("W_ih"), typenum, (GH, I))
    a[0].W_hh = _buffer(where, "cache['W_hh']", W_hh, typenum, (GH, H))
    a[0].lengths = _lengths(where, cache.get("lengths"), T, N)
    a[0].hs = _buffer(where, "cache['hs']", cache.get("hs"), typenum, (T + 1, N, H))
    if lstm:
        a[0].cs = _buffer(where, "cache['cs']", cache.get("cs"), typenum, (T + 1, N, H))
    if lstm or gru:
        a[0].gates = _buffer(where, "cache['gates']", cache.get("gates"), typenum, (T, N, GH))
    if gru or a[0].residual:
        a[0].aux = _buffer(where, "cache['aux']", cache.get("aux"), typenum, (T, N, H))
    a[0].dy = _buffer(where, "dy", dy, typenum, (T, N, H))
    a[0].dhT = _buffer(where, "dhT", dhT, typenum, (N, H))
    if lstm:
        a[0].dcT = _buffer(where, "dcT", dcT, typenum, (N, H))
    a[0].dW_ih = _buffer(where, "dW_ih", dW_ih, typenum, (GH, I), True)
    a[0].dW_hh = _buffer(where, "dW_hh", dW_hh, typenum, (GH, H), True)
    a[0].db_ih = _buffer(where, "db_ih", db_ih, typenum, (GH,), True)
    a[0].db_hh = _buffer(where, "db_hh", db_hh, typenum, (GH,), True)
    if trace_dh is not None:
        a[0].trace_dh = _buffer(where, "trace_dh", trace_dh, typenum, (T, N, H), True)
    if trace_dc is not None and lstm:
        a[0].trace_dc = _buffer(where, "trace_dc", trace_dc, typenum, (T, N, H), True)
    dx = _empty((T, N, I), typenum)
    dh0 = _empty((N, H), typenum)
    dc0 = _empty((N, H), typenum) if lstm else None
    a[0].dx, a[0].dh0 = cnp.PyArray_DATA(<cnp.ndarray>dx), cnp.PyArray_DATA(<cnp.ndarray>dh0)
    if lstm:
        a[0].dc0 = cnp.PyArray_DATA(<cnp.ndarray>dc0)
    return dx, dh0, dc0




def backward(cache, dy, dhT, dcT, dW_ih, dW_hh, db_ih, db_hh, trace_dh=None, trace_dc=None):
    """BPTT through the forward that made ``cache``: see csrc/fastrnn.h.

    Every array of the cache is checked again (it is reachable from Python):
    the sizes come from ``x`` (T, N, I) and ``W_hh`` (G*H, H) and every other
    array must match them. dy (T, N, H), dhT and dcT (N, H; dcT LSTM only);
    dW_ih, dW_hh, db_ih, db_hh are ADDED into; trace_dh/trace_dc (T, N, H) are
    filled when given. Returns fresh ``(dx, dh0, dc0)`` (dc0 None except LSTM).
    """
    where = f"{cache.get('cell') if isinstance(cache, dict) else None}_backward"
    cdef fastrnn_rnn a
    cdef int typenum
    out = _setup_backward(&a, &typenum, where, cache, dy, dhT, dcT, dW_ih, dW_hh, db_ih, db_hh,
                          trace_dh, trace_dc)
    _run(&a, 1, FASTRNN_BACKWARD, typenum, where, [dW_ih, dW_hh, db_ih, db_hh])
    return out


def backward_directions(caches, dys, final_grads, grads, traces):
    """Both directions of a bidirectional layer at once: the lists hold, per
    direction, what ``backward`` takes (``final_grads[d]`` is ``(dhT, dcT)``,
    ``grads[d]`` ``(dW_ih, dW_hh, db_ih, db_hh)``, ``traces[d]`` ``(trace_dh,
    trace_dc)``); returns ``[(dx, dh0, dc0), (...)]``."""
    cache = caches[0]
    where = f"{cache.get('cell') if isinstance(cache, dict) else None}_backward"
    cdef fastrnn_rnn a[2]
    cdef int typenum[2]
    cdef int d
    outs = []
    for d in range(2):
        dhT, dcT = final_grads[d]
        dW_ih, dW_hh, db_ih, db_hh = grads[d]
        trace_dh, trace_dc = traces[d]
        outs.append(_setup_backward(&a[d], &typenum[d], where, caches[d], dys[d], dhT, dcT,
                                    dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc))
    if typenum[0] != typenum[1]:
        raise ValueError(f"{where}: the two directions have different dtypes")
    _run(a, 2, FASTRNN_BACKWARD, typenum[0], where, [g for sinks_d in grads for g in sinks_d])
    return outs


# --- packed weights and streams ----------------------------------------------------

def pack(cell, W_ih, W_hh, b_ih, b_hh):
    """The forward weights of one recurrence packed once, for ``forward(..., packed=)``.

    W_ih (G*H, I), W_hh (G*H, H), b_ih and b_hh (G*H,), C-contiguous, all of one
    float dtype. Returns a 1-d array of that dtype: the weights in the layout the
    kernels read, for the instruction set in use now (a kernel refuses a buffer
    packed for another one, or for other sizes).
    """
    where = f"{cell}_pack"
    cdef fastrnn_rnn a
    memset(&a, 0, sizeof(a))
    a.cell = _cell_code(where, cell)
    cdef int typenum = _typenum_of(where, W_hh), G = fastrnn_gates(a.cell)
    if cnp.PyArray_NDIM(<cnp.ndarray>W_hh) != 2 or not cnp.PyArray_Check(W_ih) \
            or cnp.PyArray_NDIM(<cnp.ndarray>W_ih) != 2:
        raise ValueError(f"{where}: W_ih, W_hh: expected 2-d arrays (G*H, I) and (G*H, H), "
                         f"got {_describe(W_ih)} and {_describe(W_hh)}")
    cdef int I = W_ih.shape[1], H = W_hh.shape[1], GH = G * H
    check_sizes(1, 1, I, H, G, cnp.PyArray_ITEMSIZE(<cnp.ndarray>W_hh))
    a.input_size, a.hidden_size = I, H
    a.W_ih = _buffer(where, "W_ih", W_ih, typenum, (GH, I))
    a.W_hh = _buffer(where, "W_hh", W_hh, typenum, (GH, H))
    a.b_ih = _buffer(where, "b_ih", b_ih, typenum, (GH,))
    a.b_hh = _buffer(where, "b_hh", b_hh, typenum, (GH,))
    cdef fastrnn_ctx ctx = _ctx
    cdef size_t size = fastrnn_packed_size(&a, &ctx)
    if size == 0:
        _check_status(FASTRNN_EINVAL, where)
    packed = _empty((<cnp.npy_intp>size,), typenum)
    cdef void *p = cnp.PyArray_DATA(<cnp.ndarray>packed)
    cdef int status
    with nogil:
        if typenum == cnp.NPY_FLOAT64:
            status = fastrnn_pack_f64(&a, p, size, &ctx)
        else:
            status = fastrnn_pack_f32(&a, p, size, &ctx)
    _check_status(status, where)
    return packed


cdef class Stepper:
    """One step at a time through a stack of forward recurrences, the engine of a
    ``fastrnn.Stream``: packed weights, the state, the outputs and the workspaces
    are all made once, so a step allocates nothing but the array it returns.

    Parameters: ``cell`` ("srn", "lstm", "gru"); ``packed``: one packed buffer per
    layer (``pack``); ``input_sizes``: each layer's input width; ``h`` (L, N, H)
    and ``c`` (L, N, H) or None: the state, C-contiguous, updated in place by
    every step; ``nonlinearity``, ``residual``, ``reset_after``: the cell's
    options.
    """
    cdef fastrnn_rnn a[64]
    cdef int layers, batch, input_size, hidden_size, typenum, isa
    cdef list keep

    def __init__(self, cell, packed, input_sizes, h, c, nonlinearity="tanh",
                 bint residual=False, bint reset_after=True):
        where = f"{cell}_stream"
        cdef int cell_code = _cell_code(where, cell), l
        if not 1 <= len(packed) <= 64 or len(input_sizes) != len(packed):
            raise ValueError(f"{where}: expected 1 to 64 layers, got {len(packed)}")
        self.typenum = _typenum_of(where, h)
        self.layers, self.batch, self.hidden_size = len(packed), h.shape[1], h.shape[2]
        self.input_size = input_sizes[0]
        self.isa = _ctx.isa
        cdef bint lstm = cell_code == FASTRNN_LSTM
        self.keep = [packed, h, c]
        cdef fastrnn_ctx ctx = _ctx
        for l in range(self.layers):
            memset(&self.a[l], 0, sizeof(fastrnn_rnn))
            self.a[l].cell = cell_code
            self.a[l].nonlinearity = _nl_code(where, nonlinearity) if cell_code == FASTRNN_SRN else 0
            self.a[l].residual = residual and cell_code == FASTRNN_SRN
            self.a[l].reset_after = reset_after
            self.a[l].steps, self.a[l].batch = 1, self.batch
            self.a[l].input_size, self.a[l].hidden_size = input_sizes[l], self.hidden_size
            self.a[l].packed = _buffer(where, "packed", packed[l], self.typenum,
                                       (packed[l].shape[0],))
            self.a[l].packed_size = packed[l].shape[0]
            self.a[l].h0 = self.a[l].hT = _buffer(where, "h", h[l], self.typenum,
                                                  (self.batch, self.hidden_size), True)
            if lstm:
                self.a[l].c0 = self.a[l].cT = _buffer(where, "c", c[l], self.typenum,
                                                      (self.batch, self.hidden_size), True)
            y = _empty((1, self.batch, self.hidden_size), self.typenum)
            self.a[l].y = cnp.PyArray_DATA(<cnp.ndarray>y)
            self.keep.append(y)
            if l > 0:
                self.a[l].x = self.a[l - 1].y
            else:
                self.a[l].x = self.a[l].y  # a placeholder for the size check; step sets it
            self.a[l].ws_size = fastrnn_workspace_size(&self.a[l], FASTRNN_FORWARD, &ctx)
            if self.a[l].ws_size == 0:
                _check_status(FASTRNN_EINVAL, where)
            ws = _empty((<cnp.npy_intp>self.a[l].ws_size,), self.typenum)
            self.a[l].ws = cnp.PyArray_DATA(<cnp.ndarray>ws)
            self.keep.append(ws)

    def step(self, x_t):
        """x_t (N, I) of the stream's dtype, C-contiguous -> the top layer's y_t (N, H)."""
        cdef cnp.ndarray x
        if not (cnp.PyArray_Check(x_t) and cnp.PyArray_TYPE(<cnp.ndarray>x_t) == self.typenum
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x_t)
                and cnp.PyArray_NDIM(<cnp.ndarray>x_t) == 2
                and cnp.PyArray_DIMS(<cnp.ndarray>x_t)[0] == self.batch
                and cnp.PyArray_DIMS(<cnp.ndarray>x_t)[1] == self.input_size):
            _buffer("step", "x_t", x_t, self.typenum, (self.batch, self.input_size))  # raises, says why
        if _ctx.isa != self.isa:
            raise RuntimeError("step: the kernels' instruction set changed since the stream "
                               "packed its weights; make a new stream")
        x = <cnp.ndarray>x_t
        self.a[0].x = cnp.PyArray_DATA(x)
        cdef fastrnn_ctx ctx = _ctx
        cdef int l, status = FASTRNN_OK
        cdef bint f64 = self.typenum == cnp.NPY_FLOAT64
        with nogil:
            for l in range(self.layers):
                status = (fastrnn_forward_f64(&self.a[l], 1, &ctx) if f64
                          else fastrnn_forward_f32(&self.a[l], 1, &ctx))
                if status != FASTRNN_OK:
                    break
        _check_status(status, "step")
        y = _empty((self.batch, self.hidden_size), self.typenum)
        memcpy(cnp.PyArray_DATA(<cnp.ndarray>y), self.a[self.layers - 1].y,
               <size_t>self.batch * self.hidden_size * cnp.PyArray_ITEMSIZE(<cnp.ndarray>y))
        return y


# --- test hooks --------------------------------------------------------------------

_VMATH = {"exp": 0, "tanh": 1, "sigmoid": 2, "relu": 3}


def vmath(name, a, isa="auto"):
    """The kernels' vectorized exp, tanh, sigmoid or relu applied to a 1-d array."""
    if name not in _VMATH:
        raise ValueError(f"name: expected one of {tuple(_VMATH)}, got {name!r}")
    a = np.ascontiguousarray(a)
    if a.ndim != 1:
        raise ValueError(f"a: expected a 1-d array, got {a.ndim} dimensions")
    cdef int typenum = _typenum_of("vmath", a), code = _isa_code(isa), f = _VMATH[name]
    out = np.empty_like(a)
    cdef size_t n = a.shape[0]
    cdef void *o = cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef const void *i = cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef int status = FASTRNN_OK
    if n:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                status = fastrnn_vmath_f32(<float *>o, <const float *>i, n, f, code)
            else:
                status = fastrnn_vmath_f64(<double *>o, <const double *>i, n, f, code)
    _check_status(status, "vmath")
    return out


def rgemm(A, B, C, trans_b=False, beta=False, isa="auto"):
    """C (+)= A @ (B.T if trans_b else B) with the kernels' per-step product, in place."""
    cdef int typenum = _typenum_of("rgemm", A), code = _isa_code(isa)
    if A.ndim != 2 or B.ndim != 2 or C.ndim != 2:
        raise ValueError("rgemm: A, B, C: expected 2-d arrays")
    cdef int M = A.shape[0], K = A.shape[1]
    cdef int Nc = B.shape[0] if trans_b else B.shape[1]
    cdef const void *pa = _buffer("rgemm", "A", A, typenum, (M, K))
    cdef const void *pb = _buffer("rgemm", "B", B, typenum, (Nc, K) if trans_b else (K, Nc))
    cdef void *pc = _buffer("rgemm", "C", C, typenum, (M, Nc), True)
    ws = np.empty(fastrnn_rgemm_ws(K, Nc), A.dtype)
    cdef void *pw = cnp.PyArray_DATA(<cnp.ndarray>ws)
    cdef int tb = bool(trans_b), bt = bool(beta), status
    with nogil:
        if typenum == cnp.NPY_FLOAT32:
            status = fastrnn_rgemm_f32(<float *>pc, Nc, <float *>pw, <const float *>pa, K,
                                       <const float *>pb, tb, bt, M, Nc, K, code)
        else:
            status = fastrnn_rgemm_f64(<double *>pc, Nc, <double *>pw, <const double *>pa, K,
                                       <const double *>pb, tb, bt, M, Nc, K, code)
    _check_status(status, "rgemm")
    return C


def abi_version():
    """The C kernels' ABI version."""
    return fastrnn_abi_version()
