"""Argument checks shared by the functional API and the layers.

Every message names the argument, what was expected and what arrived. Engines
never see an argument these functions have not accepted.
"""

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype, name="dtype"):
    """Normalize a float32/float64 dtype spec or raise TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {dt}")
    return dt


def as_float_array(name, value, dtype):
    """``value`` as a C-contiguous array of ``dtype``; real floats are cast, others refused.

    The result is a new array whenever a cast or a copy was needed, and the
    caller's array otherwise: callers must never write to it.
    """
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def fmt_shape(shape):
    shape = tuple(shape)
    return str(shape) if len(shape) == 1 else "(" + ", ".join(str(s) for s in shape) + ")"


def check_shape(name, arr, expected, names=None):
    """Raise ValueError unless ``arr.shape == expected``.

    ``names`` (optional) spells the expected shape symbolically, e.g. "(T, N, 4*H)".
    """
    if arr.ndim != len(expected):
        raise ValueError(f"{name}: expected a {len(expected)}-d array of shape "
                         f"{names or fmt_shape(expected)}, got shape {fmt_shape(arr.shape)}")
    if tuple(arr.shape) != tuple(expected):
        spelled = f"{names} = " if names else ""
        raise ValueError(f"{name}: expected shape {spelled}{fmt_shape(expected)}, "
                         f"got {fmt_shape(arr.shape)}")


def check_positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return int(value)


def check_lengths(lengths, T, N):
    """None, or an int64 array (N,) with 1 <= lengths[n] <= T."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected an integer array, got dtype {arr.dtype}")
    if arr.shape != (N,):
        raise ValueError(f"lengths: expected shape (N,) = ({N},), got {fmt_shape(arr.shape)}")
    if N and (arr.min() < 1 or arr.max() > T):
        bad = int(np.flatnonzero((arr < 1) | (arr > T))[0])
        raise ValueError(f"lengths: expected 1 <= lengths[n] <= T = {T}, "
                         f"got lengths[{bad}] = {int(arr[bad])}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def active_mask(lengths, T):
    """(T, N) bool: step t of sequence n is used iff ``t < lengths[n]``; None for all.

    The one place the active-step mask is built (``lengths`` as checked by
    ``check_lengths``: None or int64 (N,)).
    """
    if lengths is None:
        return None
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def no_cache_error(owner):
    """The error of a ``backward`` with nothing to differentiate (no ``forward(train=True)``)."""
    return RuntimeError(f"{owner}.backward: no cache to differentiate; call "
                        "forward(..., train=True) first")


def zero_padding(x, lengths):
    """A copy of x (T, N, I) with the steps past each sequence's end set to 0.

    Padding may hold anything (NaN included); zeroing it keeps it out of the
    whole-sequence weight-gradient products, where 0 * NaN would be NaN.
    """
    if lengths is None:
        return x
    active = active_mask(lengths, x.shape[0])
    if active.all():
        return x
    return np.where(active[:, :, None], x, x.dtype.type(0))


INT32_MAX = 2**31 - 1


def check_sizes(T, N, I, H, G):
    """Refuse, before any allocation, sizes whose products overflow BLAS's 32-bit ints.

    The largest operands are the (T*N, G*H) gate buffers, the (T*N, I) input
    and the (G*H, max(I, H)) weights; every BLAS dimension and leading
    dimension is a factor of one of these, so checking the products suffices.
    """
    for what, size in (("T*N*G*H (the gate buffer)", T * N * G * H),
                       ("T*N*I (the input)", T * N * I),
                       ("G*H*max(I, H) (the weights)", G * H * max(I, H))):
        if size > INT32_MAX:
            raise ValueError(f"sizes too large: {what} = {size} elements exceeds the 32-bit "
                             f"BLAS limit {INT32_MAX} (T={T}, N={N}, I={I}, H={H}, G={G})")


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)
