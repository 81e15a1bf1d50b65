"""The full local derivatives (Jacobians) of one recorded cell step, for the diagnostics and
RTRL.

BPTT never forms these matrices (``fastrnn.core.cells`` gives the step's
gradients directly); the gradient-flow diagnostics (``fastrnn.lab``) and
real-time recurrent learning (``fastrnn.lab.rtrl``) need them whole. They are
written from the same activations the cells record (``cells.Step``).
"""

from dataclasses import dataclass

import numpy as np

from .cells import ACTIVATIONS

__all__ = ["StepDerivatives", "step_derivatives"]


@dataclass
class StepDerivatives:
    """The local derivatives of one step at a recorded point (state ``s`` = h, or [h; c]).

    Attributes
    ----------
    A : ndarray, shape (N, S, S)
        The step Jacobian ``ds_t/ds_{t-1}``.
    M_ih, M_hh : ndarray, shape (N, S, G*H)
        ``ds_t/d(pre-activations)`` fed by ``x`` and by ``h_{t-1}`` (they differ
        only in the reset-after GRU's candidate block).
    U : ndarray, shape (N, G, H)
        The recurrent input each gate block's weights multiply: ``h_{t-1}``, or
        ``r * h_{t-1}`` for the Cho GRU's n block.
    """

    A: np.ndarray
    M_ih: np.ndarray
    M_hh: np.ndarray
    U: np.ndarray


def _block_rows(blocks, H):
    """(N, H, len(blocks)*H): block g is ``diag(blocks[g])`` for an (N, H) array, the
    block itself for an (N, H, H) array, or zeros for None."""
    first = next(b for b in blocks if b is not None)
    M = np.zeros((first.shape[0], H, len(blocks) * H), dtype=first.dtype)
    idx = np.arange(H)
    for g, b in enumerate(blocks):
        if b is None:
            continue
        if b.ndim == 3:
            M[:, :, g * H:(g + 1) * H] = b
        else:
            M[:, idx, g * H + idx] = b
    return M


def _diag(v):
    """(N, H) -> (N, H, H) diagonal matrices."""
    N, H = v.shape
    D = np.zeros((N, H, H), dtype=v.dtype)
    D[:, np.arange(H), np.arange(H)] = v
    return D


def step_derivatives(spec, step, W_hh):
    """The Jacobian ``ds_t/ds_{t-1}`` and ``ds_t/d(pre-activations)`` of one step.

    For the SRN ``A = diag(f'(z)) W_hh`` (``+ I`` residual); BPTT multiplies by
    ``A^T``. For the LSTM the state is ``s = [h; c]`` and ``A`` has the blocks
    ``dh/dh``, ``dh/dc``, ``dc/dh``, ``dc/dc = diag(f)``.

    Parameters
    ----------
    spec : CellSpec
    step : Step
        The step's record (its ``h_prev``, ``c_prev`` are the point of expansion).
    W_hh : ndarray, shape (G*H, H)

    Returns
    -------
    StepDerivatives
    """
    h_prev, c_prev, acts = step.h_prev, step.c_prev, step.acts
    H = h_prev.shape[1]
    if spec.cell == "srn":
        d = ACTIVATIONS[spec.nonlinearity][1](acts)
        M = _diag(d)
        A = d[:, :, None] * W_hh[None]
        if spec.residual:
            A = A + np.eye(H, dtype=A.dtype)
        return StepDerivatives(A, M, M, h_prev[:, None, :])
    if spec.cell == "lstm":
        i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
        tc = np.tanh(step.c)
        dh_dc = o * (1 - tc * tc)                       # dh_t/dc_t (diagonal)
        dc_pre = [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), None]
        dh_pre = [dh_dc * v for v in dc_pre[:3]] + [tc * o * (1 - o)]
        Mh, Mc = _block_rows(dh_pre, H), _block_rows(dc_pre, H)
        M = np.concatenate([Mh, Mc], axis=1)            # (N, 2H, 4H)
        top = np.concatenate([Mh @ W_hh, _diag(dh_dc * f)], axis=2)
        bottom = np.concatenate([Mc @ W_hh, _diag(f)], axis=2)
        return StepDerivatives(np.concatenate([top, bottom], axis=1), M, M, h_prev[:, None, :])
    r, z, n = (acts[:, k * H:(k + 1) * H] for k in range(3))
    vn = (1 - z) * (1 - n * n)                          # dh/d pre_n
    vz = (h_prev - n) * z * (1 - z)                     # dh/d pre_z
    if spec.reset_after:
        vr = vn * step.aux * r * (1 - r)
        M_ih = _block_rows([vr, vz, vn], H)
        M_hh = _block_rows([vr, vz, vn * r], H)
        A = M_hh @ W_hh + _diag(z)
        U = np.broadcast_to(h_prev[:, None, :], (h_prev.shape[0], 3, H))
        return StepDerivatives(A, M_ih, M_hh, U)
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    # r reaches h only through n's recurrent input W_hn (r*h): a full block
    Mr = vn[:, :, None] * W_hn[None] * (h_prev * r * (1 - r))[:, None, :]
    M = _block_rows([Mr, vz, vn], H)
    A = (Mr @ W_hr + vz[:, :, None] * W_hz[None]
         + vn[:, :, None] * (W_hn[None] * r[:, None, :]) + _diag(z))
    U = np.stack([h_prev, h_prev, r * h_prev], axis=1)
    return StepDerivatives(A, M, M, U)
