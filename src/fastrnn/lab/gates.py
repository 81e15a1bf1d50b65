"""Gate health: how saturated each gate is, and the LSTM's forget and GRU's update means."""

import numpy as np

from ..core.cells import GATE_ACTIVATION
from .walk import layer_spec, walk_layer

__all__ = ["gate_health"]


def _saturated(a, kind, threshold):
    """(low, high) bool masks of the saturated regions of activation values ``a``."""
    if kind == "sigmoid":
        return a < threshold, a > 1 - threshold
    if kind == "tanh":
        return a < -(1 - threshold), a > 1 - threshold
    return a <= 0, np.zeros_like(a, dtype=bool)      # relu: a dead unit passes no gradient


def gate_health(layer, x, state=None, lengths=None, threshold=0.1):
    """Saturation and mean of every gate over a batch, per (layer, direction) part.

    A sigmoid gate value is saturated when it is below ``threshold`` or above
    ``1 - threshold``; a tanh value when ``|a| > 1 - threshold``; the SRN's
    activation "h" by its nonlinearity (relu counts zeros as saturated). Only
    the steps each sequence uses are counted.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``
    state : the layer's initial state, optional
    lengths : array_like of int, shape (N,), optional
    threshold : float, default 0.1

    Returns
    -------
    dict
        ``(layer, direction) -> {gate: {"mean", "saturated", "low", "high"}}``,
        low/high being the fractions in the lower and upper saturated region;
        the LSTM's entry also has ``"forget_mean"`` (the mean of f, the fraction
        of the cell kept per step) and the GRU's ``"update_mean"`` (the mean of
        z, the fraction of h kept).

    Raises
    ------
    TypeError, ValueError
        For a bad layer, input, state or lengths.
    """
    spec = layer_spec(layer)
    H, D = layer.hidden_size, layer.num_directions
    walks, _ = walk_layer(layer, x, state, lengths)
    out = {}
    for k, walk in walks.items():
        acts = np.stack([s.acts for s in walk.steps])           # (T, N, G*H)
        entry = {}
        for g, name in enumerate(spec.gate_names):
            a = acts[:, :, g * H:(g + 1) * H]
            a = a.reshape(-1, H) if walk.mask is None else a[walk.mask[..., 0]]
            kind = spec.nonlinearity if name == "h" else GATE_ACTIVATION[name]
            low, high = _saturated(a, kind, threshold)
            entry[name] = dict(mean=float(a.mean()), saturated=float((low | high).mean()),
                               low=float(low.mean()), high=float(high.mean()))
        if spec.cell == "lstm":
            entry["forget_mean"] = entry["f"]["mean"]
        if spec.cell == "gru":
            entry["update_mean"] = entry["z"]["mean"]
        out[(k // D, k % D)] = entry
    return out
