"""Gate orders of fastrnn, ONNX and Keras, and the one function that reorders gate blocks.

fastrnn keeps PyTorch's layout: a weight of a cell with G gates is (G*H, ...),
its gate blocks of H rows stacked in the order

* SRN: (h,), LSTM: (i, f, g, o), GRU: (r, z, n).

ONNX (operators RNN, LSTM, GRU) stacks (h,), (i, o, f, c) and (z, r, h); Keras
(SimpleRNN, LSTM, GRU) stacks its kernels' columns as (h,), (i, f, c, o) and
(z, r, h). The candidate gate is called g/n in fastrnn and c/h elsewhere; the
maths is the same. A permutation below lists, for each foreign block in order,
the index of the fastrnn block that goes there.
"""

import numpy as np

#: Number of gate blocks per cell.
from ..core.cells import GATES  # noqa: E402  (re-exported)

#: ONNX block k holds fastrnn block ONNX_ORDER[cell][k].
ONNX_ORDER = {"srn": (0,), "lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}

#: Keras block k holds fastrnn block KERAS_ORDER[cell][k].
KERAS_ORDER = {"srn": (0,), "lstm": (0, 1, 2, 3), "gru": (1, 0, 2)}


def cell_of(layer):
    """The cell name of a fastrnn recurrent layer.

    Parameters
    ----------
    layer : SRN, LSTM or GRU

    Returns
    -------
    str
        ``"srn"``, ``"lstm"`` or ``"gru"``.

    Raises
    ------
    TypeError
        For anything else.
    """
    from ..core.layers import GRU, LSTM, SRN
    for cls, name in ((SRN, "srn"), (LSTM, "lstm"), (GRU, "gru")):
        if isinstance(layer, cls):
            return name
    raise TypeError(f"layer: expected a fastrnn SRN, LSTM or GRU, got {type(layer).__name__}")


def inverse(order):
    """The permutation that undoes ``order``.

    Parameters
    ----------
    order : sequence of int
        A permutation of ``range(G)``.

    Returns
    -------
    tuple of int
        ``inv`` with ``inv[order[k]] = k``, so ``reorder(reorder(a, order),
        inverse(order))`` is ``a``.

    Examples
    --------
    >>> inverse((2, 0, 1))
    (1, 2, 0)
    """
    inv = [0] * len(order)
    for k, j in enumerate(order):
        inv[j] = k
    return tuple(inv)


def reorder(a, order, axis=0):
    """A new array: ``a`` cut into ``len(order)`` equal blocks along ``axis``, block k = block order[k].

    Parameters
    ----------
    a : ndarray, shape (..., G*H, ...)
        Gate blocks stacked along ``axis``.
    order : sequence of int, length G
        A permutation of ``range(G)``.
    axis : int
        The stacked axis.

    Returns
    -------
    ndarray, same shape and dtype as ``a``

    Examples
    --------
    >>> reorder(np.arange(6), (2, 0, 1)).tolist()
    [4, 5, 0, 1, 2, 3]
    """
    a = np.asarray(a)
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[j] for j in order], axis=axis)
