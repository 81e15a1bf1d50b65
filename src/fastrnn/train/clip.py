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


_CHUNK = 1 << 18   # elements per float64 work block (2 MB): bounded extra memory


def _abs_max(arrays):
    """max |g| over all elements as a float (NaN when any is NaN); 0.0 for no elements."""
    amax = 0.0
    for g in arrays:
        if g.size:
            hi, lo = float(np.max(g)), float(np.min(g))    # max/min propagate NaN
            if math.isnan(hi) or math.isnan(lo):
                return math.nan
            amax = max(amax, hi, -lo)
    return amax


def _power_sum(g, p):
    """sum |g|^p in g's dtype (the fast path: one BLAS dot for p = 2, as PyTorch)."""
    flat = g.reshape(-1)
    if p == 2:
        return float(np.dot(flat, flat))
    if p == 1:
        return float(np.sum(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** p))


def _fast_norm(arrays, p):
    """The norm by plain power sums in each array's dtype, or None when that may be wrong.

    The terms are >= 0, so a finite sum means no partial sum overflowed; a sum
    >= n * tiny / eps means underflowed terms changed it by less than a
    rounding. Otherwise (huge or tiny magnitudes, non-finite values) None.
    """
    total = 0.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for g in arrays:
            if g.size == 0:
                continue
            part = _power_sum(g, p)
            if part == 0.0 and not np.any(g):
                continue                   # all zeros: exactly nothing to add
            info = np.finfo(g.dtype)
            if not (math.isfinite(part) and part >= g.size * float(info.tiny / info.eps)):
                return None
            total += part
    try:
        return total ** (1.0 / p)
    except OverflowError:          # p < 1: the root of a finite sum can exceed the range
        return None


def _norm_parts(arrays, p):
    """The total p-norm of all elements as ``(amax, r)``: ``norm = amax * r``.

    Usually the plain power sums (``_fast_norm``; then ``r = 1``). When they
    may have overflowed or underflowed: ``amax = max |g|``, and each element
    is divided by it before its power is taken and summed in float64 (in
    blocks), so no power overflows or vanishes whatever the magnitudes
    (float32 near 3e38, float64 near 1e308): ``1 <= r <= n**(1/p)``, and only
    the product ``amax * r`` can exceed the float range. For non-finite
    gradients ``amax`` is NaN (any NaN) or inf, and r = 1 (the norm is then
    NaN or inf, as in PyTorch).
    """
    if p != math.inf:
        fast = _fast_norm(arrays, p)
        if fast is not None:
            return fast, 1.0
    amax = _abs_max(arrays)
    if amax == 0.0 or not math.isfinite(amax) or p == math.inf:
        return amax, 1.0
    acc = 0.0
    inverse = 1.0 / amax if amax >= 2.0 ** -1022 else None      # 1/subnormal overflows
    for g in arrays:
        flat = g.reshape(-1)
        for start in range(0, flat.size, _CHUNK):
            y = flat[start:start + _CHUNK].astype(np.float64)
            np.abs(y, out=y)
            if inverse is None:
                y /= amax
            else:
                y *= inverse            # |g| * (1/amax) <= 1 (+1 ulp): no overflow either way
            if p == 2:
                acc += float(np.dot(y, y))
            elif p == 1:
                acc += float(np.sum(y))
            else:
                acc += float(np.sum(np.power(y, p, out=y)))
    return amax, acc ** (1.0 / p)


def _scale(g, coef, amax, rest):
    """``g *= coef`` in place, where ``coef = rest / amax`` (to rounding).

    A ``coef`` that is a normal number of g's dtype multiplies in that dtype
    (PyTorch's way); one that is not (huge gradients and a small
    ``max_norm``) multiplies in float64, rounding once; and one below even
    float64's normal range (float64 gradients near 1e308) scales in two
    steps, ``g /= amax`` (every element <= 1) then ``g *= rest``.
    """
    if coef >= np.finfo(g.dtype).tiny:
        g *= g.dtype.type(coef)
    elif coef >= np.finfo(np.float64).tiny:
        np.multiply(g, coef, out=g, dtype=np.float64, casting="unsafe")
    else:
        np.divide(g, amax, out=g, dtype=np.float64, casting="unsafe")
        np.multiply(g, rest, out=g, dtype=np.float64, casting="unsafe")


def grad_norm(grads, norm_type=2.0):
    """The total ``norm_type``-norm of all gradients, as if concatenated into one vector.

    Parameters
    ----------
    grads : dict of arrays, array, iterable of arrays, or a layer/model
        The gradients (a layer's or model's ``.grads`` when a module is given).
    norm_type : float or "inf"
        The order p > 0 of the norm (2, 1, inf or any p > 0).

    Returns
    -------
    float
        The norm, computed without overflow for any finite gradients (see
        ``clip_grad_norm``); ``inf`` only when it exceeds the float64 range
        or a gradient is infinite, NaN when a gradient is NaN.

    Raises
    ------
    TypeError, ValueError
        As ``clip_grad_norm``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> grads = {"a": np.array([3.0, 0.0]), "b": np.array([[-4.0]])}
    >>> fastrnn.grad_norm(grads), fastrnn.grad_norm(grads, 1), fastrnn.grad_norm(grads, "inf")
    (5.0, 7.0, 4.0)
    """
    items = _grad_items(grads)
    p = _norm_type(norm_type)
    amax, r = _norm_parts([g for _, g in items], p)
    return amax * r


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale all gradients together so that their total norm is at most ``max_norm``.

    PyTorch's ``clip_grad_norm_``: the total norm is the ``norm_type``-norm
    of all gradients concatenated; when ``coef = max_norm / (total_norm +
    1e-6) < 1`` every array is multiplied in place by ``coef``.

    Parameters
    ----------
    grads : dict of arrays, array, iterable of arrays, or a layer/model
        Writeable real float arrays, scaled in place.
    max_norm : float
        The largest total norm allowed, >= 0.
    norm_type : float or "inf"
        The order p > 0 of the norm (2, 1, inf or any p > 0).
    error_if_nonfinite : bool
        Raise instead of scaling when a gradient is NaN or infinite.

    Returns
    -------
    float
        The total norm before clipping: ``inf`` when it exceeds the float64
        range (finite gradients are still clipped correctly) or a gradient is
        infinite, NaN when one is NaN.

    Raises
    ------
    RuntimeError
        With ``error_if_nonfinite=True``, when a gradient is NaN or infinite;
        nothing is scaled.
    TypeError, ValueError
        For bad arguments (naming them); every array is checked before any
        is touched.

    Notes
    -----
    Large finite gradients are always clipped: when the plain sum of squares
    (PyTorch's computation) overflows or underflows, the norm is accumulated
    in float64 over the elements divided by the largest magnitude, so it
    never overflows on the way (float32 gradients of 1e20, float64 near
    1e308), and when the norm itself exceeds the float range the scale is
    applied in two steps. After clipping the total norm is ``max_norm`` (to
    rounding).

    Non-finite gradients: with the default ``error_if_nonfinite=False`` the
    gradients are scaled by the non-finite factor, exactly as PyTorch does
    (NaN everywhere for a NaN norm, zeros for an infinite one).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    >>> fastrnn.clip_grad_norm(grads, max_norm=1.0)      # the norm before: 5
    5.0
    >>> round(fastrnn.grad_norm(grads), 6), np.round(grads["a"], 6).tolist()
    (1.0, [0.6, 0.0])
    """
    items = _grad_items(grads)
    max_norm = _real("max_norm", max_norm, minimum=0.0)
    p = _norm_type(norm_type)
    if not isinstance(error_if_nonfinite, (bool, np.bool_)):
        raise TypeError(f"error_if_nonfinite: expected a bool, "
                        f"got {type(error_if_nonfinite).__name__}")
    arrays = [g for _, g in items]
    if not arrays:
        return 0.0
    amax, r = _norm_parts(arrays, p)
    total = amax * r                   # inf when the norm of finite gradients overflows
    if not math.isfinite(amax):
        if error_if_nonfinite:
            raise RuntimeError(f"clip_grad_norm: the total norm of order {p} of the gradients "
                               f"is non-finite ({total}): a gradient is NaN or infinite, so it "
                               "cannot be clipped; nothing was scaled. Pass "
                               "error_if_nonfinite=False to scale by it anyway.")
        with np.errstate(invalid="ignore"):
            coef = max_norm / (total + _EPS)        # NaN or 0, as in PyTorch
            for g in arrays:
                g *= g.dtype.type(coef)
        return total
    if math.isfinite(total):
        coef = max_norm / (total + _EPS)
        if coef >= 1.0:
            return total
    else:
        coef = max_norm / r / amax                  # 0 < coef, tiny; eps is below rounding
    for g in arrays:
        _scale(g, coef, amax, max_norm / r)
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``, in place.

    PyTorch's ``clip_grad_value_``; min-char-rnn's
    ``np.clip(dparam, -5, 5, out=dparam)``. NaN stays NaN.

    Parameters
    ----------
    grads : dict of arrays, array, iterable of arrays, or a layer/model
        Writeable real float arrays, clamped in place.
    clip_value : float
        The largest magnitude allowed, >= 0.

    Raises
    ------
    TypeError, ValueError
        For a non-array or non-float gradient, a read-only one, or a negative
        or NaN ``clip_value`` (naming it); every array is checked before any
        is touched.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> g = {"w": np.array([-7.0, 0.5, 3.0])}
    >>> fastrnn.clip_grad_value(g, 1.0)
    >>> g["w"].tolist()
    [-1.0, 0.5, 1.0]
    """
    items = _grad_items(grads)
    c = _real("clip_value", clip_value, minimum=0.0)
    for _, g in items:
        np.clip(g, -c, c, out=g)
