"""The reference engine's time-loop bookkeeping: step order, state slots, active rows, and
the whole-sequence products before and after the loop.

``fastrnn.core.reference`` runs each cell's time loop with these; they hold
no cell math (that is ``fastrnn.core.cells``). The state-slot convention
(``hs`` of shape (T+1, N, H) indexed by time) is stated in the reference's
module docstring.
"""

import numpy as np

from . import cells as C
from . import validation as V
from .masks import mask_fields


def time_steps(T, reverse):
    """The step indices in processing order.

    Parameters
    ----------
    T : int
        The number of steps.
    reverse : bool
        The reverse direction (T-1 down to 0).

    Returns
    -------
    range
    """
    return range(T - 1, -1, -1) if reverse else range(T)


def state_slots(t, reverse):
    """Where step t reads and writes in the (T+1, N, H) state sequence.

    Parameters
    ----------
    t : int
        The step.
    reverse : bool
        The reverse direction.

    Returns
    -------
    (int, int)
        (slot read, slot written): ``(t, t+1)`` forward, ``(t+1, t)`` reverse.
    """
    return (t + 1, t) if reverse else (t, t + 1)


def previous_states(hs, reverse):
    """The state each step read, indexed by time.

    Parameters
    ----------
    hs : numpy.ndarray, shape (T+1, N, H)
        The state sequence of a forward (module doc).
    reverse : bool
        The direction that wrote it.

    Returns
    -------
    numpy.ndarray, shape (T, N, H)
        A view: ``hs[:-1]`` forward, ``hs[1:]`` reverse.
    """
    return hs[1:] if reverse else hs[:-1]


def final_state(hs, reverse):
    """The state after the last step processed.

    Parameters
    ----------
    hs : numpy.ndarray, shape (T+1, N, H)
        The state sequence of a forward (module doc).
    reverse : bool
        The direction that wrote it.

    Returns
    -------
    numpy.ndarray, shape (N, H)
        A view: ``hs[-1]`` forward, ``hs[0]`` reverse.
    """
    return hs[0] if reverse else hs[-1]


def active_rows(lengths, T):
    """The steps each sequence uses, shaped to broadcast over the features.

    Parameters
    ----------
    lengths : None or numpy.ndarray of int64, shape (N,)
    T : int

    Returns
    -------
    None or numpy.ndarray of bool, shape (T, N, 1)
        None when every step is used.
    """
    mask = V.active_mask(lengths, T)
    return None if mask is None else mask[:, :, None]


def keep_where(mask, new, old):
    """``new`` on active rows, ``old`` on the others.

    A select, not a product, so a NaN or inf on one side never reaches the
    other.

    Parameters
    ----------
    mask : None or numpy.ndarray of bool, shape (N, 1)
        This step's rows of ``active_rows`` (None: every row is active).
    new, old : numpy.ndarray or scalar
        Broadcastable to (N, H).

    Returns
    -------
    numpy.ndarray
        ``new`` itself when ``mask`` is None.
    """
    return new if mask is None else np.where(mask, new, old)


def project_inputs(x, W_ih, bias):
    """The input projection of every step at once: ``x @ W_ih.T + bias``.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
    W_ih : numpy.ndarray, shape (G*H, I)
    bias : numpy.ndarray, shape (G*H,)
        The bias folded into the projection (``b_ih + b_hh`` for the SRN and
        the LSTM; for the GRU, ``CellSpec.input_bias``).

    Returns
    -------
    numpy.ndarray, shape (T, N, G*H)
        One matmul over all T*N rows.
    """
    T, N, I = x.shape
    return (x.reshape(T * N, I) @ W_ih.T).reshape(T, N, -1) + bias


def accumulate_input_grads(grads, dgates_ih, dgates_hh, x, h_prev, W_ih, masks=None):
    """After the backward loop: the whole-sequence weight and bias gradients, and dx.

    Adds ``dgates_ih^T X`` to ``dW_ih``, ``dgates_hh^T H_prev`` to ``dW_hh``
    and the row sums to ``db_ih``/``db_hh``.

    Parameters
    ----------
    grads : dict
        ``dW_ih`` (G*H, I), ``dW_hh`` (G*H, H), ``db_ih``, ``db_hh`` (G*H,),
        added into in place.
    dgates_ih : numpy.ndarray, shape (T, N, G*H)
        The gradient of the pre-activations fed by ``x``.
    dgates_hh : numpy.ndarray, shape (T, N, G*H)
        The gradient of the pre-activations fed by ``h_prev`` (the same array
        except for the GRU's reset-after candidate).
    x : numpy.ndarray, shape (T, N, I)
    h_prev : numpy.ndarray, shape (T, N, H)
        The recurrent input each step used.
    W_ih : numpy.ndarray, shape (G*H, I)
    masks : Masks, optional
        The forward's: ``x * masks.x`` and ``h_prev * masks.h`` were the products' inputs.

    Returns
    -------
    numpy.ndarray, shape (T, N, I)
        ``dx = (dgates_ih @ W_ih) * mask_x``, a fresh array.
    """
    T, N, I = x.shape
    G = dgates_ih.shape[-1]
    dgi = dgates_ih.reshape(T * N, G)
    dgh = dgates_hh.reshape(T * N, G)
    mask_x, mask_h, _, _ = mask_fields(masks)
    grads["dW_ih"] += dgi.T @ C.masked(x, mask_x).reshape(T * N, I)
    grads["dW_hh"] += dgh.T @ C.masked(h_prev, mask_h).reshape(T * N, -1)
    grads["db_ih"] += dgi.sum(axis=0)
    grads["db_hh"] += dgh.sum(axis=0)
    return C.masked((dgi @ W_ih).reshape(T, N, I), mask_x)
