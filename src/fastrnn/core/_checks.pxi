# Part of _ext.pyx (included there): the checks of every array and size handed to C, and of the status C returns.

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


cdef int _cell_code(str where, object cell) except -1:
    code = CELLS.get(cell) if isinstance(cell, str) else None
    if code is None:
        raise ValueError(f"{where}: cell: expected one of {tuple(CELLS)}, got {cell!r}")
    return code


cdef int _proj_size(str where, bint lstm, object W_hr, object W_hh) except -1:
    """P, the LSTM's projection size from ``W_hr`` (P, H) with 0 < P < H, or 0 for None
    (``W_hh`` (4H, P) is checked by the caller against the sizes found here)."""
    if W_hr is None:
        return 0
    if not lstm:
        raise ValueError(f"{where}: W_hr: a projection (proj_size) is for the LSTM only")
    if not cnp.PyArray_Check(W_hr) or cnp.PyArray_NDIM(<cnp.ndarray>W_hr) != 2 \
            or not 0 < W_hr.shape[0] < W_hr.shape[1]:
        raise ValueError(f"{where}: W_hr: expected a 2-d array (P, H) with 0 < P < H "
                         f"(proj_size < hidden_size), got {_describe(W_hr)}")
    return W_hr.shape[0]


cdef int _nl_code(str where, object nonlinearity) except -1:
    code = NONLINEARITIES.get(nonlinearity) if isinstance(nonlinearity, str) else None
    if code is None:
        raise ValueError(f"{where}: nonlinearity: expected one of {tuple(NONLINEARITIES)}, "
                         f"got {nonlinearity!r}")
    return code


cdef int _set_masks(fastrnn_rnn *a, str where, tuple names, tuple masks, int typenum,
                    int T, int N, int I, int H) except -1:
    """Check the masks of one recurrence (``masks``: mask_x (N, I), mask_h (N, H), zone_h,
    zone_c (T, N, H), each None or an array; ``names`` theirs, for messages) and point
    ``a`` at them. Zoneout only for the cells that have it. With the LSTM's projection
    (``a.proj_size`` P, set before) the h-shaped ones are P wide: mask_h (N, P), zone_h
    (T, N, P); zone_c stays (T, N, H)."""
    mx, mh, zh, zc = masks
    cdef int Hs = a[0].proj_size if a[0].proj_size else H  # the width of h
    if zh is not None and a[0].cell == FASTRNN_SRN:
        raise ValueError(f"{where}: {names[2]}: zoneout is for the LSTM and GRU, not the SRN")
    if zc is not None and a[0].cell != FASTRNN_LSTM:
        raise ValueError(f"{where}: {names[3]}: the cell-state zoneout is the LSTM's only")
    if mx is not None:
        a[0].mask_x = _buffer(where, names[0], mx, typenum, (N, I))
    if mh is not None:
        a[0].mask_h = _buffer(where, names[1], mh, typenum, (N, Hs))
    if zh is not None:
        a[0].zone_h = _buffer(where, names[2], zh, typenum, (T, N, Hs))
    if zc is not None:
        a[0].zone_c = _buffer(where, names[3], zc, typenum, (T, N, H))
    return 0


cdef tuple _mask_arrays(str where, object masks):
    """(mask_x, mask_h, zone_h, zone_c) of a ``Masks`` (any object with the attributes
    x, h, zone_h, zone_c), or four None for None."""
    if masks is None:
        return (None, None, None, None)
    try:
        return (masks.x, masks.h, masks.zone_h, masks.zone_c)
    except AttributeError:
        raise TypeError(f"{where}: masks: expected a fastrnn.functional.Masks or None, "
                        f"got {type(masks).__name__}") from None
