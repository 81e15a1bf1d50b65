"""A layer's structure, and a NumPy re-run of its cells that records every step.

The diagnostics that need more than the engine's backward (step Jacobians,
the first non-finite value, gate statistics) and RTRL re-run a layer here,
step by step, with the cell math of ``fastrnn.core.cells``. Nothing here is a
hot path. Parts of a layer are indexed ``k = layer * num_directions +
direction`` as in the layers; arrays are time-major.
"""

from dataclasses import dataclass

import numpy as np

from ..core import validation as V
from ..core.cells import CellSpec
from ..core.layers import param_name

__all__ = ["layer_spec", "layer_weights", "time_major", "initial_states", "PartWalk",
           "walk_part", "walk_layer"]


def layer_spec(layer):
    """The :class:`~fastrnn.core.cells.CellSpec` of a fastrnn ``SRN``, ``LSTM`` or ``GRU``.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU

    Returns
    -------
    CellSpec

    Raises
    ------
    TypeError
        If ``layer`` is not one of those layers.
    ValueError
        For an LSTM with a projection (``proj_size`` > 0): the lab's step-by-step
        analyses (gradient flow, Jacobians, gates, RTRL, non-finite walks) model
        the cells of ``fastrnn.core.cells`` without it.
    """
    cell = getattr(layer, "_cell", None)
    if cell not in ("srn", "lstm", "gru"):
        raise TypeError(f"layer: expected a fastrnn SRN, LSTM or GRU layer, "
                        f"got {type(layer).__name__}")
    if getattr(layer, "proj_size", 0):
        raise ValueError(f"layer: an LSTM with proj_size={layer.proj_size} (a projection of "
                         "h) is not supported by the lab's analyses; use proj_size=0")
    return CellSpec(cell, getattr(layer, "nonlinearity", "tanh"),
                    bool(getattr(layer, "residual", False)),
                    bool(getattr(layer, "reset_after", True)))


def layer_weights(layer, layer_index, direction, dtype=None):
    """The four arrays of one part of a layer, in the functional layout.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    layer_index, direction : int
        The part (``direction`` 1 is the reverse one).
    dtype : numpy dtype, optional
        Convert to this dtype (copies); default: the layer's own arrays (views).

    Returns
    -------
    W_ih : ndarray, shape (G*H, I_layer)
    W_hh : ndarray, shape (G*H, H)
    b_ih, b_hh : ndarray, shape (G*H,)
        Zeros when the layer has no bias.
    """
    p = layer.params
    W_ih = p[param_name("weight_ih", layer_index, direction)]
    W_hh = p[param_name("weight_hh", layer_index, direction)]
    if layer.bias:
        b_ih = p[param_name("bias_ih", layer_index, direction)]
        b_hh = p[param_name("bias_hh", layer_index, direction)]
    else:
        b_ih = b_hh = np.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    ws = (W_ih, W_hh, b_ih, b_hh)
    if dtype is not None:
        ws = tuple(np.asarray(w, dtype=dtype) for w in ws)
    return ws


def time_major(layer, name, a, width):
    """``a`` as a time-major (T, N, width) view, checked against the layer's layout.

    Parameters
    ----------
    layer : a fastrnn recurrent layer
        Its ``batch_first`` decides the layout of ``a``.
    name : str
        The argument's name, for error messages.
    a : array_like, shape (T, N, width), or (N, T, width) with ``batch_first``
    width : int

    Returns
    -------
    ndarray, shape (T, N, width)

    Raises
    ------
    TypeError
        If ``a`` is not a real floating-point array.
    ValueError
        If its shape is not the expected one.
    """
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != width or min(arr.shape) < 1:
        layout = "(N, T, {})" if layer.batch_first else "(T, N, {})"
        raise ValueError(f"{name}: expected shape {layout.format(width)}, "
                         f"got {V.fmt_shape(arr.shape)}")
    return arr.swapaxes(0, 1) if layer.batch_first else arr


def initial_states(layer, state, N, dtype, name="state"):
    """The state argument of a layer as one ``(h, c)`` pair per part (zeros for None).

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    state : ndarray, shape (L*D, N, H), a tuple ``(h, c)`` of two (LSTM), or None
    N : int
        Batch size.
    dtype : numpy dtype
    name : str
        The argument's name, for error messages.

    Returns
    -------
    list of (ndarray (N, H), ndarray (N, H) or None)
        One pair per part ``k``; ``c`` is None except for the LSTM.

    Raises
    ------
    TypeError
        If an LSTM's state is not a pair.
    ValueError
        If a shape is wrong.
    """
    L, D, H = layer.num_layers, layer.num_directions, layer.hidden_size
    lstm = layer_spec(layer).cell == "lstm"
    shape = (L * D, N, H)
    if lstm:
        if state is not None and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(f"{name}: expected a tuple (h, c), got {type(state).__name__}")
        hs, cs = (None, None) if state is None else state
    else:
        hs, cs = state, None

    def part(s, label):
        if s is None:
            return np.zeros(shape, dtype=dtype)
        arr = np.asarray(s, dtype=dtype)
        V.check_shape(label, arr, shape, "(num_layers*num_directions, N, hidden_size)")
        return arr
    h = part(hs, name + ("[0]" if lstm else ""))
    c = part(cs, name + "[1]") if lstm else None
    return [(h[k], None if c is None else c[k]) for k in range(L * D)]


@dataclass
class PartWalk:
    """The recorded run of one (layer, direction) part.

    Attributes
    ----------
    steps : list of Step
        ``steps[t]`` is step t's :class:`~fastrnn.core.cells.Step` (indexed by
        time whatever the direction); a step computes every row, the engines'
        masking is applied to the state carried to the next step.
    y : ndarray, shape (T, N, H)
        The part's outputs (0 past each sequence's end).
    mask : ndarray of bool, shape (T, N, 1), or None
        Which rows each step uses (None: all).
    """

    steps: list
    y: np.ndarray
    mask: np.ndarray = None

    def active(self, t):
        """Which rows step ``t`` uses.

        Parameters
        ----------
        t : int
            The time index.

        Returns
        -------
        ndarray of bool, shape (N, 1), or None
            None when every row is active.
        """
        return None if self.mask is None else self.mask[t]


def walk_part(spec, x, h0, c0, weights, mask, reverse, check=None):
    """Run one part step by step with the cell math of ``fastrnn.core.cells``.

    Inactive rows keep their state, as in the engines.

    Parameters
    ----------
    spec : CellSpec
    x : ndarray, shape (T, N, I)
        Time-major input, padding zeroed.
    h0, c0 : ndarray, shape (N, H)
        Initial state (``c0`` None except for the LSTM).
    weights : tuple (W_ih, W_hh, b_ih, b_hh)
        As :func:`layer_weights` returns them.
    mask : ndarray of bool, shape (T, N, 1), or None
    reverse : bool
        Run from step T-1 down to 0.
    check : callable, optional
        ``check(t, step, active)`` called before the step's state is carried;
        a non-None return stops the walk and is returned as the report.

    Returns
    -------
    walk : PartWalk
        Steps not reached (after an early stop) are None.
    report : object or None
        What ``check`` returned, if it stopped the walk.
    """
    W_ih, W_hh, b_ih, b_hh = weights
    T, N, I = x.shape
    xg = (x.reshape(T * N, I) @ W_ih.T).reshape(T, N, -1) + spec.input_bias(b_ih, b_hh)
    h, c = h0, c0
    walk = PartWalk([None] * T, np.zeros((T,) + h0.shape, dtype=h0.dtype), mask)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        step = spec.step(xg[t], h, c, W_hh, b_hh)
        m = walk.active(t)
        if check is not None:
            report = check(t, step, m)
            if report is not None:
                return walk, report
        if c is not None:
            c = step.c if m is None else np.where(m, step.c, c)
        h = step.h if m is None else np.where(m, step.h, h)
        walk.y[t] = h if m is None else np.where(m, h, 0)
        walk.steps[t] = step
    return walk, None


def walk_layer(layer, x, state=None, lengths=None, dtype=None, check=None, parts=None):
    """Walk every part of a layer in the engines' order (layer by layer, forward first).

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``
    state : as the layer's ``forward`` takes it, optional
    lengths : array_like of int, shape (N,), optional
    dtype : numpy dtype, optional
        Compute in this dtype (default: the layer's).
    check : callable, optional
        ``check(layer_index, direction, t, step, active)``; a non-None return
        stops the walk (see :func:`walk_part`).
    parts : list of int, optional
        Walk only up to the largest part index in it (default: all parts).

    Returns
    -------
    walks : dict
        ``k -> PartWalk`` for the parts walked to the end.
    report : object or None
        The first report of ``check``.

    Raises
    ------
    TypeError, ValueError
        On a bad layer, input, state or lengths (see :func:`time_major`,
        :func:`initial_states`).
    """
    spec = layer_spec(layer)
    dtype = layer.dtype if dtype is None else np.dtype(dtype)
    x_tm = time_major(layer, "x", x, layer.input_size).astype(dtype, copy=False)
    T, N = x_tm.shape[:2]
    lengths = V.check_lengths(lengths, T, N)
    x_tm = V.zero_padding(np.ascontiguousarray(x_tm), lengths)
    active = V.active_mask(lengths, T)
    mask = None if active is None else active[:, :, None]
    init = initial_states(layer, state, N, dtype)
    D = layer.num_directions
    last = layer.num_layers * D - 1 if parts is None else max(parts)
    out, inp = {}, x_tm
    for l in range(layer.num_layers):
        ys = []
        for d in range(D):
            k = l * D + d
            if k > last:
                return out, None
            h0, c0 = init[k]
            part_check = None if check is None else \
                (lambda t, step, m, l=l, d=d: check(l, d, t, step, m))
            walk, report = walk_part(spec, inp, h0, c0, layer_weights(layer, l, d, dtype),
                                     mask, bool(d), part_check)
            if report is not None:
                return out, report
            out[k] = walk
            ys.append(walk.y)
        inp = ys[0] if D == 1 else np.concatenate(ys, axis=2)
    return out, None
