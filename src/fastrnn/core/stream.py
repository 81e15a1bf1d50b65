"""Streams: a layer run one step (or one chunk) at a time, its state kept inside.

RNNs are served one step at a time (speech, sampling a language model, online
control, a decoder). ``layer.stream()`` packs the layer's weights once, into
the layout the C kernels read, and preallocates the state, the outputs and
the workspaces, so a step does no allocation beyond the array it returns and
no Python work beyond checking its argument. The packed weights are made anew
whenever the layer's ``param_version`` changes (an optimizer step,
``load_state_dict``, any NumPy write into ``layer.params``), so they are never
used stale. On the NumPy engine a stream computes the same thing without
packing.
"""

import numpy as np

from . import functional as F
from . import masks as M
from . import validation as V
from .backend import get_backend, get_engine

__all__ = ["Stream"]


class Stream:
    """A layer's forward, step by step or chunk by chunk, with the state kept inside.

    Made by ``layer.stream(batch_size=1, state=None)`` on ``SRN``, ``LSTM`` and
    ``GRU`` (every option: stacked, both GRU forms, residual SRN, float32 and
    float64, the LSTM's ``proj_size``: h and each step's output then have
    ``proj_size`` features). ``step`` and ``run`` continue from the kept state, so feeding a
    sequence in any pieces gives what one ``layer.forward`` of the whole
    sequence gives (the same bits on the C engine, whose steps run the same
    kernels).

    Parameters
    ----------
    layer : fastrnn.SRN, fastrnn.LSTM or fastrnn.GRU
    batch_size : int, default 1
        N, the number of sequences streamed side by side.
    state : array or tuple of two arrays, optional
        The initial state in the layer's form, ``(num_layers*num_directions, N,
        hidden_size)`` (the LSTM's a tuple ``(h, c)``); None means zeros.

    Attributes
    ----------
    layer : the layer
    batch_size : int
    packed_nbytes : int
        Bytes of packed weights a step reads (0 on the NumPy engine).

    Raises
    ------
    TypeError, ValueError
        For a bad ``batch_size`` or ``state``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(3, 5, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    >>> s = lstm.stream(batch_size=2)
    >>> ys = [s.step(x_t) for x_t in x]          # (2, 5) each
    >>> y, (h, c) = lstm.forward(x, train=False)
    >>> bool(np.array_equal(np.stack(ys), y)) and bool(np.array_equal(s.state[0], h))
    True
    """

    def __init__(self, layer, batch_size=1, state=None):
        self.layer = layer
        self.batch_size = V.check_positive_int("batch_size", batch_size)
        self._stepper = None
        self._stepper_key = None
        self.reset(state)

    # --- the state -----------------------------------------------------------------

    @property
    def state(self):
        """A copy of the kept state, in the layer's form: ``h`` (L*D, N, H), or ``(h, c)``."""
        if self._c is None:
            return self._h.copy()
        return self._h.copy(), self._c.copy()

    def reset(self, state=None):
        """Start over from ``state`` (the layer's form; None means zeros).

        Parameters
        ----------
        state : array or tuple of two arrays, optional
            ``(num_layers*num_directions, batch_size, hidden_size)`` each.

        Raises
        ------
        TypeError, ValueError
            For a state of another type or shape.
        """
        layer, N = self.layer, self.batch_size
        per_array = layer._split_state("state", state, N)
        # private, C-contiguous copies: steps update them in place
        self._h = np.ascontiguousarray(np.stack(per_array[0]))
        self._c = np.ascontiguousarray(np.stack(per_array[1])) if len(per_array) > 1 else None
        self._stepper = None  # it holds the old arrays

    # --- stepping ------------------------------------------------------------------

    @property
    def packed_nbytes(self):
        """Bytes of packed weights a step reads (0 on the NumPy engine, which packs none)."""
        if get_backend() != "c":
            return 0
        return int(sum(p.nbytes for p in packed_weights(self.layer)))

    def _current_stepper(self):
        """The C engine's stepper over the current packed weights, made anew when the
        parameters (or the instruction set) changed."""
        packs = packed_weights(self.layer)  # refreshed by param_version and ISA
        key = id(packs)
        if self._stepper is None or self._stepper_key != key:
            from . import _ext
            layer = self.layer
            sizes = [layer.input_size] + [layer._h_size] * (layer.num_layers - 1)
            spec = layer._spec()
            # zoneout: the expectation, as forward(train=False) uses it
            zone = M.expectation(layer._cell, 1, self.batch_size, layer.hidden_size, layer.dtype,
                                 *layer._zone, proj_size=layer.proj_size) or M.Masks()
            self._stepper = _ext.Stepper(layer._cell, packs, sizes, self._h, self._c,
                                         spec.nonlinearity, spec.residual, spec.reset_after,
                                         layer.proj_size, zone.zone_h, zone.zone_c)
            self._stepper_key = key
        return self._stepper

    def step(self, x_t):
        """One step: ``x_t`` (N, input_size) -> the top layer's output (N, hidden_size or proj_size).

        Parameters
        ----------
        x_t : array_like, shape (N, input_size)
            Real floats (cast to the layer's dtype).

        Returns
        -------
        ndarray, shape (N, hidden_size), or (N, proj_size) with a projection
            A new array; the state moves on one step.

        Raises
        ------
        ValueError
            For a bidirectional layer (its reverse direction needs the whole
            sequence: use ``run``), or ``x_t`` of another shape.
        TypeError
            For a non-float ``x_t``.
        """
        layer = self.layer
        if layer.bidirectional:
            raise ValueError(f"{type(layer).__name__}.stream().step: a bidirectional layer "
                             "cannot step (its reverse direction needs the whole sequence); "
                             "use run(x) on whole sequences")
        if not (isinstance(x_t, np.ndarray) and x_t.dtype == layer.dtype
                and x_t.flags.c_contiguous):
            x_t = V.as_float_array("x_t", x_t, layer.dtype)
        if x_t.shape != (self.batch_size, layer.input_size):
            raise ValueError(f"x_t: expected shape (N, input_size) = "
                             f"{V.fmt_shape((self.batch_size, layer.input_size))}, "
                             f"got {V.fmt_shape(x_t.shape)}")
        if get_backend() == "c":
            return self._current_stepper().step(x_t)
        return self._forward_numpy(x_t[None])[0]

    def _forward_numpy(self, x):
        """The stream's layers on the NumPy engine over x (T, N, I), from the kept state."""
        layer, engine, spec = self.layer, get_engine("numpy"), self.layer._spec()
        for k in range(layer.num_layers):
            states = [self._h[k]] + ([self._c[k]] if self._c is not None else [])
            masks = M.layer_masks(layer, False, x.shape[0], x.shape[1], x.shape[2])[0]
            x, finals, _ = F.engine_forward(engine, spec, x, states, layer._weights(k, 0), None,
                                            False, False, masks=masks)
            self._h[k] = finals[0]
            if self._c is not None:
                self._c[k] = finals[1]
        return x

    def run(self, x):
        """A chunk of steps: ``x`` (T, N, input_size) (or (N, T, ...) with ``batch_first``).

        Continues from the kept state and keeps the state after the chunk's last
        step. A bidirectional layer treats the chunk as one whole sequence (its
        reverse direction starts at the chunk's end).

        Parameters
        ----------
        x : array_like, shape (T, N, input_size), or (N, T, input_size) with ``batch_first``

        Returns
        -------
        ndarray, shape (T, N, D*hidden_size), or (N, T, ...) with ``batch_first``

        Raises
        ------
        TypeError, ValueError
            For ``x`` of another dtype kind or shape (N must be ``batch_size``).
        """
        layer = self.layer
        N = layer._to_time_major("x", x, layer.input_size).shape[1]
        if N != self.batch_size:
            raise ValueError(f"x: expected N = batch_size = {self.batch_size} sequences, "
                             f"got {N}")
        y, state = layer.forward(x, state=self.state, train=False)
        if self._c is None:
            self._h[...] = state
        else:
            self._h[...], self._c[...] = state
        return y

    def __repr__(self):
        return (f"Stream({type(self.layer).__name__}, batch_size={self.batch_size}, "
                f"hidden_size={self.layer.hidden_size})")


def packed_weights(layer):
    """The C engine's packed forward weights of every (layer, direction) of ``layer``.

    Made once and kept on the layer while its ``param_version`` and the
    kernels' instruction set are unchanged (any write into the parameters
    bumps the version, so they are never used stale). Inference forwards and
    streams read them; training packs its weights per call, as they change
    every step.

    Parameters
    ----------
    layer : SRN, LSTM or GRU

    Returns
    -------
    list of numpy.ndarray
        One buffer per (layer, direction), index ``layer*D + direction``.
    """
    from . import c_engine
    key = (layer.param_version, c_engine.isa())
    cached = getattr(layer, "_packed", None)
    if cached is None or cached[0] != key:
        packs = [c_engine.pack(layer._cell, *layer._weights(k, d))
                 for k in range(layer.num_layers) for d in range(layer.num_directions)]
        layer._packed = cached = (key, packs)
    return cached[1]
