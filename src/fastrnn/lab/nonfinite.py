"""Where a NaN or inf first appeared: step, layer, direction and gate, forward or backward."""

from dataclasses import dataclass

import numpy as np

from ..core import validation as V
from ..core.cells import GATE_NAMES
from .flow import backward_with_flow
from .walk import initial_states, layer_spec, layer_weights, time_major, walk_layer

__all__ = ["NonFinite", "first_nonfinite"]


@dataclass
class NonFinite:
    """Where a NaN or inf first appeared (``str()`` spells it out).

    Parameters
    ----------
    stage : {"forward", "backward"}
    layer : int
    direction : int
        0 forward, 1 reverse.
    step : int or None
        The time index (None for an initial or final state).
    gate : str
        A gate name ("i", "f", "g", "o"; "r", "z", "n"; "h" for the SRN's
        activation or the hidden state), or "input", "state", "c" (the LSTM's
        cell), "dy" (the gradient arriving from above) or "dstate".
    quantity : str
        What was non-finite (e.g. "pre-activation", "activation", "state gradient").
    sequence, unit : int, optional
        The first offending batch row and unit.
    value : float, optional
        The offending value.
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
        seq = "" if self.sequence is None else \
            f" (sequence {self.sequence}, unit {self.unit}: {self.value})"
        return (f"{self.stage}: first non-finite at {at}layer {self.layer} ({where} direction), "
                f"{self.gate} {self.quantity}{seq}")


def _first_bad(a):
    """(sequence, unit, value) of the first non-finite entry of an (N, K) array, or None."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    n, u = np.argwhere(bad)[0]
    return int(n), int(u), float(a[n, u])


def _forward_check(cell, H):
    """The walk's per-step check: the gates (pre-activation, then activation), c, h."""
    names = GATE_NAMES[cell]

    def check(l, d, t, step, m):
        def active(a):
            return a if m is None else np.where(m, a, 0)
        for quantity, arr in (("pre-activation", step.pre), ("activation", step.acts)):
            arr = active(arr)
            for g, name in enumerate(names):
                hit = _first_bad(arr[:, g * H:(g + 1) * H])
                if hit:
                    return NonFinite("forward", l, d, t, name, quantity, *hit)
        if step.c is not None:
            hit = _first_bad(active(step.c))
            if hit:
                return NonFinite("forward", l, d, t, "c", "cell state", *hit)
        hit = _first_bad(active(step.h))
        if hit:
            return NonFinite("forward", l, d, t, "h", "hidden state", *hit)
        return None
    return check


def first_nonfinite(layer, x, state=None, lengths=None, dy=None, dstate=None):
    """Name where NaN or inf first appears in ``layer``'s forward, then its backward.

    The forward is walked step by step in NumPy (the cell math of
    ``fastrnn.core.cells``, in the layer's dtype), part by part in the layers'
    order; at each step the input, then each gate's pre-activation and
    activation, then the cell and hidden states are checked on the rows in
    use. If the forward is finite and ``dy`` is given, the backward is run on
    the current engine and its per-step state gradients are scanned in
    backward order (top layer first, each direction from its last processed
    step); the gate whose gradient turned non-finite is named by recomputing
    that step's gate gradients.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``
    state : the layer's initial state, optional
    lengths : array_like of int, shape (N,), optional
    dy : array_like, shaped like the layer's ``y``, optional
        Also scan the backward of this output gradient.
    dstate : shaped like the layer's state, optional
        The final-state gradient of that backward.

    Returns
    -------
    NonFinite or None
        None when everything is finite.

    Raises
    ------
    TypeError, ValueError
        For a bad layer, input, state, lengths or gradient.
    """
    spec = layer_spec(layer)
    H, D = layer.hidden_size, layer.num_directions
    x_tm = time_major(layer, "x", x, layer.input_size)
    T, N = x_tm.shape[:2]
    lengths = V.check_lengths(lengths, T, N)
    active = V.active_mask(lengths, T)
    xin = x_tm if active is None else np.where(active[:, :, None], x_tm, 0)
    # the layer's own input: report it before anything it feeds
    for t in range(T):
        hit = _first_bad(np.asarray(xin[t], dtype=np.float64))
        if hit:
            return NonFinite("forward", 0, 0, t, "input", "x", *hit)
    for k, s in enumerate(initial_states(layer, state, N, layer.dtype)):
        for name, arr in (("state", s[0]), ("c", s[1])):
            if arr is not None:
                hit = _first_bad(arr)
                if hit:
                    return NonFinite("forward", k // D, k % D, None, name, "initial state", *hit)
    with np.errstate(all="ignore"):
        _, report = walk_layer(layer, x, state, lengths, check=_forward_check(spec.cell, H))
    if report is not None or dy is None:
        return report
    return _backward_nonfinite(layer, spec, x, state, lengths, dy, dstate)


def _backward_nonfinite(layer, spec, x, state, lengths, dy, dstate):
    H, D, L = layer.hidden_size, layer.num_directions, layer.num_layers
    layer.forward(x, state, lengths=lengths, train=True)
    with np.errstate(all="ignore"):
        _, _, flow = backward_with_flow(layer, dy, dstate, accumulate=False)
    T, N = flow.dh[0].shape[:2]
    finals = initial_states(layer, dstate, N, layer.dtype, "dstate")
    dy_tm = time_major(layer, "dy", dy, D * H)
    walks = None
    for l in reversed(range(L)):
        for d in range(D):
            k = l * D + d
            for arr in finals[k]:
                hit = None if arr is None else _first_bad(arr)
                if hit:
                    return NonFinite("backward", l, d, None, "dstate", "final-state gradient",
                                     *hit)
            order = list(range(T)) if d else list(range(T - 1, -1, -1))
            dh, dc = flow.dh[k], (flow.dc[k] if flow.dc is not None else None)
            for pos, t in enumerate(order):
                bad_h = _first_bad(dh[t])
                bad_c = None if dc is None else _first_bad(dc[t])
                if not (bad_h or bad_c):
                    continue
                if l == L - 1:
                    hit = _first_bad(np.asarray(dy_tm[t, :, d * H:(d + 1) * H],
                                                dtype=np.float64))
                    if hit:
                        return NonFinite("backward", l, d, t, "dy", "output gradient", *hit)
                if pos == 0:   # nothing before it in this part: it came from above
                    what = "dy" if l < L - 1 else ("c" if (bad_c and not bad_h) else "h")
                    return NonFinite("backward", l, d, t, what, "state gradient",
                                     *(bad_h or bad_c))
                # it came through the recurrence from the step processed before
                prev = order[pos - 1]
                if walks is None:
                    with np.errstate(all="ignore"):
                        walks, _ = walk_layer(layer, x, state, lengths)
                W_hh = layer_weights(layer, l, d)[1]
                gate = _backward_gate(spec, walks[k].steps[prev], dh[prev],
                                      None if dc is None else dc[prev], W_hh)
                if l < L - 1 and gate is None:
                    gate = "dy"
                return NonFinite("backward", l, d, t, gate or "h", "state gradient",
                                 *(bad_h or bad_c))
    return None


def _backward_gate(spec, step, dh_total, dc_total, W_hh):
    """Which gate's contribution to ``dL/ds_{t-1}`` is non-finite at a recorded step,
    recomputed with the engines' backward formulas (``CellSpec.step_backward``)."""
    H = step.h.shape[1]
    with np.errstate(all="ignore"):
        _, dpre, _, dc_prev = spec.step_backward(step, dh_total, dc_total, W_hh)
        for g, name in enumerate(spec.gate_names):
            block = dpre[:, g * H:(g + 1) * H]
            if not np.all(np.isfinite(block)):
                return name
            if not np.all(np.isfinite(block @ W_hh[g * H:(g + 1) * H])):
                return name
        if dc_prev is not None and not np.all(np.isfinite(dc_prev)):
            return "c"
    return None
