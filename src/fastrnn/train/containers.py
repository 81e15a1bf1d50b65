"""The container base ``Model`` and the chain ``Sequential``.

* ``Model``: modules assigned as attributes (anything with ``params``/``grads``
  mappings and ``zero_grad``: layers, ``Linear``, ``Embedding``, other models)
  are registered in order; ``params`` and ``grads`` aggregate theirs under
  prefixed names (``"rnn.weight_ih_l0"``), live views, so one optimizer and
  one ``clip_grad_norm`` see the whole model.
* ``Sequential(*modules)``: runs modules in a chain; names ``"0.weight"``, ...

Users reach both as ``fastrnn.Model``/``fastrnn.Sequential`` (and
``fastrnn.models``); the sequence-model patterns built on ``Model`` are in
``fastrnn.train.models``.
"""

from collections.abc import Mapping

from ..core.module import Module, PrefixedViews, coerce_parameter
from .registry import build, describe, register

__all__ = ["Model", "Sequential"]


def _is_module(value):
    return (isinstance(getattr(value, "params", None), Mapping)
            and isinstance(getattr(value, "grads", None), Mapping)
            and callable(getattr(value, "zero_grad", None))
            and not isinstance(value, type))


def _is_recurrent(module):
    """True for modules whose forward is ``(x, state, lengths, train) -> (y, state)``."""
    flag = getattr(type(module), "recurrent", None)
    if flag is not None:
        return bool(flag)
    return hasattr(module, "hidden_size") and hasattr(module, "num_directions")


class Model:
    """Container base: registers modules assigned as attributes and aggregates their parameters.

    Subclass it, call ``super().__init__()`` first, assign modules as
    attributes (or ``add_module``), and write ``forward``/``backward``.
    Attributes whose names start with ``_`` are never registered.

    Attributes
    ----------
    params, grads : PrefixedViews
        Mappings of the modules' live views named ``"<attribute>.<name>"``, in
        registration order; ``params[k] = value`` copies in (checked and cast).
    param_version : int
        The sum of the modules' ``param_version`` (read-only).
    num_parameters : int
        The number of scalar parameters of all modules.
    dtype : numpy.dtype or None
        The parameters' dtype, None when the modules differ.

    Raises
    ------
    AttributeError
        Assigning an attribute before ``Model.__init__()`` ran.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> class LastStep(fastrnn.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = fastrnn.GRU(3, 8, seed=0)          # registered as "rnn"
    ...         self.head = fastrnn.Linear(8, 1, seed=1)
    ...     def forward(self, x, train=True):
    ...         y, _ = self.rnn.forward(x, train=train)
    ...         self._y_shape = y.shape                       # "_": not registered
    ...         return self.head.forward(y[-1], train=train)  # (N, 1) from the last step
    ...     def backward(self, dout):
    ...         dy = np.zeros(self._y_shape, dtype=np.float32)
    ...         dy[-1] = self.head.backward(dout)
    ...         dx, _ = self.rnn.backward(dy)
    ...         return dx
    >>> model = LastStep()
    >>> out = model.forward(np.ones((5, 2, 3), dtype=np.float32))
    >>> out.shape, model.backward(np.ones_like(out)).shape
    ((2, 1), (5, 2, 3))
    >>> list(model.params)[:2], model.num_parameters
    (['rnn.weight_ih_l0', 'rnn.weight_hh_l0'], 321)
    """

    recurrent = False

    def __init__(self):
        object.__setattr__(self, "_modules", {})

    def __setattr__(self, name, value):
        modules = self.__dict__.get("_modules")
        if modules is None:
            raise AttributeError(f"{type(self).__name__}: call Model.__init__() before "
                                 f"assigning attributes (assigning {name!r})")
        if not name.startswith("_") and _is_module(value) and value is not self:
            modules[name] = value
        elif name in modules:
            del modules[name]
        object.__setattr__(self, name, value)

    def add_module(self, name, module):
        """Register ``module`` under ``name`` (an attribute too when ``name`` is an identifier).

        Parameters
        ----------
        name : str
            Non-empty, without ".": the prefix of its parameters' names.
        module : layer or model
            Anything with ``params``/``grads`` mappings and ``zero_grad``.

        Returns
        -------
        module
            ``module`` itself.

        Raises
        ------
        ValueError
            For an empty name or one with ".".
        TypeError
            For an object that is not a module.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"name: expected a non-empty string without '.', got {name!r}")
        if not _is_module(module):
            raise TypeError(f"module: expected an object with params/grads dicts and zero_grad, "
                            f"got {type(module).__name__}")
        self._modules[name] = module
        if name.isidentifier():
            object.__setattr__(self, name, module)
        return module

    def named_modules(self):
        """The registered modules.

        Returns
        -------
        list of (str, module)
            In registration order.
        """
        return list(self._modules.items())

    @property
    def params(self):
        """All parameters, ``{"<module>.<name>": live view}`` (a ``PrefixedViews``).

        ``params[k] = value`` copies into the module's view, checked and cast
        as in ``load_state_dict``, and bumps that module's ``param_version``.
        """
        return PrefixedViews(self._modules, "params")

    @property
    def grads(self):
        """All gradients, with the keys of ``params``."""
        return PrefixedViews(self._modules, "grads")

    @property
    def dtype(self):
        """The parameters' dtype (float32 or float64), None when the modules differ."""
        dtypes = {p.dtype for p in self.params.values()}
        return dtypes.pop() if len(dtypes) == 1 else None

    @property
    def num_parameters(self):
        """The number of scalar parameters of all registered modules."""
        return int(sum(p.size for p in self.params.values()))

    @property
    def param_version(self):
        """An int that grows whenever a parameter of any module changes (read-only).

        The sum of the modules' ``param_version`` (each only grows, so the sum
        is unchanged exactly when none changed). Copies count on their own.
        """
        return sum(m.param_version for m in self._modules.values())

    def mark_params_changed(self):
        """Declare that parameters changed: call after writing into parameter memory any other way.

        Calls every module's ``mark_params_changed`` (an in-place write into a
        view, ``model.params["rnn.weight_hh_l0"][0, 0] = 1.0``, is not seen).
        """
        for mod in self._modules.values():
            mod.mark_params_changed()

    def zero_grad(self):
        """Zero every gradient (``backward`` accumulates)."""
        for mod in self._modules.values():
            mod.zero_grad()

    def state_dict(self):
        """Copies of all parameters under the names of ``params``.

        Returns
        -------
        dict
            ``{"<module>.<name>": numpy.ndarray}``, copies.
        """
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from array-likes (torch tensors too), cast to each module's dtype.

        Parameters
        ----------
        state_dict : mapping
            ``{"<module>.<name>": array-like}`` with exactly the names of ``params``.

        Raises
        ------
        KeyError, ValueError, TypeError
            A missing or unexpected name, a wrong shape, a non-float array;
            everything is checked before anything is written.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        params = self.params
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if missing or unexpected:
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        parts = {m: {} for m in self._modules}
        for key, p in params.items():
            m, k = key.split(".", 1)
            parts[m][k] = coerce_parameter(f"state_dict[{key!r}]", state_dict[key], p.shape,
                                           p.dtype)
        for m, mod in self._modules.items():
            mod.load_state_dict(parts[m])

    __getstate__ = Module.__getstate__      # copies and pickles carry no forward cache

    def forward(self, *args, **kwargs):
        """The model's computation; subclasses define it.

        Parameters
        ----------
        *args, **kwargs
            As the subclass defines.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def backward(self, *args, **kwargs):
        """The gradient of the latest forward; subclasses define it.

        Parameters
        ----------
        *args, **kwargs
            As the subclass defines (usually the output gradient).

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """``forward(*args, **kwargs)``."""
        return self.forward(*args, **kwargs)

    def __repr__(self):
        body = "\n".join(f"  ({name}): " + repr(mod).replace("\n", "\n  ")
                         for name, mod in self._modules.items())
        return f"{type(self).__name__}(\n{body}\n)"


@register
class Sequential(Model):
    """Modules run in a chain: ``Sequential(Embedding(V, E), LSTM(E, H), Linear(H, V))``.

    Each module's output is the next one's input; recurrent modules (layers, or
    nested ``Sequential``) also take and return a state. Parameter names are
    ``"<index>.<name>"`` (``"1.weight_ih_l0"``). A ``Sequential`` is itself
    recurrent, so it nests; ``len(seq)`` and ``seq[i]`` give its modules.

    Parameters
    ----------
    *modules : layers or models
        At least one. An ``Embedding`` can only come first.

    Raises
    ------
    ValueError
        For no module.
    TypeError
        For an argument that is not a module.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> model = fastrnn.Sequential(fastrnn.Embedding(10, 4, seed=0),
    ...                            fastrnn.LSTM(4, 8, seed=1), fastrnn.Linear(8, 10, seed=2))
    >>> ids = np.arange(12).reshape(6, 2) % 10                  # (T, N) token ids
    >>> logits, states = model.forward(ids)
    >>> logits.shape, len(states), states[0][0].shape           # one (h, c) for the LSTM
    ((6, 2, 10), 1, (1, 2, 8))
    >>> loss, dlogits = fastrnn.softmax_cross_entropy(logits, ids)
    >>> dx, dstates0 = model.backward(dlogits)                  # no gradient for token ids
    >>> dx is None, dstates0[0][0].shape
    (True, (1, 2, 8))
    """

    recurrent = True

    def __init__(self, *modules):
        super().__init__()
        if not modules:
            raise ValueError("Sequential: expected at least one module, got none")
        for i, m in enumerate(modules):
            if not _is_module(m):
                raise TypeError(f"Sequential: module {i}: expected a layer or model, "
                                f"got {type(m).__name__}")
            self.add_module(str(i), m)
        object.__setattr__(self, "layers", list(modules))
        self._n_rec = sum(1 for m in modules if _is_recurrent(m))

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def _states(self, name, state):
        if state is None:
            return [None] * self._n_rec
        if not isinstance(state, (list, tuple)) or len(state) != self._n_rec:
            got = type(state).__name__
            if isinstance(state, (list, tuple)):
                got += f" of length {len(state)}"
            raise ValueError(f"{name}: expected a list of {self._n_rec} states (one per "
                             f"recurrent module, each as that module takes it) or None, got {got}")
        return list(state)

    def forward(self, x, state=None, lengths=None, train=True):
        """Run the modules in order.

        Parameters
        ----------
        x : array-like
            The first module's input, e.g. (T, N, input_size) floats or (T, N)
            token ids ((N, T, ...) for batch-first layers).
        state : list or None, default None
            One initial state per recurrent module, in order, each as that module
            takes it (None entries, or None for all: zeros).
        lengths : array-like of int, shape (N,), optional
            Passed to every recurrent module.
        train : bool, default True
            Keep what ``backward`` needs.

        Returns
        -------
        y : numpy.ndarray
            The last module's output.
        states : list
            The final state of each recurrent module, in order.

        Raises
        ------
        ValueError
            For a ``state`` that is not a list of one entry per recurrent module.
        TypeError, ValueError
            Whatever a module raises for its input.
        """
        states = self._states("state", state)
        finals, j, h = [], 0, x
        for m in self.layers:
            if _is_recurrent(m):
                h, s = m.forward(h, state=states[j], lengths=lengths, train=train)
                finals.append(s)
                j += 1
            else:
                h = m.forward(h, train=train)
        return h, finals

    def backward(self, dy, dstate=None):
        """Differentiate the latest ``forward(..., train=True)``, last module first.

        Parameter gradients are added into ``grads``.

        Parameters
        ----------
        dy : numpy.ndarray
            The gradient of the loss with respect to ``y`` (its shape).
        dstate : list or None, default None
            The gradients with respect to the final states, one per recurrent
            module (None: zeros).

        Returns
        -------
        dx : numpy.ndarray or None
            The input gradient (None when the first module is an ``Embedding``).
        dstates0 : list
            The gradients with respect to each recurrent module's initial state.

        Raises
        ------
        ValueError
            For a ``dstate`` that is not a list of one entry per recurrent module.
        RuntimeError
            When a module after an ``Embedding`` gets no gradient, or without a
            ``forward(..., train=True)`` before.
        """
        dstates = self._states("dstate", dstate)
        j, dh, d0 = self._n_rec, dy, [None] * self._n_rec
        for i in range(len(self.layers) - 1, -1, -1):
            m = self.layers[i]
            if _is_recurrent(m):
                j -= 1
                dh, d0[j] = m.backward(dh, dstates[j])
            else:
                if dh is None:
                    raise RuntimeError(f"Sequential.backward: module {i} "
                                       f"({type(m).__name__}) received no output gradient "
                                       "(an Embedding can only come first)")
                dh = m.backward(dh)
        return dh, d0

    def get_config(self):
        """The modules' descriptions, for ``fastrnn.save``.

        Returns
        -------
        dict
            ``{"modules": [describe(module), ...]}``.
        """
        return {"modules": [describe(m) for m in self.layers]}

    @classmethod
    def from_config(cls, config):
        """A new ``Sequential`` (fresh parameters) from ``get_config()``'s result.

        Parameters
        ----------
        config : dict
            ``{"modules": [description, ...]}``.

        Returns
        -------
        Sequential
        """
        return cls(*[build(c) for c in config["modules"]])
