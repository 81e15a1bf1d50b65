"""The NumPy reference engine: SRN, LSTM and GRU forward and BPTT, written like the textbook.

This module is the oracle for every other engine. It is written for clarity
first and is still reasonably fast: the input projection of all ``T*N`` rows is
one matmul before the time loop, each step does one recurrent matmul and the
cell, and after the backward loop ``dW_ih``, ``dW_hh``, the biases and ``dx``
are whole-sequence matmuls.

Engine contract (shared by every engine; ``fastrnn.functional`` validates and
prepares the arguments, engines only compute):

* every array is C-contiguous and of one float dtype;
* ``x``: (T, N, I); ``h0``/``c0``: (N, H); ``W_ih``: (G*H, I); ``W_hh``: (G*H, H);
  ``b_ih``, ``b_hh``: (G*H,) (zeros when the layer has no bias), with G = 1
  (SRN), 4 (LSTM, gates i, f, g, o) or 3 (GRU, gates r, z, n);
* ``lengths``: None or an int64 array (N,) with ``1 <= lengths[n] <= T``;
  sequence n is active at step t iff ``t < lengths[n]``. An inactive row keeps
  its state and outputs exactly 0. ``x`` is already zero at inactive rows.
* ``reverse``: the time loop runs from T-1 down to 0 instead of 0 to T-1.
  With ``lengths`` the reverse direction therefore starts at each sequence's
  own last step (rows are inactive until then).
* forward returns ``(y, hT[, cT], cache)``; ``cache`` is None when ``train`` is
  False, else an engine-private dict that the matching backward reads.
* backward takes ``dy`` (T, N, H), ``dhT`` (N, H)[, ``dcT``], the cache and
  ``grads``: a dict of C-contiguous arrays ``dW_ih``, ``dW_hh``, ``db_ih``,
  ``db_hh`` that it ADDS the parameter gradients into (they accumulate, like
  PyTorch's ``.grad``). It returns fresh ``dx`` (T, N, I) and ``dh0`` (N, H)
  [and ``dc0``], which are overwritten, never accumulated.
* forward's ``masks``: None or a ``Masks`` of arrays of the call's dtype,
  dropout and zoneout inside the recurrence (``fastrnn.core.masks`` states
  them); the cache keeps them for the backward.
* backward's optional ``trace``: a dict holding a C-contiguous ``dh`` (T, N, H)
  (and for the LSTM ``dc``) that the backward fills with the total gradient
  reaching the state written at each step t, ``dL/dh_t`` (``dL/dc_t``),
  indexed by time. For a step past a sequence's end this is the gradient
  passing through its frozen state. Diagnostics read it; None skips it.

The per-step cell math (forward step, gate gradients, the gradient to the
previous state) is ``fastrnn.core.cells``, shared with the diagnostics and
RTRL; the time loop's bookkeeping (state slots, the active rows, the
whole-sequence products) is ``fastrnn.core.time_loop``; this module runs the
loops and keeps the caches.

State sequences are stored as ``hs`` of shape (T+1, N, H) indexed by time: the
forward direction reads ``hs[t]`` and writes ``hs[t+1]`` at step t (``hs[0]``
is h0); the reverse direction reads ``hs[t+1]`` and writes ``hs[t]`` (``hs[T]``
is h0). So the state that step t read is ``hs[:-1][t]`` forward and
``hs[1:][t]`` reverse, with no special case in the loops.

Examples
--------
>>> import numpy as np
>>> from fastrnn.core import reference as R
>>> rng = np.random.default_rng(0)
>>> T, N, I, H = 3, 2, 4, 5
>>> x, h0 = rng.standard_normal((T, N, I)), np.zeros((N, H))
>>> W_ih, W_hh, b = rng.standard_normal((H, I)), rng.standard_normal((H, H)), np.zeros(H)
>>> y, hT, cache = R.srn_forward(x, h0, W_ih, W_hh, b, b, lengths=np.array([3, 1]))
>>> y.shape, bool((y[1:, 1] == 0).all()), bool((hT[1] == y[0, 1]).all())
((3, 2, 5), True, True)
>>> grads = {"dW_ih": np.zeros((H, I)), "dW_hh": np.zeros((H, H)),
...          "db_ih": np.zeros(H), "db_hh": np.zeros(H)}
>>> dx, dh0 = R.srn_backward(np.ones_like(y), np.zeros_like(hT), cache, grads)
>>> dx.shape, dh0.shape
((3, 2, 4), (2, 5))
"""

import numpy as np

from . import cells as C
from .masks import at_step, mask_fields
from .time_loop import (accumulate_input_grads, active_rows, final_state, keep_where,
                        previous_states, project_inputs, state_slots, time_steps)

ENGINE_NAME = "numpy"


# --- SRN (Elman) -------------------------------------------------------------

def srn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None,
                reverse=False, train=True, residual=False, masks=None):
    """The SRN (Elman) recurrence: ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    With ``residual``: ``h_t = h_{t-1} + f(...)``. Arguments and results follow
    the engine contract (module doc), with G = 1.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
        Zero at inactive rows.
    h0 : numpy.ndarray, shape (N, H)
    W_ih : numpy.ndarray, shape (H, I)
    W_hh : numpy.ndarray, shape (H, H)
    b_ih, b_hh : numpy.ndarray, shape (H,)
    nonlinearity : {"tanh", "relu", "sigmoid"}
        The ``f`` above.
    lengths : None or numpy.ndarray of int64, shape (N,)
    reverse : bool
        Run from step T-1 down to 0.
    train : bool
        Keep the cache for ``srn_backward``.
    residual : bool
        The residual recurrence.
    masks : Masks, optional
        Input and recurrent dropout masks (module doc; no zoneout for the SRN).

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        Every step's state; exactly 0 at inactive rows.
    hT : numpy.ndarray, shape (N, H)
        The final state (each sequence's own last step with ``lengths``).
    cache : dict or None
        What ``srn_backward`` reads; None when ``train`` is False.
    """
    T, N, _ = x.shape
    mask = active_rows(lengths, T)
    mask_x, mask_h, _, _ = mask_fields(masks)
    pre = project_inputs(C.masked(x, mask_x), W_ih, b_ih + b_hh)
    hs = np.empty((T + 1,) + h0.shape, dtype=x.dtype)
    hs[T if reverse else 0] = h0
    y = np.empty(pre.shape, dtype=x.dtype)
    # f(z_t) for the backward; the plain cell's is h_t itself
    acts = np.empty(pre.shape, dtype=x.dtype) if residual else None
    for t in time_steps(T, reverse):
        read, write = state_slots(t, reverse)
        m = None if mask is None else mask[t]
        step = C.srn_step(pre[t], hs[read], W_hh, nonlinearity, residual, mask_h)
        if residual:
            acts[t] = step.acts
        hs[write] = keep_where(m, step.h, hs[read])
        y[t] = keep_where(m, step.h, 0)
    cache = None
    if train:
        cache = dict(x=x, hs=hs, acts=acts, W_ih=W_ih, W_hh=W_hh, lengths=lengths,
                     reverse=reverse, nonlinearity=nonlinearity, residual=residual, masks=masks)
    return y, final_state(hs, reverse).copy(), cache


def srn_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the SRN: ``dz_t = (dy_t + dh_t) * f'(z_t)``, ``dh_{t-1} = dz_t @ W_hh``.

    The residual cell adds ``dy_t + dh_t`` to ``dh_{t-1}`` through its identity
    path. Parameter gradients are ADDED into ``grads`` (engine contract,
    module doc).

    Parameters
    ----------
    dy : numpy.ndarray, shape (T, N, H)
        The gradient of the loss with respect to ``y``.
    dhT : numpy.ndarray, shape (N, H)
        The gradient with respect to the final state.
    cache : dict
        From ``srn_forward(..., train=True)``.
    grads : dict
        ``dW_ih`` (H, I), ``dW_hh`` (H, H), ``db_ih``, ``db_hh`` (H,), added into.
    trace : dict or None
        ``{"dh": (T, N, H) array}`` filled with ``dL/dh_t`` at every step.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0 : numpy.ndarray, shape (N, H)
    """
    x, hs, W_hh, reverse = cache["x"], cache["hs"], cache["W_hh"], cache["reverse"]
    residual, nonlinearity = cache["residual"], cache["nonlinearity"]
    mask_h = mask_fields(cache["masks"])[1]
    T = x.shape[0]
    mask = active_rows(cache["lengths"], T)
    dpre = np.zeros(dy.shape, dtype=dy.dtype)
    dh = dhT.copy()
    for t in reversed(time_steps(T, reverse)):
        read, write = state_slots(t, reverse)
        m = None if mask is None else mask[t]
        dh_total = dh + keep_where(m, dy[t], 0)
        if trace is not None:
            trace["dh"][t] = dh_total
        a = cache["acts"][t] if residual else hs[write]
        dz, dh_prev = C.srn_step_backward(dh_total, a, W_hh, nonlinearity, residual, mask_h)
        dpre[t] = keep_where(m, dz, 0)
        dh = keep_where(m, dh_prev, dh_total)
    dx = accumulate_input_grads(grads, dpre, dpre, x, previous_states(hs, reverse),
                                cache["W_ih"], cache["masks"])
    return dx, dh


# --- LSTM --------------------------------------------------------------------

def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                 train=True, W_hr=None, masks=None):
    """The LSTM recurrence, gates i, f, g, o in PyTorch's order.

    With ``z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` cut into four (N, H)
    blocks: ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_g)``,
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``. Arguments and
    results follow the engine contract (module doc), with G = 4. With
    ``W_hr`` (PyTorch's ``proj_size`` P): ``h_t = (o * tanh(c_t)) W_hr^T``, so
    ``h0``, ``y``, ``hT`` have P columns and ``W_hh`` is (4*H, P), and so do
    the h-shaped masks: ``masks.h`` (N, P), ``masks.zone_h`` (T, N, P), zoning
    the projected ``h~_t = (o * tanh(c~_t)) W_hr^T`` (``c~_t`` unzoned);
    ``masks.zone_c`` stays (T, N, H).

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
        Zero at inactive rows.
    h0, c0 : numpy.ndarray, shape (N, H)
    W_ih : numpy.ndarray, shape (4*H, I)
    W_hh : numpy.ndarray, shape (4*H, H)
    b_ih, b_hh : numpy.ndarray, shape (4*H,)
    lengths : None or numpy.ndarray of int64, shape (N,)
    reverse : bool
        Run from step T-1 down to 0.
    train : bool
        Keep the cache for ``lstm_backward``.
    W_hr : numpy.ndarray, shape (P, H), optional
        The projection, 0 < P < H; None: none.
    masks : Masks, optional
        Dropout masks and zoneout keep weights (module doc).

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        Every step's ``h_t``; exactly 0 at inactive rows.
    hT, cT : numpy.ndarray, shape (N, H)
        The final states.
    cache : dict or None
        What ``lstm_backward`` reads; None when ``train`` is False.
    """
    T, N, _ = x.shape
    H, Hs = c0.shape[1], h0.shape[1]  # Hs: the width of h, P with a projection
    mask = active_rows(lengths, T)
    mask_x, mask_h, zone_h, zone_c = mask_fields(masks)
    pre = project_inputs(C.masked(x, mask_x), W_ih, b_ih + b_hh)
    hs = np.empty((T + 1, N, Hs), dtype=x.dtype)
    cs = np.empty((T + 1, N, H), dtype=x.dtype)
    hs[T if reverse else 0] = h0
    cs[T if reverse else 0] = c0
    gates = np.empty((T, N, 4 * H), dtype=x.dtype)
    # with a projection, m_t = o * tanh(c_t) (0 at inactive rows), for dW_hr
    ms = None if W_hr is None else np.empty((T, N, H), dtype=x.dtype)
    y = np.empty((T, N, Hs), dtype=x.dtype)
    for t in time_steps(T, reverse):
        read, write = state_slots(t, reverse)
        m = None if mask is None else mask[t]
        # with a projection, h's zoneout applies to the projected h~ (below)
        step = C.lstm_step(pre[t], hs[read], cs[read], W_hh, mask_h,
                           at_step(zone_h, t) if ms is None else None, at_step(zone_c, t))
        gates[t] = step.acts
        if ms is not None:  # h~ = m_t W_hr^T, m_t = o * tanh(c~_t) (the unzoned c~)
            ms[t] = keep_where(m, step.h, 0)
            step.h = C.zoneout(at_step(zone_h, t), hs[read], step.h @ W_hr.T)
        cs[write] = keep_where(m, step.c, cs[read])
        hs[write] = keep_where(m, step.h, hs[read])
        y[t] = keep_where(m, step.h, 0)
    cache = None
    if train:
        cache = dict(x=x, hs=hs, cs=cs, gates=gates, W_ih=W_ih, W_hh=W_hh,
                     lengths=lengths, reverse=reverse, W_hr=W_hr, ms=ms, masks=masks)
    return y, final_state(hs, reverse).copy(), final_state(cs, reverse).copy(), cache


def lstm_backward(dy, dhT, dcT, cache, grads, trace=None):
    """BPTT for the LSTM, differentiating ``c_t = f*c_{t-1} + i*g`` and ``h_t = o*tanh(c_t)``.

    Parameter gradients are ADDED into ``grads`` (engine contract, module doc).
    With a projection (the cache's ``W_hr``), ``h_t = m_t W_hr^T``: the cell's
    backward takes ``dL/dm_t = dL/dh_t W_hr`` as its ``dL/dh_t``,
    ``grads["dW_hr"]`` (P, H) gets ``sum_t dL/dh~_t^T m_t`` (``dL/dh~_t =
    dL/dh_t * (1 - zone_h)`` with zoneout), and every h-shaped array (``dy``,
    ``dhT``, ``dh0``, ``trace["dh"]``) has P columns.

    Parameters
    ----------
    dy : numpy.ndarray, shape (T, N, H)
    dhT, dcT : numpy.ndarray, shape (N, H)
        The gradients with respect to the final states.
    cache : dict
        From ``lstm_forward(..., train=True)``.
    grads : dict
        ``dW_ih`` (4*H, I), ``dW_hh`` (4*H, H), ``db_ih``, ``db_hh`` (4*H,),
        added into.
    trace : dict or None
        ``{"dh": (T, N, H), "dc": (T, N, H)}`` filled with ``dL/dh_t`` and
        ``dL/dc_t``.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0, dc0 : numpy.ndarray, shape (N, H)
    """
    x, hs, cs, gates = cache["x"], cache["hs"], cache["cs"], cache["gates"]
    W_hh, reverse, W_hr = cache["W_hh"], cache["reverse"], cache.get("W_hr")
    _, mask_h, zone_h, zone_c = mask_fields(cache["masks"])
    T = x.shape[0]
    H = cs.shape[2]
    mask = active_rows(cache["lengths"], T)
    dpre = np.zeros(gates.shape, dtype=dy.dtype)
    dhp = None if W_hr is None else np.zeros(dy.shape, dtype=dy.dtype)  # dL/dh_t, active rows
    dh = dhT.copy()
    dc = dcT.copy()
    for t in reversed(time_steps(T, reverse)):
        read, write = state_slots(t, reverse)
        m = None if mask is None else mask[t]
        dh_total = dh + keep_where(m, dy[t], 0)
        # zoneout: what reaches the unzoned h~, c~, and the direct paths to h_{t-1}, c_{t-1}
        dh_new, dh_direct = C.zoneout_backward(at_step(zone_h, t), dh_total)
        dc_new, dc_direct = C.zoneout_backward(at_step(zone_c, t), dc)
        dh_cell = dh_new if W_hr is None else dh_new @ W_hr  # dL/dm_t with a projection
        tanh_c = np.tanh(cs[write] if zone_c is None else C.lstm_candidate(gates[t], cs[read]))
        dc_total = C.lstm_cell_grad(dh_cell, dc_new, gates[t, :, 3 * H:], tanh_c)
        if trace is not None:
            trace["dh"][t] = dh_total
            trace["dc"][t] = keep_where(m, dc_total, dc)  # inactive: the frozen c's gradient
        dz, dh_prev, dc_prev = C.lstm_step_backward(dh_cell, dc_total, gates[t], tanh_c,
                                                    cs[read], W_hh, mask_h)
        dpre[t] = keep_where(m, dz, 0)
        if dhp is not None:
            dhp[t] = keep_where(m, dh_new, 0)
        dh = keep_where(m, dh_prev if dh_direct is None else dh_prev + dh_direct, dh_total)
        dc = keep_where(m, dc_prev if dc_direct is None else dc_prev + dc_direct, dc)
    if dhp is not None:
        T, N, P = dhp.shape
        grads["dW_hr"] += dhp.reshape(T * N, P).T @ cache["ms"].reshape(T * N, H)
    dx = accumulate_input_grads(grads, dpre, dpre, x, previous_states(hs, reverse),
                                cache["W_ih"], cache["masks"])
    return dx, dh, dc


# --- GRU ---------------------------------------------------------------------

def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                reset_after=True, train=True, masks=None):
    """The GRU recurrence, gates r, z, n in PyTorch's order: ``h_t = (1 - z) * n + z * h_{t-1}``.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``,
    ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)``, and the candidate

    * ``reset_after=True`` (PyTorch/cuDNN): ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``;
    * ``reset_after=False`` (Cho et al. 2014): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.

    Arguments and results follow the engine contract (module doc), with G = 3.

    Parameters
    ----------
    x : numpy.ndarray, shape (T, N, I)
        Zero at inactive rows.
    h0 : numpy.ndarray, shape (N, H)
    W_ih : numpy.ndarray, shape (3*H, I)
    W_hh : numpy.ndarray, shape (3*H, H)
    b_ih, b_hh : numpy.ndarray, shape (3*H,)
    lengths : None or numpy.ndarray of int64, shape (N,)
    reverse : bool
        Run from step T-1 down to 0.
    reset_after : bool
        The candidate's form (above).
    train : bool
        Keep the cache for ``gru_backward``.
    masks : Masks, optional
        Dropout masks and zoneout keep weights (module doc; no ``zone_c``).

    Returns
    -------
    y : numpy.ndarray, shape (T, N, H)
        Every step's state; exactly 0 at inactive rows.
    hT : numpy.ndarray, shape (N, H)
    cache : dict or None
        What ``gru_backward`` reads; None when ``train`` is False.
    """
    T, N, _ = x.shape
    H = h0.shape[1]
    mask = active_rows(lengths, T)
    mask_x, mask_h, zone_h, _ = mask_fields(masks)
    spec = C.CellSpec("gru", reset_after=reset_after)
    xg = project_inputs(C.masked(x, mask_x), W_ih, spec.input_bias(b_ih, b_hh))
    hs = np.empty((T + 1, N, H), dtype=x.dtype)
    hs[T if reverse else 0] = h0
    gates = np.empty((T, N, 3 * H), dtype=x.dtype)
    # reset_after: W_hn h + b_hn, which r multiplies; else r * h, which W_hn multiplies
    aux = np.empty((T, N, H), dtype=x.dtype)
    y = np.empty((T, N, H), dtype=x.dtype)
    for t in time_steps(T, reverse):
        read, write = state_slots(t, reverse)
        m = None if mask is None else mask[t]
        step = C.gru_step(xg[t], hs[read], W_hh, b_hh, reset_after, mask_h, at_step(zone_h, t))
        gates[t] = step.acts
        aux[t] = step.aux
        hs[write] = keep_where(m, step.h, hs[read])
        y[t] = keep_where(m, step.h, 0)
    cache = None
    if train:
        cache = dict(x=x, hs=hs, gates=gates, aux=aux, W_ih=W_ih, W_hh=W_hh,
                     lengths=lengths, reverse=reverse, reset_after=reset_after, masks=masks)
    return y, final_state(hs, reverse).copy(), cache


def gru_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the GRU in either form (see ``gru_forward``).

    Parameter gradients are ADDED into ``grads`` (engine contract, module doc).

    Parameters
    ----------
    dy : numpy.ndarray, shape (T, N, H)
    dhT : numpy.ndarray, shape (N, H)
    cache : dict
        From ``gru_forward(..., train=True)``.
    grads : dict
        ``dW_ih`` (3*H, I), ``dW_hh`` (3*H, H), ``db_ih``, ``db_hh`` (3*H,),
        added into.
    trace : dict or None
        ``{"dh": (T, N, H) array}`` filled with ``dL/dh_t``.

    Returns
    -------
    dx : numpy.ndarray, shape (T, N, I)
    dh0 : numpy.ndarray, shape (N, H)
    """
    x, hs, gates, aux = cache["x"], cache["hs"], cache["gates"], cache["aux"]
    W_hh, reverse, reset_after = cache["W_hh"], cache["reverse"], cache["reset_after"]
    mask_x, mask_h, zone_h, _ = mask_fields(cache["masks"])
    T = x.shape[0]
    H = hs.shape[2]
    mask = active_rows(cache["lengths"], T)
    h_prevs = previous_states(hs, reverse)
    dgates_ih = np.zeros(gates.shape, dtype=dy.dtype)
    # what the hh-side pre-activations receive differs only in the n block
    dgates_hh = np.zeros(gates.shape, dtype=dy.dtype) if reset_after else dgates_ih
    dh = dhT.copy()
    for t in reversed(time_steps(T, reverse)):
        m = None if mask is None else mask[t]
        dh_total = dh + keep_where(m, dy[t], 0)
        if trace is not None:
            trace["dh"][t] = dh_total
        dz_ih, dz_hh, dh_prev = C.gru_step_backward(dh_total, gates[t], aux[t], h_prevs[t],
                                                    W_hh, reset_after, mask_h,
                                                    at_step(zone_h, t))
        dgates_ih[t] = keep_where(m, dz_ih, 0)
        if reset_after:
            dgates_hh[t] = keep_where(m, dz_hh, 0)
        dh = keep_where(m, dh_prev, dh_total)
    if reset_after:
        dx = accumulate_input_grads(grads, dgates_ih, dgates_hh, x, h_prevs, cache["W_ih"],
                                    cache["masks"])
    else:
        # the n block's recurrent input is r * h_prev, not h_prev
        T, N, I = x.shape
        dg = dgates_ih.reshape(T * N, 3 * H)
        grads["dW_ih"] += dg.T @ C.masked(x, mask_x).reshape(T * N, I)
        grads["dW_hh"][:2 * H] += dg[:, :2 * H].T @ C.masked(h_prevs, mask_h).reshape(T * N, H)
        grads["dW_hh"][2 * H:] += dg[:, 2 * H:].T @ aux.reshape(T * N, H)
        db = dg.sum(axis=0)
        grads["db_ih"] += db
        grads["db_hh"] += db
        dx = C.masked((dg @ cache["W_ih"]).reshape(T, N, I), mask_x)
    return dx, dh
