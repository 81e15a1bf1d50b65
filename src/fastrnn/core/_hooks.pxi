# Part of _ext.pyx (included there): test hooks (the kernels' vector math and per-step product, a workspace shortfall, the ABI version).

def _set_workspace_shortfall(n):
    """Test hook: hand every kernel ``n`` workspace elements fewer than it asks for."""
    global _ws_shortfall
    _ws_shortfall = n


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
