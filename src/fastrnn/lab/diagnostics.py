"""Seeing the long-term-dependency problem: gradient flow, Jacobians, non-finite values, gates.

In BPTT the error reaching an earlier state obeys (the seeds' notation, with
``U = W_hh``)::

    delta_{t,k} = diag(f'(z_k)) U^T delta_{t,k+1} = prod_{i=k}^{t-1} (diag(f'(z_i)) U^T) delta_{t,t}

so ``||delta_{t,k}||`` behaves like ``gamma^(t-k)``: it explodes for gamma > 1 and
vanishes for gamma < 1. This module measures every piece of that statement.

Gradient flow (from the engine's own backward, no separate slow path):

* :func:`gradient_flow` runs a layer forward and backward with a loss placed at
  chosen steps and returns a :class:`GradientFlow`: ``dL/dh_k`` (and for the
  LSTM ``dL/dc_k``) for every step k, layer and direction. The values are the
  ``trace`` the engine fills inside its backward loop (``state_grads=True`` of
  ``fastrnn.functional``), so they cost one extra (T, N, H) store per step.
* :func:`backward_with_flow` is ``layer.backward`` that also returns the flow,
  for a training loop that wants it on every step at no extra backward.
* :func:`loss_at_steps` builds the ``dy`` of a loss placed at chosen steps;
  :func:`fit_decay` fits ``log ||dL/dh_k|| = a + rate * lag``.

Jacobians along a trajectory (recomputed step by step in NumPy with the
reference engine's formulas; a diagnostic, not a hot path):

* :func:`step_jacobians` / :func:`cell_jacobians`: ``J_k = ds_k / ds_{k-1}`` for
  every step, where the state ``s`` is ``h`` (SRN, GRU) or ``[h; c]`` (LSTM).
  For the SRN ``J_k = diag(f'(z_k)) W_hh`` (``+ I`` for the residual cell); the
  backward multiplies by ``J_k^T``, the textbook's ``diag(f'(z_k)) U^T``.
* :func:`jacobian_norms`, :func:`cumulative_jacobian_norms` (the norm of the
  product against lag, in logs so it never overflows), :func:`spectral_radius`,
  :func:`lyapunov_exponents` (finite-time exponents by the QR method).

Failures and gates:

* :func:`first_nonfinite` names the first step, layer, direction and gate where
  a forward (or, given ``dy``, a backward) produced NaN or inf.
* :func:`gate_health`: saturation fraction of each gate and the forget-gate mean.

Conventions: time-major internally; a bidirectional layer's parts are indexed
``k = layer * num_directions + direction`` as in the layers; "lag" is counted
in the direction of processing (``t - k`` forward, ``k - t`` for the reverse
direction).
"""

from dataclasses import dataclass

import numpy as np

from ..core import validation as V
from ..core import functional as F

__all__ = [
    "GradientFlow", "gradient_flow", "backward_with_flow", "loss_at_steps", "fit_decay",
    "cell_jacobians", "step_jacobians", "jacobian_norms", "cumulative_jacobian_norms",
    "spectral_radius", "lyapunov_exponents", "NonFinite", "first_nonfinite", "gate_health",
    "GATE_NAMES",
]

GATE_NAMES = {"srn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
# which activation each gate uses (for saturation)
_GATE_ACT = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid",
             "r": "sigmoid", "z": "sigmoid", "n": "tanh"}


# =============================================================================
# the layer's structure, and a NumPy walk through its cells
# =============================================================================

@dataclass(frozen=True)
class _Spec:
    """What a cell computes: the cell name and its options."""
    cell: str
    nonlinearity: str = "tanh"
    residual: bool = False
    reset_after: bool = True

    @property
    def G(self):
        return F.GATES[self.cell]

    def state_size(self, H):
        return 2 * H if self.cell == "lstm" else H


def _layer_spec(layer):
    cell = getattr(layer, "_cell", None)
    if cell not in F.GATES:
        raise TypeError(f"layer: expected a fastrnn SRN, LSTM or GRU layer, "
                        f"got {type(layer).__name__}")
    return _Spec(cell, getattr(layer, "nonlinearity", "tanh"),
                 bool(getattr(layer, "residual", False)),
                 bool(getattr(layer, "reset_after", True)))


def _layer_weights(layer, l, d, dtype=None):
    """(W_ih, W_hh, b_ih, b_hh) of part (l, d); zero biases when the layer has none."""
    suffix = f"_l{l}" + ("_reverse" if d else "")
    p = layer.params
    W_ih, W_hh = p["weight_ih" + suffix], p["weight_hh" + suffix]
    if layer.bias:
        b_ih, b_hh = p["bias_ih" + suffix], p["bias_hh" + suffix]
    else:
        b_ih = b_hh = np.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    ws = (W_ih, W_hh, b_ih, b_hh)
    if dtype is not None:
        ws = tuple(np.asarray(w, dtype=dtype) for w in ws)
    return ws


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


_ACT = {"tanh": (np.tanh, lambda a: 1 - a * a),
        "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
        "sigmoid": (_sigmoid, lambda a: a * (1 - a))}


def _cell_step(spec, x_t, h, c, W_ih, W_hh, b_ih, b_hh):
    """One step with every intermediate: the reference engine's formulas.

    Returns a dict: ``pre`` (N, G*H) total pre-activation of each gate, ``acts``
    (N, G*H) activated gates, ``h`` and ``c`` (new state; c None except LSTM),
    ``aux`` (GRU: ``W_hn h + b_hn`` with reset_after, ``r*h`` without).
    """
    H = h.shape[1]
    out = {"aux": None, "c": None}
    if spec.cell == "srn":
        f = _ACT[spec.nonlinearity][0]
        z = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        a = f(z)
        out.update(pre=z, acts=a, h=h + a if spec.residual else a)
    elif spec.cell == "lstm":
        z = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i, f_, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), _sigmoid(z[:, 3 * H:])
        g = np.tanh(z[:, 2 * H:3 * H])
        c_new = f_ * c + i * g
        out.update(pre=z, acts=np.concatenate([i, f_, g, o], axis=1), c=c_new,
                   h=o * np.tanh(c_new))
    else:
        xg = x_t @ W_ih.T + b_ih
        if spec.reset_after:
            hg = h @ W_hh.T + b_hh
            pr, pz = xg[:, :H] + hg[:, :H], xg[:, H:2 * H] + hg[:, H:2 * H]
            r, z = _sigmoid(pr), _sigmoid(pz)
            aux = hg[:, 2 * H:]
            pn = xg[:, 2 * H:] + r * aux
        else:
            xg = xg + b_hh
            hg = h @ W_hh[:2 * H].T
            pr, pz = xg[:, :H] + hg[:, :H], xg[:, H:2 * H] + hg[:, H:]
            r, z = _sigmoid(pr), _sigmoid(pz)
            aux = r * h
            pn = xg[:, 2 * H:] + aux @ W_hh[2 * H:].T
        n = np.tanh(pn)
        out.update(pre=np.concatenate([pr, pz, pn], axis=1),
                   acts=np.concatenate([r, z, n], axis=1), aux=aux,
                   h=(1 - z) * n + z * h)
    return out


def _block_rows(vs, H):
    """(N, H, len(vs)*H): block g is diag(vs[g]) (a (N, H) array) or vs[g] itself
    when it is already a full (N, H, H) block, or zeros for None."""
    N = next(v.shape[0] for v in vs if v is not None)
    dtype = next(v.dtype for v in vs if v is not None)
    M = np.zeros((N, H, len(vs) * H), dtype=dtype)
    idx = np.arange(H)
    for g, v in enumerate(vs):
        if v is None:
            continue
        if v.ndim == 3:
            M[:, :, g * H:(g + 1) * H] = v
        else:
            M[:, idx, g * H + idx] = v
    return M


def _diag(v):
    """(N, H) -> (N, H, H) diagonal matrices."""
    N, H = v.shape
    D = np.zeros((N, H, H), dtype=v.dtype)
    D[:, np.arange(H), np.arange(H)] = v
    return D


def _local_derivatives(spec, rec, h_prev, c_prev, W_hh):
    """Derivatives of one step at a recorded point.

    Returns ``A`` (N, S, S) = ds_t/ds_{t-1}; ``M_ih``, ``M_hh`` (N, S, G*H) =
    ds_t/d(pre-activations fed by x, by h), which differ only in the GRU's
    reset-after candidate; ``U`` (N, G, H): the recurrent input each gate
    block's weights multiply (h_{t-1}, or r*h_{t-1} for the Cho GRU's n block).
    """
    H = h_prev.shape[1]
    acts = rec["acts"]
    if spec.cell == "srn":
        d = _ACT[spec.nonlinearity][1](acts)
        M = _diag(d)
        A = d[:, :, None] * W_hh[None]
        if spec.residual:
            A = A + np.eye(H, dtype=A.dtype)
        return A, M, M, h_prev[:, None, :]
    if spec.cell == "lstm":
        i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
        tc = np.tanh(rec["c"])
        dh_dc = o * (1 - tc * tc)                      # dh_t/dc_t (diagonal)
        dc_pre = [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), None]
        dh_pre = [dh_dc * v for v in dc_pre[:3]] + [tc * o * (1 - o)]
        Mh, Mc = _block_rows(dh_pre, H), _block_rows(dc_pre, H)
        M = np.concatenate([Mh, Mc], axis=1)            # (N, 2H, 4H)
        top = np.concatenate([Mh @ W_hh, _diag(dh_dc * f)], axis=2)
        bottom = np.concatenate([Mc @ W_hh, _diag(f)], axis=2)
        return np.concatenate([top, bottom], axis=1), M, M, h_prev[:, None, :]
    r, z, n = (acts[:, k * H:(k + 1) * H] for k in range(3))
    vn = (1 - z) * (1 - n * n)                          # dh/d pre_n
    vz = (h_prev - n) * z * (1 - z)                     # dh/d pre_z
    if spec.reset_after:
        vr = vn * rec["aux"] * r * (1 - r)
        M_ih = _block_rows([vr, vz, vn], H)
        M_hh = _block_rows([vr, vz, vn * r], H)
        A = M_hh @ W_hh + _diag(z)
        U = np.broadcast_to(h_prev[:, None, :], (h_prev.shape[0], 3, H))
        return A, M_ih, M_hh, U
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    # r reaches h only through n's recurrent input W_hn (r*h): a full block
    Mr = vn[:, :, None] * W_hn[None] * (h_prev * r * (1 - r))[:, None, :]
    M = _block_rows([Mr, vz, vn], H)
    A = (Mr @ W_hr + vz[:, :, None] * W_hz[None]
         + vn[:, :, None] * (W_hn[None] * r[:, None, :]) + _diag(z))
    U = np.stack([h_prev, h_prev, r * h_prev], axis=1)
    return A, M, M, U


def _walk_part(spec, x, h0, c0, weights, mask, reverse, check=None):
    """Run one (layer, direction) step by step; returns per-time records.

    ``x`` (T, N, I) time-major with padding zeroed; ``mask`` (T, N, 1) or None.
    Inactive rows keep their state, as in the engines. ``check(t, rec, h, c)``
    may return a report to stop the walk early (non-finite search).
    Returns (records indexed by time, y (T, N, H), report or None).
    """
    W_ih, W_hh, b_ih, b_hh = weights
    T = x.shape[0]
    h, c = h0, c0
    records = [None] * T
    y = np.zeros((T,) + h0.shape, dtype=h0.dtype)
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        rec = _cell_step(spec, x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        rec["h_prev"], rec["c_prev"] = h, c
        m = None if mask is None else mask[t]
        rec["mask"] = m
        if check is not None:
            report = check(t, rec)
            if report is not None:
                return records, y, report
        h_new = rec["h"] if m is None else np.where(m, rec["h"], h)
        if c is not None:
            c = rec["c"] if m is None else np.where(m, rec["c"], c)
        h = h_new
        y[t] = h if m is None else np.where(m, h, 0)
        records[t] = rec
    return records, y, None


def _time_major(layer, name, a, width):
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != width or min(arr.shape) < 1:
        layout = "(N, T, {})" if layer.batch_first else "(T, N, {})"
        raise ValueError(f"{name}: expected shape {layout.format(width)}, "
                         f"got {V.fmt_shape(arr.shape)}")
    return arr.swapaxes(0, 1) if layer.batch_first else arr


def _initial_states(layer, state, N, dtype, name="state"):
    """Per-part (h0, c0) pairs, zeros for None."""
    L, D, H = layer.num_layers, layer.num_directions, layer.hidden_size
    spec = _layer_spec(layer)
    shape = (L * D, N, H)
    if spec.cell == "lstm":
        if state is not None and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(f"{name}: expected a tuple (h, c), got {type(state).__name__}")
        hs, cs = (None, None) if state is None else state
    else:
        hs, cs = state, None
    def part(s, name):
        if s is None:
            return np.zeros(shape, dtype=dtype)
        arr = np.asarray(s, dtype=dtype)
        V.check_shape(name, arr, shape, "(num_layers*num_directions, N, hidden_size)")
        return arr
    h = part(hs, name + ("[0]" if spec.cell == "lstm" else ""))
    c = part(cs, name + "[1]") if spec.cell == "lstm" else None
    return [(h[k], None if c is None else c[k]) for k in range(L * D)]


def _walk_layer(layer, x, state=None, lengths=None, dtype=None, check=None, parts=None):
    """Walk every (layer, direction) part in the engines' order.

    Returns dict k -> (records, y) for the parts walked (all, or up to the
    largest k in ``parts``), and the first report of ``check`` (or None).
    """
    spec = _layer_spec(layer)
    dtype = layer.dtype if dtype is None else np.dtype(dtype)
    x_tm = _time_major(layer, "x", x, layer.input_size).astype(dtype, copy=False)
    T, N = x_tm.shape[:2]
    lengths = V.check_lengths(lengths, T, N)
    x_tm = V.zero_padding(np.ascontiguousarray(x_tm), lengths)
    mask = None if lengths is None else (np.arange(T)[:, None] < lengths[None, :])[:, :, None]
    init = _initial_states(layer, state, N, dtype)
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
            part_check = None if check is None else (lambda t, rec, l=l, d=d: check(l, d, t, rec))
            recs, y, report = _walk_part(spec, inp, h0, c0, _layer_weights(layer, l, d, dtype),
                                         mask, bool(d), part_check)
            if report is not None:
                return out, report
            out[k] = (recs, y)
            ys.append(y)
        inp = ys[0] if D == 1 else np.concatenate(ys, axis=2)
    return out, None


# =============================================================================
# gradient flow: dL/dh_k from the engine's backward
# =============================================================================

def loss_at_steps(T, N, width, steps="last", lengths=None, seed=None, dtype=np.float64):
    """``dy`` (T, N, width) of a loss ``L = sum_{t in steps} <v_{t,n}, y_{t,n}>``.

    ``steps``: "last" (each sequence's own last step, ``lengths[n] - 1``), an
    int or a list of ints (negative counts from T). Each ``v_{t,n}`` has unit
    norm: all-equal entries ``1/sqrt(width)``, or with ``seed`` a random
    direction. Rows past a sequence's end never carry loss.
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
    """``dL/dh_k`` (and ``dL/dc_k``) for every step k of every (layer, direction).

    Attributes: ``cell``, ``num_layers``, ``num_directions``, ``dh`` and ``dc``
    (lists indexed by ``k = layer*num_directions + direction`` of (T, N, H)
    arrays, time-major; ``dc`` is None except for the LSTM), ``loss_steps``
    ((N,) int: the single step each sequence's loss sits at, or None when the
    loss is spread over several steps), ``lengths`` (or None).
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
        """(T, N) Euclidean norms ``||dL/dh_k||`` per step and sequence (time-indexed)."""
        return np.linalg.norm(self._part(layer, direction, state), axis=2)

    def by_lag(self, layer=0, direction=0, state="h", reduce="mean", steps=None):
        """``(lags, values)``: the norm against lag from each sequence's loss step.

        ``steps`` (N,) gives each sequence's loss step (default ``loss_steps``).
        Lag is ``t - k`` for the forward direction and ``k - t`` for the reverse
        one, over the steps the sequence uses. ``reduce`` over sequences:
        "mean", "geomean", "median", "max", or "none" for an (L, N) array with
        NaN where a sequence has no such lag.
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
        """The fitted ``(rate, gamma)`` of ``log ||dL/dh|| ~ a + rate*lag`` (see fit_decay)."""
        lags, vals = self.by_lag(layer, direction, state, reduce="geomean")
        fit = fit_decay(lags, vals, min_lag=min_lag, max_lag=max_lag)
        return fit["rate"], fit["gamma"]


def fit_decay(lags, norms, min_lag=1, max_lag=None):
    """Least-squares fit ``ln(norm) = intercept + rate * lag`` over finite positive norms.

    Returns a dict: ``rate`` (per step, natural log; < 0 vanishing, > 0
    exploding), ``gamma = exp(rate)`` (the textbook's per-step factor),
    ``intercept``, ``decades_per_100`` (``rate * 100 / ln 10``) and ``n_points``.
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


def _check_has_cache(layer):
    _layer_spec(layer)
    if getattr(layer, "_cache", None) is None:
        raise RuntimeError("layer: no cache to differentiate; call forward(..., train=True) first")


def backward_with_flow(layer, dy, dstate=None, accumulate=True):
    """``layer.backward(dy, dstate)`` that also returns the gradient flow.

    Returns ``(dx, dstate0, flow)``: the first two exactly as ``layer.backward``
    (time-major or batch-first like the layer), and a :class:`GradientFlow`
    filled inside the engine's backward loop. With ``accumulate=True`` the
    parameter gradients are added into ``layer.grads`` as ``backward`` does;
    with False they go to scratch arrays and the layer is untouched.
    """
    _check_has_cache(layer)
    spec = _layer_spec(layer)
    dx_out, dstate0, traces = layer._backward(dy, dstate, trace=True, accumulate=accumulate)
    L, D = layer.num_layers, layer.num_directions
    dh_parts = [t["dh"] for t in traces]
    dc_parts = [t["dc"] for t in traces] if spec.cell == "lstm" else None
    flow = GradientFlow(spec.cell, L, D, dh_parts, dc_parts)
    return dx_out, dstate0, flow


def gradient_flow(layer, x, steps="last", state=None, lengths=None, dy=None, seed=None):
    """Forward ``x`` through ``layer`` and backward a loss at ``steps``; the flow.

    The loss is :func:`loss_at_steps` (unit-norm direction per sequence; random
    with ``seed``) on the top layer's output, unless ``dy`` (shaped like ``y``)
    is given. Parameter gradients go to scratch: the layer's ``grads`` are not
    touched. Returns a :class:`GradientFlow`; with ``steps`` a single step or
    "last", ``flow.by_lag()`` and ``flow.decay()`` need no further argument.
    """
    _layer_spec(layer)
    x_tm = _time_major(layer, "x", x, layer.input_size)
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


# =============================================================================
# Jacobians along a trajectory
# =============================================================================

def cell_jacobians(cell, x, h0, W_ih, W_hh, b_ih=None, b_hh=None, c0=None,
                   nonlinearity="tanh", residual=False, reset_after=True, reverse=False,
                   lengths=None):
    """``J[t] = ds_t/ds_{t-1}`` (T, N, S, S) along the trajectory of one cell, in float64.

    Arguments as in ``fastrnn.functional`` (``cell`` is "srn", "lstm" or "gru").
    The state ``s`` is ``h`` (S = H) or, for the LSTM, ``[h; c]`` (S = 2H).
    ``J[t]`` maps a perturbation of the state step t read to the state it
    wrote, so the backward applies ``J[t]^T``; for the reverse direction the
    step t reads the state written at t+1. Steps past a sequence's end have
    ``J = I`` (the state is carried).
    """
    if cell not in F.GATES:
        raise ValueError(f"cell: expected one of {tuple(F.GATES)}, got {cell!r}")
    spec = _Spec(cell, nonlinearity, bool(residual), bool(reset_after))
    f64 = np.float64
    x = np.asarray(x, dtype=f64)
    T, N, _ = x.shape
    W_hh = np.asarray(W_hh, dtype=f64)
    G, H = spec.G, W_hh.shape[1]
    b_ih = np.zeros(G * H) if b_ih is None else np.asarray(b_ih, dtype=f64)
    b_hh = np.zeros(G * H) if b_hh is None else np.asarray(b_hh, dtype=f64)
    h0 = np.zeros((N, H)) if h0 is None else np.asarray(h0, dtype=f64)
    c0 = (np.zeros((N, H)) if c0 is None else np.asarray(c0, dtype=f64)) if cell == "lstm" else None
    lengths = V.check_lengths(lengths, T, N)
    x = V.zero_padding(x, lengths)
    mask = None if lengths is None else (np.arange(T)[:, None] < lengths[None, :])[:, :, None]
    recs, _, _ = _walk_part(spec, x, h0, c0, (np.asarray(W_ih, dtype=f64), W_hh, b_ih, b_hh),
                            mask, reverse)
    return _jacobians_from_records(spec, recs, W_hh)


def _jacobians_from_records(spec, recs, W_hh):
    T = len(recs)
    N, H = recs[0]["h_prev"].shape
    S = spec.state_size(H)
    J = np.empty((T, N, S, S))
    eye = np.eye(S)
    for t, rec in enumerate(recs):
        A = _local_derivatives(spec, rec, rec["h_prev"], rec["c_prev"], W_hh)[0]
        if rec["mask"] is not None:
            A = np.where(rec["mask"][:, :, None], A, eye)
        J[t] = A
    return J


def step_jacobians(layer, x, state=None, lengths=None, layer_index=0, direction=0):
    """:func:`cell_jacobians` of one (layer, direction) of a layer, on input ``x``.

    The layer's own input and initial state are used (for ``layer_index`` > 0
    the outputs of the layers below it, recomputed in float64).
    """
    spec = _layer_spec(layer)
    if not (0 <= layer_index < layer.num_layers and 0 <= direction < layer.num_directions):
        raise ValueError(f"layer_index, direction: expected a part of this layer, got "
                         f"({layer_index}, {direction})")
    k = layer_index * layer.num_directions + direction
    parts, _ = _walk_layer(layer, x, state, lengths, dtype=np.float64, parts=[k])
    W_hh = np.asarray(_layer_weights(layer, layer_index, direction)[1], dtype=np.float64)
    return _jacobians_from_records(spec, parts[k][0], W_hh)


def jacobian_norms(J, ord=2):
    """Norms of each step's Jacobian, (T, N): spectral norm (``ord=2``) or "fro"."""
    J = np.asarray(J)
    if ord == 2:
        return np.linalg.svd(J, compute_uv=False)[..., 0]
    return np.linalg.norm(J, ord=ord, axis=(-2, -1))


def _processing_order(J, reverse):
    return J[::-1] if reverse else J


def cumulative_jacobian_norms(J, step=None, reverse=False, ord=2):
    """``ln ||J_t J_{t-1} ... J_{t-lag+1}||`` for lag = 0 .. t+1, per sequence: (t+2, N).

    This is the log of the largest factor by which a gradient at step ``t``
    (default: the last step in processing order) can grow or shrink on its way
    back ``lag`` steps (``dL/ds_{t-lag} = (J_t ... J_{t-lag+1})^T dL/ds_t``). Lag 0
    is the identity (0). The product is renormalized at every step and the
    logs summed, so it never overflows. ``reverse``: J belongs to a reverse
    direction (lags then count forward in time from ``step``).
    """
    J = np.asarray(J, dtype=np.float64)
    T, N, S, _ = J.shape
    Jp = _processing_order(J, reverse)
    if step is None:
        pos = T - 1
    else:
        step = int(step) % T
        pos = T - 1 - step if reverse else step
    out = np.zeros((pos + 2, N))
    P = np.broadcast_to(np.eye(S), (N, S, S)).copy()
    logscale = np.zeros(N)
    for lag in range(1, pos + 2):
        P = P @ Jp[pos - lag + 1]
        s = jacobian_norms(P, ord) if ord == 2 else np.linalg.norm(P, ord=ord, axis=(-2, -1))
        with np.errstate(divide="ignore"):
            out[lag] = logscale + np.log(s)
        good = (s > 0) & np.isfinite(s)
        P[good] /= s[good, None, None]
        logscale[good] += np.log(s[good])
    return out


def spectral_radius(W):
    """Largest |eigenvalue| of a square matrix, or per gate block of a (G*H, H) ``W_hh``.

    Returns a float for a square matrix and an (G,) array for a stacked one.
    For the SRN, ``rho(W_hh) > 1`` is necessary for exploding gradients with a
    saturating f (|f'| <= 1) and ``rho < 1`` with ``||W_hh|| < 1`` suffices for
    vanishing ones.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] % W.shape[1]:
        raise ValueError(f"W: expected a square or (G*H, H) matrix, got {V.fmt_shape(W.shape)}")
    H = W.shape[1]
    radii = [float(np.max(np.abs(np.linalg.eigvals(W[g * H:(g + 1) * H]))))
             for g in range(W.shape[0] // H)]
    return radii[0] if len(radii) == 1 else np.array(radii)


def lyapunov_exponents(J, reverse=False, num=None):
    """Finite-time Lyapunov exponents (per step, natural log) by the QR method: (N, num).

    With ``Q_0 = I``: ``Q_t R_t = J_t Q_{t-1}`` (a QR factorization each step),
    and ``lambda_i = (1/T) sum_t ln |R_t[i, i]|``. The largest exponent is the
    average per-step log growth of the longest-lived perturbation, the
    textbook's ``ln gamma`` measured on the actual trajectory: > 0 exploding
    (chaotic), < 0 vanishing. Sorted in decreasing order; ``num`` keeps the
    first ``num`` (default: all S).
    """
    J = np.asarray(J, dtype=np.float64)
    T, N, S, _ = J.shape
    k = S if num is None else int(num)
    if not 1 <= k <= S:
        raise ValueError(f"num: expected 1 <= num <= {S}, got {num}")
    Q = np.broadcast_to(np.eye(S)[:, :k], (N, S, k)).copy()
    sums = np.zeros((N, k))
    for Jt in _processing_order(J, reverse):
        Q, R = np.linalg.qr(Jt @ Q)
        d = np.abs(np.diagonal(R, axis1=1, axis2=2))
        with np.errstate(divide="ignore"):
            sums += np.log(d)
    return -np.sort(-sums / T, axis=1)


# =============================================================================
# the first non-finite value
# =============================================================================

@dataclass
class NonFinite:
    """Where a NaN or inf first appeared.

    ``stage``: "forward" or "backward"; ``layer``, ``direction`` (0 forward,
    1 reverse); ``step``: the time index (None for a parameter gradient);
    ``gate``: a gate name ("i", "f", "g", "o"; "r", "z", "n"; "h" for the SRN's
    activation), or "input", "state", "c" (LSTM cell), "dy" (the gradient
    arriving from above), "dstate", or a parameter name; ``quantity``: what
    was non-finite (e.g. "pre-activation", "activation", "gradient");
    ``sequence``, ``unit``: the first offending batch row and unit; ``value``.
    """
    stage: str
    layer: int
    direction: int
    step: object
    gate: str
    quantity: str
    sequence: int = None
    unit: int = None
    value: float = None

    def __str__(self):
        where = "reverse" if self.direction else "forward"
        at = "" if self.step is None else f"step {self.step}, "
        seq = "" if self.sequence is None else f" (sequence {self.sequence}, unit {self.unit}: {self.value})"
        return (f"{self.stage}: first non-finite at {at}layer {self.layer} ({where} direction), "
                f"{self.gate} {self.quantity}{seq}")


def _first_bad(a):
    """(sequence, unit, value) of the first non-finite entry of an (N, K) array, or None."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    n, u = np.argwhere(bad)[0]
    return int(n), int(u), float(a[n, u])


def _forward_check(spec, H):
    names = GATE_NAMES[spec.cell]

    def check(l, d, t, rec):
        m = rec["mask"]
        def active(a):
            return a if m is None else np.where(m, a, 0)
        # gates: pre-activation first, then activation, gate by gate
        for quantity, key in (("pre-activation", "pre"), ("activation", "acts")):
            arr = active(rec[key])
            for g, name in enumerate(names):
                hit = _first_bad(arr[:, g * H:(g + 1) * H])
                if hit:
                    return NonFinite("forward", l, d, t, name, quantity, *hit)
        if rec["c"] is not None:
            hit = _first_bad(active(rec["c"]))
            if hit:
                return NonFinite("forward", l, d, t, "c", "cell state", *hit)
        hit = _first_bad(active(rec["h"]))
        if hit:
            return NonFinite("forward", l, d, t, "h", "hidden state", *hit)
        return None
    return check


def first_nonfinite(layer, x, state=None, lengths=None, dy=None, dstate=None):
    """Name where NaN or inf first appears in ``layer``'s forward, then its backward.

    The forward is walked step by step in NumPy (the reference formulas, in
    the layer's dtype), part by part in the layers' order; at each step the
    input, then each gate's pre-activation and activation, then the cell and
    hidden states are checked on the rows in use. If the forward is finite and
    ``dy`` (shaped like ``y``) is given, the backward is run on the current
    engine and its per-step state gradients (the ``trace``) are scanned in
    backward order: top layer first, each direction from its last processed
    step; the gate whose gradient turned non-finite is named by recomputing
    that step's gate gradients. Returns a :class:`NonFinite`, or None when
    everything is finite.
    """
    spec = _layer_spec(layer)
    H, D = layer.hidden_size, layer.num_directions
    x_tm = _time_major(layer, "x", x, layer.input_size)
    T, N = x_tm.shape[:2]
    lengths = V.check_lengths(lengths, T, N)
    mask = None if lengths is None else (np.arange(T)[:, None] < lengths[None, :])
    xin = x_tm if mask is None else np.where(mask[:, :, None], x_tm, 0)
    inner = _forward_check(spec, H)
    # the layer's own input: report it before anything it feeds
    for t in range(T):
        hit = _first_bad(np.asarray(xin[t], dtype=np.float64))
        if hit:
            return NonFinite("forward", 0, 0, t, "input", "x", *hit)
    for k, s in enumerate(_initial_states(layer, state, N, layer.dtype)):
        for name, arr in (("state", s[0]), ("c", s[1])):
            if arr is not None:
                hit = _first_bad(arr)
                if hit:
                    return NonFinite("forward", k // D, k % D, None, name, "initial state", *hit)
    with np.errstate(all="ignore"):
        _, report = _walk_layer(layer, x, state, lengths, check=inner)
    if report is not None or dy is None:
        return report
    return _backward_nonfinite(layer, spec, x, state, lengths, dy, dstate)


def _backward_nonfinite(layer, spec, x, state, lengths, dy, dstate):
    H, D, L = layer.hidden_size, layer.num_directions, layer.num_layers
    layer.forward(x, state, lengths=lengths, train=True)
    with np.errstate(all="ignore"):
        _, _, flow = backward_with_flow(layer, dy, dstate, accumulate=False)
    T, N = flow.dh[0].shape[:2]
    finals = _initial_states(layer, dstate, N, layer.dtype, "dstate")
    dy_tm = _time_major(layer, "dy", dy, D * H)
    parts = None
    names = GATE_NAMES[spec.cell]
    for l in reversed(range(L)):
        for d in range(D):
            k = l * D + d
            for nm, arr in (("dstate", finals[k][0]), ("dstate", finals[k][1])):
                if arr is not None:
                    hit = _first_bad(arr)
                    if hit:
                        return NonFinite("backward", l, d, None, nm, "final-state gradient", *hit)
            order = list(range(T)) if d else list(range(T - 1, -1, -1))
            dh, dc = flow.dh[k], (flow.dc[k] if flow.dc is not None else None)
            for pos, t in enumerate(order):
                bad_h = _first_bad(dh[t])
                bad_c = None if dc is None else _first_bad(dc[t])
                if not (bad_h or bad_c):
                    continue
                if l == L - 1:
                    up = dy_tm[t, :, d * H:(d + 1) * H]
                    hit = _first_bad(np.asarray(up, dtype=np.float64))
                    if hit:
                        return NonFinite("backward", l, d, t, "dy", "output gradient", *hit)
                if pos == 0:   # nothing before it in this part: it came from above
                    what = "dy" if l < L - 1 else ("c" if (bad_c and not bad_h) else "h")
                    return NonFinite("backward", l, d, t, what, "state gradient",
                                     *(bad_h or bad_c))
                # it came through the recurrence from the step processed before
                prev = order[pos - 1]
                if parts is None:
                    with np.errstate(all="ignore"):
                        parts, _ = _walk_layer(layer, x, state, lengths)
                rec = parts[k][0][prev]
                W_hh = _layer_weights(layer, l, d)[1]
                gate = _name_backward_gate(spec, rec, dh[prev], None if dc is None else dc[prev],
                                           W_hh, H, names)
                if l < L - 1 and gate is None:
                    gate = "dy"
                return NonFinite("backward", l, d, t, gate or "h", "state gradient",
                                 *(bad_h or bad_c))
    return None


def _gate_grads(spec, rec, dh_total, dc_total, W_hh, H):
    """(N, G*H) gradients of the recurrent-side gate pre-activations at a recorded step,
    from dL/dh_t and (LSTM) the total dL/dc_t, as the engines' backward computes them."""
    if spec.cell == "lstm":
        i, f, g, o = (rec["acts"][:, k * H:(k + 1) * H] for k in range(4))
        tc = np.tanh(rec["c"])
        return np.concatenate([dc_total * g * i * (1 - i), dc_total * rec["c_prev"] * f * (1 - f),
                               dc_total * i * (1 - g * g), dh_total * tc * o * (1 - o)], axis=1)
    M_hh = _local_derivatives(spec, rec, rec["h_prev"], rec["c_prev"], W_hh)[2]
    return np.einsum("ns,nsg->ng", dh_total, M_hh)


def _name_backward_gate(spec, rec, dh_total, dc_total, W_hh, H, names):
    """Which gate's contribution to dL/ds_{t-1} is non-finite at a recorded step."""
    with np.errstate(all="ignore"):
        dpre = _gate_grads(spec, rec, dh_total, dc_total, W_hh, H)
        for g, name in enumerate(names):
            if not np.all(np.isfinite(dpre[:, g * H:(g + 1) * H])):
                return name
            contrib = dpre[:, g * H:(g + 1) * H] @ W_hh[g * H:(g + 1) * H]
            if not np.all(np.isfinite(contrib)):
                return name
        if spec.cell == "lstm" and not np.all(np.isfinite(dc_total * rec["acts"][:, H:2 * H])):
            return "c"
    return None


# =============================================================================
# gate health
# =============================================================================

def gate_health(layer, x, state=None, lengths=None, threshold=0.1):
    """Saturation and mean of every gate over a batch, per (layer, direction).

    A sigmoid gate value is saturated when it is below ``threshold`` or above
    ``1 - threshold``; a tanh value when ``|a| > 1 - threshold`` (the SRN's
    activation "h" by its nonlinearity: relu counts zeros as saturated).
    Only the steps each sequence uses are counted. Returns a dict
    ``(layer, direction) -> {gate: {"mean", "saturated", "low", "high"}}``
    where low/high are the fractions in the lower and upper saturated region;
    for the LSTM the entry also has ``"forget_mean"`` (the mean of f, the
    fraction of the cell kept per step) and for the GRU ``"update_mean"``
    (the mean of z, the fraction of h kept).
    """
    spec = _layer_spec(layer)
    H, D = layer.hidden_size, layer.num_directions
    parts, _ = _walk_layer(layer, x, state, lengths)
    out = {}
    for k, (recs, _) in parts.items():
        acts = np.stack([r["acts"] for r in recs])            # (T, N, G*H)
        m = recs[0]["mask"] is not None
        if m:
            mask = np.stack([r["mask"] for r in recs])[..., 0]  # (T, N)
        entry = {}
        for g, name in enumerate(GATE_NAMES[spec.cell]):
            a = acts[:, :, g * H:(g + 1) * H]
            a = a[mask] if m else a.reshape(-1, H)
            kind = spec.nonlinearity if name == "h" else _GATE_ACT[name]
            if kind == "sigmoid":
                low, high = a < threshold, a > 1 - threshold
            elif kind == "tanh":
                low, high = a < -(1 - threshold), a > 1 - threshold
            else:  # relu: a dead unit passes no gradient
                low, high = a <= 0, np.zeros_like(a, dtype=bool)
            entry[name] = dict(mean=float(a.mean()), saturated=float((low | high).mean()),
                               low=float(low.mean()), high=float(high.mean()))
        if spec.cell == "lstm":
            entry["forget_mean"] = entry["f"]["mean"]
        if spec.cell == "gru":
            entry["update_mean"] = entry["z"]["mean"]
        out[(k // D, k % D)] = entry
    return out
