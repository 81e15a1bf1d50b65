"""Real-time recurrent learning (Williams & Zipser 1989): forward-mode online gradients.

BPTT stores the whole trajectory and runs backwards; RTRL instead carries,
alongside the state ``s_t``, its sensitivity to every parameter,
``S_t = ds_t/dtheta`` (S x P per sequence), updated forward in time (the
seeds' ``dh_{t+1}/du_ij = (I_i(h_t,j) + dh_t/du_ij U^T) diag(f'(z_{t+1}))``)::

    S_t = A_t S_{t-1} + B_t,   A_t = ds_t/ds_{t-1},   B_t = the direct ds_t/dtheta

and the gradient of a loss at step t is available immediately:
``dL_t/dtheta = (dL_t/ds_t)^T S_t``. Summed over a sequence this equals BPTT's
gradient exactly (to rounding); nothing is stored about the past, so the
weights can be updated at every step of an unbounded stream (the classical
online algorithm, which keeps ``S`` across updates).

Cost. The state has ``S = H`` units (``2H`` for the LSTM's ``[h; c]``) and the
cell ``P = G*H*(I + H + 2)`` parameters (G = 1, 4, 3 for SRN, LSTM, GRU; no
``+2`` without bias). Each step costs ``O(S^2 * P)`` multiply-adds per
sequence for ``A_t S_{t-1}`` -- for the SRN ``O(H^2 * P) = O(H^4)``, the
``O(D^2 P)`` of the literature -- and ``S * P`` numbers of memory, against
BPTT's ``O(G*H*(H + I))`` per step and ``O(T*H)`` memory. RTRL therefore suits
small networks on long or endless streams; at H = 32 an SRN step is about
32^2 * 1,100 ~ 1.2 M multiply-adds per sequence. :func:`rtrl_cost` gives the
numbers for a configuration.

The parameters are the layer's own arrays (``fastrnn.SRN/LSTM/GRU`` with one
layer and one direction, or the four functional arrays), read at every step,
so updates made in place by anyone are seen at the next step; the flat
gradient is ``W_ih``, ``W_hh``, ``b_ih``, ``b_hh`` flattened in that order
(:meth:`RTRL.split` names its parts).
"""

import numpy as np

from ..core import validation as V
from ..core.cells import CellSpec
from ..core.step_jacobians import step_derivatives
from ..core.layers import PARAM_KINDS, param_name
from ..core.storage import mark_written
from .walk import layer_spec

__all__ = ["RTRL", "rtrl_cost"]


def rtrl_cost(cell, input_size, hidden_size, bias=True, batch=1):
    """RTRL's size for one configuration.

    Parameters
    ----------
    cell : {"srn", "lstm", "gru"}
    input_size, hidden_size : int
    bias : bool, default True
    batch : int, default 1
        Sequences N run together.

    Returns
    -------
    dict
        ``state_size`` S, ``params`` P, ``sensitivity_floats`` (N*S*P, the
        memory carried) and ``madds_per_step`` (N*S^2*P, the dominant term
        ``A_t @ S_{t-1}``).

    Raises
    ------
    ValueError
        For an unknown cell or a size that is not a positive int.

    Examples
    --------
    >>> rtrl_cost("srn", 1, 32)["madds_per_step"]
    1146880
    """
    spec = CellSpec(cell)
    I, H = V.check_positive_int("input_size", input_size), V.check_positive_int("hidden_size", hidden_size)
    N = V.check_positive_int("batch", batch)
    G, S = spec.G, spec.state_size(H)
    P = G * H * (I + H + (2 if bias else 0))
    return dict(state_size=S, params=P, sensitivity_floats=N * S * P,
                madds_per_step=N * S * S * P)


class RTRL:
    """Forward-mode gradients of one recurrent cell, step by step.

    ``RTRL(layer)`` shares the parameters of a one-layer, one-direction
    ``fastrnn.SRN``/``LSTM``/``GRU`` (its ``params`` views); gradients are added
    into ``layer.grads_flat`` by :meth:`accumulate`. ``RTRL.from_weights(cell,
    W_ih, W_hh, b_ih, b_hh, ...)`` shares four arrays in the functional layout.

    Use::

        rt = RTRL(layer); rt.reset(N)
        for x_t in stream:                      # x_t: (N, I)
            h = rt.step(x_t)                    # (N, H); sensitivities updated
            dh = dloss_dh(h)                    # your loss at this step
            rt.sgd(dh, lr)                      # or g = rt.grad(dh)

    Computation is in the parameters' dtype.

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
        One layer, one direction; its parameters are shared, not copied.

    Attributes
    ----------
    cell : str
    spec : fastrnn.core.cells.CellSpec
    params : list of ndarray
        The shared arrays W_ih (G*H, I), W_hh (G*H, H)[, b_ih, b_hh (G*H,)].
    num_params : int
        P, the length of the flat gradient.
    h, c : ndarray, shape (N, H)
        The current state (``c`` the LSTM's cell state, else None).
    S : ndarray, shape (N, S, P)
        The sensitivities ``ds_t/dtheta``.
    t : int
        Steps taken since :meth:`reset`.

    Raises
    ------
    TypeError
        If ``layer`` is not a fastrnn recurrent layer.
    ValueError
        If it has more than one layer or direction.
    """

    def __init__(self, layer):
        spec = layer_spec(layer)
        if layer.num_layers != 1 or layer.num_directions != 1:
            raise ValueError("layer: RTRL runs forward in time on one cell; expected "
                             f"num_layers=1 and bidirectional=False, got num_layers="
                             f"{layer.num_layers}, bidirectional={layer.bidirectional}")
        kinds = PARAM_KINDS[:4] if layer.bias else PARAM_KINDS[:2]  # no projection here
        self._setup(spec, [layer.params[param_name(kind)] for kind in kinds], layer.bias)
        self.layer = layer

    @classmethod
    def from_weights(cls, cell, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                     residual=False, reset_after=True):
        """RTRL over functional-layout arrays (kept by reference, not copied).

        Parameters
        ----------
        cell : {"srn", "lstm", "gru"}
        W_ih : ndarray, shape (G*H, I)
        W_hh : ndarray, shape (G*H, H)
        b_ih, b_hh : ndarray, shape (G*H,), or both None
            All C-contiguous float arrays of one dtype.
        nonlinearity, residual, reset_after
            The cell's options, as in ``fastrnn.functional``.

        Returns
        -------
        RTRL
            With ``layer`` None (:meth:`accumulate` then needs ``out``).

        Raises
        ------
        TypeError
            For an array that is not a C-contiguous float ndarray of the common dtype.
        ValueError
            For an unknown cell or nonlinearity, a wrong shape, or one bias only.
        """
        spec = CellSpec(cell, nonlinearity, V.check_bool("residual", residual),
                        V.check_bool("reset_after", reset_after))
        if (b_ih is None) != (b_hh is None):
            raise ValueError("b_ih, b_hh: expected both arrays or both None")
        arrays = [W_ih, W_hh] + ([] if b_ih is None else [b_ih, b_hh])
        names = ["W_ih", "W_hh", "b_ih", "b_hh"]
        for name, a in zip(names, arrays):
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or not a.flags.c_contiguous:
                raise TypeError(f"{name}: expected a C-contiguous float ndarray (shared, not "
                                f"copied), got {type(a).__name__}")
            if a.dtype != arrays[0].dtype:
                raise TypeError(f"{name}: expected dtype {arrays[0].dtype}, got {a.dtype}")
        G, H = spec.G, W_hh.shape[-1]
        V.check_shape("W_hh", W_hh, (G * H, H), f"({G}*H, H)")
        if W_ih.ndim != 2 or W_ih.shape[0] != G * H:
            raise ValueError(f"W_ih: expected shape ({G}*H, I) = ({G * H}, I), "
                             f"got {V.fmt_shape(W_ih.shape)}")
        for name, b in zip(("b_ih", "b_hh"), arrays[2:]):
            V.check_shape(name, b, (G * H,), f"({G}*H,)")
        self = cls.__new__(cls)
        self._setup(spec, arrays, b_ih is not None)
        self.layer = None
        return self

    def _setup(self, spec, arrays, bias):
        self.spec, self.cell, self.bias = spec, spec.cell, bias
        self.params = arrays
        self.dtype = arrays[0].dtype
        self.hidden_size = arrays[1].shape[1]
        self.input_size = arrays[0].shape[1]
        self.sizes = [a.size for a in arrays]
        self.num_params = int(sum(self.sizes))
        self.state_size = spec.state_size(self.hidden_size)
        self.h = self.c = self.S = None
        self.t = 0

    def __repr__(self):
        return (f"RTRL(cell={self.cell!r}, input_size={self.input_size}, hidden_size="
                f"{self.hidden_size}, params={self.num_params}, t={self.t})")

    # --- state ----------------------------------------------------------------

    def reset(self, N=1, h0=None, c0=None):
        """Start ``N`` sequences with zero sensitivities (the initial state is a constant).

        Parameters
        ----------
        N : int, default 1
        h0, c0 : array_like, shape (N, H), optional
            The initial state (copied; zeros by default); ``c0`` for the LSTM only.

        Returns
        -------
        RTRL
            ``self``.

        Raises
        ------
        ValueError
            For a bad ``N`` or state shape.
        """
        N = V.check_positive_int("N", N)
        H = self.hidden_size
        def init(name, s):
            if s is None:
                return np.zeros((N, H), dtype=self.dtype)
            arr = np.array(s, dtype=self.dtype)  # a copy: we advance it
            V.check_shape(name, arr, (N, H), "(N, H)")
            return arr
        self.h = init("h0", h0)
        self.c = init("c0", c0) if self.cell == "lstm" else None
        self.S = np.zeros((N, self.state_size, self.num_params), dtype=self.dtype)
        self.t = 0
        return self

    def _weights(self):
        W_ih, W_hh = self.params[0], self.params[1]
        if self.bias:
            return W_ih, W_hh, self.params[2], self.params[3]
        z = np.zeros(W_hh.shape[0], dtype=self.dtype)
        return W_ih, W_hh, z, z

    def step(self, x_t):
        """Advance every sequence by one input, updating ``S_t = A_t S_{t-1} + B_t``.

        Uses the parameters as they are now.

        Parameters
        ----------
        x_t : array_like, shape (N, I)

        Returns
        -------
        ndarray, shape (N, H)
            ``h_t`` (the object RTRL keeps; copy it to keep it past the next step).

        Raises
        ------
        RuntimeError
            Before :meth:`reset`.
        ValueError, TypeError
            For a bad ``x_t``.
        """
        if self.S is None:
            raise RuntimeError("step: call reset(N) first")
        x_t = V.as_float_array("x_t", x_t, self.dtype)
        N, H = self.h.shape
        V.check_shape("x_t", x_t, (N, self.input_size), "(N, I)")
        W_ih, W_hh, b_ih, b_hh = self._weights()
        step = self.spec.step(x_t @ W_ih.T + self.spec.input_bias(b_ih, b_hh), self.h, self.c,
                              W_hh, b_hh)
        der = step_derivatives(self.spec, step, W_hh)
        A, M_ih, M_hh, U = der.A, der.M_ih, der.M_hh, der.U
        G = self.spec.G
        S = self.state_size
        # direct terms: ds/dW_ih[r, j] = M_ih[:, r] x_j; ds/dW_hh[r, j] = M_hh[:, r] u_{block(r), j}
        B_ih = (M_ih[:, :, :, None] * x_t[:, None, None, :]).reshape(N, S, -1)
        B_hh = (M_hh.reshape(N, S, G, H)[..., None] * U[:, None, :, None, :]).reshape(N, S, -1)
        blocks = [B_ih, B_hh] + ([M_ih, M_hh] if self.bias else [])
        # S_t = A_t @ S_{t-1} + B_t: the O(S^2 P) step
        S_new = np.matmul(A, self.S)
        S_new += np.concatenate(blocks, axis=2)
        self.S = S_new
        self.h = step.h
        if self.cell == "lstm":
            self.c = step.c
        self.t += 1
        return self.h

    def forward(self, x, h0=None, c0=None):
        """Reset and run a whole sequence.

        Not the fast path (use the layer for that): this is for checking and
        for feeding a stream chunk by chunk (call :meth:`step` to continue).

        Parameters
        ----------
        x : array_like, shape (T, N, I)
        h0, c0 : array_like, shape (N, H), optional

        Returns
        -------
        ndarray, shape (T, N, H)

        Raises
        ------
        ValueError
            If ``x`` is not 3-d (or as :meth:`reset`, :meth:`step`).
        """
        x = V.as_float_array("x", x, self.dtype)
        if x.ndim != 3:
            raise ValueError(f"x: expected shape (T, N, I), got {V.fmt_shape(x.shape)}")
        self.reset(x.shape[1], h0, c0)
        return np.stack([self.step(x_t).copy() for x_t in x])

    # --- gradients --------------------------------------------------------------

    def grad(self, dh, dc=None):
        """The gradient of a loss at the current step, summed over the sequences.

        Parameters
        ----------
        dh : array_like, shape (N, H)
            ``dL/dh_t``.
        dc : array_like, shape (N, H), optional
            LSTM only: ``dL/dc_t`` holding ``h_t`` fixed (default 0).

        Returns
        -------
        ndarray, shape (P,)
            ``dL_t/dtheta`` in the flat layout W_ih, W_hh[, b_ih, b_hh] (:meth:`split`).

        Raises
        ------
        RuntimeError
            Before :meth:`reset`.
        ValueError
            For a bad shape, or ``dc`` for a cell without a cell state.
        """
        if self.S is None:
            raise RuntimeError("grad: call reset(N) and step(x_t) first")
        N, H = self.h.shape
        dh = V.as_float_array("dh", dh, self.dtype)
        V.check_shape("dh", dh, (N, H), "(N, H)")
        if self.cell == "lstm":
            dc = np.zeros_like(dh) if dc is None else V.as_float_array("dc", dc, self.dtype)
            V.check_shape("dc", dc, (N, H), "(N, H)")
            ds = np.concatenate([dh, dc], axis=1)
        elif dc is not None:
            raise ValueError(f"dc: only the LSTM has a cell state; this is a {self.cell}")
        else:
            ds = dh
        return np.einsum("ns,nsp->p", ds, self.S)

    def split(self, flat):
        """A flat gradient as named views, as ``fastrnn.functional`` names them.

        Parameters
        ----------
        flat : ndarray, shape (P,)

        Returns
        -------
        dict
            ``dW_ih``, ``dW_hh``, ``db_ih``, ``db_hh`` (views; biases None without bias).
        """
        out, off = {}, 0
        keys = ["dW_ih", "dW_hh", "db_ih", "db_hh"]
        for key, a in zip(keys, self.params):
            out[key] = flat[off:off + a.size].reshape(a.shape)
            off += a.size
        for key in keys[len(self.params):]:
            out[key] = None
        return out

    def accumulate(self, dh, dc=None, out=None):
        """Add ``grad(dh, dc)`` into ``out``, or into the layer's ``grads``.

        Parameters
        ----------
        dh, dc
            As :meth:`grad`.
        out : ndarray, shape (P,), optional
            Default: the layer's gradients (``layer.grads``, by name).

        Returns
        -------
        ndarray, shape (P,)
            ``out``, or the layer's ``grads_flat``.

        Raises
        ------
        ValueError
            Without ``out`` for an RTRL made by :meth:`from_weights`, or for a
            wrong ``out`` shape.
        """
        g = self.grad(dh, dc)
        if out is None:
            if self.layer is None:
                raise ValueError("out: expected a (P,) array (no layer to accumulate into)")
            for kind, part in zip(PARAM_KINDS, self.split(g).values()):
                if part is not None:
                    self.layer.grads[param_name(kind)] += part
            return self.layer.grads_flat
        if out.shape != (self.num_params,):
            raise ValueError(f"out: expected shape ({self.num_params},), got {V.fmt_shape(out.shape)}")
        out += g
        return out

    def apply(self, flat_update, scale=-1.0):
        """``param += scale * update`` in place on the shared arrays (SGD: ``scale=-lr``).

        Parameters
        ----------
        flat_update : ndarray, shape (P,)
        scale : float, default -1.0
        """
        off = 0
        for a in self.params:
            a += (scale * flat_update[off:off + a.size]).reshape(a.shape).astype(a.dtype,
                                                                                 copy=False)
            mark_written(a)           # a layer's parameters changed: bump its param_version
            off += a.size

    def sgd(self, dh, lr, dc=None):
        """One online step: the gradient of the loss at this step, then ``theta -= lr * g``.

        The sensitivities are kept as they are (Williams & Zipser's
        approximation, exact as ``lr -> 0``).

        Parameters
        ----------
        dh : array_like, shape (N, H)
        lr : float
        dc : array_like, shape (N, H), optional

        Returns
        -------
        ndarray, shape (P,)
            The gradient applied.
        """
        g = self.grad(dh, dc)
        self.apply(g, -float(lr))
        return g
