"""Losses that return their gradient: ``(loss, dinput) = loss_fn(...)``.

``loss`` is a Python float and the gradient has the input's shape and dtype.
Both losses are means over the items a ``mask`` keeps (``mask=None`` keeps
everything); a float mask weighs the items (a weighted mean). Masked-out items
may hold anything, NaN included: they never reach the loss or the gradient.
When the mask keeps nothing the loss is 0 and the gradient all zeros (PyTorch
would give NaN).
"""

import numpy as np

from ..core import validation as V


def _float_input(name, value):
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
    return arr


def _weights(mask, shape, dtype):
    """The mask as non-negative float weights of ``shape``, or None for 'keep all'."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"mask: expected a bool or real array, got dtype {m.dtype}")
    if m.shape != tuple(shape):
        raise ValueError(f"mask: expected shape {V.fmt_shape(shape)}, got {V.fmt_shape(m.shape)}")
    w = m.astype(dtype)
    if m.dtype.kind in "if" and not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError("mask: expected finite weights >= 0, got a negative or non-finite one")
    return w


def log_softmax(logits, axis=-1):
    """``log(softmax(logits))`` along ``axis``, computed stably (each slice's max subtracted).

    Parameters
    ----------
    logits : array-like of float, any shape
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        The shape and dtype of ``logits``.

    Raises
    ------
    TypeError
        For non-float ``logits``.
    """
    z = _float_input("logits", logits)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    """Softmax along ``axis``, computed stably: ``exp(log_softmax(logits, axis))``.

    Parameters
    ----------
    logits : array-like of float, any shape
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        The shape and dtype of ``logits``; sums to 1 along ``axis``.

    Raises
    ------
    TypeError
        For non-float ``logits``.

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.array([[0.0, np.log(3.0)], [1e4, 1e4]])).round(6).tolist()
    [[0.25, 0.75], [0.5, 0.5]]
    """
    return np.exp(log_softmax(logits, axis))


def softmax_cross_entropy(logits, targets, mask=None, ignore_index=None):
    """Mean cross-entropy of ``softmax(logits)`` against integer class targets, and its gradient.

    ``loss = sum_k w_k * -log softmax(logits_k)[targets_k] / sum_k w_k`` over
    the items k (every position of ``targets``), with ``w_k`` the mask's weight
    (1 without a mask, 0 where ``targets_k == ignore_index``). The log-sum-exp
    subtracts each row's max, so huge logits never overflow. When no item is
    kept the loss is 0.0 and the gradient zeros.

    Parameters
    ----------
    logits : array-like of float, shape (..., C)
        E.g. (N, C) from a classifier, (T, N, C) from a tagger.
    targets : array-like of int, shape logits.shape[:-1]
        Class ids in [0, C) wherever kept (anything where masked out).
    mask : array-like of bool or float, shape logits.shape[:-1], optional
        Which items count (bool or 0/1) or their weights (floats >= 0).
        Masked-out items may hold NaN or inf logits: they reach neither the
        loss nor the gradient.
    ignore_index : int, optional
        A target value to skip (PyTorch's ``ignore_index``).

    Returns
    -------
    loss : float
    dlogits : numpy.ndarray, shape and dtype of ``logits``
        ``w_k * (softmax(logits_k) - onehot(targets_k)) / sum_k w_k``.

    Raises
    ------
    TypeError
        For non-float logits, non-integer targets, a mask of another dtype, or
        a non-int ``ignore_index``.
    ValueError
        For logits without a class axis, targets or a mask of another shape, a
        kept target outside [0, C) (naming the first), or a negative or
        non-finite weight.

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> loss, dlogits = softmax_cross_entropy(logits, np.array([0, 2]))
    >>> round(loss, 6), dlogits.shape
    (0.669079, (2, 3))
    >>> loss, _ = softmax_cross_entropy(logits, np.array([0, 2]), mask=np.array([True, False]))
    >>> round(loss, 6)                                   # the first item only
    0.239545
    """
    z = _float_input("logits", logits)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits: expected shape (..., C) with C >= 1, got {V.fmt_shape(z.shape)}")
    C = z.shape[-1]
    t = np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets: expected an integer array, got dtype {t.dtype}")
    if t.shape != z.shape[:-1]:
        raise ValueError(f"targets: expected shape logits.shape[:-1] = {V.fmt_shape(z.shape[:-1])}, "
                         f"got {V.fmt_shape(t.shape)}")
    w = _weights(mask, t.shape, z.dtype)
    if ignore_index is not None:
        if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index,
                                                                        (int, np.integer)):
            raise TypeError(f"ignore_index: expected an int or None, got {type(ignore_index).__name__}")
        keep = t != ignore_index
        w = keep.astype(z.dtype) if w is None else w * keep
    z2, t2 = z.reshape(-1, C), t.reshape(-1)
    active = None if w is None else w.reshape(-1) != 0
    out_of_range = (t2 < 0) | (t2 >= C)
    if active is not None:
        out_of_range &= active
    if out_of_range.any():
        k = int(np.flatnonzero(out_of_range)[0])
        bad = [int(i) for i in np.unravel_index(k, t.shape)]
        raise ValueError(f"targets: expected class ids in [0, {C}), got targets{bad} = "
                         f"{int(t2[k])}")
    rows = np.arange(t2.size)
    if active is not None and not active.all():
        z2 = np.where(active[:, None], z2, z.dtype.type(0))   # padding may hold NaN/inf
        t2 = np.where(active, t2, 0)
    total = float(t2.size if w is None else w.sum())
    if total == 0:
        return 0.0, np.zeros_like(z)
    shifted = z2 - z2.max(axis=1, keepdims=True)
    logsumexp = np.log(np.exp(shifted).sum(axis=1))
    nll = logsumexp - shifted[rows, t2]                       # -log p[target]
    probs = np.exp(shifted - logsumexp[:, None])
    probs[rows, t2] -= 1                                      # d nll / d logits = p - onehot
    if w is None:
        loss = float(nll.sum()) / total
        probs *= z.dtype.type(1.0 / total)
    else:
        wf = w.reshape(-1)
        loss = float((wf * nll).sum()) / total
        probs *= (wf / z.dtype.type(total))[:, None]
    return loss, probs.reshape(z.shape)


def mse(pred, target, mask=None):
    """Mean squared error over the kept elements, and its gradient.

    ``loss = sum w * (pred - target)^2 / sum w`` over every ELEMENT (as
    PyTorch's ``MSELoss(reduction="mean")`` when nothing is masked); a mask of
    a leading part of the shape keeps or drops the trailing features together,
    and each of them counts in ``sum w``. When nothing is kept the loss is 0.0
    and the gradient zeros.

    Parameters
    ----------
    pred : array-like of float, any shape
    target : array-like of real numbers, the shape of ``pred``
        Cast to pred's dtype.
    mask : array-like of bool or float, optional
        The shape of ``pred`` or a leading part of it (e.g. (T, N) for pred
        (T, N, F)); bool/0-1 keeps or drops, floats >= 0 weigh. Masked-out
        elements may hold NaN.

    Returns
    -------
    loss : float
    dpred : numpy.ndarray, shape and dtype of ``pred``
        ``2 * w * (pred - target) / sum w``.

    Raises
    ------
    TypeError
        For non-float ``pred``, a non-real ``target`` or mask.
    ValueError
        For a ``target`` or ``mask`` of another shape, or a negative or
        non-finite weight.

    Examples
    --------
    >>> import numpy as np
    >>> pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    >>> loss, dpred = mse(pred, np.zeros((2, 2)))
    >>> loss, dpred.tolist()
    (9.75, [[0.5, 1.0], [1.5, 2.5]])
    >>> mse(pred, np.zeros((2, 2)), mask=np.array([True, False]))[0]   # row 0 only
    2.5
    """
    p = _float_input("pred", pred)
    tgt = np.asarray(target)
    if tgt.dtype.kind not in "biuf":
        raise TypeError(f"target: expected a real array, got dtype {tgt.dtype}")
    if tgt.shape != p.shape:
        raise ValueError(f"target: expected the shape of pred {V.fmt_shape(p.shape)}, "
                         f"got {V.fmt_shape(tgt.shape)}")
    diff = p - tgt.astype(p.dtype, copy=False)
    if mask is None:
        n = diff.size
        if n == 0:
            return 0.0, np.zeros_like(p)
        return float(np.square(diff).sum()) / n, diff * p.dtype.type(2.0 / n)
    m = np.asarray(mask)
    if m.ndim > p.ndim or m.shape != p.shape[:m.ndim]:
        raise ValueError(f"mask: expected shape {V.fmt_shape(p.shape)} or a leading part of it, "
                         f"got {V.fmt_shape(m.shape)}")
    w = _weights(m, m.shape, p.dtype)
    w = w.reshape(w.shape + (1,) * (p.ndim - w.ndim))
    wb = np.broadcast_to(w, p.shape)
    total = float(wb.sum())
    if total == 0:
        return 0.0, np.zeros_like(p)
    diff = np.where(wb != 0, diff, p.dtype.type(0))            # padding may hold NaN
    loss = float((wb * np.square(diff)).sum()) / total
    return loss, (wb * diff) * p.dtype.type(2.0 / total)
