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


# --- checks (every array and size C relies on) ----------------------------------

include "_checks.pxi"

cdef size_t _ws_shortfall = 0  # a test hook (_hooks.pxi): kernels get this many elements too few


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


# --- the two passes --------------------------------------------------------------

cdef tuple _MASK_NAMES = ("masks.x", "masks.h", "masks.zone_h", "masks.zone_c")
cdef tuple _CACHED_MASK_NAMES = ("cache['mask_x']", "cache['mask_h']", "cache['zone_h']",
                                 "cache['zone_c']")


cdef object _setup_forward(fastrnn_rnn *a, int *typenum_out, str where, cell, x, h0, c0,
                           W_ih, W_hh, b_ih, b_hh, lengths, bint reverse, bint train,
                           nonlinearity, bint residual, bint reset_after, packed=None,
                           W_hr=None, masks=None):
    """Check the arguments of one forward and fill ``a``; returns ``(y, hT, cT, cache)``,
    allocated and not yet computed. With ``W_hr`` (P, H) (the LSTM's projection) every
    h-shaped array is (.., P) and W_hh (4H, P)."""
    memset(a, 0, sizeof(a[0]))
    a[0].cell = _cell_code(where, cell)
    cdef int G = fastrnn_gates(a[0].cell), typenum = _typenum_of(where, x)
    typenum_out[0] = typenum
    cdef bint lstm = a[0].cell == FASTRNN_LSTM, gru = a[0].cell == FASTRNN_GRU
    if cnp.PyArray_NDIM(<cnp.ndarray>x) != 3 or not cnp.PyArray_Check(W_hh) \
            or cnp.PyArray_NDIM(<cnp.ndarray>W_hh) != 2:
        raise ValueError(f"{where}: x: expected a 3-d array (T, N, I) and W_hh a 2-d array "
                         f"(G*H, H), got {_describe(x)} and {_describe(W_hh)}")
    cdef int Pj = _proj_size(where, lstm, W_hr, W_hh)
    cdef int H = W_hr.shape[1] if Pj else W_hh.shape[1]
    check_sizes(x.shape[0], x.shape[1], x.shape[2], H, G, cnp.PyArray_ITEMSIZE(<cnp.ndarray>x))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], GH = G * H
    cdef int Hs = Pj if Pj else H  # the width of h
    a[0].steps, a[0].batch, a[0].input_size, a[0].hidden_size = T, N, I, H
    a[0].proj_size = Pj
    a[0].nonlinearity = _nl_code(where, nonlinearity) if a[0].cell == FASTRNN_SRN else 0
    a[0].residual = residual and a[0].cell == FASTRNN_SRN
    a[0].reset_after = reset_after if gru else 0
    a[0].reverse = reverse
    a[0].x = _buffer(where, "x", x, typenum, (T, N, I))
    a[0].h0 = _buffer(where, "h0", h0, typenum, (N, Hs))
    a[0].W_ih = _buffer(where, "W_ih", W_ih, typenum, (GH, I))
    a[0].W_hh = _buffer(where, "W_hh", W_hh, typenum, (GH, Hs))
    if Pj:
        a[0].W_hr = _buffer(where, "W_hr", W_hr, typenum, (Pj, H))
    a[0].b_ih = _buffer(where, "b_ih", b_ih, typenum, (GH,))
    a[0].b_hh = _buffer(where, "b_hh", b_hh, typenum, (GH,))
    a[0].lengths = _lengths(where, lengths, T, N)
    if lstm:
        a[0].c0 = _buffer(where, "c0", c0, typenum, (N, H))
    mask_arrays = _mask_arrays(where, masks)
    _set_masks(a, where, _MASK_NAMES, mask_arrays, typenum, T, N, I, H)
    if packed is not None:  # the kernel checks what the buffer was packed for
        size = packed.shape[0] if cnp.PyArray_Check(packed) and packed.ndim == 1 else 0
        a[0].packed = _buffer(where, "packed", packed, typenum, (size,))
        a[0].packed_size = size
    y = _empty((T, N, Hs), typenum)
    hT = _empty((N, Hs), typenum)
    cT = _empty((N, H), typenum) if lstm else None
    a[0].y, a[0].hT = cnp.PyArray_DATA(<cnp.ndarray>y), cnp.PyArray_DATA(<cnp.ndarray>hT)
    if lstm:
        a[0].cT = cnp.PyArray_DATA(<cnp.ndarray>cT)
    cache = None
    if train:
        cache = dict(cell=cell, nonlinearity=nonlinearity, residual=bool(a[0].residual),
                     reset_after=bool(a[0].reset_after), reverse=bool(reverse), x=x, W_ih=W_ih,
                     W_hh=W_hh, lengths=lengths, hs=_empty((T + 1, N, Hs), typenum),
                     cs=_empty((T + 1, N, H), typenum) if lstm else None,
                     gates=_empty((T, N, GH), typenum) if lstm or gru else None,
                     aux=_empty((T, N, H), typenum) if gru or a[0].residual or Pj else None,
                     mask_x=mask_arrays[0], mask_h=mask_arrays[1], zone_h=mask_arrays[2],
                     zone_c=mask_arrays[3])
        if Pj:
            cache["W_hr"] = W_hr
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
            packed=None, W_hr=None, masks=None):
    """One recurrence (one layer, one direction) forward: see csrc/fastrnn.h.

    ``cell`` is "srn", "lstm" or "gru"; ``c0`` is used by the LSTM only. All
    arrays share the dtype of ``x`` (float32 or float64) and are C-contiguous:
    x (T, N, I), h0 and c0 (N, H), W_ih (G*H, I), W_hh (G*H, H), b_ih and b_hh
    (G*H,), lengths None or int64 (N,); ``packed`` None or what ``pack`` made
    of the same weights (the kernel then reads it instead); ``masks`` None or a
    ``functional.Masks`` (x (N, I), h (N, H), zone_h, zone_c (T, N, H), each None
    or an array; the cache keeps references to them). Returns ``(y, hT,
    cT, cache)``: ``cT`` None except for the LSTM, ``cache`` None unless
    ``train``, else the dict ``backward`` takes. ``W_hr`` (P, H), LSTM only: the
    projection ``h_t = (o*tanh(c_t)) @ W_hr.T``, 0 < P < H; then h0, y and hT are
    (.., P) and W_hh (4H, P), and so are the h-shaped masks: h (N, P), zone_h (T, N, P)
    (zone_c stays (T, N, H)).
    """
    where = f"{cell}_forward"
    cdef fastrnn_rnn a
    cdef int typenum
    out = _setup_forward(&a, &typenum, where, cell, x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths,
                         reverse, train, nonlinearity, residual, reset_after, packed, W_hr,
                         masks)
    _run(&a, 1, FASTRNN_FORWARD, typenum, where)
    return out


def forward_directions(cell, x, states, weights, lengths=None, bint train=True,
                       nonlinearity="tanh", bint residual=False, bint reset_after=True,
                       packed=(None, None), masks=(None, None)):
    """Both directions of a bidirectional layer at once (they run concurrently).

    ``states`` is ``[(h0, c0), (h0, c0)]`` and ``weights`` ``[(W_ih, W_hh, b_ih,
    b_hh[, W_hr]), (...)]``, forward direction first (the second runs in reverse);
    returns ``[(y, hT, cT, cache), (...)]`` as ``forward`` does for each.
    """
    where = f"{cell}_forward"
    cdef fastrnn_rnn a[2]
    cdef int typenum[2]
    cdef int d
    outs = []
    for d in range(2):
        W_ih, W_hh, b_ih, b_hh = weights[d][:4]
        W_hr = weights[d][4] if len(weights[d]) > 4 else None
        outs.append(_setup_forward(&a[d], &typenum[d], where, cell, x, states[d][0],
                                   states[d][1], W_ih, W_hh, b_ih, b_hh, lengths, d == 1, train,
                                   nonlinearity, residual, reset_after, packed[d], W_hr,
                                   masks[d]))
    _run(a, 2, FASTRNN_FORWARD, typenum[0], where)
    return outs


cdef object _setup_backward(fastrnn_rnn *a, int *typenum_out, str where, cache, dy, dhT, dcT,
                            dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc, dW_hr=None):
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
    W_hr = cache.get("W_hr")
    cdef int Pj = _proj_size(where, lstm, W_hr, W_hh)
    cdef int H = W_hr.shape[1] if Pj else W_hh.shape[1]
    check_sizes(x.shape[0], x.shape[1], x.shape[2], H, G, cnp.PyArray_ITEMSIZE(<cnp.ndarray>x))
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], GH = G * H
    cdef int Hs = Pj if Pj else H  # the width of h
    a[0].steps, a[0].batch, a[0].input_size, a[0].hidden_size = T, N, I, H
    a[0].proj_size = Pj
    a[0].nonlinearity = _nl_code(where, cache.get("nonlinearity")) if a[0].cell == FASTRNN_SRN else 0
    a[0].residual = bool(cache.get("residual")) and a[0].cell == FASTRNN_SRN
    a[0].reset_after = bool(cache.get("reset_after")) if gru else 0
    a[0].reverse = bool(cache.get("reverse"))
    a[0].x = _buffer(where, "cache['x']", x, typenum, (T, N, I))
    a[0].W_ih = _buffer(where, "cache['W_ih']", cache.get("W_ih"), typenum, (GH, I))
    a[0].W_hh = _buffer(where, "cache['W_hh']", W_hh, typenum, (GH, Hs))
    a[0].lengths = _lengths(where, cache.get("lengths"), T, N)
    a[0].hs = _buffer(where, "cache['hs']", cache.get("hs"), typenum, (T + 1, N, Hs))
    if lstm:
        a[0].cs = _buffer(where, "cache['cs']", cache.get("cs"), typenum, (T + 1, N, H))
    if lstm or gru:
        a[0].gates = _buffer(where, "cache['gates']", cache.get("gates"), typenum, (T, N, GH))
    if gru or a[0].residual or Pj:
        a[0].aux = _buffer(where, "cache['aux']", cache.get("aux"), typenum, (T, N, H))
    if Pj:
        a[0].W_hr = _buffer(where, "cache['W_hr']", W_hr, typenum, (Pj, H))
        a[0].dW_hr = _buffer(where, "dW_hr", dW_hr, typenum, (Pj, H), True)
    cached_masks = (cache.get("mask_x"), cache.get("mask_h"), cache.get("zone_h"),
                    cache.get("zone_c"))
    _set_masks(a, where, _CACHED_MASK_NAMES, cached_masks, typenum, T, N, I, H)
    a[0].dy = _buffer(where, "dy", dy, typenum, (T, N, Hs))
    a[0].dhT = _buffer(where, "dhT", dhT, typenum, (N, Hs))
    if lstm:
        a[0].dcT = _buffer(where, "dcT", dcT, typenum, (N, H))
    a[0].dW_ih = _buffer(where, "dW_ih", dW_ih, typenum, (GH, I), True)
    a[0].dW_hh = _buffer(where, "dW_hh", dW_hh, typenum, (GH, Hs), True)
    a[0].db_ih = _buffer(where, "db_ih", db_ih, typenum, (GH,), True)
    a[0].db_hh = _buffer(where, "db_hh", db_hh, typenum, (GH,), True)
    if trace_dh is not None:
        a[0].trace_dh = _buffer(where, "trace_dh", trace_dh, typenum, (T, N, Hs), True)
    if trace_dc is not None and lstm:
        a[0].trace_dc = _buffer(where, "trace_dc", trace_dc, typenum, (T, N, H), True)
    dx = _empty((T, N, I), typenum)
    dh0 = _empty((N, Hs), typenum)
    dc0 = _empty((N, H), typenum) if lstm else None
    a[0].dx, a[0].dh0 = cnp.PyArray_DATA(<cnp.ndarray>dx), cnp.PyArray_DATA(<cnp.ndarray>dh0)
    if lstm:
        a[0].dc0 = cnp.PyArray_DATA(<cnp.ndarray>dc0)
    return dx, dh0, dc0




def backward(cache, dy, dhT, dcT, dW_ih, dW_hh, db_ih, db_hh, trace_dh=None, trace_dc=None,
             dW_hr=None):
    """BPTT through the forward that made ``cache``: see csrc/fastrnn.h.

    Every array of the cache is checked again (it is reachable from Python):
    the sizes come from ``x`` (T, N, I) and ``W_hh`` (G*H, H) and every other
    array must match them. dy (T, N, H), dhT and dcT (N, H; dcT LSTM only);
    dW_ih, dW_hh, db_ih, db_hh are ADDED into; trace_dh/trace_dc (T, N, H) are
    filled when given. Returns fresh ``(dx, dh0, dc0)`` (dc0 None except LSTM).
    A cache with ``W_hr`` (the LSTM's projection, P columns of h) takes dy,
    dhT and trace_dh (.., P) and dW_hh (4H, P), and adds into ``dW_hr`` (P, H).
    """
    where = f"{cache.get('cell') if isinstance(cache, dict) else None}_backward"
    cdef fastrnn_rnn a
    cdef int typenum
    out = _setup_backward(&a, &typenum, where, cache, dy, dhT, dcT, dW_ih, dW_hh, db_ih, db_hh,
                          trace_dh, trace_dc, dW_hr)
    sinks = [dW_ih, dW_hh, db_ih, db_hh] + ([dW_hr] if a.proj_size else [])
    _run(&a, 1, FASTRNN_BACKWARD, typenum, where, sinks)
    return out


def backward_directions(caches, dys, final_grads, grads, traces):
    """Both directions of a bidirectional layer at once: the lists hold, per
    direction, what ``backward`` takes (``final_grads[d]`` is ``(dhT, dcT)``,
    ``grads[d]`` ``(dW_ih, dW_hh, db_ih, db_hh[, dW_hr])``, ``traces[d]`` ``(trace_dh,
    trace_dc)``); returns ``[(dx, dh0, dc0), (...)]``."""
    cache = caches[0]
    where = f"{cache.get('cell') if isinstance(cache, dict) else None}_backward"
    cdef fastrnn_rnn a[2]
    cdef int typenum[2]
    cdef int d
    outs = []
    for d in range(2):
        dhT, dcT = final_grads[d]
        dW_ih, dW_hh, db_ih, db_hh = grads[d][:4]
        dW_hr = grads[d][4] if len(grads[d]) > 4 else None
        trace_dh, trace_dc = traces[d]
        outs.append(_setup_backward(&a[d], &typenum[d], where, caches[d], dys[d], dhT, dcT,
                                    dW_ih, dW_hh, db_ih, db_hh, trace_dh, trace_dc, dW_hr))
    if typenum[0] != typenum[1]:
        raise ValueError(f"{where}: the two directions have different dtypes")
    _run(a, 2, FASTRNN_BACKWARD, typenum[0], where,
         [g for sinks_d in grads for g in sinks_d if g is not None])
    return outs


# --- packed weights and streams ----------------------------------------------------

include "_stream.pxi"


# --- test hooks --------------------------------------------------------------------

include "_hooks.pxi"
