"""Single-layer, single-direction recurrences with the cache explicit.

These are what a user replacing a hand-written NumPy RNN loop calls; the
layers (``fastrnn.SRN``, ``LSTM``, ``GRU``) are built on them. Everything is
time-major: with T steps, N sequences, I input features, H hidden units and
G gate blocks (1 SRN, 4 LSTM, 3 GRU), ``x`` is (T, N, I), ``h0``, ``c0`` and
the final ``hT``, ``cT`` (N, H), ``W_ih`` (G*H, I), ``W_hh`` (G*H, H),
``b_ih``, ``b_hh`` (G*H,) or None, ``lengths`` (N,) or None, ``y`` (T, N, H).
The dtype is ``W_ih``'s; inputs are never modified. ``*_backward(dy, dhT,
..., cache)`` returns a dict of gradients, those of the parameters ADDED into
the caller's arrays with ``out=``.

Each function's docstring has the details (the text the six share is written
once, in ``fastrnn.core.docstrings``). ``Cell`` and ``engine_*`` are the one
place a cell becomes an engine call; the layers call them with checked
arguments.
"""
from collections import namedtuple

import numpy as np

from . import validation as V
from .backend import get_backend, get_engine
from .docstrings import complete_doc
from . import masks as _masks

from .cells import GATES  # noqa: E402  (re-exported: functional.GATES)
NONLINEARITIES = ("tanh", "relu", "sigmoid")
Masks = _masks.Masks  # dropout masks and zoneout weights of one recurrence (core/masks.py)


class Cell(namedtuple("Cell", "kind nonlinearity residual reset_after")):
    """What one recurrence computes: the cell's kind and its options (a named tuple).

    Made by ``Cell.of``, which fills the defaults; ``engine_forward`` and the C
    binding dispatch on it. Its properties ``gates`` and ``num_states`` give G
    and the number of state arrays.

    Parameters
    ----------
    kind : {"srn", "lstm", "gru"}
    nonlinearity : {"tanh", "relu", "sigmoid"}
        The SRN's f (ignored by the other cells).
    residual : bool
        The SRN's residual form ``h_t = h_{t-1} + f(...)`` (ignored by the others).
    reset_after : bool
        The GRU's form: reset after the recurrent product (PyTorch) or before it
        (Cho et al. 2014); ignored by the others.

    Examples
    --------
    >>> Cell.of("gru", reset_after=False)
    Cell(kind='gru', nonlinearity='tanh', residual=False, reset_after=False)
    """

    __slots__ = ()

    @classmethod
    def of(cls, kind, nonlinearity="tanh", residual=False, reset_after=True):
        """The ``Cell`` of ``kind`` with these options, the defaults filled in (not checked).

        Parameters
        ----------
        kind, nonlinearity, residual, reset_after
            As the class takes them; defaults "tanh", False, True.

        Returns
        -------
        Cell
        """
        return cls(kind, nonlinearity, bool(residual), bool(reset_after))

    @property
    def gates(self):
        """G: the number of gate blocks (1 SRN, 4 LSTM, 3 GRU)."""
        return GATES[self.kind]

    @property
    def num_states(self):
        """1 (h) or 2 (the LSTM's h and c)."""
        return 2 if self.kind == "lstm" else 1


def engine_forward(engine, cell, x, states, weights, lengths, reverse, train, packed=None,
                   masks=None):
    """One recurrence on ``engine``, its arguments already checked and prepared.

    The one place a ``Cell`` becomes an engine call (``<cell>_forward`` of the
    engine contract: ``fastrnn.core.reference``'s module docstring).

    Parameters
    ----------
    engine : module
        ``fastrnn.core.c_engine`` or ``fastrnn.core.reference`` (``get_engine()``).
    cell : Cell
    x : numpy.ndarray, shape (T, N, I)
        C-contiguous, of the weights' dtype, zero at inactive rows.
    states : list of numpy.ndarray, shape (N, H)
        ``[h0]``, or ``[h0, c0]`` for the LSTM.
    weights : tuple of numpy.ndarray
        ``(W_ih, W_hh, b_ih, b_hh)``, (G*H, I), (G*H, H), (G*H,) twice; zeros for
        no bias, never None. An LSTM with a projection adds ``W_hr`` (P, H)
        (then W_hh is (4*H, P), and ``h0``, ``y``, ``hT`` have P columns).
    lengths : None or numpy.ndarray of int64, shape (N,)
    reverse, train : bool
    packed : numpy.ndarray, optional
        The same weights packed by ``c_engine.pack`` (C engine only: it then
        reads them instead of the raw weights).
    masks : Masks or None
        Checked (``check_masks``: shapes, dtype); None when there are none.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
    finals : list of numpy.ndarray, shape (N, H)
        The final state, like ``states``.
    cache : dict or None
        The engine's own cache (None unless ``train``).

    Raises
    ------
    ValueError, TypeError
        From the C binding, for arguments breaking this contract (the NumPy
        engine does not check them).
    """
    extra = dict({} if packed is None else {"packed": packed}, masks=masks)
    if cell.kind == "lstm":
        if len(weights) > 4:  # the projection
            extra["W_hr"] = weights[4]
        y, hT, cT, cache = engine.lstm_forward(x, states[0], states[1], *weights[:4], lengths,
                                               reverse, train, **extra)
        return y, [hT, cT], cache
    if cell.kind == "gru":
        y, hT, cache = engine.gru_forward(x, states[0], *weights, lengths, reverse,
                                          cell.reset_after, train, **extra)
    else:
        y, hT, cache = engine.srn_forward(x, states[0], *weights, cell.nonlinearity, lengths,
                                          reverse, train, cell.residual, **extra)
    return y, [hT], cache


def engine_backward(engine, cell, cache, dy, final_grads, grads, trace=None):
    """BPTT through ``engine_forward``'s cache, the arguments already prepared.

    Parameters
    ----------
    engine : module
        The engine that made ``cache``.
    cell : Cell
    cache : dict
        ``engine_forward``'s (made with ``train=True``).
    dy : numpy.ndarray, shape (T, N, H)
        C-contiguous, of the cache's dtype.
    final_grads : list of numpy.ndarray, shape (N, H)
        ``[dhT]``, or ``[dhT, dcT]`` for the LSTM.
    grads : dict of numpy.ndarray
        ``dW_ih``, ``dW_hh``, ``db_ih``, ``db_hh`` (and ``dW_hr`` for an LSTM
        with a projection), ADDED into.
    trace : dict of numpy.ndarray, optional
        ``{"dh": (T, N, H)}`` (and ``"dc"``, LSTM) to fill with dL/dh_t by time
        (``"dh"`` (T, N, P) with a projection).

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    initial_grads : list of numpy.ndarray, shape (N, H)
        ``[dh0]``, or ``[dh0, dc0]``: fresh arrays.

    """
    if cell.kind == "lstm":
        dx, dh0, dc0 = engine.lstm_backward(dy, final_grads[0], final_grads[1], cache, grads,
                                            trace)
        return dx, [dh0, dc0]
    backward = engine.gru_backward if cell.kind == "gru" else engine.srn_backward
    dx, dh0 = backward(dy, final_grads[0], cache, grads, trace)
    return dx, [dh0]


def engine_forward_layer(engine, cell, x, states, weights, lengths, train, packed=None,
                         masks=None):
    """Every direction of one layer, the second in reverse.

    Two directions run concurrently where the engine can (the C engine's
    ``forward_directions``: one call on two halves of its threads), else one after
    the other; the same results either way.

    Parameters
    ----------
    engine, cell, x, lengths, train
        As ``engine_forward`` takes them (``x`` is read by every direction).
    states, weights, packed, masks : list
        One ``engine_forward`` argument per direction (1 or 2); ``packed`` and
        ``masks`` may be None for none at all.

    Returns
    -------
    list of tuple
        ``[(y, finals, cache)]``, one per direction.
    """
    packed = packed or [None] * len(states)
    masks = masks or [None] * len(states)
    both = getattr(engine, "forward_directions", None) if len(states) == 2 else None
    if both is not None:
        return both(cell, x, states, weights, lengths, train, packed, masks)
    return [engine_forward(engine, cell, x, states[d], weights[d], lengths, d == 1, train,
                           packed[d], masks[d]) for d in range(len(states))]


def engine_backward_layer(engine, cell, caches, dys, final_grads, grads, traces):
    """Every direction's backward of one layer, concurrently where the engine can.

    Parameters
    ----------
    engine, cell : module, Cell
    caches, dys, final_grads, grads, traces : list
        One ``engine_backward`` argument per direction (1 or 2).

    Returns
    -------
    list of tuple
        ``[(dx, initial_grads)]``, one per direction.
    """
    both = getattr(engine, "backward_directions", None) if len(caches) == 2 else None
    if both is not None:
        return both(cell, caches, dys, final_grads, grads, traces)
    return [engine_backward(engine, cell, caches[d], dys[d], final_grads[d], grads[d],
                            traces[d]) for d in range(len(caches))]


class RNNCache:
    """What a ``*_forward`` with ``train=True`` keeps for its ``*_backward``.

    Made by the forward functions; the backward checks it has one of its cell.
    The attributes are the arguments, plus ``cell`` (``spec.kind``).

    Parameters
    ----------
    spec : Cell
    backend : {"c", "numpy"}
        The engine that made ``data``; the backward runs on it too.
    dtype : numpy.dtype
    shape : tuple of int
        ``(T, N, I, H)``.
    has_bias : bool
    data : dict
        The engine's own cache (with the masks, if any, the backward uses).

    Examples
    --------
    >>> import numpy as np
    >>> x, W = np.zeros((5, 2, 3)), np.zeros((4, 3))
    >>> srn_forward(x, None, W, np.zeros((4, 4)), backend="numpy")[2]
    RNNCache(cell='srn', backend='numpy', dtype=float64, T=5, N=2, I=3, H=4)
    """

    __slots__ = ("spec", "backend", "dtype", "shape", "has_bias", "data")

    def __init__(self, spec, backend, dtype, shape, has_bias, data):
        self.spec, self.backend, self.dtype = spec, backend, dtype
        self.shape, self.has_bias, self.data = shape, has_bias, data

    @property
    def cell(self):
        return self.spec.kind

    def __repr__(self):
        T, N, I, H = self.shape
        return (f"RNNCache(cell={self.cell!r}, backend={self.backend!r}, "
                f"dtype={self.dtype}, T={T}, N={N}, I={I}, H={H})")


def _prepare(cell, x, states, W_ih, W_hh, b_ih, b_hh, lengths, train):
    """Validate and convert the forward's arguments; returns them engine-ready.

    With ``train`` the returned ``x`` and ``lengths`` are private read-only
    copies: the cache keeps them, never the caller's arrays.
    """
    G = cell.gates
    W_ih = V.as_float_array("W_ih", W_ih)
    dtype = V.check_dtype(W_ih.dtype, "W_ih dtype")
    W_hh = V.as_float_array("W_hh", W_hh, dtype)
    if W_hh.ndim != 2 or W_hh.shape[1] < 1 or W_hh.shape[0] != G * W_hh.shape[1]:
        raise ValueError(f"W_hh: expected shape ({G}*H, H) with H >= 1, "
                         f"got {V.fmt_shape(W_hh.shape)}")
    H = W_hh.shape[1]
    x = V.as_array("x", x)
    if x.ndim != 3 or min(x.shape) < 1:
        raise ValueError(f"x: expected a 3-d array of shape (T, N, I) with T, N, I >= 1, "
                         f"got shape {V.fmt_shape(x.shape)}")
    T, N, I = x.shape
    V.check_sizes(T, N, I, H, G)  # before the copy below can allocate
    x = V.as_float_array("x", x, dtype, private=train)
    V.check_shape("W_ih", W_ih, (G * H, I), f"({G}*H, I)")
    if (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih, b_hh: expected both arrays or both None, got "
                         f"{'None' if b_ih is None else 'an array'} and "
                         f"{'None' if b_hh is None else 'an array'}")
    has_bias = b_ih is not None
    if has_bias:
        b_ih = V.as_float_array("b_ih", b_ih, dtype)
        b_hh = V.as_float_array("b_hh", b_hh, dtype)
        V.check_shape("b_ih", b_ih, (G * H,), f"({G}*H,)")
        V.check_shape("b_hh", b_hh, (G * H,), f"({G}*H,)")
    else:
        b_ih = b_hh = np.zeros(G * H, dtype=dtype)
    prepared_states = V.check_states(states, N, H, dtype)
    lengths = V.check_lengths(lengths, T, N)
    x = V.zero_padding(x, lengths)
    return dtype, has_bias, x, prepared_states, (W_ih, W_hh, b_ih, b_hh), lengths


def _forward(cell, x, states, W_ih, W_hh, b_ih, b_hh, lengths, reverse, train, backend, masks):
    """The functional forward of every cell: check, run, wrap the cache."""
    reverse, train = V.check_bool("reverse", reverse), V.check_bool("train", train)
    dtype, has_bias, x, states, weights, lengths = _prepare(
        cell, x, states, W_ih, W_hh, b_ih, b_hh, lengths, train)
    T, N, I = x.shape
    masks = _masks.check_masks(cell.kind, masks, T, N, I, states[0].shape[1], dtype, private=train)
    name = get_backend() if backend is None else backend
    y, finals, data = engine_forward(get_engine(name), cell, x, states, weights, lengths,
                                     reverse, train, masks=masks)
    cache = None
    if train:
        cache = RNNCache(cell, name, dtype, (T, N, I, states[0].shape[1]), has_bias, data)
    return y, finals, cache


@complete_doc("forward")
def srn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                lengths=None, reverse=False, train=True, residual=False, backend=None,
                masks=None):
    """The Elman SRN over a sequence: ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    One layer, one direction, time-major; the output at step t is h_t. One
    gate block: G = 1.

    Parameters
    ----------
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
        f.
    residual : bool, default False
        The residual recurrence ``h_t = h_{t-1} + f(...)``.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        h_t at every step; exactly 0 past each sequence's end.
    hT : numpy.ndarray, shape (N, H)
        The final state (after step 0 with ``reverse``).
    cache : RNNCache or None
        For ``srn_backward``; None when ``train`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3))                  # (T, N, I), float64
    >>> W_ih, W_hh = rng.standard_normal((4, 3)), rng.standard_normal((4, 4)) / 2
    >>> y, hT, cache = F.srn_forward(x, None, W_ih, W_hh, lengths=[5, 2])
    >>> y.shape, hT.shape, bool(np.array_equal(hT[1], y[1, 1])), bool((y[2:, 1] == 0).all())
    ((5, 2, 4), (2, 4), True, True)
    >>> grads = F.srn_backward(np.ones_like(y), None, cache)
    >>> grads["dx"].shape, grads["dW_hh"].shape, grads["db_ih"]
    ((5, 2, 3), (4, 4), None)
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
    cell = Cell.of("srn", nonlinearity, V.check_bool("residual", residual))
    y, (hT,), cache = _forward(cell, x, [("h0", h0)], W_ih, W_hh, b_ih, b_hh, lengths,
                               reverse, train, backend, masks)
    return y, hT, cache


@complete_doc("forward")
def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, lengths=None,
                 reverse=False, train=True, backend=None, masks=None):
    """The LSTM over a sequence: ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``.

    One layer, one direction, time-major. From ``z = W_ih x_t + b_ih + W_hh
    h_{t-1} + b_hh`` split into the blocks i, f, g, o (PyTorch's order,
    G = 4): ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_g)``; the
    output at step t is h_t.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        h_t at every step; exactly 0 past each sequence's end.
    hT, cT : numpy.ndarray, shape (N, H)
        The final hidden and cell states (after step 0 with ``reverse``).
    cache : RNNCache or None
        For ``lstm_backward``; None when ``train`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3)).astype(np.float32)        # (T, N, I), H = 4
    >>> W_ih, W_hh, b = rng.standard_normal((16, 3)), rng.standard_normal((16, 4)), np.zeros(16)
    >>> y, hT, cT, cache = F.lstm_forward(x, None, None, W_ih, W_hh, b, b)
    >>> y.dtype.name, y.shape, cT.shape                  # the weights' dtype
    ('float64', (5, 2, 4), (2, 4))
    >>> out = {"dW_ih": np.zeros_like(W_ih), "dW_hh": np.zeros_like(W_hh),
    ...        "db_ih": np.zeros_like(b), "db_hh": np.zeros_like(b)}
    >>> grads = F.lstm_backward(np.ones_like(y), None, None, cache, out=out)
    >>> grads["dW_hh"] is out["dW_hh"], grads["dc0"].shape   # added into out
    (True, (2, 4))
    """
    y, (hT, cT), cache = _forward(Cell.of("lstm"), x, [("h0", h0), ("c0", c0)], W_ih, W_hh,
                                  b_ih, b_hh, lengths, reverse, train, backend, masks)
    return y, hT, cT, cache


@complete_doc("forward")
def gru_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, lengths=None, reverse=False,
                reset_after=True, train=True, backend=None, masks=None):
    """The GRU over a sequence, gates r, z, n: ``h_t = (1-z)*n + z*h_{t-1}``.

    One layer, one direction, time-major; ``r, z = sigmoid(W_i{r,z} x_t +
    b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})`` (PyTorch's order r, z, n,
    G = 3); the output at step t is h_t.

    Parameters
    ----------
    reset_after : bool, default True
        The candidate's form. True (PyTorch, cuDNN): ``n = tanh(W_in x_t +
        b_in + r*(W_hn h_{t-1} + b_hn))``. False (Cho et al. 2014): ``n =
        tanh(W_in x_t + b_in + W_hn (r*h_{t-1}) + b_hn)``.

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        h_t at every step; exactly 0 past each sequence's end.
    hT : numpy.ndarray, shape (N, H)
        The final state (after step 0 with ``reverse``).
    cache : RNNCache or None
        For ``gru_backward``; None when ``train`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 4))
    >>> W_ih, W_hh = rng.standard_normal((12, 3)), rng.standard_normal((12, 4))
    >>> y, hT, _ = F.gru_forward(x, h0, W_ih, W_hh, reverse=True, train=False)
    >>> bool(np.array_equal(hT, y[0]))                   # reverse: it ends at step 0
    True
    >>> y_ref, _, _ = F.gru_forward(x, h0, W_ih, W_hh, reverse=True, train=False,
    ...                             backend="numpy")     # the reference engine
    >>> bool(np.allclose(y, y_ref, rtol=1e-12, atol=1e-12))
    True
    """
    cell = Cell.of("gru", reset_after=V.check_bool("reset_after", reset_after))
    y, (hT,), cache = _forward(cell, x, [("h0", h0)], W_ih, W_hh, b_ih, b_hh, lengths,
                               reverse, train, backend, masks)
    return y, hT, cache


def _backward(kind, cache, dy, states, out, state_grads):
    """The functional backward of every cell: check, run, assemble the result dict."""
    if not isinstance(cache, RNNCache):
        raise TypeError(f"cache: expected the RNNCache of a {kind}_forward with train=True, "
                        f"got {type(cache).__name__}")
    if cache.cell != kind:
        raise ValueError(f"cache: expected a cache from {kind}_forward, "
                         f"got one from {cache.cell}_forward")
    T, N, I, H = cache.shape
    dtype = cache.dtype
    if dy is None:
        dy = np.zeros((T, N, H), dtype=dtype)
    else:
        dy = V.as_float_array("dy", dy, dtype)
        V.check_shape("dy", dy, (T, N, H), "(T, N, H)")
    final_grads = V.check_states(states, N, H, dtype)
    grads = _gradient_sinks(cache, out)
    trace = None
    if V.check_bool("state_grads", state_grads):
        keys = ("dh", "dc") if kind == "lstm" else ("dh",)
        trace = {k: np.empty((T, N, H), dtype=dtype) for k in keys}
    dx, initial = engine_backward(get_engine(cache.backend), cache.spec, cache.data, dy,
                                  final_grads, grads, trace)
    res = dict(dx=dx, dh0=initial[0])
    if kind == "lstm":
        res["dc0"] = initial[1]
    res.update(dW_ih=grads["dW_ih"], dW_hh=grads["dW_hh"],
               db_ih=grads["db_ih"] if cache.has_bias else None,
               db_hh=grads["db_hh"] if cache.has_bias else None)
    if trace is not None:
        res.update({k + "_seq": v for k, v in trace.items()})
    return res


def _gradient_sinks(cache, out):
    """The arrays the parameter gradients are added into: ``out``'s, or fresh zeros."""
    T, N, I, H = cache.shape
    G, dtype = cache.spec.gates, cache.dtype
    shapes = {"dW_ih": (G * H, I), "dW_hh": (G * H, H), "db_ih": (G * H,), "db_hh": (G * H,)}
    if out is None:
        return {k: np.zeros(s, dtype=dtype) for k, s in shapes.items()}
    grads = {}
    for key, shape in shapes.items():
        arr = out.get(key) if cache.has_bias or key.startswith("dW") else None
        if arr is None:
            if cache.has_bias or key.startswith("dW"):
                raise KeyError(f"out: expected an array for {key!r}, got none")
            arr = np.zeros(shape, dtype=dtype)  # no bias: a scratch sink
        elif not (isinstance(arr, np.ndarray) and arr.dtype == dtype
                  and arr.flags.c_contiguous and arr.flags.writeable):
            raise ValueError(f"out[{key!r}]: expected a writeable C-contiguous {dtype} "
                             f"array, got {type(arr).__name__}"
                             + (f" of dtype {arr.dtype}" if isinstance(arr, np.ndarray) else ""))
        else:
            V.check_shape(f"out[{key!r}]", arr, shape)
        grads[key] = arr
    return grads


@complete_doc("backward")
def srn_backward(dy, dhT, cache, out=None, state_grads=False):
    """Backpropagation through time through an ``srn_forward``.

    Returns
    -------
    dict
        ``dx`` (T, N, I), ``dh0`` (N, H): fresh; ``dW_ih`` (H, I), ``dW_hh``
        (H, H), ``db_ih``, ``db_hh`` (H,): the arrays added into (None
        without bias); with ``state_grads``, ``dh_seq`` (T, N, H).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3))
    >>> W_ih, W_hh, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), np.zeros(4)
    >>> y, hT, cache = F.srn_forward(x, None, W_ih, W_hh, b, b)
    >>> grads = F.srn_backward(None, np.ones_like(hT), cache, state_grads=True)
    >>> sorted(grads)
    ['dW_hh', 'dW_ih', 'db_hh', 'db_ih', 'dh0', 'dh_seq', 'dx']
    >>> bool(np.array_equal(grads["dh_seq"][-1], np.ones_like(hT)))   # dL/dh_T
    True
    """
    return _backward("srn", cache, dy, [("dhT", dhT)], out, state_grads)


@complete_doc("backward")
def lstm_backward(dy, dhT, dcT, cache, out=None, state_grads=False):
    """Backpropagation through time through an ``lstm_forward``.

    Returns
    -------
    dict
        ``dx`` (T, N, I), ``dh0``, ``dc0`` (N, H): fresh; ``dW_ih`` (4H, I),
        ``dW_hh`` (4H, H), ``db_ih``, ``db_hh`` (4H,): the arrays added into
        (None without bias); with ``state_grads``, ``dh_seq`` and
        ``dc_seq`` (T, N, H), ``dL/dh_t`` and ``dL/dc_t`` by time.

    See Also
    --------
    lstm_forward : its example calls this function with ``out=``.
    """
    return _backward("lstm", cache, dy, [("dhT", dhT), ("dcT", dcT)], out, state_grads)


@complete_doc("backward")
def gru_backward(dy, dhT, cache, out=None, state_grads=False):
    """Backpropagation through time through a ``gru_forward`` (either form).

    Returns
    -------
    dict
        ``dx`` (T, N, I), ``dh0`` (N, H): fresh; ``dW_ih`` (3H, I),
        ``dW_hh`` (3H, H), ``db_ih``, ``db_hh`` (3H,): the arrays added into
        (None without bias); with ``state_grads``, ``dh_seq`` (T, N, H).

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import functional as F
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 2, 3))
    >>> W_ih, W_hh, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 2)), np.zeros(6)
    >>> y, hT, cache = F.gru_forward(x, None, W_ih, W_hh, b, b, reset_after=False)
    >>> first = F.gru_backward(np.ones_like(y), None, cache)
    >>> again = F.gru_backward(np.ones_like(y), None, cache, out=first)  # adds in
    >>> again["db_hh"] is first["db_hh"]
    True
    """
    return _backward("gru", cache, dy, [("dhT", dhT)], out, state_grads)
