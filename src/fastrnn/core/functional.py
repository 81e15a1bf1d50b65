"""Single-layer, single-direction recurrences with the cache explicit.

These are what a user replacing a hand-written NumPy RNN loop calls; the
layers (``fastrnn.SRN``, ``LSTM``, ``GRU``) are built on them. Everything is
time-major. Shapes (T steps, N sequences, I input features, H hidden units,
G gates: 1 for the SRN, 4 for the LSTM, 3 for the GRU):

==========  ==============  ==================================================
argument    shape           meaning
==========  ==============  ==================================================
x           (T, N, I)       inputs
h0, c0      (N, H)          initial hidden (and LSTM cell) state; None = zeros
W_ih        (G*H, I)        input weights, gate blocks stacked as in PyTorch
W_hh        (G*H, H)        recurrent weights
b_ih, b_hh  (G*H,)          biases; None = no bias (both must be None or given)
lengths     (N,) int        optional; sequence n uses steps [0, lengths[n])
y           (T, N, H)       outputs, exactly 0 past each sequence's end
hT, cT      (N, H)          state after each sequence's last step (reverse:
                            after step 0)
==========  ==============  ==================================================

The dtype is ``W_ih``'s (float32 or float64); every other float argument is
cast to it and integer, bool or complex arrays raise ``TypeError``. Inputs are
never modified.

``*_backward(dy, dhT, ..., cache)`` returns a dict with ``dx``, ``dh0``
(``dc0``), ``dW_ih``, ``dW_hh``, ``db_ih``, ``db_hh`` (None without bias).
With ``out=`` (a dict of C-contiguous arrays of the right shapes and dtype,
keys ``dW_ih``, ``dW_hh`` and, with bias, ``db_ih``, ``db_hh``), the parameter
gradients are ADDED into those arrays instead (PyTorch's ``.grad`` rule) and
the same arrays are returned. With ``state_grads=True`` the dict also holds
``dh_seq`` (T, N, H), the total gradient reaching each step's output state
``dL/dh_t`` (and for the LSTM ``dc_seq``, ``dL/dc_t``), indexed by time: the
gradient-flow diagnostic, computed inside the backward loop.

The cache keeps its own copies of ``x`` and ``lengths`` (later changes to the
caller's arrays do not reach the backward) and references to the weights:
updating the weights in place between forward and backward changes the
gradient, as in PyTorch.
"""

from collections import namedtuple

import numpy as np

from . import validation as V
from .backend import get_backend, get_engine

GATES = {"srn": 1, "lstm": 4, "gru": 3}
NONLINEARITIES = ("tanh", "relu", "sigmoid")


class Cell(namedtuple("Cell", "kind nonlinearity residual reset_after")):
    """What one recurrence computes: ``kind`` ("srn", "lstm", "gru") and its options.

    ``nonlinearity`` and ``residual`` matter for the SRN only, ``reset_after``
    for the GRU only; ``Cell.of(kind, **options)`` fills the defaults.
    """

    __slots__ = ()

    @classmethod
    def of(cls, kind, nonlinearity="tanh", residual=False, reset_after=True):
        return cls(kind, nonlinearity, bool(residual), bool(reset_after))

    @property
    def gates(self):
        """G: the number of gate blocks (1 SRN, 4 LSTM, 3 GRU)."""
        return GATES[self.kind]

    @property
    def num_states(self):
        """1 (h) or 2 (the LSTM's h and c)."""
        return 2 if self.kind == "lstm" else 1


def engine_forward(engine, cell, x, states, weights, lengths, reverse, train, packed=None):
    """One recurrence on ``engine`` with arguments already checked and prepared.

    The one place a ``Cell`` becomes an engine call. ``x`` (T, N, I) C-contiguous
    of the weights' dtype, zero at inactive rows; ``states`` a list of (N, H)
    arrays (h, and c for the LSTM); ``weights`` (W_ih, W_hh, b_ih, b_hh), biases
    never None; ``lengths`` None or int64 (N,); ``packed`` None, or the same
    weights packed by the C engine's ``pack`` (only that engine takes it).
    Returns ``(y, finals, cache)`` with ``finals`` a list like ``states`` and
    ``cache`` the engine's own (None unless ``train``).
    """
    extra = {} if packed is None else {"packed": packed}
    if cell.kind == "lstm":
        y, hT, cT, cache = engine.lstm_forward(x, states[0], states[1], *weights, lengths,
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
    """BPTT through ``engine_forward``'s cache with prepared arguments.

    ``dy`` (T, N, H) and ``final_grads`` (a list of (N, H): dhT, and dcT for
    the LSTM) C-contiguous of the cache's dtype; ``grads`` the dict of arrays
    the parameter gradients are ADDED into (``dW_ih``, ``dW_hh``, ``db_ih``,
    ``db_hh``); ``trace`` None or a dict of (T, N, H) arrays to fill. Returns
    ``(dx, initial_grads)`` with ``initial_grads`` a list like ``final_grads``.
    """
    if cell.kind == "lstm":
        dx, dh0, dc0 = engine.lstm_backward(dy, final_grads[0], final_grads[1], cache, grads,
                                            trace)
        return dx, [dh0, dc0]
    backward = engine.gru_backward if cell.kind == "gru" else engine.srn_backward
    dx, dh0 = backward(dy, final_grads[0], cache, grads, trace)
    return dx, [dh0]


def engine_forward_layer(engine, cell, x, states, weights, lengths, train, packed=None):
    """Every direction of one layer: ``states``, ``weights`` (and ``packed``, if given)
    hold one ``engine_forward`` argument per direction (the second runs in reverse).

    Two directions run concurrently where the engine can (the C engine's
    ``forward_directions``), else one after the other; the same results either
    way. Returns ``[(y, finals, cache)]``, one per direction.
    """
    packed = packed or [None] * len(states)
    both = getattr(engine, "forward_directions", None) if len(states) == 2 else None
    if both is not None:
        return both(cell, x, states, weights, lengths, train, packed)
    return [engine_forward(engine, cell, x, states[d], weights[d], lengths, d == 1, train,
                           packed[d]) for d in range(len(states))]


def engine_backward_layer(engine, cell, caches, dys, final_grads, grads, traces):
    """Every direction's backward of one layer, concurrently where the engine can; the
    arguments hold one ``engine_backward`` argument per direction. Returns
    ``[(dx, initial_grads)]``, one per direction."""
    both = getattr(engine, "backward_directions", None) if len(caches) == 2 else None
    if both is not None:
        return both(cell, caches, dys, final_grads, grads, traces)
    return [engine_backward(engine, cell, caches[d], dys[d], final_grads[d], grads[d],
                            traces[d]) for d in range(len(caches))]


class RNNCache:
    """What a ``*_forward`` with ``train=True`` keeps for its ``*_backward``.

    Attributes: ``cell`` ("srn", "lstm", "gru"), ``spec`` (the ``Cell`` with its
    options), ``backend``, ``dtype``, ``shape`` (T, N, I, H), ``has_bias``;
    ``data`` is the engine's own cache (a dict).
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


def _states(named, N, H, dtype):
    """``[(name, array or None)]`` as checked (N, H) arrays of ``dtype``; None means zeros."""
    out = []
    for name, s in named:
        if s is None:
            s = np.zeros((N, H), dtype=dtype)
        else:
            s = V.as_float_array(name, s, dtype)
            V.check_shape(name, s, (N, H), "(N, H)")
        out.append(s)
    return out


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
    prepared_states = _states(states, N, H, dtype)
    lengths = V.check_lengths(lengths, T, N)
    x = V.zero_padding(x, lengths)
    return dtype, has_bias, x, prepared_states, (W_ih, W_hh, b_ih, b_hh), lengths


def _forward(cell, x, states, W_ih, W_hh, b_ih, b_hh, lengths, reverse, train, backend):
    """The functional forward of every cell: check, run, wrap the cache."""
    reverse, train = V.check_bool("reverse", reverse), V.check_bool("train", train)
    dtype, has_bias, x, states, weights, lengths = _prepare(
        cell, x, states, W_ih, W_hh, b_ih, b_hh, lengths, train)
    name = get_backend() if backend is None else backend
    y, finals, data = engine_forward(get_engine(name), cell, x, states, weights, lengths,
                                     reverse, train)
    cache = None
    if train:
        T, N, I = x.shape
        cache = RNNCache(cell, name, dtype, (T, N, I, states[0].shape[1]), has_bias, data)
    return y, finals, cache


def srn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                lengths=None, reverse=False, train=True, residual=False, backend=None):
    """Elman SRN: ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, f in tanh, relu, sigmoid.

    ``residual=True``: the residual recurrence ``h_t = h_{t-1} + f(...)``.

    Returns ``(y, hT, cache)``; ``cache`` is None when ``train`` is False.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}")
    cell = Cell.of("srn", nonlinearity, V.check_bool("residual", residual))
    y, (hT,), cache = _forward(cell, x, [("h0", h0)], W_ih, W_hh, b_ih, b_hh, lengths,
                               reverse, train, backend)
    return y, hT, cache


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, lengths=None,
                 reverse=False, train=True, backend=None):
    """LSTM, gates i, f, g, o: ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``.

    Returns ``(y, hT, cT, cache)``; ``cache`` is None when ``train`` is False.
    """
    y, (hT, cT), cache = _forward(Cell.of("lstm"), x, [("h0", h0), ("c0", c0)], W_ih, W_hh,
                                  b_ih, b_hh, lengths, reverse, train, backend)
    return y, hT, cT, cache


def gru_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, lengths=None, reverse=False,
                reset_after=True, train=True, backend=None):
    """GRU, gates r, z, n: ``h_t = (1-z)*n + z*h_{t-1}``.

    ``reset_after=True`` (PyTorch/cuDNN): ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``;
    ``reset_after=False`` (Cho 2014): ``n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)``.
    Returns ``(y, hT, cache)``; ``cache`` is None when ``train`` is False.
    """
    cell = Cell.of("gru", reset_after=V.check_bool("reset_after", reset_after))
    y, (hT,), cache = _forward(cell, x, [("h0", h0)], W_ih, W_hh, b_ih, b_hh, lengths,
                               reverse, train, backend)
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
    final_grads = _states(states, N, H, dtype)
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


def srn_backward(dy, dhT, cache, out=None, state_grads=False):
    """BPTT through an ``srn_forward``: dict of dx, dh0, dW_ih, dW_hh, db_ih, db_hh."""
    return _backward("srn", cache, dy, [("dhT", dhT)], out, state_grads)


def lstm_backward(dy, dhT, dcT, cache, out=None, state_grads=False):
    """BPTT through an ``lstm_forward``: dict of dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh."""
    return _backward("lstm", cache, dy, [("dhT", dhT), ("dcT", dcT)], out, state_grads)


def gru_backward(dy, dhT, cache, out=None, state_grads=False):
    """BPTT through a ``gru_forward``: dict of dx, dh0, dW_ih, dW_hh, db_ih, db_hh."""
    return _backward("gru", cache, dy, [("dhT", dhT)], out, state_grads)
