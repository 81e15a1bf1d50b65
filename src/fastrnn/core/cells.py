"""One NumPy statement of each recurrent cell: its step and the step's gradients.

The reference engine (``fastrnn.core.reference``), the diagnostics
(``fastrnn.lab``) and RTRL (``fastrnn.lab.rtrl``) all compute a cell step
with these functions; the C kernels (``csrc/``) implement the same formulas.
The step's full Jacobians, for the diagnostics and RTRL, are
``fastrnn.core.step_jacobians``.

Notation, per step: ``N`` sequences, ``H`` hidden units, ``G`` gate blocks
(1 for the SRN, 4 for the LSTM, 3 for the GRU) stacked in PyTorch's order in
``W_hh`` (G*H, H) and the pre-activations (N, G*H). ``xg`` is the step's
*input projection*: ``W_ih x_t`` plus the biases that do not depend on the
state, :meth:`CellSpec.input_bias` (``b_ih + b_hh`` for every cell except the GRU in
its reset-after form, whose ``b_hh`` is added to ``W_hh h`` inside the
reset). An engine computes ``xg`` for all T steps with one matmul; the step
functions here do the recurrent product and the cell.

=====  ======================================================================
cell   step (``z`` = xg + W_hh h_{t-1}, the total pre-activation)
=====  ======================================================================
SRN    ``a = f(z)``; ``h_t = a``, or ``h_t = h_{t-1} + a`` (residual)
LSTM   ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_g)``;
       ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``
GRU    ``r, z = sigmoid(...)``; ``h_t = (1-z)*n + z*h_{t-1}`` with
       ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))`` (reset after, PyTorch)
       or ``n = tanh(W_in x + b_in + b_hn + W_hn (r*h))`` (Cho et al. 2014)
=====  ======================================================================

Derivatives are written in terms of the activations' *outputs* ``a``, as the
engines store them: ``tanh' = 1 - a^2``, ``sigmoid' = a(1 - a)``, ``relu' = [a > 0]``
(:data:`ACTIVATIONS`). The expressions keep the reference engine's order of
floating-point operations (its results are pinned bit for bit): hence
``dc * g * i * (1 - i)`` spelled out rather than a call of ``sigmoid'``.

Variational dropout and zoneout: the step functions' optional ``mask_h``,
``zone_h``, ``zone_c`` (None: the plain cell); ``fastrnn.core.masks`` states them.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["sigmoid", "relu", "ACTIVATIONS", "GATE_NAMES", "GATE_ACTIVATION", "CellSpec",
           "Step", "srn_step", "lstm_step", "gru_step", "srn_step_backward",
           "lstm_cell_grad", "lstm_step_backward", "gru_step_backward", "masked", "zoneout",
           "zoneout_backward", "lstm_candidate"]


# --- activations, and their derivatives written in terms of the output ----------------

def sigmoid(z):
    """The logistic function ``1 / (1 + exp(-z))``; an overflowing ``exp`` gives exactly 0.

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        ``sigmoid(z)``, same shape and dtype.

    Examples
    --------
    >>> sigmoid(np.array([0.0, -1000.0]))
    array([0.5, 0. ])
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    """``max(z, 0)`` elementwise (NaN propagates).

    Parameters
    ----------
    z : ndarray
        Pre-activations, any shape.

    Returns
    -------
    ndarray
        Same shape and dtype as ``z``.
    """
    return np.maximum(z, 0)


#: name -> ``(f, df)``: the activation and its derivative expressed through ``a = f(z)``.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "relu": (relu, lambda a: (a > 0).astype(a.dtype)),
    "sigmoid": (sigmoid, lambda a: a * (1 - a)),
}

#: the gate blocks of each cell, in PyTorch's stacking order (the SRN's one block is "h")
GATE_NAMES = {"srn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: G, the gate blocks of each cell (the one Python statement of it; csrc/dispatch.c's
#: fastrnn_gates is the C engine's)
GATES = {cell: len(names) for cell, names in GATE_NAMES.items()}

#: the activation of each gated cell's gate (the SRN's "h" uses its nonlinearity)
GATE_ACTIVATION = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid",
                   "r": "sigmoid", "z": "sigmoid", "n": "tanh"}


# --- what a cell computes -------------------------------------------------------------

@dataclass(frozen=True)
class CellSpec:
    """Which cell a recurrence uses, with its options.

    Parameters
    ----------
    cell : {"srn", "lstm", "gru"}
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
        The SRN's activation (ignored by the gated cells).
    residual : bool, default False
        The SRN's residual form ``h_t = h_{t-1} + f(z_t)``.
    reset_after : bool, default True
        The GRU's form: reset after the recurrent product (PyTorch) or before (Cho).

    Raises
    ------
    ValueError
        If ``cell`` or ``nonlinearity`` is not one of the names above.

    Examples
    --------
    >>> spec = CellSpec("lstm")
    >>> spec.G, spec.state_size(8), spec.gate_names
    (4, 16, ('i', 'f', 'g', 'o'))
    """

    cell: str
    nonlinearity: str = "tanh"
    residual: bool = False
    reset_after: bool = True

    def __post_init__(self):
        if self.cell not in GATE_NAMES:
            raise ValueError(f"cell: expected one of {tuple(GATE_NAMES)}, got {self.cell!r}")
        if self.nonlinearity not in ACTIVATIONS:
            raise ValueError(f"nonlinearity: expected one of {tuple(ACTIVATIONS)}, "
                             f"got {self.nonlinearity!r}")

    @property
    def G(self):
        """Number of gate blocks (1, 4 or 3)."""
        return len(GATE_NAMES[self.cell])

    @property
    def gate_names(self):
        """The gate blocks' names in stacking order (:data:`GATE_NAMES`)."""
        return GATE_NAMES[self.cell]

    def state_size(self, H):
        """Size S of the state ``s`` for hidden size ``H``.

        Returns
        -------
        int
            ``H`` (``h``), or ``2H`` for the LSTM's ``[h; c]``.
        """
        return 2 * H if self.cell == "lstm" else H

    def input_bias(self, b_ih, b_hh):
        """The bias that joins this cell's input projection ``xg = W_ih x + bias``.

        Parameters
        ----------
        b_ih, b_hh : ndarray, shape (G*H,)

        Returns
        -------
        ndarray, shape (G*H,)
            ``b_ih + b_hh``; for the reset-after GRU ``b_ih`` alone (its ``b_hh``
            is inside the reset, see :func:`gru_step`).
        """
        return b_ih if self.cell == "gru" and self.reset_after else b_ih + b_hh

    def step(self, xg, h_prev, c_prev, W_hh, b_hh):
        """One step of this cell (:func:`srn_step`, :func:`lstm_step` or :func:`gru_step`).

        Parameters
        ----------
        xg : ndarray, shape (N, G*H)
            The input projection ``W_ih x_t + self.input_bias(b_ih, b_hh)``.
        h_prev, c_prev : ndarray, shape (N, H)
            The state read (``c_prev``: the LSTM's cell state, None otherwise).
        W_hh : ndarray, shape (G*H, H)
        b_hh : ndarray, shape (G*H,)
            Read by the reset-after GRU only.

        Returns
        -------
        Step
        """
        if self.cell == "srn":
            return srn_step(xg, h_prev, W_hh, self.nonlinearity, self.residual)
        if self.cell == "lstm":
            return lstm_step(xg, h_prev, c_prev, W_hh)
        return gru_step(xg, h_prev, W_hh, b_hh, self.reset_after)

    def step_backward(self, step, dh_total, dc_total, W_hh):
        """BPTT through one recorded step, the same for every cell.

        Parameters
        ----------
        step : Step
            The step's record (from :meth:`step`).
        dh_total : ndarray, shape (N, H)
            ``dL/dh_t``, everything reaching the state the step wrote.
        dc_total : ndarray, shape (N, H), or None
            The LSTM's total ``dL/dc_t`` (:func:`lstm_cell_grad`); None otherwise.
        W_hh : ndarray, shape (G*H, H)

        Returns
        -------
        dpre_ih, dpre_hh : ndarray, shape (N, G*H)
            Gradients of the pre-activations fed by ``x`` and by ``h_{t-1}`` (one
            array except for the reset-after GRU's candidate block).
        dh_prev : ndarray, shape (N, H)
        dc_prev : ndarray, shape (N, H), or None (not an LSTM)
        """
        if self.cell == "srn":
            dpre, dh_prev = srn_step_backward(dh_total, step.acts, W_hh, self.nonlinearity,
                                              self.residual)
            return dpre, dpre, dh_prev, None
        if self.cell == "lstm":
            dpre, dh_prev, dc_prev = lstm_step_backward(dh_total, dc_total, step.acts,
                                                        np.tanh(step.c), step.c_prev, W_hh)
            return dpre, dpre, dh_prev, dc_prev
        dpre_ih, dpre_hh, dh_prev = gru_step_backward(dh_total, step.acts, step.aux,
                                                      step.h_prev, W_hh, self.reset_after)
        return dpre_ih, dpre_hh, dh_prev, None


@dataclass
class Step:
    """One cell step with every intermediate the engines, diagnostics and RTRL read.

    Attributes
    ----------
    pre : ndarray, shape (N, G*H)
        The total pre-activation of each gate (for the GRU's candidate, the
        argument of its tanh).
    acts : ndarray, shape (N, G*H)
        The activated gates (the SRN's ``f(z)``; LSTM i, f, g, o; GRU r, z, n).
    h : ndarray, shape (N, H)
        The new hidden state.
    h_prev : ndarray, shape (N, H)
        The hidden state the step read.
    c, c_prev : ndarray, shape (N, H), or None
        The LSTM's new and previous cell state.
    aux : ndarray, shape (N, H), or None
        The GRU's ``W_hn h_{t-1} + b_hn`` (reset after: what ``r`` multiplies)
        or ``r * h_{t-1}`` (Cho: what ``W_hn`` multiplies); with ``mask_h``,
        ``h_{t-1} * mask_h`` in place of ``h_{t-1}``.
    c_new : ndarray, shape (N, H), or None
        The LSTM's unzoned new cell ``c~`` (``c`` itself without zoneout).
    """

    pre: np.ndarray
    acts: np.ndarray
    h: np.ndarray
    h_prev: np.ndarray
    c: np.ndarray = None
    c_prev: np.ndarray = None
    aux: np.ndarray = None
    c_new: np.ndarray = None


# --- variational masks and zoneout (fastrnn.core.masks states them) -------------------

def masked(h, mask):
    """``h * mask`` (``mask`` broadcastable to ``h``), or ``h`` itself when ``mask`` is None.

    Returns
    -------
    ndarray
        Never a multiply by ones: no mask costs nothing.
    """
    return h if mask is None else h * mask


def zoneout(d, prev, new):
    """Zoneout of one state: ``d*prev + (1-d)*new``; ``new`` itself when ``d`` is None.

    Parameters
    ----------
    d : ndarray, shape (N, H), or None
        Keep weights: 1 keeps the previous state (training passes 0/1,
        inference the expectation p).
    prev, new : ndarray, shape (N, H)
        The state read and the cell's usual new state.

    Returns
    -------
    ndarray, shape (N, H)
    """
    return new if d is None else d * prev + (1 - d) * new


def zoneout_backward(d, grad):
    """BPTT through :func:`zoneout`: the gradients reaching ``new`` and ``prev``.

    Parameters
    ----------
    d : ndarray, shape (N, H), or None
    grad : ndarray, shape (N, H)
        The gradient reaching the zoned state.

    Returns
    -------
    to_new : ndarray
        ``grad*(1-d)`` (``grad`` itself when ``d`` is None).
    to_prev : ndarray or None
        ``grad*d``, the direct path; None when ``d`` is None.
    """
    return (grad, None) if d is None else (grad * (1 - d), grad * d)


def lstm_candidate(acts, c_prev):
    """The LSTM's unzoned new cell ``c~ = f*c_prev + i*g`` from the gates i, f, g, o.

    Parameters
    ----------
    acts : ndarray, shape (N, 4*H)
    c_prev : ndarray, shape (N, H)

    Returns
    -------
    ndarray, shape (N, H)
    """
    H = c_prev.shape[1]
    return acts[:, H:2 * H] * c_prev + acts[:, :H] * acts[:, 2 * H:3 * H]


# --- forward steps --------------------------------------------------------------------

def srn_step(xg, h_prev, W_hh, nonlinearity="tanh", residual=False, mask_h=None):
    """Elman step: ``z = xg + W_hh h_{t-1}``, ``a = f(z)``, ``h_t = a`` or ``h_{t-1} + a``.

    Parameters
    ----------
    xg : ndarray, shape (N, H)
        ``W_ih x_t + b_ih + b_hh``.
    h_prev : ndarray, shape (N, H)
    W_hh : ndarray, shape (H, H)
    nonlinearity : {"tanh", "relu", "sigmoid"}
    residual : bool
        ``h_t = h_{t-1} + f(z)`` instead of ``f(z)``.
    mask_h : ndarray, shape (N, H), optional
        The recurrent dropout mask: ``z = xg + W_hh (h_{t-1} * mask_h)``.

    Returns
    -------
    Step
        ``pre = z``, ``acts = a``, ``h``.
    """
    z = xg + masked(h_prev, mask_h) @ W_hh.T
    a = ACTIVATIONS[nonlinearity][0](z)
    return Step(pre=z, acts=a, h=h_prev + a if residual else a, h_prev=h_prev)


def lstm_step(xg, h_prev, c_prev, W_hh, mask_h=None, zone_h=None, zone_c=None):
    """LSTM step, gates i, f, g, o (PyTorch's order), ``z = xg + W_hh h_{t-1}``::

        i, f, o = sigmoid(z_i, z_f, z_o);   g = tanh(z_g)
        c_t = f * c_{t-1} + i * g;          h_t = o * tanh(c_t)

    Parameters
    ----------
    xg : ndarray, shape (N, 4*H)
        ``W_ih x_t + b_ih + b_hh``.
    h_prev, c_prev : ndarray, shape (N, H)
    W_hh : ndarray, shape (4*H, H)
    mask_h : ndarray, shape (N, H), optional
        The recurrent dropout mask (all four gates): ``z = xg + W_hh (h_{t-1} * mask_h)``.
    zone_h, zone_c : ndarray, shape (N, H), optional
        Zoneout keep weights: ``c_t = zoneout(zone_c, c_{t-1}, c~)``,
        ``h_t = zoneout(zone_h, h_{t-1}, o*tanh(c~))``, ``c~ = f*c_{t-1} + i*g``
        unzoned (Krueger et al. 2016).

    Returns
    -------
    Step
        ``pre = z``, ``acts = [i, f, g, o]``, ``h``, ``c`` (zoned), ``c_new`` (``c~``).
    """
    H = c_prev.shape[1]  # h_prev may be (N, P): the projected LSTM (reference.lstm_forward)
    z = xg + masked(h_prev, mask_h) @ W_hh.T
    i = sigmoid(z[:, :H])
    f = sigmoid(z[:, H:2 * H])
    g = np.tanh(z[:, 2 * H:3 * H])
    o = sigmoid(z[:, 3 * H:])
    acts = np.concatenate([i, f, g, o], axis=1)
    c = lstm_candidate(acts, c_prev)
    h = o * np.tanh(c)
    return Step(pre=z, acts=acts, h=zoneout(zone_h, h_prev, h), h_prev=h_prev,
                c=zoneout(zone_c, c_prev, c), c_prev=c_prev, c_new=c)


def gru_step(xg, h_prev, W_hh, b_hh, reset_after=True, mask_h=None, zone_h=None):
    """GRU step, gates r, z, n (PyTorch's order), ``h_t = (1 - z) * n + z * h_{t-1}``::

        r = sigmoid(xg_r + W_hr h),  z = sigmoid(xg_z + W_hz h)
        reset_after=True  (PyTorch/cuDNN): n = tanh(xg_n + r * (W_hn h + b_hn))
        reset_after=False (Cho 2014):      n = tanh(xg_n + W_hn (r * h))

    (with reset after, ``xg`` holds ``b_ih`` only and ``b_hh`` is added to
    ``W_hh h`` here; without, ``xg`` holds both biases).

    Parameters
    ----------
    xg : ndarray, shape (N, 3*H)
        ``W_ih x_t + CellSpec("gru", reset_after=...).input_bias(b_ih, b_hh)``.
    h_prev : ndarray, shape (N, H)
    W_hh : ndarray, shape (3*H, H)
    b_hh : ndarray, shape (3*H,)
        Used with ``reset_after`` only.
    reset_after : bool
    mask_h : ndarray, shape (N, H), optional
        The recurrent dropout mask: ``h * mask_h`` replaces ``h`` in every
        recurrent product (above, ``r * (h * mask_h)`` without reset after,
        Keras's ``reset_after=False``); ``z * h_{t-1}`` stays unmasked.
    zone_h : ndarray, shape (N, H), optional
        Zoneout keep weights: ``h_t = zoneout(zone_h, h_{t-1}, (1-z)*n + z*h_{t-1})``.

    Returns
    -------
    Step
        ``pre`` (the arguments of the three activations), ``acts = [r, z, n]``,
        ``h``, ``aux`` (``W_hn h + b_hn`` or ``r * h``).
    """
    H = h_prev.shape[1]
    hr = masked(h_prev, mask_h)   # what the recurrent products read
    if reset_after:
        hg = hr @ W_hh.T + b_hh
        pre_r, pre_z = xg[:, :H] + hg[:, :H], xg[:, H:2 * H] + hg[:, H:2 * H]
        r, z = sigmoid(pre_r), sigmoid(pre_z)
        aux = hg[:, 2 * H:]
        pre_n = xg[:, 2 * H:] + r * aux
    else:
        hg = hr @ W_hh[:2 * H].T
        pre_r, pre_z = xg[:, :H] + hg[:, :H], xg[:, H:2 * H] + hg[:, H:]
        r, z = sigmoid(pre_r), sigmoid(pre_z)
        aux = r * hr
        pre_n = xg[:, 2 * H:] + aux @ W_hh[2 * H:].T
    n = np.tanh(pre_n)
    h = (1 - z) * n + z * h_prev
    return Step(pre=np.concatenate([pre_r, pre_z, pre_n], axis=1),
                acts=np.concatenate([r, z, n], axis=1), h=zoneout(zone_h, h_prev, h),
                h_prev=h_prev, aux=aux)


# --- backward steps: gradients of the pre-activations and of the previous state --------

def srn_step_backward(dh_total, a, W_hh, nonlinearity="tanh", residual=False, mask_h=None):
    """BPTT through one SRN step: ``dz = dL/dh_t * f'(z)``, ``dL/dh_{t-1} = dz W_hh``.

    The residual cell adds the identity path: ``dL/dh_{t-1} = dz W_hh + dL/dh_t``.

    Parameters
    ----------
    dh_total : ndarray, shape (N, H)
        ``dL/dh_t``.
    a : ndarray, shape (N, H)
        The step's activation ``f(z)`` (the plain cell's ``h_t``).
    W_hh : ndarray, shape (H, H)
    nonlinearity : {"tanh", "relu", "sigmoid"}
    residual : bool
    mask_h : ndarray, shape (N, H), optional
        The forward's recurrent mask: ``dL/dh_{t-1} = (dz W_hh) * mask_h`` (+ ``dL/dh_t``).

    Returns
    -------
    dz : ndarray, shape (N, H)
        ``dL/dz_t``.
    dh_prev : ndarray, shape (N, H)
        ``dL/dh_{t-1}`` through this step.
    """
    dz = dh_total * ACTIVATIONS[nonlinearity][1](a)
    rec = masked(dz @ W_hh, mask_h)
    return dz, rec + dh_total if residual else rec


def lstm_cell_grad(dh_total, dc_next, o, tanh_c):
    """The total ``dL/dc_t = dL/dc_t|_(via c_{t+1}) + dL/dh_t * o * (1 - tanh(c_t)^2)``.

    Parameters
    ----------
    dh_total : ndarray, shape (N, H)
        ``dL/dh_t``.
    dc_next : ndarray, shape (N, H)
        The gradient reaching ``c_t`` from the later steps (``f_{t+1} * dL/dc_{t+1}``).
    o : ndarray, shape (N, H)
        The output gate.
    tanh_c : ndarray, shape (N, H)
        ``tanh(c_t)``.

    Returns
    -------
    ndarray, shape (N, H)
    """
    return dc_next + dh_total * o * (1 - tanh_c * tanh_c)


def lstm_step_backward(dh_total, dc_total, acts, tanh_c, c_prev, W_hh, mask_h=None):
    """BPTT through one LSTM step, differentiating ``c = f*c_prev + i*g``, ``h = o*tanh(c)``.

    Parameters
    ----------
    dh_total : ndarray, shape (N, H)
        ``dL/dh_t``.
    dc_total : ndarray, shape (N, H)
        The total ``dL/dc_t`` (:func:`lstm_cell_grad`).
    acts : ndarray, shape (N, 4*H)
        The gates i, f, g, o.
    tanh_c : ndarray, shape (N, H)
        ``tanh(c_t)``.
    c_prev : ndarray, shape (N, H)
    W_hh : ndarray, shape (4*H, H)
    mask_h : ndarray, shape (N, H), optional
        The forward's recurrent mask: ``dL/dh_{t-1} = (dz W_hh) * mask_h``.

    With zoneout, ``dh_total`` and ``dc_total`` are the gradients reaching the
    unzoned ``h~``, ``c~`` (:func:`zoneout_backward`; ``tanh_c = tanh(c~)``) and
    the caller adds the direct paths to the results.

    Returns
    -------
    dz : ndarray, shape (N, 4*H)
        Gradients of the pre-activations of i, f, g, o.
    dh_prev, dc_prev : ndarray, shape (N, H)
        ``dL/dh_{t-1} = dz W_hh`` and ``dL/dc_{t-1} = dL/dc_t * f``.
    """
    H = dh_total.shape[1]
    i, f, g, o = (acts[:, k * H:(k + 1) * H] for k in range(4))
    dz = np.concatenate([
        dc_total * g * i * (1 - i),            # through i
        dc_total * c_prev * f * (1 - f),       # through f
        dc_total * i * (1 - g * g),            # through g
        dh_total * tanh_c * o * (1 - o),       # through o
    ], axis=1)
    return dz, masked(dz @ W_hh, mask_h), dc_total * f


def gru_step_backward(dh_total, acts, aux, h_prev, W_hh, reset_after=True, mask_h=None,
                      zone_h=None):
    """BPTT through one GRU step in either form (see :func:`gru_step`).

    ``h = (1-z)*n + z*h_prev`` gives ``dn_pre = dh (1-z)(1-n^2)``,
    ``dz_pre = dh (h_prev - n) z(1-z)`` and the direct ``dh_prev = dh z``; the
    reset gate acts through ``aux`` (reset after: ``dr_pre = dn_pre aux r(1-r)``;
    Cho: through ``W_hn (r*h)``).

    Parameters
    ----------
    dh_total : ndarray, shape (N, H)
        ``dL/dh_t``.
    acts : ndarray, shape (N, 3*H)
        The gates r, z, n.
    aux : ndarray, shape (N, H)
        The step's ``aux`` (:class:`Step`).
    h_prev : ndarray, shape (N, H)
    W_hh : ndarray, shape (3*H, H)
    reset_after : bool
    mask_h, zone_h : ndarray, shape (N, H), optional
        The forward's recurrent mask and zoneout keep weights (:func:`gru_step`):
        the recurrent products' part of ``dL/dh_{t-1}`` is multiplied by
        ``mask_h``; zoneout adds its direct path ``dL/dh_t * zone_h``.

    Returns
    -------
    dpre_ih, dpre_hh : ndarray, shape (N, 3*H)
        Gradients of the pre-activations fed by ``x`` and of the recurrent
        product's (the same array without reset-after; with it, n's is ``dn_pre * r``).
    dh_prev : ndarray, shape (N, H)
        ``dL/dh_{t-1}`` through this step.
    """
    H = dh_total.shape[1]
    r, z, n = (acts[:, k * H:(k + 1) * H] for k in range(3))
    dh_new, direct = zoneout_backward(zone_h, dh_total)
    dn_pre = dh_new * (1 - z) * (1 - n * n)
    dz_pre = dh_new * (h_prev - n) * z * (1 - z)
    dh_prev = dh_new * z
    if direct is not None:
        dh_prev = dh_prev + direct
    if reset_after:
        dr_pre = dn_pre * aux * r * (1 - r)
        dpre_ih = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
        dpre_hh = np.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)
        return dpre_ih, dpre_hh, dh_prev + masked(dpre_hh @ W_hh, mask_h)
    d_rh = dn_pre @ W_hh[2 * H:]               # gradient of r * (h_prev * mask_h)
    dr_pre = d_rh * masked(h_prev, mask_h) * r * (1 - r)
    dpre = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
    if mask_h is None:
        return dpre, dpre, dh_prev + d_rh * r + dpre[:, :2 * H] @ W_hh[:2 * H]
    return dpre, dpre, dh_prev + (d_rh * r + dpre[:, :2 * H] @ W_hh[:2 * H]) * mask_h
