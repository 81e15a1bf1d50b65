"""Argument checks shared by the functional API, the layers and the training toolkit.

Every message names the argument, what was expected and what arrived
(``"lengths: expected 1 <= lengths[n] <= T = 5, got lengths[2] = 7"``).
Engines never see an argument these functions have not accepted. The
functions are internal helpers (no stable API), documented for contributors.

Examples
--------
>>> import numpy as np
>>> from fastrnn.core import validation as V
>>> V.check_lengths([3, 1], T=3, N=2).tolist()
[3, 1]
>>> V.check_lengths([4, 1], T=3, N=2)
Traceback (most recent call last):
...
ValueError: lengths: expected 1 <= lengths[n] <= T = 3, got lengths[0] = 4
"""

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype, name="dtype"):
    """Normalize a float32/float64 dtype spec.

    Parameters
    ----------
    dtype : dtype-like
        Anything ``numpy.dtype`` takes (``np.float32``, ``"float64"``, ...).
    name : str
        The argument's name, for the message.

    Returns
    -------
    numpy.dtype
        ``float32`` or ``float64``.

    Raises
    ------
    TypeError
        For anything else (``float16``, an integer dtype, a non-dtype).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {dt}")
    return dt


def as_array(name, value):
    """``value`` as an ndarray, refusing what would be silently misread.

    Parameters
    ----------
    name : str
        The argument's name, for messages.
    value : array-like
        Anything ``numpy.asarray`` takes.

    Returns
    -------
    numpy.ndarray
        ``numpy.asarray(value)`` (``value`` itself when it is an ndarray).

    Raises
    ------
    TypeError
        For a masked array (its mask would be ignored: pass ``lengths`` for
        variable-length sequences, or ``value.filled(0)``).
    ValueError
        For a ragged nested sequence.
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
    """``value`` as a C-contiguous real float array of ``dtype``.

    Real floats of any precision are cast; other dtypes are refused. The result
    is the caller's own array when no cast or copy was needed, so callers must
    never write to it; with ``private`` it is always a fresh copy, made
    read-only (what a cache keeps, so later changes to the caller's array
    cannot reach it). 0-d stays 0-d.

    Parameters
    ----------
    name : str
        The argument's name, for messages.
    value : array-like
        Real floats of any shape.
    dtype : numpy.dtype, optional
        The dtype to cast to (None: the value's own float dtype).
    private : bool
        Return a read-only private copy.

    Returns
    -------
    numpy.ndarray
        C-contiguous, of ``dtype``, the shape of ``value``.

    Raises
    ------
    TypeError
        For integer, bool, complex or object values, and masked arrays.
    ValueError
        For a ragged nested sequence.
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
    """A shape as it reads in messages.

    Parameters
    ----------
    shape : tuple of int

    Returns
    -------
    str
        ``"(3, 4)"``, ``"(5,)"``, or ``"() (a scalar)"``.

    Examples
    --------
    >>> fmt_shape((3, 4)), fmt_shape((5,)), fmt_shape(())
    ('(3, 4)', '(5,)', '() (a scalar)')
    """
    shape = tuple(shape)
    if not shape:
        return "() (a scalar)"
    return str(shape) if len(shape) == 1 else "(" + ", ".join(str(s) for s in shape) + ")"


def check_shape(name, arr, expected, names=None):
    """Check that an array has exactly the expected shape.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    arr : numpy.ndarray
        The array checked.
    expected : tuple of int
        The shape required.
    names : str, optional
        The expected shape spelled symbolically for the message, e.g.
        ``"(T, N, 4*H)"``.

    Raises
    ------
    ValueError
        If ``arr.shape != expected`` (another number of dimensions, or another
        size along one).
    """
    if arr.ndim != len(expected):
        raise ValueError(f"{name}: expected a {len(expected)}-d array of shape "
                         f"{names or fmt_shape(expected)}, got shape {fmt_shape(arr.shape)}")
    if tuple(arr.shape) != tuple(expected):
        spelled = f"{names} = " if names else ""
        raise ValueError(f"{name}: expected shape {spelled}{fmt_shape(expected)}, "
                         f"got {fmt_shape(arr.shape)}")


def check_proj_size(proj_size, hidden_size):
    """Check the LSTM's ``proj_size`` as PyTorch does: 0 (none) or 0 < P < hidden_size.

    Parameters
    ----------
    proj_size : int
        Python or NumPy integer (bool refused).
    hidden_size : int
        The layer's H (checked by the caller; a non-int here is left to it).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        For a non-integer.
    ValueError
        For a negative ``proj_size`` or one not smaller than ``hidden_size``.
    """
    if isinstance(proj_size, (bool, np.bool_)) or not isinstance(proj_size, (int, np.integer)):
        raise TypeError(f"proj_size: expected an int, got {type(proj_size).__name__} "
                        f"{proj_size!r}")
    proj_size = int(proj_size)
    if proj_size < 0:
        raise ValueError(f"proj_size: must be >= 0 (0: no projection), got {proj_size}")
    if proj_size and isinstance(hidden_size, (int, np.integer)) and proj_size >= hidden_size:
        raise ValueError(f"proj_size: must be smaller than hidden_size = {hidden_size}, "
                         f"got {proj_size}")
    return proj_size


def check_positive_int(name, value):
    """Check a size or count argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int
        Python or NumPy integer (bool refused).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        For a non-integer (a float such as ``3.0``, a bool, a string).
    ValueError
        For an integer below 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return int(value)


def check_probability(name, value):
    """Check a drop (or keep) probability: a real number in [0, 1).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : float
        Python or NumPy real (bool refused).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        For a non-real value (a bool, a string, None).
    ValueError
        For a value outside [0, 1) (1 would drop everything), or NaN.

    Examples
    --------
    >>> check_probability("dropout", 0.25)
    0.25
    >>> check_probability("dropout", 1)
    Traceback (most recent call last):
    ...
    ValueError: dropout: expected a probability in [0, 1), got 1
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name}: expected a float in [0, 1), got {type(value).__name__}")
    if not 0 <= value < 1:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value}")
    return float(value)


def check_states(named, N, H, dtype):
    """States (or their gradients) of one recurrence, checked and cast.

    Parameters
    ----------
    named : sequence of (str, array-like or None)
        Each state by its name (for messages).
    N, H : int
        The batch and the hidden size: each state is (N, H).
    dtype : numpy.dtype

    Returns
    -------
    list of numpy.ndarray
        (N, H) arrays of ``dtype``, zeros for None.

    Raises
    ------
    TypeError, ValueError
        For a non-float state or one of another shape (naming it).
    """
    out = []
    for name, s in named:
        if s is None:
            s = np.zeros((N, H), dtype=dtype)
        else:
            s = as_float_array(name, s, dtype)
            check_shape(name, s, (N, H), "(N, H)")
        out.append(s)
    return out


def check_lengths(lengths, T, N):
    """Check per-sequence lengths against the batch.

    Parameters
    ----------
    lengths : None or array-like of int, shape (N,)
        Sequence n uses steps ``[0, lengths[n])``.
    T : int
        The number of steps of the batch.
    N : int
        The number of sequences.

    Returns
    -------
    None or numpy.ndarray
        None for None, else a private read-only int64 copy of shape (N,).

    Raises
    ------
    ValueError
        For another shape than (N,), or a length outside ``[1, T]`` (naming the
        first such entry).
    TypeError
        For a non-integer array.
    """
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
    """The steps each sequence uses: ``mask[t, n]`` is ``t < lengths[n]``.

    The one place the active-step mask is built.

    Parameters
    ----------
    lengths : None or numpy.ndarray, shape (N,)
        As returned by ``check_lengths``.
    T : int
        The number of steps.

    Returns
    -------
    None or numpy.ndarray of bool, shape (T, N)
        None when ``lengths`` is None (every step is used).

    Examples
    --------
    >>> active_mask(np.array([2, 1]), 3).astype(int).tolist()
    [[1, 1], [1, 0], [0, 0]]
    """
    if lengths is None:
        return None
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def no_cache_error(owner):
    """The error of a ``backward`` with nothing to differentiate.

    Parameters
    ----------
    owner : str
        The class whose ``backward`` was called, for the message.

    Returns
    -------
    RuntimeError
        To raise: ``backward`` needs a ``forward(..., train=True)`` first.
    """
    return RuntimeError(f"{owner}.backward: no cache to differentiate; call "
                        "forward(..., train=True) first")


def zero_padding(x, lengths):
    """``x`` with the steps past each sequence's end set to 0.

    Padding may hold anything (NaN included); zeroing it keeps it out of the
    whole-sequence weight-gradient products, where 0 * NaN would be NaN.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
        The inputs.
    lengths : None or numpy.ndarray of int64, shape (N,)
        As returned by ``check_lengths``.

    Returns
    -------
    numpy.ndarray, shape (T, N, I)
        ``x`` itself when no step is padding, else a copy (read-only when ``x``
        is).
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
    and the (G*H, max(I, H)) weights; every product dimension and row stride
    is a factor of one of these, so checking the products suffices.

    Parameters
    ----------
    T, N, I, H, G : int
        Steps, sequences, input size, hidden size and gate blocks (1, 4 or 3).
    input_name : str
        What I is called in the message (e.g. ``"input_size"``, or the input
        size of a layer above the first).

    Raises
    ------
    ValueError
        If ``T*N*G*H``, ``T*N*I`` or ``G*H*max(I, H)`` exceeds ``2**31 - 1``
        (the message gives the sizes).
    """
    for what, size in (("T*N*G*H (the gate buffer)", T * N * G * H),
                       (f"T*N*{input_name} (the input)", T * N * I),
                       (f"G*H*max({input_name}, H) (the weights)", G * H * max(I, H))):
        if size > INT32_MAX:
            raise ValueError(f"sizes too large: {what} = {size} elements exceeds the 32-bit "
                             f"limit {INT32_MAX} (T={T}, N={N}, {input_name}={I}, H={H}, "
                             f"G={G})")


def check_bool(name, value):
    """Check a flag argument.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : bool or numpy.bool_
        The flag (the ints 0 and 1 are refused too).

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        For anything but a bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)
