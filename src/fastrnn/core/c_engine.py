"""The compiled engine: the reference's engine contract, computed by the C kernels.

Same functions, signatures and semantics as ``fastrnn.core.reference`` (read
its module docstring for the contract); the callers (``fastrnn.functional``,
the layers) validate and prepare every argument. The work is in ``csrc/``
(see ``csrc/fastrnn.h``), reached through the Cython module
``fastrnn.core._ext``, which checks again everything the kernels rely on.

Training cache (``train=True``), per direction and layer, in bytes with
``b`` = 4 (float32) or 8 (float64); it also holds references (no copies) to
``x`` and the weights:

==========  ====================================================================
cell        cache bytes
==========  ====================================================================
SRN         ``b*(T+1)*N*H``            states ``hs``
SRN resid.  ``b*(2*T+1)*N*H``          ``hs`` + ``aux`` (f(z_t), T*N*H)
LSTM        ``b*(6*T+2)*N*H``          ``hs``, ``cs`` ((T+1)*N*H each) + gates i,f,g,o
LSTM proj.  ``b*((6*T+1)*N*H + (T+1)*N*P)``  ``hs`` (P wide), ``cs``, gates, ``aux`` (m_t)
GRU         ``b*(5*T+1)*N*H``          ``hs`` + gates r,z,n (3*T*N*H) + ``aux`` (T*N*H)
==========  ====================================================================

The backward allocates, for its duration, the pre-activation gradients
``b*T*N*G*H`` (GRU reset-after: ``+ b*T*N*H``) for the whole-sequence weight
products, plus O(N*H) scratch and packed copies of the weights
(``b*(G*H+64)*(H+I)`` at most). Inference (``train=False``) keeps no cache:
besides the output ``y`` it uses ``b*min(T, 32)*N*G*H`` for the input
projection (it runs 32 steps at a time) plus the packed weights and O(N*H),
whatever T is.

Every function here raises what the binding raises for an argument breaking
the contract (``ValueError`` naming the array and the expected dtype, shape
and contiguity; ``TypeError`` for an ``x`` that is not a float32/float64
ndarray) and ``KeyboardInterrupt`` on Ctrl-C from the main thread (the
kernel stops at the next step boundary, before touching any accumulated
gradient).

Examples
--------
>>> import numpy as np
>>> from fastrnn.core import c_engine, reference
>>> rng = np.random.default_rng(0)
>>> x, h0 = rng.standard_normal((6, 2, 3)), np.zeros((2, 4))
>>> W_ih, W_hh, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), np.zeros(4)
>>> y, hT, cache = c_engine.srn_forward(x, h0, W_ih, W_hh, b, b)
>>> y_ref, _, _ = reference.srn_forward(x, h0, W_ih, W_hh, b, b)
>>> bool(np.allclose(y, y_ref, rtol=1e-12, atol=1e-12)), sorted(cache)[:4]
(True, ['W_hh', 'W_ih', 'aux', 'cell'])
"""

from . import _ext

ENGINE_NAME = "c"


def srn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None,
                reverse=False, train=True, residual=False, packed=None, masks=None):
    """The SRN: ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, plus ``h_{t-1}`` if residual.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
        float32 or float64 (every array of the call has this dtype), zero at
        inactive rows.
    h0 : numpy.ndarray, shape (N, H)
    W_ih, W_hh : numpy.ndarray, shapes (H, I), (H, H)
    b_ih, b_hh : numpy.ndarray, shape (H,)
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
    lengths : None or numpy.ndarray of int64, shape (N,)
        ``1 <= lengths[n] <= T``.
    reverse : bool, default False
    train : bool, default True
        Keep the cache for ``srn_backward``.
    residual : bool, default False
    packed : numpy.ndarray, optional
        The same weights as ``pack("srn", ...)`` made them (this engine
        only): the kernel reads them instead of packing its own copy.
    masks : functional.Masks, optional
        Dropout masks and zoneout weights (the reference's module doc);
        the cache keeps references to them.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
    hT : numpy.ndarray, shape (N, H)
    cache : dict or None
        The binding's cache (the arrays in the module docstring's table and
        references to ``x``, ``W_ih``, ``W_hh``, ``lengths``); None unless
        ``train``.

    Raises
    ------
    ValueError
        For ``packed`` made for another cell, size, dtype or instruction
        set (the kernel's ``FASTRNN_EINVAL``), or any array breaking the
        contract.
    """
    y, hT, _, cache = _ext.forward("srn", x, h0, None, W_ih, W_hh, b_ih, b_hh, lengths,
                                   reverse, train, nonlinearity, residual, packed=packed,
                                   masks=masks)
    return y, hT, cache


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                 train=True, packed=None, W_hr=None, masks=None):
    """The LSTM, gates i, f, g, o: ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``.

    Parameters
    ----------
    x, h0, lengths, reverse, train, packed, masks
        As ``srn_forward`` takes them (``packed`` from ``pack("lstm", ...)``).
    c0 : numpy.ndarray, shape (N, H)
    W_ih, W_hh : numpy.ndarray, shapes (4H, I), (4H, H)
    b_ih, b_hh : numpy.ndarray, shape (4H,)
    W_hr : numpy.ndarray, shape (P, H), optional
        The projection ``h_t = (o*tanh(c_t)) W_hr^T``, 0 < P < H (PyTorch's
        ``proj_size``): then ``h0``, ``y``, ``hT`` have P columns and ``W_hh``
        is (4H, P); ``packed`` must then come from ``pack`` with ``W_hr``.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
    hT, cT : numpy.ndarray, shape (N, H)
    cache : dict or None

    Raises
    ------
    ValueError
        As ``srn_forward``.
    """
    return _ext.forward("lstm", x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse, train,
                        packed=packed, W_hr=W_hr, masks=masks)


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                reset_after=True, train=True, packed=None, masks=None):
    """The GRU, gates r, z, n: ``h_t = (1 - z)*n + z*h_{t-1}``, in either candidate form.

    Parameters
    ----------
    x, h0, lengths, reverse, train, packed, masks
        As ``srn_forward`` takes them (``packed`` from ``pack("gru", ...)``).
    W_ih, W_hh : numpy.ndarray, shapes (3H, I), (3H, H)
    b_ih, b_hh : numpy.ndarray, shape (3H,)
    reset_after : bool, default True
        The reset gate applied after the recurrent product (PyTorch) or
        before it (Cho et al. 2014).

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
    hT : numpy.ndarray, shape (N, H)
    cache : dict or None

    Raises
    ------
    ValueError
        As ``srn_forward``.
    """
    y, hT, _, cache = _ext.forward("gru", x, h0, None, W_ih, W_hh, b_ih, b_hh, lengths,
                                   reverse, train, reset_after=reset_after, packed=packed,
                                   masks=masks)
    return y, hT, cache


def isa():
    """The instruction set the kernels run with now (packed weights are made for it).

    Returns
    -------
    str
        ``"generic"``, ``"avx2"`` or ``"avx512"``: the best this CPU runs,
        unless ``FASTRNN_ISA`` or ``_ext.set_isa`` forced one.

    Examples
    --------
    >>> isa() in ("generic", "avx2", "avx512")
    True
    """
    return _ext.get_isa()


def pack(cell, W_ih, W_hh, b_ih, b_hh, W_hr=None):
    """The forward weights of one recurrence packed once, for ``*_forward(..., packed=)``.

    The layout the kernels read (W_hh in panels per gate block, W_ih in
    panels, the summed bias), behind a header recording the cell, the sizes,
    the element size and the instruction set's panel width; a forward given
    a buffer packed for anything else refuses it. The layers keep one per
    (layer, direction) while ``param_version`` and ``isa()`` are unchanged.

    Parameters
    ----------
    cell : {"srn", "lstm", "gru"}
    W_ih, W_hh : numpy.ndarray, shapes (G*H, I), (G*H, H)
    b_ih, b_hh : numpy.ndarray, shape (G*H,)
        C-contiguous, all of one float dtype (zeros for no bias).
    W_hr : numpy.ndarray, shape (P, H), optional
        The LSTM's projection (then W_hh is (4H, P)).

    Returns
    -------
    numpy.ndarray
        1-d, of the weights' dtype.

    Raises
    ------
    ValueError
        For an unknown cell, or arrays of other shapes, dtypes or layouts.
    TypeError
        For a ``W_hh`` that is not a float32/float64 ndarray.

    Examples
    --------
    >>> import numpy as np
    >>> W_ih, W_hh, b = np.ones((12, 3)), np.ones((12, 4)), np.zeros(12)
    >>> packed = pack("gru", W_ih, W_hh, b, b)
    >>> x, h0 = np.ones((5, 2, 3)), np.zeros((2, 4))
    >>> y1, _, _ = gru_forward(x, h0, W_ih, W_hh, b, b, train=False)
    >>> y2, _, _ = gru_forward(x, h0, W_ih, W_hh, b, b, train=False, packed=packed)
    >>> packed.ndim, bool(np.array_equal(y1, y2))
    (1, True)
    """
    return _ext.pack(cell, W_ih, W_hh, b_ih, b_hh, W_hr)


def _backward(cache, dy, dhT, dcT, grads, trace):
    trace = trace or {}
    return _ext.backward(cache, dy, dhT, dcT, grads["dW_ih"], grads["dW_hh"], grads["db_ih"],
                         grads["db_hh"], trace.get("dh"), trace.get("dc"), grads.get("dW_hr"))


def srn_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the SRN (either form); adds into ``grads``, returns fresh ``(dx, dh0)``.

    Parameters
    ----------
    dy : numpy.ndarray, shape (T, N, H)
    dhT : numpy.ndarray, shape (N, H)
    cache : dict
        ``srn_forward``'s, with ``train=True`` (its arrays are checked again).
    grads : dict of numpy.ndarray
        ``dW_ih`` (H, I), ``dW_hh`` (H, H), ``db_ih``, ``db_hh`` (H,):
        writeable, C-contiguous, of the cache's dtype; ADDED into.
    trace : dict, optional
        ``{"dh": (T, N, H) array}`` filled with dL/dh_t by time.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0 : numpy.ndarray, shape (N, H)

    Raises
    ------
    ValueError, TypeError
        For a cache or array breaking the contract (a ``grads`` array not
        writeable, say); ``grads`` is then unchanged.
    """
    return _backward(cache, dy, dhT, None, grads, trace)[:2]


def lstm_backward(dy, dhT, dcT, cache, grads, trace=None):
    """BPTT for the LSTM; adds into ``grads``, returns fresh ``(dx, dh0, dc0)``.

    Parameters
    ----------
    dy, dhT, trace
        As ``srn_backward`` takes them; ``trace`` may also hold ``"dc"``.
    dcT : numpy.ndarray, shape (N, H)
    cache : dict
        ``lstm_forward``'s, with ``train=True``.
    grads : dict of numpy.ndarray
        As ``srn_backward``'s, with 4H rows; with a projection (the cache's
        ``W_hr``) also ``dW_hr`` (P, H), and ``dy``, ``dhT`` have P columns.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0, dc0 : numpy.ndarray, shape (N, H)

    Raises
    ------
    ValueError, TypeError
        As ``srn_backward``.
    """
    return _backward(cache, dy, dhT, dcT, grads, trace)


def gru_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the GRU in either form; adds into ``grads``, returns fresh ``(dx, dh0)``.

    Parameters
    ----------
    dy, dhT, trace
        As ``srn_backward`` takes them.
    cache : dict
        ``gru_forward``'s, with ``train=True``.
    grads : dict of numpy.ndarray
        As ``srn_backward``'s, with 3H rows.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0 : numpy.ndarray, shape (N, H)

    Raises
    ------
    ValueError, TypeError
        As ``srn_backward``.
    """
    return _backward(cache, dy, dhT, None, grads, trace)[:2]


# --- both directions of a bidirectional layer at once (an optional part of the engine
# contract: engines without it run the directions one after the other) ----------------

def _finals(cell, hT, cT):
    return [hT, cT] if cell.kind == "lstm" else [hT]


def forward_directions(cell, x, states, weights, lengths, train, packed=(None, None),
                       masks=(None, None)):
    """The forward of both directions of a layer in one call, on halves of the threads.

    The second direction runs in reverse. The results are those of two
    ``functional.engine_forward`` calls, bit for bit.

    Parameters
    ----------
    cell : functional.Cell
    x : numpy.ndarray, shape (T, N, I)
        Read by both directions.
    states : list of two lists
        Per direction ``[h0]`` or ``[h0, c0]`` (N, H).
    weights : list of two tuples
        Per direction ``(W_ih, W_hh, b_ih, b_hh)`` (LSTM with a projection: and ``W_hr``).
    lengths : None or numpy.ndarray of int64, shape (N,)
    train : bool
    packed : pair, default (None, None)
        Per direction a ``pack`` buffer or None.
    masks : pair, default (None, None)
        Per direction a ``functional.Masks`` or None.

    Returns
    -------
    list
        ``[(y, finals, cache), (y, finals, cache)]``, forward direction first,
        ``finals`` a list like ``states``.

    Raises
    ------
    ValueError, TypeError
        As ``srn_forward``, for either direction.
    """
    outs = _ext.forward_directions(
        cell.kind, x, [(s[0], s[1] if len(s) > 1 else None) for s in states], weights,
        lengths, train, cell.nonlinearity, cell.residual, cell.reset_after, packed, masks)
    return [(y, _finals(cell, hT, cT), cache) for y, hT, cT, cache in outs]


def backward_directions(cell, caches, dys, final_grads, grads, traces):
    """The backward of both directions of a layer in one call, on halves of the threads.

    Parameters
    ----------
    cell : functional.Cell
    caches, dys : list of two
        Per direction the forward's cache and dL/dy (T, N, H).
    final_grads : list of two lists
        Per direction ``[dhT]`` or ``[dhT, dcT]``.
    grads : list of two dicts
        Per direction ``dW_ih``, ``dW_hh``, ``db_ih``, ``db_hh``, ADDED into.
    traces : list of two
        Per direction None or a trace dict (``srn_backward``).

    Returns
    -------
    list
        ``[(dx, initial_grads), (dx, initial_grads)]``, ``initial_grads`` a
        list like ``final_grads``.

    Raises
    ------
    ValueError, TypeError
        As ``srn_backward``, for either direction, or directions of
        different dtypes.
    """
    traces = [t or {} for t in traces]
    outs = _ext.backward_directions(
        caches, dys, [(g[0], g[1] if len(g) > 1 else None) for g in final_grads],
        [(g["dW_ih"], g["dW_hh"], g["db_ih"], g["db_hh"], g.get("dW_hr")) for g in grads],
        [(t.get("dh"), t.get("dc")) for t in traces])
    return [(dx, _finals(cell, dh0, dc0)) for dx, dh0, dc0 in outs]
