"""The array initializers of ``fastrnn.init``, each applied per gate block.

A recurrent layer stacks its G gate blocks (LSTM i, f, g, o; GRU r, z, n;
SRN one) into ``weight_ih`` (G*H, I) and ``weight_hh`` (G*H, H). Each block
is its own (H, X) matrix, so the matrix initializers take ``gates=G`` and
treat the G blocks separately: fans are those of one block (fan_in = X,
fan_out = H), each block of ``orthogonal_`` is orthogonal, each block of
``identity_`` is the identity. With ``gates=1`` they are PyTorch's
``torch.nn.init``.

Every function works IN PLACE on a writeable real float array (a view such
as ``layer.params["weight_hh_l0"]`` included), bumps the ``param_version``
of the layer whose parameters it writes, and returns the array. Users reach
them as ``fastrnn.init.<name>``; the schemes that initialize whole layers
are in ``fastrnn.init`` (``fastrnn.train.init``).
"""

import functools
import math
import numbers

import numpy as np

from ..core.module import check_seed
from ..core.storage import mark_written

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_", "identity_"]


def _rng(rng, name="rng"):
    """A Generator from anything the constructors' ``seed`` takes (``check_seed``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(check_seed(rng, name))



def _in_place(fill):
    """``fill(w, ...)`` writes w in place; then the module whose parameters w views (if any)
    gets its ``param_version`` bumped, so ``orthogonal_(layer.params["weight_hh_l0"])``
    counts as a change of the layer."""
    @functools.wraps(fill)
    def wrapper(w, *args, **kwargs):
        out = fill(w, *args, **kwargs)
        mark_written(w)
        return out
    return wrapper


def _check_array(w, name="w"):
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array, got {type(w).__name__}")
    if w.dtype.kind != "f":
        raise TypeError(f"{name}: expected a real floating-point array, got dtype {w.dtype}")
    if not w.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array (filled in place), got a read-only one")
    return w


def _blocks(w, gates):
    """The ``gates`` row blocks of w as views (1 block: w itself)."""
    _check_array(w)
    if isinstance(gates, bool) or not isinstance(gates, (int, np.integer)) or gates < 1:
        raise ValueError(f"gates: expected a positive int, got {gates!r}")
    if w.ndim < 1 or w.shape[0] % gates:
        raise ValueError(f"w: expected a first dimension divisible by gates={gates}, "
                         f"got shape {w.shape}")
    H = w.shape[0] // gates
    return [w[k * H:(k + 1) * H] for k in range(gates)]


def _fans(block):
    if block.ndim < 2:
        raise ValueError(f"w: expected an array with 2 or more dimensions for fan-based "
                         f"initialization, got shape {block.shape}")
    receptive = int(np.prod(block.shape[2:])) if block.ndim > 2 else 1
    return block.shape[1] * receptive, block.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    Parameters
    ----------
    nonlinearity : str
        ``"linear"``, ``"identity"``, ``"sigmoid"``, ``"conv1d/2d/3d"`` (gain 1),
        ``"tanh"`` (5/3), ``"relu"`` (sqrt(2)), ``"leaky_relu"``
        (sqrt(2 / (1 + slope^2))) or ``"selu"`` (3/4).
    param : float, optional
        The leaky ReLU's negative slope (default 0.01).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For another nonlinearity, or a non-number ``param``.

    Examples
    --------
    >>> round(calculate_gain("tanh"), 6), round(calculate_gain("relu"), 6)
    (1.666667, 1.414214)
    """
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"param: expected a negative slope number, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity: expected one of linear, sigmoid, tanh, relu, leaky_relu, "
                     f"selu, got {nonlinearity!r}")


@_in_place
def uniform_(w, a=0.0, b=1.0, rng=None):
    """Fill ``w`` with draws from U(a, b).

    Parameters
    ----------
    w : numpy.ndarray
        A writeable real float array, filled in place.
    a, b : float, default 0.0 and 1.0
        The interval.
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``.
    """
    _check_array(w)
    w[...] = _rng(rng).uniform(a, b, size=w.shape)
    return w


@_in_place
def normal_(w, mean=0.0, std=1.0, rng=None):
    """Fill ``w`` with draws from N(mean, std^2).

    Parameters
    ----------
    w : numpy.ndarray
        A writeable real float array, filled in place.
    mean, std : float, default 0.0 and 1.0
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``.
    """
    _check_array(w)
    w[...] = _rng(rng).normal(mean, std, size=w.shape)
    return w


@_in_place
def constant_(w, value):
    """Fill ``w`` with ``value``.

    Parameters
    ----------
    w : numpy.ndarray
        A writeable real float array, filled in place.
    value : float

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``.
    ValueError
        For a read-only ``w``.
    """
    _check_array(w)
    w[...] = value
    return w


def zeros_(w):
    """Fill ``w`` with 0.

    Parameters
    ----------
    w : numpy.ndarray
        A writeable real float array, filled in place.

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError, ValueError
        As ``constant_``.
    """
    return constant_(w, 0.0)


def ones_(w):
    """Fill ``w`` with 1.

    Parameters
    ----------
    w : numpy.ndarray
        A writeable real float array, filled in place.

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError, ValueError
        As ``constant_``.
    """
    return constant_(w, 1.0)


@_in_place
def xavier_uniform_(w, gain=1.0, gates=1, rng=None):
    """Glorot & Bengio 2010: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), per gate block.

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X, ...)
        A writeable real float array with 2 or more dimensions, filled in place.
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.
    gain : float, default 1.0
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``, fewer than 2 dimensions, or
        a first axis not divisible by ``gates``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(8, 16, seed=0)
    >>> w = fastrnn.init.xavier_uniform_(lstm.params["weight_ih_l0"], gates=4, rng=0)
    >>> bound = np.sqrt(6 / (8 + 16))                    # one (16, 8) gate block's fans
    >>> bool(np.abs(w).max() <= bound), w is lstm.params["weight_ih_l0"]
    (True, True)
    """
    rng = _rng(rng)
    for block in _blocks(w, gates):
        fan_in, fan_out = _fans(block)
        a = gain * math.sqrt(6.0 / (fan_in + fan_out))
        block[...] = rng.uniform(-a, a, size=block.shape)
    return w


@_in_place
def xavier_normal_(w, gain=1.0, gates=1, rng=None):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)), per gate block.

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X, ...)
        A writeable real float array with 2 or more dimensions, filled in place.
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.
    gain : float, default 1.0
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``, fewer than 2 dimensions, or
        a first axis not divisible by ``gates``.
    """
    rng = _rng(rng)
    for block in _blocks(w, gates):
        fan_in, fan_out = _fans(block)
        block[...] = rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=block.shape)
    return w


def _kaiming_std(block, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(block)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


@_in_place
def kaiming_uniform_(w, a=0.0, mode="fan_in", nonlinearity="leaky_relu", gates=1, rng=None):
    """He et al. 2015: U(-b, b), b = gain * sqrt(3 / fan), per gate block (PyTorch's defaults).

    ``gain = calculate_gain(nonlinearity, a)``; ``fan`` is the block's fan_in
    or fan_out (``mode``).

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X, ...)
        A writeable real float array with 2 or more dimensions, filled in place.
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.
    a : float, default 0.0
        The leaky ReLU's negative slope.
    mode : {"fan_in", "fan_out"}, default "fan_in"
    nonlinearity : str, default "leaky_relu"
        As ``calculate_gain``.
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``, fewer than 2 dimensions, or
        a first axis not divisible by ``gates``, another ``mode`` or
        ``nonlinearity``.
    """
    rng = _rng(rng)
    for block in _blocks(w, gates):
        bound = math.sqrt(3.0) * _kaiming_std(block, a, mode, nonlinearity)
        block[...] = rng.uniform(-bound, bound, size=block.shape)
    return w


@_in_place
def kaiming_normal_(w, a=0.0, mode="fan_in", nonlinearity="leaky_relu", gates=1, rng=None):
    """He normal: N(0, std^2), std = gain / sqrt(fan), per gate block.

    ``gain = calculate_gain(nonlinearity, a)``; ``fan`` is the block's fan_in
    or fan_out (``mode``).

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X, ...)
        A writeable real float array with 2 or more dimensions, filled in place.
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.
    a : float, default 0.0
        The leaky ReLU's negative slope.
    mode : {"fan_in", "fan_out"}, default "fan_in"
    nonlinearity : str, default "leaky_relu"
        As ``calculate_gain``.
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``, fewer than 2 dimensions, or
        a first axis not divisible by ``gates``, another ``mode`` or
        ``nonlinearity``.
    """
    rng = _rng(rng)
    for block in _blocks(w, gates):
        block[...] = rng.normal(0.0, _kaiming_std(block, a, mode, nonlinearity), size=block.shape)
    return w


@_in_place
def orthogonal_(w, gain=1.0, gates=1, rng=None):
    """Saxe et al. 2014: each gate block (semi-)orthogonal, times ``gain`` (PyTorch's recipe).

    A block (H, X) has orthonormal rows when H <= X and orthonormal columns
    otherwise: QR of a Gaussian matrix with the signs of R's diagonal folded
    into Q, so the result is uniform over the orthogonal group.

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X, ...)
        A writeable real float array with 2 or more dimensions, filled in place.
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.
    gain : float, default 1.0
    rng : None, int, numpy.random.Generator, ...
        A Generator (which goes on), or a seed ``numpy.random.default_rng``
        takes (None: fresh entropy).

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``, or an ``rng`` of another type.
    ValueError
        For a negative ``rng`` seed, a read-only ``w``, fewer than 2 dimensions, or
        a first axis not divisible by ``gates``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> gru = fastrnn.GRU(4, 6, dtype=np.float64, seed=0)
    >>> w = fastrnn.init.orthogonal_(gru.params["weight_hh_l0"], gates=3, rng=0)
    >>> block = w[6:12]                                  # the z gate's (6, 6) block
    >>> bool(np.allclose(block @ block.T, np.eye(6)))
    True
    """
    rng = _rng(rng)
    for block in _blocks(w, gates):
        if block.ndim < 2:
            raise ValueError(f"w: expected 2 or more dimensions, got shape {block.shape}")
        rows = block.shape[0]
        cols = block.size // rows
        flat = rng.standard_normal((rows, cols))
        if rows < cols:
            flat = flat.T
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        block[...] = (gain * q).reshape(block.shape)
    return w


@_in_place
def identity_(w, gain=1.0, gates=1):
    """Each gate block = gain * I (rectangular blocks: ones on the main diagonal).

    Parameters
    ----------
    w : numpy.ndarray, shape (G*H, X)
        A writeable real float 2-d array, filled in place.
    gain : float, default 1.0
    gates : int, default 1
        G, the number of gate blocks stacked along the first axis.

    Returns
    -------
    numpy.ndarray
        ``w``.

    Raises
    ------
    TypeError
        For a non-array or non-float ``w``.
    ValueError
        For a read-only ``w``, another number of dimensions than 2, or a first
        axis not divisible by ``gates``.
    """
    for block in _blocks(w, gates):
        if block.ndim != 2:
            raise ValueError(f"w: expected a 2-d array, got shape {block.shape}")
        block[...] = 0
        np.fill_diagonal(block, gain)
    return w
