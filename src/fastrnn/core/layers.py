"""Multi-layer, optionally bidirectional SRN, LSTM and GRU layers with PyTorch's API.

Argument names, shapes and the ``state_dict`` layout are PyTorch's
(``nn.RNN``, ``nn.LSTM``, ``nn.GRU``), so weights move between the two with no
conversion. ``SRN``, ``LSTM`` and ``GRU`` share one implementation (the
private base ``_RNNBase``: checks, the loop over layers and directions, packed
weights for inference) and the text of their docstrings (the arguments, the
shapes of ``x``, ``y``, ``state`` and ``lengths``, the attributes, the
gradient rule: ``fastrnn.core.docstrings``, which completes each class's
own; ``help(fastrnn.LSTM)`` shows the result). ``param_name`` (``names.py``,
re-exported here) is the one place parameter names are built.
"""

import numpy as np

from . import validation as V
from . import functional as F
from . import masks as M
from .backend import get_engine
from .docstrings import complete_doc
from .module import Module, check_seed
from .names import PARAM_KINDS, param_name  # noqa: F401  (fastrnn.core.layers.param_name)
from .stream import Stream, packed_weights
from ..train import init as _init

class _RNNBase(Module):
    """What ``SRN``, ``LSTM`` and ``GRU`` share (their docstrings say what it does).

    A subclass sets ``_cell`` (a key of ``functional.GATES``) and
    ``_num_states``, and overrides ``_spec`` when its cell has options.
    """

    _cell = None          # "srn", "lstm" or "gru"
    _num_states = 1       # arrays in the state: 1 (h) or 2 (h, c)
    proj_size = 0         # the LSTM's projection P (h has P features), 0: none
    recurrent = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, seed=None, init=None,
                 input_dropout=0.0, recurrent_dropout=0.0, zoneout=0.0):
        self.input_size = V.check_positive_int("input_size", input_size)
        self.hidden_size = V.check_positive_int("hidden_size", hidden_size)
        self.num_layers = V.check_positive_int("num_layers", num_layers)
        self.bias = V.check_bool("bias", bias)
        self.batch_first = V.check_bool("batch_first", batch_first)
        self.bidirectional = V.check_bool("bidirectional", bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        # dropout between layers, variational dropout and zoneout (core/masks.py)
        M.check_layer_dropouts(self, dropout, input_dropout, recurrent_dropout, zoneout)
        check_seed(seed)
        self.dropout_rng = M.dropout_generator(seed)
        self._check_sizes(1, 1)  # forward's size limit for one step, before allocating
        self._allocate(self._parameter_shapes(), dtype)
        self.reset_parameters(seed)
        if init is not None:  # named initializers per gate block (fastrnn.init); None = PyTorch's
            _init.initialize(self, init, seed=seed)

    # --- parameters ---------------------------------------------------------

    def _parameter_shapes(self):
        """PyTorch's names and shapes, in PyTorch's order."""
        G, H, Hs, P = F.GATES[self._cell], self.hidden_size, self._h_size, self.proj_size
        shapes = {}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.num_directions * Hs
            for direction in range(self.num_directions):
                names = self._names(layer, direction)
                shapes[names["weight_ih"]] = (G * H, layer_input)
                shapes[names["weight_hh"]] = (G * H, Hs)
                if self.bias:
                    shapes[names["bias_ih"]] = (G * H,)
                    shapes[names["bias_hh"]] = (G * H,)
                if P:
                    shapes[names["weight_hr"]] = (P, H)
        return shapes

    @property
    def _h_size(self):
        """The features of h (and of each direction's output): ``proj_size`` or H."""
        return self.proj_size or self.hidden_size

    def _names(self, layer, direction):
        """``{kind: name}`` of the parameters of one (layer, direction)."""
        return {kind: param_name(kind, layer, direction) for kind in PARAM_KINDS}

    def reset_parameters(self, seed=None):
        """Draw every parameter anew with PyTorch's default initialization.

        Every parameter (biases included) uniform in (-1/sqrt(H), 1/sqrt(H)),
        H = ``hidden_size``; the constructor's ``init`` is not applied again
        (``fastrnn.init.initialize(layer, init, seed)`` does that). Bumps
        ``param_version``; a layer built inside ``shapes_only()`` is left as
        it is.

        Parameters
        ----------
        seed : None, int, sequence of ints, numpy.random.Generator or BitGenerator, optional
            Anything ``numpy.random.default_rng`` takes (ints >= 0, a
            SeedSequence too); the same seed gives the same parameters. None
            draws fresh entropy.

        Raises
        ------
        TypeError
            For a seed of another type (a float, a string, ...); nothing is
            changed.
        ValueError
            For a negative int seed; nothing is changed.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> gru = fastrnn.GRU(2, 3, seed=0)
        >>> before = gru.params_flat.copy()
        >>> gru.reset_parameters(seed=0)
        >>> bool(np.array_equal(gru.params_flat, before))
        True
        """
        k = 1.0 / np.sqrt(self.hidden_size)
        rng = np.random.default_rng(seed)
        self.params_flat[...] = rng.uniform(-k, k, size=self.params_flat.size)

    # --- forward and backward -------------------------------------------------

    def _spec(self):
        """The ``functional.Cell`` every (layer, direction) of this layer computes."""
        return F.Cell.of(self._cell)

    def _check_state(self, name, state, N, width=None):
        """One checked (N, W) array per (layer, direction); zeros for None. ``width``: None
        for W = hidden_size (c, or h without a projection), or ``(W, its name)``."""
        count = self.num_layers * self.num_directions
        width, what = (self.hidden_size, "hidden_size") if width is None else width
        if state is None:
            return [np.zeros((N, width), dtype=self.dtype)] * count
        arr = V.as_float_array(name, state, self.dtype)
        V.check_shape(name, arr, (count, N, width), f"(num_layers*num_directions, N, {what})")
        return list(arr)

    def _split_state(self, name, state, N):
        """The state argument as a list (one per array) of per-(layer, direction) lists."""
        if self._num_states == 1:
            if isinstance(state, (tuple, list)):
                raise TypeError(f"{name}: expected an array h, got a {type(state).__name__}")
            return [self._check_state(name, state, N)]
        if state is None:
            state = (None, None)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{name}: expected a tuple (h, c), got {type(state).__name__}")
        h_width = (self.proj_size, "proj_size") if self.proj_size else None
        return [self._check_state(f"{name}[{k}]", s, N, h_width if k == 0 else None)
                for k, s in enumerate(state)]

    def _to_time_major(self, name, a, last):
        arr = V.as_array(name, a)
        if arr.dtype.kind != "f":
            raise TypeError(f"{name}: expected a real floating-point array, got dtype {arr.dtype}")
        layout = "(N, T, {})" if self.batch_first else "(T, N, {})"
        if arr.ndim != 3 or arr.shape[2] != last or min(arr.shape) < 1:
            raise ValueError(f"{name}: expected shape {layout.format(last)} with T, N >= 1, "
                             f"got {V.fmt_shape(arr.shape)}")
        return arr.swapaxes(0, 1) if self.batch_first else arr

    def _from_time_major(self, a):
        return np.ascontiguousarray(a.swapaxes(0, 1)) if self.batch_first else a

    def _pack_state(self, per_array):
        stacked = [np.stack(s) for s in per_array]
        return stacked[0] if self._num_states == 1 else tuple(stacked)

    def _check_sizes(self, T, N):
        """The size limits, for the input of the first layer and of the layers above."""
        G, H, D = F.GATES[self._cell], self.hidden_size, self.num_directions
        V.check_sizes(T, N, self.input_size, H, G, "input_size")
        if self.num_layers > 1:
            V.check_sizes(T, N, D * self._h_size, H, G, "num_directions*hidden_size")

    def forward(self, x, state=None, lengths=None, train=True):
        """Run the layer over whole sequences: ``(y, state)``.

        Every argument is checked once here; each (layer, direction) then runs
        on the engine in use (``fastrnn.get_backend()``) directly, the two
        directions of a bidirectional layer concurrently on the C engine.
        ``layer(x, ...)`` is the same call. Shapes: T steps, N sequences,
        L = ``num_layers``, D = ``num_directions``, H = ``hidden_size``.

        Parameters
        ----------
        x : array-like of float, shape (T, N, input_size), or (N, T, input_size) with batch_first
            Real floats of any precision, cast to the layer's dtype; T, N >= 1.
            With ``lengths``, the steps past a sequence's end are never read
            (they may hold anything, NaN included).
        state : array-like of float, or tuple (h, c) of two for the LSTM, optional
            The initial state, (L*D, N, H) each (index ``layer*D +
            direction``), whatever ``batch_first`` is. None means zeros.
        lengths : array-like of int, shape (N,), optional
            Sequence n uses steps [0, lengths[n]), ``1 <= lengths[n] <= T``
            (PyTorch's ``pack_padded_sequence(..., enforce_sorted=False)``).
            None: every sequence uses all T steps.
        train : bool, default True
            A training forward: keep what ``backward`` needs (private copies
            of ``x`` and ``lengths``, every step's states and gates,
            O(T*N*G*H) per layer and direction, the dropout masks), replacing
            the previous training forward's, and drop (``dropout``) between
            layers. False is inference: nothing is dropped, and the latest
            training forward's cache is left as it was (a ``predict`` between
            a training forward and its ``backward`` changes nothing); on the
            C engine it reads weights packed once and reused while
            ``param_version`` is unchanged.

        Returns
        -------
        y : numpy.ndarray, shape (T, N, D*H), or (N, T, D*H) with batch_first
            The top layer's output at every step, the forward direction's H
            features first; exactly 0 past each sequence's end.
        state : numpy.ndarray of shape (L*D, N, H), or tuple (h, c) of two for the LSTM
            The final state: for the forward direction the state after each
            sequence's own last step, for the reverse direction the state
            after step 0.

        Raises
        ------
        TypeError
            For a non-float ``x`` or ``state`` (integer, bool, complex), a
            state that is not a tuple ``(h, c)`` for the LSTM or is one for
            the other cells, ``lengths`` that are not integers, or a non-bool
            ``train``.
        ValueError
            For ``x`` of another shape or with T or N = 0, a state of another
            shape, ``lengths`` of another shape or outside [1, T], or sizes
            past the C engine's 32-bit limits (the message gives them).
        """
        train = V.check_bool("train", train)
        x_tm = self._to_time_major("x", x, self.input_size)
        T, N = x_tm.shape[:2]
        self._check_sizes(T, N)
        init = self._split_state("state", state, N)
        lengths = V.check_lengths(lengths, T, N)
        x_tm = V.zero_padding(V.as_float_array("x", x_tm, self.dtype, private=train), lengths)
        cell, engine, D = self._spec(), get_engine(), self.num_directions
        # inference reuses the weights packed once while the parameters are unchanged
        packs = packed_weights(self) if not train and engine.ENGINE_NAME == "c" else None
        layer_input = x_tm
        finals = [[None] * (self.num_layers * D) for _ in range(self._num_states)]
        caches, drops = [], []
        for layer in range(self.num_layers):
            ks = [layer * D + direction for direction in range(D)]
            states = [[s[k] for s in init] for k in ks]
            weights = [self._weights(layer, direction) for direction in range(D)]
            masks = M.layer_masks(self, train, T, N, layer_input.shape[2])
            results = F.engine_forward_layer(engine, cell, layer_input, states, weights,
                                             lengths, train, packs and packs[ks[0]:ks[-1] + 1],
                                             masks)
            for k, (y, final, cache) in zip(ks, results):
                for j in range(self._num_states):
                    finals[j][k] = final[j]
                caches.append(cache)
            layer_input = (results[0][0] if D == 1
                           else np.concatenate([y for y, _, _ in results], axis=2))
            if train and self.dropout > 0 and layer < self.num_layers - 1:
                drops.append(M.dropout_mask(self.dropout_rng, self.dropout, layer_input.shape,
                                            self.dtype))
                layer_input = layer_input * drops[-1]
        if train:  # an inference forward leaves the latest training forward's cache alone
            self._cache = (cell, engine, caches, drops, T, N)
        return self._from_time_major(layer_input), self._pack_state(finals)

    def backward(self, dy, dstate=None):
        """Backpropagation through time through the latest ``forward``: ``(dx, dstate0)``.

        Differentiates the latest ``forward(..., train=True)`` exactly, with
        the dropout masks that forward drew; inference forwards since then
        do not matter, but a training forward in between replaces the one
        differentiated (so a model's gradients are only right if nothing
        ran it with ``train=True`` after the loss's forward). The
        parameter gradients are ADDED into ``grads`` (``grads_flat``): calls
        accumulate until ``zero_grad()``, like PyTorch's ``.grad``; ``dx``
        and ``dstate0`` are fresh arrays. The same forward may be
        differentiated again (its gradients are added again). The weights are
        read as they are at this call: changing them in place after the
        forward changes the gradient.

        Parameters
        ----------
        dy : array-like of float shaped like ``y``, or None
            dL/dy: (T, N, D*H), or (N, T, D*H) with ``batch_first``. None
            means zeros (a loss on the final state only).
        dstate : array-like shaped like the returned state, or None
            dL/d(final state): (L*D, N, H), the LSTM's a tuple ``(dh, dc)``.
            None means zeros.

        Returns
        -------
        dx : numpy.ndarray, shaped like ``x``
            dL/dx, of the layer's dtype; 0 past each sequence's end.
        dstate0 : numpy.ndarray of shape (L*D, N, H), or tuple (dh0, dc0) for the LSTM
            dL/d(initial state), also when the forward's state was None.

        Raises
        ------
        RuntimeError
            If there is no forward to differentiate: none yet, or the latest
            one ran with ``train=False``.
        TypeError
            For a non-float ``dy`` or ``dstate``, or a ``dstate`` of the wrong
            kind (a tuple for SRN/GRU, not a tuple for the LSTM).
        ValueError
            For ``dy`` or ``dstate`` of another shape.
        KeyboardInterrupt
            On Ctrl-C during the engine's loop. Whenever the call raises,
            ``grads`` is left as it was before the call.
        """
        dx, dstate0, _ = self._backward(dy, dstate)
        return dx, dstate0

    def _backward(self, dy, dstate, trace=False, accumulate=True):
        """``backward``, optionally with the engine's state-gradient trace.

        ``trace=True`` also returns, per (layer, direction) k = layer*D +
        direction, a dict ``{"dh": (T, N, H)[, "dc": ...]}`` of the total
        gradient reaching each step's state (what the gradient-flow
        diagnostics read); else None. ``accumulate=False`` sends the parameter
        gradients to scratch arrays, leaving ``self.grads`` untouched.
        """
        cell, engine, caches, drops, T, N = self._require_cache()
        H, D = self._h_size, self.num_directions
        if dy is None:
            dy_tm = np.zeros((T, N, D * H), dtype=self.dtype)
        else:
            dy_tm = self._to_time_major("dy", dy, D * H)
            if dy_tm.shape[:2] != (T, N):
                expected = (N, T, D * H) if self.batch_first else (T, N, D * H)
                raise ValueError(f"dy: expected the shape of y {V.fmt_shape(expected)}, "
                                 f"got {V.fmt_shape(np.shape(dy))}")
            dy_tm = V.as_float_array("dy", dy_tm, self.dtype)
        final_grads = self._split_state("dstate", dstate, N)
        dstate0 = [[None] * (self.num_layers * D) for _ in range(self._num_states)]
        traces = [None] * (self.num_layers * D) if trace else None
        # what to restore if anything below raises (Ctrl-C included): the passes
        # add into the gradients one after another. One pass of the C engine needs
        # no copy: a C call adds all of its gradients or none (core/_ext.pyx puts
        # them back if Ctrl-C interrupts it; the NumPy engine can be stopped anywhere).
        one_c_pass = self.num_layers == 1 and engine.ENGINE_NAME == "c"
        saved = self.grads_flat.copy() if accumulate and not one_c_pass else None
        try:
            upstream = dy_tm
            for layer in reversed(range(self.num_layers)):
                ks = [layer * D + direction for direction in range(D)]
                dys = [upstream] if D == 1 else [
                    np.ascontiguousarray(upstream[:, :, d * H:(d + 1) * H]) for d in range(D)]
                finals_k = [[s[k] for s in final_grads] for k in ks]
                sinks = [self._grad_sinks(layer, d, accumulate) for d in range(D)]
                if trace:
                    for k in ks:
                        traces[k] = {key: np.empty((T, N, w), self.dtype) for key, w in
                                     (("dh", H), ("dc", self.hidden_size))[:self._num_states]}
                trace_k = [traces[k] if trace else None for k in ks]
                results = F.engine_backward_layer(engine, cell, [caches[k] for k in ks], dys,
                                                  finals_k, sinks, trace_k)
                for k, (_, initial) in zip(ks, results):
                    for j in range(self._num_states):
                        dstate0[j][k] = initial[j]
                upstream = results[0][0] if D == 1 else results[0][0] + results[1][0]
                if layer > 0 and drops:  # through the dropout on the output of layer - 1
                    upstream = upstream * drops[layer - 1]
        except BaseException:
            if saved is not None:
                self.grads_flat[...] = saved
            raise
        return self._from_time_major(upstream), self._pack_state(dstate0), traces

    def stream(self, batch_size=1, state=None):
        """A ``fastrnn.Stream``: this layer's forward one step (or chunk) at a time.

        The weights are packed once (again whenever the parameters change) and
        the state is kept inside the stream.

        Parameters
        ----------
        batch_size : int, default 1
            N, the sequences streamed side by side.
        state : array or tuple of two arrays, optional
            The initial state, ``(num_layers*num_directions, N, hidden_size)``
            (the LSTM's a tuple ``(h, c)``); None means zeros.

        Returns
        -------
        fastrnn.Stream

        Raises
        ------
        TypeError, ValueError
            For a bad ``batch_size`` or ``state``.
        """
        return Stream(self, batch_size, state)

    def _weights(self, layer, direction):
        """(W_ih, W_hh, b_ih, b_hh) of one (layer, direction) as plain arrays (the engines
        only read them); zero biases without bias."""
        names, p = self._names(layer, direction), self.params
        W_ih, W_hh = np.asarray(p[names["weight_ih"]]), np.asarray(p[names["weight_hh"]])
        proj = (np.asarray(p[names["weight_hr"]]),) if self.proj_size else ()  # the LSTM's W_hr
        if self.bias:
            return (W_ih, W_hh, np.asarray(p[names["bias_ih"]]),
                    np.asarray(p[names["bias_hh"]])) + proj
        zeros = np.zeros(F.GATES[self._cell] * self.hidden_size, dtype=self.dtype)
        return (W_ih, W_hh, zeros, zeros) + proj

    def _grad_sinks(self, layer, direction, accumulate=True):
        """The gradient arrays one (layer, direction) adds into: the layer's, or scratch
        (``accumulate=False``, and the biases of a layer without bias)."""
        names, g = self._names(layer, direction), self.grads
        GH = F.GATES[self._cell] * self.hidden_size
        sinks = {"dW_ih": g[names["weight_ih"]], "dW_hh": g[names["weight_hh"]],
                 "db_ih": g[names["bias_ih"]] if self.bias else np.zeros(GH, self.dtype),
                 "db_hh": g[names["bias_hh"]] if self.bias else np.zeros(GH, self.dtype)}
        if self.proj_size:
            sinks["dW_hr"] = g[names["weight_hr"]]
        return sinks if accumulate else {k: np.zeros_like(v) for k, v in sinks.items()}

    def __repr__(self):
        variational = {k: getattr(self, k) for k in ("input_dropout", "recurrent_dropout",
                                                     "zoneout") if getattr(self, k)}
        extra = "".join(f", {k}={v!r}" for k, v in {**self._extra_repr(), **variational}.items())
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, bias={self.bias}, batch_first={self.batch_first}, "
                + (f"dropout={self.dropout}, " if self.dropout else "")
                + f"bidirectional={self.bidirectional}{extra}, dtype={self.dtype.name})")

    def _extra_repr(self):
        return {}


@complete_doc("layer")
class SRN(_RNNBase):
    """Elman simple recurrent network, PyTorch's ``nn.RNN``.

    Each layer and direction computes ``h_t = f(W_ih x_t + b_ih + W_hh
    h_{t-1} + b_hh)``, f = ``nonlinearity``; the output at step t is h_t. One
    gate block: G = 1.

    Parameters
    ----------
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
        f ("sigmoid" is not in PyTorch).
    residual : bool, default False
        The residual recurrence ``h_t = h_{t-1} + f(...)``, with the same
        parameters (not in PyTorch).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> srn = fastrnn.SRN(3, 4, num_layers=2, seed=0)
    >>> x = np.ones((5, 2, 3), dtype=np.float32)            # (T, N, input_size)
    >>> y, h = srn.forward(x, lengths=[5, 3])
    >>> y.shape, h.shape                                    # (T, N, D*H), (L*D, N, H)
    ((5, 2, 4), (2, 2, 4))
    >>> bool((y[3:, 1] == 0).all()), bool(np.array_equal(h[1, 1], y[2, 1]))
    (True, True)
    >>> dx, dh0 = srn.backward(np.ones_like(y))             # adds into srn.grads
    >>> dx.shape, dh0.shape, srn.grads["weight_hh_l1"].shape
    ((5, 2, 3), (2, 2, 4), (4, 4))
    """

    _cell = "srn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
                 seed=None, residual=False, init=None, input_dropout=0.0, recurrent_dropout=0.0):
        if nonlinearity not in F.NONLINEARITIES:
            raise ValueError(f"nonlinearity: expected one of {F.NONLINEARITIES}, "
                             f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.residual = V.check_bool("residual", residual)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init, input_dropout, recurrent_dropout)

    def _spec(self):
        return F.Cell.of("srn", nonlinearity=self.nonlinearity, residual=self.residual)

    def _extra_repr(self):
        return {"nonlinearity": self.nonlinearity, "residual": self.residual}


@complete_doc("layer")
class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's ``nn.LSTM``.

    Each layer and direction computes, from ``z = W_ih x_t + b_ih + W_hh
    h_{t-1} + b_hh`` split into the gate blocks i, f, g, o (PyTorch's order,
    G = 4): ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g = tanh(z_g)``, ``c_t =
    f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``; the output at step t is h_t.
    The state is a tuple ``(h, c)``.

    Parameters
    ----------
    proj_size : int, default 0
        P, PyTorch's projection: with 0 < P < H, ``h_t = W_hr (o*tanh(c_t))``
        with ``weight_hr_l{k}`` (P, H) (no bias, after the four other
        parameters of each layer and direction). Then h, ``y``'s features and
        the input of layer k > 0 have P (D*P) instead of H (D*H) wherever the
        shapes below say H, except ``c`` (L*D, N, H); ``weight_hh_l{k}`` is
        (4*H, P). 0: no projection.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(3, 4, bidirectional=True, batch_first=True, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3))   # (N, T, input_size)
    >>> y, (h, c) = lstm.forward(x)                               # cast to float32
    >>> y.dtype.name, y.shape, h.shape, c.shape
    ('float32', (2, 5, 8), (2, 2, 4), (2, 2, 4))
    >>> bool(np.array_equal(y[:, -1, :4], h[0]))      # forward direction: its last step
    True
    >>> bool(np.array_equal(y[:, 0, 4:], h[1]))       # reverse direction: step 0
    True
    >>> _ = lstm.backward(np.ones_like(y))
    >>> first = lstm.grads_flat.copy()
    >>> _ = lstm.backward(np.ones_like(y))            # the gradients add up
    >>> bool(np.allclose(lstm.grads_flat, 2 * first))
    True
    >>> lstm.zero_grad()
    >>> lstmp = fastrnn.LSTM(3, 4, proj_size=2, seed=0)       # h_t = W_hr (o*tanh(c_t))
    >>> y, (h, c) = lstmp(np.ones((5, 1, 3)), train=False)
    >>> y.shape, h.shape, c.shape, lstmp.params["weight_hr_l0"].shape
    ((5, 1, 2), (1, 1, 2), (1, 1, 4), (2, 4))
    """

    _cell = "lstm"
    _num_states = 2

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float32, seed=None,
                 init=None, input_dropout=0.0, recurrent_dropout=0.0, zoneout=0.0):
        self.proj_size = V.check_proj_size(proj_size, hidden_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init, input_dropout, recurrent_dropout,
                         zoneout)

    def _extra_repr(self):
        return {"proj_size": self.proj_size} if self.proj_size else {}


@complete_doc("layer")
class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's ``nn.GRU``.

    Each layer and direction computes, with the gate blocks r, z, n
    (PyTorch's order, G = 3): ``r, z = sigmoid(W_i{r,z} x_t + b_i{r,z} +
    W_h{r,z} h_{t-1} + b_h{r,z})``, a candidate n, and ``h_t = (1-z)*n +
    z*h_{t-1}``; the output at step t is h_t.

    Parameters
    ----------
    reset_after : bool, default True
        The candidate's form. True (PyTorch, cuDNN): ``n = tanh(W_in x_t +
        b_in + r*(W_hn h_{t-1} + b_hn))``. False (Cho et al. 2014, the
        textbooks): ``n = tanh(W_in x_t + b_in + W_hn (r*h_{t-1}) + b_hn)``.
        Same parameter names and shapes in both forms.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> gru = fastrnn.GRU(3, 4, reset_after=False, bias=False, seed=0)
    >>> list(gru.state_dict()), gru.params["weight_hh_l0"].shape   # (3*H, H): r, z, n
    (['weight_ih_l0', 'weight_hh_l0'], (12, 4))
    >>> x = np.zeros((6, 2, 3), dtype=np.float32)
    >>> y, h = gru(x, train=False)                      # inference: no cache kept
    >>> y.shape, h.shape
    ((6, 2, 4), (1, 2, 4))
    >>> s = gru.stream(batch_size=2)                    # the same, one step at a time
    >>> ys = [s.step(x_t) for x_t in x]
    >>> bool(np.array_equal(np.stack(ys), y))
    True
    """

    _cell = "gru"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=True, dtype=np.float32, seed=None,
                 init=None, input_dropout=0.0, recurrent_dropout=0.0, zoneout=0.0):
        self.reset_after = V.check_bool("reset_after", reset_after)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init, input_dropout, recurrent_dropout,
                         zoneout)

    def _spec(self):
        return F.Cell.of("gru", reset_after=self.reset_after)

    def _extra_repr(self):
        return {"reset_after": self.reset_after}
