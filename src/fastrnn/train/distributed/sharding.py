"""Which items of a batch or a dataset a rank owns: contiguous blocks in rank order."""

import numpy as np

__all__ = ["shard_bounds", "check_int"]


def check_int(name, value):
    """An int argument, bools refused.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int
        A Python or NumPy integer.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        For a non-integer or a bool.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    return int(value)


def shard_bounds(n, rank, size):
    """The ``[start, stop)`` block of ``n`` items that ``rank`` of ``size`` owns.

    Blocks are contiguous, in rank order (their concatenation is
    ``range(n)``), and their lengths differ by at most one: the first
    ``n % size`` ranks get one item more (``numpy.array_split``'s rule).

    Parameters
    ----------
    n : int
        The number of items, >= 0.
    rank : int
        The rank, ``0 <= rank < size``.
    size : int
        The number of ranks, >= 1.

    Returns
    -------
    (int, int)
        ``start`` and ``stop``.

    Raises
    ------
    TypeError
        If an argument is not an int.
    ValueError
        If ``n < 0``, ``size < 1`` or ``rank`` is outside ``[0, size)``.

    Examples
    --------
    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    n, rank, size = (check_int(name, v) for name, v in (("n", n), ("rank", rank),
                                                         ("size", size)))
    if n < 0:
        raise ValueError(f"n: expected an int >= 0, got {n}")
    if size < 1:
        raise ValueError(f"size: expected an int >= 1, got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"rank: expected 0 <= rank < size = {size}, got {rank}")
    q, r = divmod(n, size)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)
