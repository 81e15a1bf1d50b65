"""Gradient clipping, in place, with PyTorch's rules.

``grads`` is a dict of arrays (a layer's or model's ``grads``), a single
array, any iterable of arrays, or a layer/model itself (its ``.grads`` is
used). Every array is checked (a writeable real float ndarray) before any is
touched, so a bad argument raises and leaves every gradient unchanged.
"""

import math
from collections.abc import Mapping

import numpy as np

_EPS = 1e-6   # PyTorch's: clip_coef = max_norm / (total_norm + 1e-6)


def _grad_items(grads, name="grads"):
    """[(label, array)] from a dict, an array, an iterable of arrays or a model."""
    if not isinstance(grads, (Mapping, np.ndarray)) and isinstance(
            getattr(grads, "grads", None), Mapping):
        grads = grads.grads
    if isinstance(grads, np.ndarray):
        items = [(name, grads)]
    elif isinstance(grads, Mapping):
        items = [(f"{name}[{k!r}]", v) for k, v in grads.items()]
    else:
        try:
            items = [(f"{name}[{i}]", v) for i, v in enumerate(grads)]
        except TypeError:
            raise TypeError(f"{name}: expected a dict, an array or an iterable of arrays, "
                            f"got {type(grads).__name__}") from None
    for label, g in items:
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{label}: expected a NumPy array, got {type(g).__name__}")
        if g.dtype.kind != "f":
            raise TypeError(f"{label}: expected a real floating-point array, got dtype {g.dtype}")
        if not g.flags.writeable:
            raise ValueError(f"{label}: expected a writeable array (it is scaled in place), "
                             "got a read-only one")
    return items


def _real(name, value, minimum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (minimum is not None and value < minimum):
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value}")
    return value


def _norm_type(norm_type):
    if isinstance(norm_type, str) and norm_type.lower() in ("inf", "infinity"):
        return math.inf
    p = _real("norm_type", norm_type)
    if not p > 0:
        raise ValueError(f"norm_type: expected a number > 0 or inf (usually 2, 1 or inf), "
                         f"got {norm_type!r}")
    return p


def _vector_norm(a, p):
    """The p-norm of the flattened array a (PyTorch's ``vector_norm``)."""
    flat = a.reshape(-1)
    if flat.size == 0:
        return 0.0
    if p == 2:
        return float(np.sqrt(np.dot(flat, flat)))
    if p == math.inf:
        return float(np.max(np.abs(flat)))
    if p == 1:
        return float(np.sum(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** p) ** (1.0 / p))


def grad_norm(grads, norm_type=2.0):
    """The total ``norm_type``-norm of all gradients, as if concatenated into one vector."""
    items = _grad_items(grads)
    p = _norm_type(norm_type)
    return _vector_norm(np.array([_vector_norm(g, p) for _, g in items], dtype=np.float64), p)


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale all gradients together so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm (2, 1, inf or any p > 0) of the
    vector of per-array norms, i.e. of all gradients concatenated. When
    ``max_norm / (total_norm + 1e-6) < 1`` every array is multiplied in place
    by that factor (PyTorch's ``clip_grad_norm_``). Returns ``total_norm``
    (the norm before clipping) as a float.

    A NaN or infinite total norm: with ``error_if_nonfinite=True`` a
    ``RuntimeError`` is raised (as in PyTorch) and nothing is scaled; with the
    default False the gradients are scaled by the non-finite factor, exactly
    as PyTorch does (NaN everywhere for a NaN norm).
    """
    items = _grad_items(grads)
    max_norm = _real("max_norm", max_norm, minimum=0.0)
    p = _norm_type(norm_type)
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"error_if_nonfinite: expected a bool, "
                        f"got {type(error_if_nonfinite).__name__}")
    if not items:
        return 0.0
    total = _vector_norm(np.array([_vector_norm(g, p) for _, g in items], dtype=np.float64), p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm: the total norm of order {p} of the gradients is "
                           f"non-finite ({total}), so it cannot be clipped; nothing was scaled. "
                           "Pass error_if_nonfinite=False to scale by it anyway.")
    with np.errstate(invalid="ignore", over="ignore"):
        coef = max_norm / (total + _EPS)
        if not coef >= 1.0:          # also true for a NaN coefficient, as in PyTorch
            for _, g in items:
                g *= g.dtype.type(coef)
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place.

    PyTorch's ``clip_grad_value_``; min-char-rnn's ``np.clip(dparam, -5, 5, out=dparam)``.
    NaN stays NaN.
    """
    items = _grad_items(grads)
    c = _real("clip_value", clip_value, minimum=0.0)
    for _, g in items:
        np.clip(g, -c, c, out=g)
