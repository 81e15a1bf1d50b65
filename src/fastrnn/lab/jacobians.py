"""Step Jacobians along a trajectory, their norms, spectral radius, Lyapunov exponents.

``J_k = ds_k / ds_{k-1}`` for every step, where the state ``s`` is ``h`` (SRN,
GRU) or ``[h; c]`` (LSTM), recomputed in float64 with the cell math of
``fastrnn.core.cells`` (a diagnostic, not a hot path). For the SRN
``J_k = diag(f'(z_k)) W_hh`` (``+ I`` for the residual cell); the backward
multiplies by ``J_k^T``, the textbook's ``diag(f'(z_k)) U^T``.
"""

import numpy as np

from ..core import validation as V
from ..core.cells import CellSpec
from ..core.step_jacobians import step_derivatives
from .walk import layer_spec, layer_weights, walk_layer, walk_part

__all__ = ["cell_jacobians", "step_jacobians", "jacobian_norms", "cumulative_jacobian_norms",
           "spectral_radius", "lyapunov_exponents"]


def _jacobians(spec, walk, W_hh):
    """(T, N, S, S) step Jacobians of a walked part; the identity at inactive rows."""
    T = len(walk.steps)
    N, H = walk.steps[0].h_prev.shape
    S = spec.state_size(H)
    J = np.empty((T, N, S, S))
    eye = np.eye(S)
    for t, step in enumerate(walk.steps):
        A = step_derivatives(spec, step, W_hh).A
        m = walk.active(t)
        J[t] = A if m is None else np.where(m[:, :, None], A, eye)
    return J


def cell_jacobians(cell, x, h0, W_ih, W_hh, b_ih=None, b_hh=None, c0=None,
                   nonlinearity="tanh", residual=False, reset_after=True, reverse=False,
                   lengths=None):
    """``J[t] = ds_t/ds_{t-1}`` along the trajectory of one cell, in float64.

    ``J[t]`` maps a perturbation of the state step t read to the state it
    wrote, so the backward applies ``J[t]^T``; for the reverse direction step
    t reads the state written at t+1. Steps past a sequence's end have
    ``J = I`` (the state is carried).

    Parameters
    ----------
    cell : {"srn", "lstm", "gru"}
    x : array_like, shape (T, N, I)
    h0 : array_like, shape (N, H), or None (zeros)
    W_ih : array_like, shape (G*H, I)
    W_hh : array_like, shape (G*H, H)
    b_ih, b_hh : array_like, shape (G*H,), optional
        Zeros when None.
    c0 : array_like, shape (N, H), optional
        The LSTM's initial cell state (zeros when None).
    nonlinearity, residual, reset_after
        The cell's options, as in ``fastrnn.functional``.
    reverse : bool, default False
    lengths : array_like of int, shape (N,), optional

    Returns
    -------
    ndarray, shape (T, N, S, S)
        S = H, or 2H for the LSTM's state ``[h; c]``.

    Raises
    ------
    ValueError
        For an unknown cell or nonlinearity, or bad ``lengths``.
    """
    spec = CellSpec(cell, nonlinearity, bool(residual), bool(reset_after))
    f64 = np.float64
    x = np.asarray(x, dtype=f64)
    T, N, _ = x.shape
    W_hh = np.asarray(W_hh, dtype=f64)
    G, H = spec.G, W_hh.shape[1]
    b_ih = np.zeros(G * H) if b_ih is None else np.asarray(b_ih, dtype=f64)
    b_hh = np.zeros(G * H) if b_hh is None else np.asarray(b_hh, dtype=f64)
    h0 = np.zeros((N, H)) if h0 is None else np.asarray(h0, dtype=f64)
    if cell == "lstm":
        c0 = np.zeros((N, H)) if c0 is None else np.asarray(c0, dtype=f64)
    else:
        c0 = None
    lengths = V.check_lengths(lengths, T, N)
    x = V.zero_padding(x, lengths)
    active = V.active_mask(lengths, T)
    mask = None if active is None else active[:, :, None]
    walk, _ = walk_part(spec, x, h0, c0, (np.asarray(W_ih, dtype=f64), W_hh, b_ih, b_hh),
                        mask, reverse)
    return _jacobians(spec, walk, W_hh)


def step_jacobians(layer, x, state=None, lengths=None, layer_index=0, direction=0):
    """:func:`cell_jacobians` of one (layer, direction) part of a layer, on input ``x``.

    The layer's own input and initial state are used (for ``layer_index`` > 0
    the outputs of the layers below it, recomputed in float64).

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``
    state : the layer's initial state, optional
    lengths : array_like of int, shape (N,), optional
    layer_index, direction : int, default 0

    Returns
    -------
    ndarray, shape (T, N, S, S)
        Time-major whatever ``batch_first`` is.

    Raises
    ------
    ValueError
        For a part the layer does not have, or a bad input, state or lengths.
    """
    spec = layer_spec(layer)
    if not (0 <= layer_index < layer.num_layers and 0 <= direction < layer.num_directions):
        raise ValueError(f"layer_index, direction: expected a part of this layer, got "
                         f"({layer_index}, {direction})")
    k = layer_index * layer.num_directions + direction
    walks, _ = walk_layer(layer, x, state, lengths, dtype=np.float64, parts=[k])
    W_hh = np.asarray(layer_weights(layer, layer_index, direction)[1], dtype=np.float64)
    return _jacobians(spec, walks[k], W_hh)


def jacobian_norms(J, ord=2):
    """The norm of each step's Jacobian.

    Parameters
    ----------
    J : array_like, shape (..., S, S)
    ord : 2 or "fro", default 2
        Spectral norm or Frobenius norm (any ``numpy.linalg.norm`` matrix order).

    Returns
    -------
    ndarray, shape J.shape[:-2]
    """
    J = np.asarray(J)
    if ord == 2:
        return np.linalg.svd(J, compute_uv=False)[..., 0]
    return np.linalg.norm(J, ord=ord, axis=(-2, -1))


def _processing_order(J, reverse):
    return J[::-1] if reverse else J


def cumulative_jacobian_norms(J, step=None, reverse=False, ord=2):
    """``ln ||J_t J_{t-1} ... J_{t-lag+1}||`` for lag = 0 .. t+1, per sequence.

    The log of the largest factor by which a gradient at step ``t`` can grow
    or shrink on its way back ``lag`` steps (``dL/ds_{t-lag} = (J_t ...
    J_{t-lag+1})^T dL/ds_t``). Lag 0 is the identity (0). The product is
    renormalized at every step and the logs summed, so it never overflows.

    Parameters
    ----------
    J : array_like, shape (T, N, S, S)
        Step Jacobians, time-indexed (as :func:`step_jacobians` returns them).
    step : int, optional
        The step ``t`` the gradient starts from (default: the last step in
        processing order).
    reverse : bool, default False
        ``J`` belongs to a reverse direction (lags then count forward in time).
    ord : 2 or "fro", default 2

    Returns
    -------
    ndarray, shape (pos + 2, N)
        Row ``lag``; ``pos`` is ``step``'s position in processing order.
    """
    J = np.asarray(J, dtype=np.float64)
    T, N, S, _ = J.shape
    Jp = _processing_order(J, reverse)
    if step is None:
        pos = T - 1
    else:
        step = int(step) % T
        pos = T - 1 - step if reverse else step
    out = np.zeros((pos + 2, N))
    P = np.broadcast_to(np.eye(S), (N, S, S)).copy()
    logscale = np.zeros(N)
    for lag in range(1, pos + 2):
        P = P @ Jp[pos - lag + 1]
        s = jacobian_norms(P, ord)
        with np.errstate(divide="ignore"):
            out[lag] = logscale + np.log(s)
        good = (s > 0) & np.isfinite(s)
        P[good] /= s[good, None, None]
        logscale[good] += np.log(s[good])
    return out


def spectral_radius(W):
    """Largest |eigenvalue| of a square matrix, or of each gate block of a stacked ``W_hh``.

    For the SRN, ``rho(W_hh) > 1`` is necessary for exploding gradients with a
    saturating f (|f'| <= 1) and ``rho < 1`` with ``||W_hh|| < 1`` suffices for
    vanishing ones.

    Parameters
    ----------
    W : array_like, shape (H, H) or (G*H, H)

    Returns
    -------
    float or ndarray of shape (G,)
        A float for a square matrix, one radius per block for a stacked one.

    Raises
    ------
    ValueError
        If ``W`` is neither square nor a stack of square blocks.

    Examples
    --------
    >>> spectral_radius(np.diag([0.5, -1.5]))
    1.5
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] % W.shape[1]:
        raise ValueError(f"W: expected a square or (G*H, H) matrix, got {V.fmt_shape(W.shape)}")
    H = W.shape[1]
    radii = [float(np.max(np.abs(np.linalg.eigvals(W[g * H:(g + 1) * H]))))
             for g in range(W.shape[0] // H)]
    return radii[0] if len(radii) == 1 else np.array(radii)


def lyapunov_exponents(J, reverse=False, num=None):
    """Finite-time Lyapunov exponents (per step, natural log) by the QR method.

    With ``Q_0 = I``: ``Q_t R_t = J_t Q_{t-1}`` (a QR factorization each step),
    and ``lambda_i = (1/T) sum_t ln |R_t[i, i]|``. The largest exponent is the
    average per-step log growth of the longest-lived perturbation, the
    textbook's ``ln gamma`` measured on the actual trajectory: > 0 exploding
    (chaotic), < 0 vanishing.

    Parameters
    ----------
    J : array_like, shape (T, N, S, S)
    reverse : bool, default False
        ``J`` belongs to a reverse direction (processed from T-1 down).
    num : int, optional
        Keep the ``num`` largest (default: all S).

    Returns
    -------
    ndarray, shape (N, num)
        Sorted in decreasing order.

    Raises
    ------
    ValueError
        If ``num`` is not in ``[1, S]``.
    """
    J = np.asarray(J, dtype=np.float64)
    T, N, S, _ = J.shape
    k = S if num is None else int(num)
    if not 1 <= k <= S:
        raise ValueError(f"num: expected 1 <= num <= {S}, got {num}")
    Q = np.broadcast_to(np.eye(S)[:, :k], (N, S, k)).copy()
    sums = np.zeros((N, k))
    for Jt in _processing_order(J, reverse):
        Q, R = np.linalg.qr(Jt @ Q)
        d = np.abs(np.diagonal(R, axis1=1, axis2=2))
        with np.errstate(divide="ignore"):
            sums += np.log(d)
    return -np.sort(-sums / T, axis=1)
