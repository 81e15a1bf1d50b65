"""The optimizers' base class ``Optimizer`` and the argument checks they share.

``Optimizer`` holds the (params, grads) pairs, the set of decayed
parameters and the per-parameter state, and implements ``step``,
``zero_grad``, ``state_dict``/``load_state_dict`` and copying; the update
rules are in ``fastrnn.train.optim`` (``fastrnn.optim``), whose module doc
describes the common interface.
"""

import math
from collections.abc import Mapping

import numpy as np

from ..core.storage import array_from_ref, array_ref, param_storages

__all__ = ["Optimizer"]


# --- argument handling shared by the optimizers and the penalties -----------

def _pair(params, grads, owner):
    """Validated (params dict, grads dict) from two dicts or a model with .params/.grads."""
    if grads is None and not isinstance(params, Mapping):
        p, g = getattr(params, "params", None), getattr(params, "grads", None)
        if isinstance(p, Mapping) and isinstance(g, Mapping):
            params, grads = p, g
    if not isinstance(params, Mapping):
        raise TypeError(f"{owner}: params: expected a dict of arrays (or a layer/model with "
                        f".params and .grads), got {type(params).__name__}")
    if not isinstance(grads, Mapping):
        raise TypeError(f"{owner}: grads: expected a dict of gradient arrays with the keys of "
                        f"params, got {type(grads).__name__}")
    missing = [k for k in params if k not in grads]
    unexpected = [k for k in grads if k not in params]
    if missing or unexpected:
        raise ValueError(f"{owner}: params and grads: expected the same keys, got params keys "
                         f"missing from grads {missing} and grads keys not in params {unexpected}")
    for name in params:
        check_param_and_grad(owner, params[name], grads[name], f"params[{name!r}]",
                             f"grads[{name!r}]")
    return dict(params), dict(grads)


def check_param_and_grad(owner, p, g, p_label, g_label, grad_written=False):
    """One parameter and its gradient, as everything that updates or reduces them needs:
    real floating-point NumPy arrays, the parameter writeable (and the gradient too when
    ``grad_written``), the gradient of the parameter's shape and dtype. Raises TypeError /
    ValueError naming ``owner`` and the labels."""
    for label, a in ((p_label, p), (g_label, g)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{owner}: {label}: expected a NumPy array, got {type(a).__name__}")
        if a.dtype.kind != "f":
            raise TypeError(f"{owner}: {label}: expected a real floating-point array, "
                            f"got dtype {a.dtype}")
    for label, a in ((p_label, p), (g_label, g))[:2 if grad_written else 1]:
        if not a.flags.writeable:
            raise ValueError(f"{owner}: {label}: expected a writeable array (updated in "
                             "place), got a read-only one")
    if g.shape != p.shape or g.dtype != p.dtype:
        raise ValueError(f"{owner}: {g_label}: expected shape {p.shape} and dtype {p.dtype} "
                         f"(those of {p_label}), got shape {g.shape} and dtype {g.dtype}")


def _decay_names(decay, params, owner):
    """The set of parameter names that ``decay`` selects."""
    if decay is None or (isinstance(decay, str) and decay == "all"):
        return set(params)
    if isinstance(decay, str):
        if decay == "weights":
            return {k for k, p in params.items() if p.ndim >= 2}
        raise ValueError(f"{owner}: decay: expected None, 'all', 'weights', a collection of "
                         f"names or a callable, got {decay!r}")
    if callable(decay):
        return {k for k, p in params.items() if decay(k, p)}
    try:
        names = set(decay)
    except TypeError:
        raise TypeError(f"{owner}: decay: expected None, 'all', 'weights', a collection of "
                        f"names or a callable, got {type(decay).__name__}") from None
    unknown = sorted(str(n) for n in names - set(params))
    if unknown:
        raise ValueError(f"{owner}: decay: expected names of parameters, got unknown names "
                         f"{unknown}")
    return names


def _number(owner, name, value, low=0.0, high=None, low_open=False, high_open=True):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{owner}: {name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    ok = not math.isnan(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ValueError(f"{owner}: {name}: expected {lo}{name}{hi}, got {value}")
    return value


class Optimizer:
    """Base class of the optimizers: (params, grads) pairs, decay set, per-parameter state.

    Subclasses define ``_hyper`` (the hyperparameter names), ``_check_hyper()``
    (validates and normalizes them; run at construction and before every
    step), ``_update(name, p, g, state, decays)`` (updates ``p`` in place) and,
    for ``load_state_dict``, ``_buffer_names()``/``_required_buffers()``.

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys,
        shapes and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    decay : None, "all", "weights", collection of names or callable
        Which parameters the decay terms apply to (``fastrnn.optim``'s module doc).
    hyper : dict
        The hyperparameters, set as attributes.

    Attributes
    ----------
    params, grads : dict of numpy.ndarray
        The arrays updated and read (plain dicts of the views given).
    decay : frozenset of str
        The names of the decayed parameters.
    state : dict
        ``{param name: {buffer name: numpy.ndarray}}``, the rule's buffers.
    step_count : int
        The number of ``step()`` calls so far.
    hyperparams : dict
        The hyperparameters by name (each also a plain attribute, ``opt.lr``).

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only arrays),
        ``decay`` or hyperparameters, naming them.
    """

    _hyper = ()

    def __init__(self, params, grads, decay, hyper):
        owner = type(self).__name__
        self.params, self.grads = _pair(params, grads, owner)
        self._arrays = [(k, self.params[k], self.grads[k]) for k in self.params]
        # the memories of the modules whose parameters these are: each step bumps their
        # param_version (found from the arrays, so a plain dict of views works too)
        self._storages = param_storages(self.params.values())
        self.decay = frozenset(_decay_names(decay, self.params, owner))
        for k, v in hyper.items():
            setattr(self, k, v)
        self._check_hyper()
        self.state = {k: {} for k in self.params}
        self.step_count = 0
        self._init_state()

    # subclasses ------------------------------------------------------------
    def _check_hyper(self):
        pass

    def _init_state(self):
        pass

    def _update(self, name, p, g, state, decays):
        raise NotImplementedError

    # public ----------------------------------------------------------------
    @property
    def hyperparams(self):
        """The hyperparameters as a dict (``lr``, ``betas``, ...)."""
        return {k: getattr(self, k) for k in self._hyper}

    def _coupled_grad(self, p, g, decays):
        """The gradient the rule sees: g + weight_decay*p + l1*sign(p) (for decayed params)."""
        wd, l1 = getattr(self, "weight_decay", 0.0), getattr(self, "l1", 0.0)
        if decays and wd != 0:
            g = g + wd * p
        if decays and l1 != 0:
            g = g + l1 * np.sign(p)
        return g

    def step(self):
        """Apply one update to every parameter, in place, and bump the owners' ``param_version``.

        The owners are found from the arrays themselves, so an optimizer over a
        plain dict of views into a layer bumps that layer's version too.

        Raises
        ------
        TypeError, ValueError
            When a hyperparameter attribute was changed to a bad value since the
            last step; nothing is updated.
        """
        self._check_hyper()   # attributes may have been changed since construction
        self.step_count += 1
        for name, p, g in self._arrays:
            self._update(name, p, g, self.state[name], name in self.decay)
        for storage in self._storages:
            storage.version += 1

    def zero_grad(self):
        """Set every gradient array to 0."""
        for _, _, g in self._arrays:
            g[...] = 0

    def state_dict(self):
        """Copies of everything ``load_state_dict`` needs to resume exactly.

        Returns
        -------
        dict
            ``{"optimizer": class name, "hyperparams": {...}, "step_count": int,
            "decay": sorted names, "state": {param name: {buffer name: array}}}``,
            every array a copy.
        """
        return {
            "optimizer": type(self).__name__,
            "hyperparams": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in self.hyperparams.items()},
            "step_count": self.step_count,
            "decay": sorted(self.decay),
            "state": {k: {b: a.copy() for b, a in s.items()} for k, s in self.state.items()},
        }

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``: buffers, hyperparameters, step count and decay set.

        Parameters
        ----------
        state_dict : dict
            As ``state_dict()`` returns it (or ``fastrnn.load(path)`` for a saved
            optimizer); the arrays are copied.

        Raises
        ------
        TypeError
            For a non-dict, or hyperparameters of the wrong type.
        ValueError
            When it is another optimizer class's state, a key is missing, the
            parameter names, buffer names, shapes or dtypes differ, the decay names
            are unknown, ``step_count`` is not an int >= 0, or a hyperparameter is
            out of range. Everything is checked before anything changes.
        """
        owner = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}.load_state_dict: expected a dict, "
                            f"got {type(state_dict).__name__}")
        for key in ("optimizer", "hyperparams", "step_count", "state"):
            if key not in state_dict:
                raise ValueError(f"{owner}.load_state_dict: expected key {key!r}, missing")
        if state_dict["optimizer"] != owner:
            raise ValueError(f"{owner}.load_state_dict: expected the state of a {owner}, "
                             f"got that of a {state_dict['optimizer']}")
        hyper = dict(state_dict["hyperparams"])
        if set(hyper) != set(self._hyper):
            raise ValueError(f"{owner}.load_state_dict: expected hyperparameters "
                             f"{sorted(self._hyper)}, got {sorted(hyper)}")
        state = state_dict["state"]
        missing = [k for k in self.params if k not in state]
        unexpected = [k for k in state if k not in self.params]
        if missing or unexpected:
            raise ValueError(f"{owner}.load_state_dict: parameter names differ: missing "
                             f"{missing}, unexpected {unexpected}")
        new_state = {}
        for name, p in self.params.items():
            bufs = {}
            for b, a in state[name].items():
                if b not in self._buffer_names():
                    raise ValueError(f"{owner}.load_state_dict: state[{name!r}]: unexpected "
                                     f"buffer {b!r} (expected some of {self._buffer_names()})")
                arr = np.asarray(a)
                if arr.shape != p.shape or arr.dtype != p.dtype:
                    raise ValueError(f"{owner}.load_state_dict: state[{name!r}][{b!r}]: expected "
                                     f"shape {p.shape} and dtype {p.dtype}, got shape "
                                     f"{arr.shape} and dtype {arr.dtype}")
                bufs[b] = arr.copy()
            absent = [b for b in self._required_buffers() if b not in bufs]
            if absent:
                raise ValueError(f"{owner}.load_state_dict: state[{name!r}]: expected buffers "
                                 f"{absent}, missing")
            new_state[name] = bufs
        decay = state_dict.get("decay", sorted(self.decay))
        unknown = [k for k in decay if k not in self.params]
        if unknown:
            raise ValueError(f"{owner}.load_state_dict: decay names unknown: {unknown}")
        step_count = state_dict["step_count"]
        if isinstance(step_count, (bool, np.bool_)) or not isinstance(step_count,
                                                                      (int, np.integer)) \
                or step_count < 0:
            raise ValueError(f"{owner}.load_state_dict: step_count: expected an int >= 0, "
                             f"got {step_count!r}")
        old = self.hyperparams
        try:
            for k, v in hyper.items():
                setattr(self, k, tuple(v) if isinstance(v, (list, tuple)) else v)
            self._check_hyper()
        except (TypeError, ValueError):
            for k, v in old.items():
                setattr(self, k, v)
            raise
        self.state = new_state
        self.step_count = int(step_count)
        self.decay = frozenset(decay)

    def _buffer_names(self):
        return ()

    def _required_buffers(self):
        return ()

    # copies ------------------------------------------------------------------
    def __getstate__(self):
        # Views into module memory travel as references to that memory, so that
        # copy.deepcopy((model, opt)) or one pickle of both gives an optimizer that updates
        # the copied model's buffers, not detached copies of the views.
        state = self.__dict__.copy()
        state["params"] = {k: array_ref(a) for k, a in self.params.items()}
        state["grads"] = {k: array_ref(a) for k, a in self.grads.items()}
        del state["_arrays"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.params = {k: array_from_ref(a) for k, a in state["params"].items()}
        self.grads = {k: array_from_ref(a) for k, a in state["grads"].items()}
        self._arrays = [(k, self.params[k], self.grads[k]) for k in self.params]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"{type(self).__name__}({len(self._arrays)} params, {args})"
