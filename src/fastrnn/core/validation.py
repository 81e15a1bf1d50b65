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


def as_array(name, value):
    """``value`` as an ndarray, refusing what would be silently misread.

    A masked array is refused (its mask would be ignored: pass ``lengths`` for
    variable-length sequences, or ``value.filled(0)``); a ragged nested
    sequence gets a ValueError naming the argument.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name}: masked arrays are not supported (the mask would be ignored); "
                        "pass lengths= for variable-length sequences, or .filled(0)")
    try:
        return np.asarray(value)
    except ValueError as exc:  # NumPy's "inhomogeneous shape"
        raise ValueError(f"{name}: expected a regular array of numbers, got a ragged nested "
                         f"sequence ({exc})") from None


def as_float_array(name, value, dtype=None, private=False):
    """``value`` as a C-contiguous array of ``dtype`` (None: its own float dtype).

    Real floats are cast, other dtypes refused with TypeError. The result is
    the caller's own array when no cast or copy was needed, so callers must
    never write to it; with ``private`` it is always a fresh copy, made
    read-only (what a cache keeps, so later changes to the caller's array
    cannot reach it). 0-d stays 0-d.
    """
    arr = as_array(name, value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
    if private:
        arr = np.array(arr, dtype=dtype, order="C", copy=True)
        arr.flags.writeable = False
        return arr
    return np.asarray(arr, dtype=dtype, order="C")


def fmt_shape(shape):
    """A shape as it reads in messages: ``(3, 4)``, ``(5,)``, and ``() (a scalar)``."""
    shape = tuple(shape)
    if not shape:
        return "() (a scalar)"
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
    """None, or a private read-only int64 copy (N,) with 1 <= lengths[n] <= T."""
    if lengths is None:
        return None
    arr = as_array("lengths", lengths)
    if arr.shape != (N,):
        raise ValueError(f"lengths: one length per sequence: expected shape (N,) = ({N},), "
                         f"got {fmt_shape(arr.shape)}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected an integer array, got dtype {arr.dtype}")
    if N and (arr.min() < 1 or arr.max() > T):
        bad = int(np.flatnonzero((arr < 1) | (arr > T))[0])
        raise ValueError(f"lengths: expected 1 <= lengths[n] <= T = {T}, "
                         f"got lengths[{bad}] = {int(arr[bad])}")
    arr = np.array(arr, dtype=np.int64, copy=True)
    arr.flags.writeable = False
    return arr


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
    padded = np.where(active[:, :, None], x, x.dtype.type(0))
    padded.flags.writeable = x.flags.writeable  # a private read-only copy stays read-only
    return padded


INT32_MAX = 2**31 - 1


def check_sizes(T, N, I, H, G, input_name="I"):
    """Refuse, before any allocation, sizes whose products overflow the C engine's 32-bit ints.

    The largest operands are the (T*N, G*H) gate buffers, the (T*N, I) input
    and the (G*H, max(I, H)) weights; every product dimension and row
    stride is a factor of one of these, so checking the products suffices.
    ``input_name`` says what I is in the message (e.g. "input_size", or the
    input size of a layer above the first).
    """
    for what, size in (("T*N*G*H (the gate buffer)", T * N * G * H),
                       (f"T*N*{input_name} (the input)", T * N * I),
                       (f"G*H*max({input_name}, H) (the weights)", G * H * max(I, H))):
        if size > INT32_MAX:
            raise ValueError(f"sizes too large: {what} = {size} elements exceeds the 32-bit "
                             f"limit {INT32_MAX} (T={T}, N={N}, {input_name}={I}, H={H}, "
                             f"G={G})")


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)
