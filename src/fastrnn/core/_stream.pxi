# Part of _ext.pyx (included there): packed weights and the Stepper behind fastrnn.Stream.

def pack(cell, W_ih, W_hh, b_ih, b_hh, W_hr=None):
    """The forward weights of one recurrence packed once, for ``forward(..., packed=)``.

    W_ih (G*H, I), W_hh (G*H, H), b_ih and b_hh (G*H,), C-contiguous, all of one
    float dtype; with the LSTM's projection ``W_hr`` (P, H), W_hh is (4H, P). Returns a 1-d array of that dtype: the weights in the layout the
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
    cdef int Pj = _proj_size(where, a.cell == FASTRNN_LSTM, W_hr, W_hh)
    cdef int I = W_ih.shape[1], H = W_hr.shape[1] if Pj else W_hh.shape[1], GH = G * H
    check_sizes(1, 1, I, H, G, cnp.PyArray_ITEMSIZE(<cnp.ndarray>W_hh))
    a.input_size, a.hidden_size, a.proj_size = I, H, Pj
    a.W_ih = _buffer(where, "W_ih", W_ih, typenum, (GH, I))
    a.W_hh = _buffer(where, "W_hh", W_hh, typenum, (GH, Pj if Pj else H))
    if Pj:
        a.W_hr = _buffer(where, "W_hr", W_hr, typenum, (Pj, H))
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
    options; ``proj_size``: the LSTM's projection P (then ``h`` is (L, N, P),
    each step's output (N, P), and ``hidden_size`` is read from ``c``);
    ``zone_h``, ``zone_c``: None, or (1, N, H) zoneout keep weights (zone_h (1, N, P)
    with a projection) every step of every layer uses (a layer's inference passes
    the expectation p, so a stream steps as ``forward(train=False)`` runs).
    """
    cdef fastrnn_rnn a[64]
    cdef int layers, batch, input_size, hidden_size, typenum, isa
    cdef int width  # of h and of a step's output: P with a projection, else H
    cdef list keep

    def __init__(self, cell, packed, input_sizes, h, c, nonlinearity="tanh",
                 bint residual=False, bint reset_after=True, int proj_size=0, zone_h=None,
                 zone_c=None):
        where = f"{cell}_stream"
        cdef int cell_code = _cell_code(where, cell), l
        if not 1 <= len(packed) <= 64 or len(input_sizes) != len(packed):
            raise ValueError(f"{where}: expected 1 to 64 layers, got {len(packed)}")
        self.typenum = _typenum_of(where, h)
        self.layers, self.batch, self.hidden_size = len(packed), h.shape[1], h.shape[2]
        self.width = self.hidden_size
        cdef bint lstm = cell_code == FASTRNN_LSTM
        if proj_size:
            if not lstm or not cnp.PyArray_Check(c) or c.ndim != 3 \
                    or not 0 < proj_size < c.shape[2] or proj_size != h.shape[2]:
                raise ValueError(f"{where}: proj_size: expected an LSTM with h (L, N, P) and "
                                 f"c (L, N, H), 0 < P = proj_size < H, got proj_size = "
                                 f"{proj_size}, h {_describe(h)}, c {_describe(c)}")
            self.hidden_size = c.shape[2]
        self.input_size = input_sizes[0]
        self.isa = _ctx.isa
        self.keep = [packed, h, c, zone_h, zone_c]
        cdef fastrnn_ctx ctx = _ctx
        for l in range(self.layers):
            memset(&self.a[l], 0, sizeof(fastrnn_rnn))
            self.a[l].cell = cell_code
            self.a[l].nonlinearity = _nl_code(where, nonlinearity) if cell_code == FASTRNN_SRN else 0
            self.a[l].residual = residual and cell_code == FASTRNN_SRN
            self.a[l].reset_after = reset_after
            self.a[l].steps, self.a[l].batch = 1, self.batch
            self.a[l].input_size, self.a[l].hidden_size = input_sizes[l], self.hidden_size
            self.a[l].proj_size = proj_size
            self.a[l].packed = _buffer(where, "packed", packed[l], self.typenum,
                                       (packed[l].shape[0],))
            self.a[l].packed_size = packed[l].shape[0]
            self.a[l].h0 = self.a[l].hT = _buffer(where, "h", h[l], self.typenum,
                                                  (self.batch, self.width), True)
            if lstm:
                self.a[l].c0 = self.a[l].cT = _buffer(where, "c", c[l], self.typenum,
                                                      (self.batch, self.hidden_size), True)
            y = _empty((1, self.batch, self.width), self.typenum)
            self.a[l].y = cnp.PyArray_DATA(<cnp.ndarray>y)
            self.keep.append(y)
            _set_masks(&self.a[l], where, ("mask_x", "mask_h", "zone_h", "zone_c"),
                       (None, None, zone_h, zone_c), self.typenum, 1, self.batch,
                       input_sizes[l], self.hidden_size)
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
        """x_t (N, I) of the stream's dtype, C-contiguous -> the top layer's y_t (N, H or P)."""
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
        y = _empty((self.batch, self.width), self.typenum)
        memcpy(cnp.PyArray_DATA(<cnp.ndarray>y), self.a[self.layers - 1].y,
               <size_t>self.batch * self.width * cnp.PyArray_ITEMSIZE(<cnp.ndarray>y))
        return y
