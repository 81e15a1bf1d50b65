"""Gradient flow: ``dL/dh_k`` for every step from the engine's own backward, and decay fits.

The values are the ``trace`` the engine fills inside its backward loop
(``state_grads=True`` of ``fastrnn.functional``), so measuring them costs one
extra (T, N, H) store per step and no separate slow path.
"""

import numpy as np

from ..core import validation as V
from .walk import layer_spec, time_major

__all__ = ["loss_at_steps", "GradientFlow", "fit_decay", "backward_with_flow",
           "gradient_flow"]

def loss_at_steps(T, N, width, steps="last", lengths=None, seed=None, dtype=np.float64):
    """``dy`` of a loss ``L = sum_{t in steps} <v_{t,n}, y_{t,n}>`` placed at chosen steps.

    Each ``v_{t,n}`` has unit norm: all-equal entries ``1/sqrt(width)``, or with
    ``seed`` a random direction. Rows past a sequence's end never carry loss.

    Parameters
    ----------
    T, N, width : int
        Steps, sequences and the output width (``num_directions * hidden_size``).
    steps : "last", int or list of int, default "last"
        "last": each sequence's own last step ``lengths[n] - 1``; ints may be
        negative (counted from T).
    lengths : array_like of int, shape (N,), optional
    seed : int, optional
        Random unit directions instead of the all-equal one.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray, shape (T, N, width)

    Raises
    ------
    ValueError
        If ``steps`` is not "last" or holds a step outside ``[-T, T)``, or a size
        or ``lengths`` is invalid.

    Examples
    --------
    >>> loss_at_steps(3, 1, 4)[:, 0]
    array([[0. , 0. , 0. , 0. ],
           [0. , 0. , 0. , 0. ],
           [0.5, 0.5, 0.5, 0.5]])
    """
    T, N, width = (V.check_positive_int(n, v) for n, v in (("T", T), ("N", N), ("width", width)))
    lengths = V.check_lengths(lengths, T, N)
    ends = np.full(N, T, dtype=np.int64) if lengths is None else lengths
    dy = np.zeros((T, N, width), dtype=dtype)
    rng = None if seed is None else np.random.default_rng(seed)
    for n in range(N):
        if isinstance(steps, str):
            if steps != "last":
                raise ValueError(f"steps: expected 'last', an int or a list of ints, got {steps!r}")
            ts = [ends[n] - 1]
        else:
            ts = [int(s) % T if -T <= int(s) < T else None for s in np.atleast_1d(steps)]
            if any(s is None for s in ts):
                raise ValueError(f"steps: expected steps in [-{T}, {T}), got {steps!r}")
        for t in ts:
            if t >= ends[n]:
                continue
            v = np.ones(width) if rng is None else rng.standard_normal(width)
            dy[t, n] += v / np.linalg.norm(v)
    return dy

class GradientFlow:
    """``dL/dh_k`` (and ``dL/dc_k``) for every step k of every (layer, direction) part.

    Parameters
    ----------
    cell : {"srn", "lstm", "gru"}
    num_layers, num_directions : int
    dh : list of ndarray, each shape (T, N, H)
        Indexed by part ``k = layer * num_directions + direction``; time-major.
    dc : list of ndarray (T, N, H), or None
        The LSTM's ``dL/dc_k`` (None for the other cells).
    loss_steps : ndarray of int, shape (N,), optional
        The single step each sequence's loss sits at (None when the loss is
        spread over several steps).
    lengths : ndarray of int, shape (N,), optional

    Attributes
    ----------
    cell, num_layers, num_directions, dh, dc, loss_steps, lengths
        As given.
    """

    def __init__(self, cell, num_layers, num_directions, dh, dc=None, loss_steps=None,
                 lengths=None):
        self.cell, self.num_layers, self.num_directions = cell, num_layers, num_directions
        self.dh, self.dc, self.loss_steps, self.lengths = dh, dc, loss_steps, lengths

    def __repr__(self):
        T, N, H = self.dh[0].shape
        return (f"GradientFlow(cell={self.cell!r}, num_layers={self.num_layers}, "
                f"num_directions={self.num_directions}, T={T}, N={N}, H={H})")

    def _part(self, layer, direction, state):
        if not (0 <= layer < self.num_layers and 0 <= direction < self.num_directions):
            raise ValueError(f"layer, direction: expected 0 <= layer < {self.num_layers} and "
                             f"0 <= direction < {self.num_directions}, got ({layer}, {direction})")
        k = layer * self.num_directions + direction
        if state == "h":
            return self.dh[k]
        if state == "c":
            if self.dc is None:
                raise ValueError(f"state: 'c' exists only for the LSTM, this is a {self.cell}")
            return self.dc[k]
        raise ValueError(f"state: expected 'h' or 'c', got {state!r}")

    def norms(self, layer=0, direction=0, state="h"):
        """Euclidean norms ``||dL/dh_k||`` per step and sequence.

        Parameters
        ----------
        layer, direction : int, default 0
        state : {"h", "c"}, default "h"
            "c" (the LSTM's cell state) only for the LSTM.

        Returns
        -------
        ndarray, shape (T, N)
            Indexed by time.

        Raises
        ------
        ValueError
            For a part the layer does not have or a bad ``state``.
        """
        return np.linalg.norm(self._part(layer, direction, state), axis=2)

    def by_lag(self, layer=0, direction=0, state="h", reduce="mean", steps=None):
        """The norm against the lag from each sequence's loss step.

        Lag is ``t - k`` for the forward direction and ``k - t`` for the reverse
        one, over the steps the sequence uses.

        Parameters
        ----------
        layer, direction : int, default 0
        state : {"h", "c"}, default "h"
        reduce : {"mean", "geomean", "median", "max", "none"}, default "mean"
            How to combine the sequences.
        steps : array_like of int, shape (N,), optional
            Each sequence's loss step (default ``loss_steps``).

        Returns
        -------
        lags : ndarray of int, shape (L,)
            The lags at least one sequence has.
        values : ndarray, shape (L,), or (T, N) for ``reduce="none"``
            With "none", row = lag and NaN where a sequence has no such lag.

        Raises
        ------
        ValueError
            If no loss step is known, or for a bad ``reduce``, part or state.
        """
        norms = self.norms(layer, direction, state)
        T, N = norms.shape
        steps = self.loss_steps if steps is None else np.asarray(steps, dtype=np.int64)
        if steps is None:
            raise ValueError("steps: the loss was not at one step per sequence; pass steps=")
        ends = np.full(N, T) if self.lengths is None else np.asarray(self.lengths)
        table = np.full((T, N), np.nan)
        for n in range(N):
            t = int(steps[n])
            if direction == 0:
                ks = np.arange(t, -1, -1)             # lag 0, 1, ... back to step 0
            else:
                ks = np.arange(t, ends[n])            # the reverse direction reads forward
            table[:len(ks), n] = norms[ks, n]
        lags = np.arange(T)
        if reduce == "none":
            return lags, table
        funcs = {"mean": np.nanmean, "median": np.nanmedian, "max": np.nanmax,
                 "geomean": lambda a, axis: np.exp(np.nanmean(np.log(a), axis=axis))}
        if reduce not in funcs:
            raise ValueError(f"reduce: expected one of {sorted(funcs) + ['none']}, got {reduce!r}")
        valid = ~np.all(np.isnan(table), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = funcs[reduce](table[valid], axis=1)
        return lags[valid], vals

    def decay(self, layer=0, direction=0, state="h", min_lag=1, max_lag=None):
        """The fitted per-step decay of the geometric-mean norm against lag.

        Parameters
        ----------
        layer, direction : int, default 0
        state : {"h", "c"}, default "h"
        min_lag, max_lag : int, optional
            The lags fitted (see :func:`fit_decay`).

        Returns
        -------
        rate : float
            ``log ||dL/dh|| ~ a + rate * lag`` (natural log, per step).
        gamma : float
            ``exp(rate)``.
        """
        lags, vals = self.by_lag(layer, direction, state, reduce="geomean")
        fit = fit_decay(lags, vals, min_lag=min_lag, max_lag=max_lag)
        return fit["rate"], fit["gamma"]

def fit_decay(lags, norms, min_lag=1, max_lag=None):
    """Least-squares fit ``ln(norm) = intercept + rate * lag`` over the finite positive norms.

    Parameters
    ----------
    lags, norms : array_like, shape (L,)
    min_lag : int, default 1
    max_lag : int, optional

    Returns
    -------
    dict
        ``rate`` (per step, natural log; < 0 vanishing, > 0 exploding),
        ``gamma = exp(rate)`` (the textbook's per-step factor), ``intercept``,
        ``decades_per_100`` (``rate * 100 / ln 10``) and ``n_points``; NaNs when
        fewer than two points qualify.

    Examples
    --------
    >>> round(fit_decay([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.125])["gamma"], 12)
    0.5
    """
    lags = np.asarray(lags, dtype=np.float64)
    norms = np.asarray(norms, dtype=np.float64)
    keep = np.isfinite(norms) & (norms > 0) & (lags >= min_lag)
    if max_lag is not None:
        keep &= lags <= max_lag
    if keep.sum() < 2:
        return dict(rate=np.nan, gamma=np.nan, intercept=np.nan, decades_per_100=np.nan,
                    n_points=int(keep.sum()))
    rate, intercept = np.polyfit(lags[keep], np.log(norms[keep]), 1)
    return dict(rate=float(rate), gamma=float(np.exp(rate)), intercept=float(intercept),
                decades_per_100=float(rate * 100 / np.log(10)), n_points=int(keep.sum()))

def backward_with_flow(layer, dy, dstate=None, accumulate=True):
    """``layer.backward(dy, dstate)`` that also returns the gradient flow.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
        After a ``forward(..., train=True)``.
    dy : array_like, shaped like the layer's ``y``, or None (zeros)
    dstate : shaped like the layer's state, optional
    accumulate : bool, default True
        Add the parameter gradients into ``layer.grads`` as ``backward`` does;
        with False they go to scratch arrays and the layer is untouched.

    Returns
    -------
    dx : ndarray
        As ``layer.backward`` returns it (time-major or batch-first like the layer).
    dstate0 : ndarray or tuple of two
        As ``layer.backward`` returns it.
    flow : GradientFlow
        Filled inside the engine's backward loop.

    Raises
    ------
    RuntimeError
        If the layer has no training cache.
    TypeError, ValueError
        For a bad layer, ``dy`` or ``dstate``.
    """
    spec = layer_spec(layer)
    # the layer's own backward, asking the engine for the state gradients of each part
    dx_out, dstate0, traces = layer._backward(dy, dstate, trace=True, accumulate=accumulate)
    L, D = layer.num_layers, layer.num_directions
    dh_parts = [t["dh"] for t in traces]
    dc_parts = [t["dc"] for t in traces] if spec.cell == "lstm" else None
    return dx_out, dstate0, GradientFlow(spec.cell, L, D, dh_parts, dc_parts)

def gradient_flow(layer, x, steps="last", state=None, lengths=None, dy=None, seed=None):
    """Forward ``x`` through ``layer`` and backward a loss at ``steps``; the gradient flow.

    The loss is :func:`loss_at_steps` (unit-norm direction per sequence; random
    with ``seed``) on the top layer's output, unless ``dy`` is given. The
    parameter gradients go to scratch: the layer's ``grads`` are not touched
    (its training cache is replaced by this forward's).

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``
    steps : "last", int or list of int, default "last"
        Where the loss sits (see :func:`loss_at_steps`).
    state : the layer's initial state, optional
    lengths : array_like of int, shape (N,), optional
    dy : array_like, shaped like the layer's ``y``, optional
        An explicit output gradient instead of the loss at ``steps``.
    seed : int, optional
        Random unit loss directions.

    Returns
    -------
    GradientFlow
        With ``steps`` a single step or "last", ``flow.by_lag()`` and
        ``flow.decay()`` need no further argument.

    Raises
    ------
    TypeError, ValueError
        For a bad layer, input, state, lengths or steps.
    """
    layer_spec(layer)
    x_tm = time_major(layer, "x", x, layer.input_size)
    T, N = x_tm.shape[:2]
    lengths = V.check_lengths(lengths, T, N)
    width = layer.num_directions * layer.hidden_size
    loss_steps = None
    if dy is None:
        dy_tm = loss_at_steps(T, N, width, steps, lengths, seed, dtype=layer.dtype)
        if isinstance(steps, str):
            loss_steps = (np.full(N, T) if lengths is None else lengths) - 1
        elif np.ndim(steps) == 0 or len(np.atleast_1d(steps)) == 1:
            loss_steps = np.full(N, int(np.atleast_1d(steps)[0]) % T)
        dy = dy_tm.swapaxes(0, 1) if layer.batch_first else dy_tm
    layer.forward(x, state, lengths=lengths, train=True)
    _, _, flow = backward_with_flow(layer, dy, accumulate=False)
    flow.loss_steps, flow.lengths = loss_steps, lengths
    return flow
