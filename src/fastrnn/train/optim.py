"""Optimizers and weight-decay penalties over dicts of NumPy arrays.

Every optimizer takes ``params`` and ``grads``, two dicts with the same keys
(a layer's or model's ``params`` and ``grads``), or a layer/model alone::

    opt = fastrnn.optim.Adam(model.params, model.grads, lr=1e-3)
    opt = fastrnn.optim.Adam(model, lr=1e-3)          # the same

``step()`` updates the parameter arrays IN PLACE (so the layers, whose params
are views into one flat buffer, see the update, and their ``param_version``
grows), ``zero_grad()`` zeroes the
gradient arrays, ``state_dict()`` / ``load_state_dict()`` save and restore
the optimizer's buffers and hyperparameters (``fastrnn.save`` writes them to
disk). Hyperparameters are plain attributes (``opt.lr = 1e-4`` works).

The update rules are exactly ``torch.optim``'s (PyTorch 2.x, single-tensor
path, ``maximize=False``, ``foreach``/``fused`` giving the same numbers):
``weight_decay`` is coupled L2 (``grad += weight_decay * p`` before the rule)
except in ``AdamW``, where it is decoupled (``p *= 1 - lr*weight_decay``).
``l1`` adds ``l1 * sign(p)`` to the gradient (the L1 penalty's subgradient).

Copies: ``copy.deepcopy((model, opt))``, or one pickle of both, gives an
optimizer that updates the copied model (views into module memory travel as
references to it). An optimizer copied or pickled without its model updates
a private copy of the parameters it holds.

Which parameters decay: the ``decay`` argument. ``None`` or ``"all"`` (the
default, as PyTorch) decays every parameter; ``"weights"`` only arrays with
two or more dimensions (so no biases, llm.c's rule); a collection of names
decays exactly those; a callable ``decay(name, array) -> bool`` decides per
parameter. ``weight_decay`` and ``l1`` both follow it.
"""

import math
from collections.abc import Mapping

import numpy as np

from ..core.storage import array_from_ref, array_ref, param_storages

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "l1_penalty",
           "l2_penalty"]


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
        p, g = params[name], grads[name]
        for what, a in (("params", p), ("grads", g)):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{owner}: {what}[{name!r}]: expected a NumPy array, "
                                f"got {type(a).__name__}")
            if a.dtype.kind != "f":
                raise TypeError(f"{owner}: {what}[{name!r}]: expected a real floating-point "
                                f"array, got dtype {a.dtype}")
        if not p.flags.writeable:
            raise ValueError(f"{owner}: params[{name!r}]: expected a writeable array (updated "
                             "in place), got a read-only one")
        if g.shape != p.shape or g.dtype != p.dtype:
            raise ValueError(f"{owner}: grads[{name!r}]: expected shape {p.shape} and dtype "
                             f"{p.dtype} (those of params[{name!r}]), got shape {g.shape} "
                             f"and dtype {g.dtype}")
    return dict(params), dict(grads)


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


# --- optimizers ----------------------------------------------------------------

class Optimizer:
    """Base class: holds the (params, grads) pairs, the decay set, the per-parameter state.

    Subclasses define ``_hyper`` (hyperparameter names), ``_check_hyper()``
    and ``_update(name, p, g, state, decays)``. ``state[name]`` is a dict of
    arrays (the buffers); ``step_count`` counts the ``step()`` calls.
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

        The owners are found from the arrays themselves, so an optimizer over
        a plain dict of views into a layer bumps that layer's version too.
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

        ``{"optimizer": class name, "hyperparams": {...}, "step_count": int,
        "decay": sorted names, "state": {param name: {buffer name: array}}}``.
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
        """Restore a ``state_dict()``; everything is checked before anything changes.

        The optimizer class, the parameter names, and each buffer's shape and
        dtype (those of its parameter) must match (``ValueError`` naming what
        differs); hyperparameters and the decay set are restored too.
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


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov (``torch.optim.SGD``).

    ``d = g + weight_decay*p + l1*sign(p)``; with momentum,
    ``buf = d`` at the first step, then ``buf = momentum*buf + (1-dampening)*d``,
    and ``d = d + momentum*buf`` (Nesterov) or ``d = buf``; ``p -= lr*d``.
    """

    _hyper = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "l1")

    def __init__(self, params, grads=None, lr=1e-3, momentum=0.0, dampening=0.0,
                 nesterov=False, weight_decay=0.0, l1=0.0, decay=None):
        super().__init__(params, grads, decay, dict(
            lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
            weight_decay=weight_decay, l1=l1))

    def _check_hyper(self):
        o = "SGD"
        self.lr = _number(o, "lr", self.lr)
        self.momentum = _number(o, "momentum", self.momentum)
        self.dampening = _number(o, "dampening", self.dampening, low=None)
        self.weight_decay = _number(o, "weight_decay", self.weight_decay)
        self.l1 = _number(o, "l1", self.l1)
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov: expected a bool, got {type(self.nesterov).__name__}")
        self.nesterov = bool(self.nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(f"SGD: nesterov=True: expected momentum > 0 and dampening = 0, "
                             f"got momentum={self.momentum}, dampening={self.dampening}")

    def _buffer_names(self):
        return ("momentum_buffer",)

    def _update(self, name, p, g, state, decays):
        d = self._coupled_grad(p, g, decays)
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, copy=True)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= self.lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with optional AMSGrad (``torch.optim.Adam``).

    ``g += weight_decay*p`` (coupled L2), ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g^2``, ``vmax = max(vmax, v)`` (amsgrad),
    ``p -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps)``.
    """

    _hyper = ("lr", "betas", "eps", "weight_decay", "amsgrad", "l1")
    _decoupled = False

    def __init__(self, params, grads=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False, l1=0.0, decay=None):
        super().__init__(params, grads, decay, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, l1=l1))

    def _check_hyper(self):
        o = type(self).__name__
        self.lr = _number(o, "lr", self.lr)
        self.eps = _number(o, "eps", self.eps)
        self.weight_decay = _number(o, "weight_decay", self.weight_decay)
        self.l1 = _number(o, "l1", self.l1)
        try:
            b1, b2 = self.betas
        except (TypeError, ValueError):
            raise TypeError(f"{o}: betas: expected a pair (beta1, beta2), "
                            f"got {self.betas!r}") from None
        self.betas = (_number(o, "beta1", b1, high=1.0), _number(o, "beta2", b2, high=1.0))
        if not isinstance(self.amsgrad, (bool, np.bool_)):
            raise TypeError(f"{o}: amsgrad: expected a bool, got {type(self.amsgrad).__name__}")
        self.amsgrad = bool(self.amsgrad)

    def _buffer_names(self):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _update(self, name, p, g, state, decays):
        lr, (b1, b2), eps = self.lr, self.betas, self.eps
        if self._decoupled:
            if decays and self.weight_decay != 0:
                p *= 1 - lr * self.weight_decay            # AdamW: decoupled decay
            if decays and self.l1 != 0:
                g = g + self.l1 * np.sign(p)
        else:
            g = self._coupled_grad(p, g, decays)
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
        if self.amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self.step_count
        m += (1 - b1) * (g - m)                 # torch: exp_avg.lerp_(grad, 1 - beta1)
        v *= b2
        v += (1 - b2) * (g * g)                 # exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = math.sqrt(1 - b2 ** t)
        if self.amsgrad:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            denom = np.sqrt(vmax) / bc2_sqrt + eps
        else:
            denom = np.sqrt(v) / bc2_sqrt + eps
        p -= step_size * (m / denom)            # p.addcdiv_(m, denom, value=-step_size)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, ``torch.optim.AdamW``).

    ``p *= 1 - lr*weight_decay`` before Adam's update, whose gradient carries
    no L2 term. ``l1`` (if any) is still added to the gradient.
    """

    _decoupled = True

    def __init__(self, params, grads=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, l1=0.0, decay=None):
        super().__init__(params, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, l1=l1, decay=decay)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011, ``torch.optim.Adagrad``).

    ``g += weight_decay*p``, ``clr = lr / (1 + (t-1)*lr_decay)``,
    ``sum += g^2``, ``p -= clr * g / (sqrt(sum) + eps)``.
    """

    _hyper = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "l1")

    def __init__(self, params, grads=None, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, l1=0.0, decay=None):
        super().__init__(params, grads, decay, dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, l1=l1))

    def _check_hyper(self):
        o = "Adagrad"
        for k in self._hyper:
            setattr(self, k, _number(o, k, getattr(self, k)))

    def _buffer_names(self):
        return ("sum",)

    def _required_buffers(self):
        return ("sum",)

    def _init_state(self):
        for name, p, _ in self._arrays:
            self.state[name]["sum"] = np.full_like(p, self.initial_accumulator_value)

    def _update(self, name, p, g, state, decays):
        g = self._coupled_grad(p, g, decays)
        clr = self.lr / (1 + (self.step_count - 1) * self.lr_decay)
        s = state["sum"]
        s += g * g
        p -= clr * (g / (np.sqrt(s) + self.eps))


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e, ``torch.optim.RMSprop``), optionally centered, with momentum.

    ``g += weight_decay*p``, ``sq = alpha*sq + (1-alpha)*g^2``; centered:
    ``ga = alpha*ga + (1-alpha)*g`` and ``avg = sqrt(sq - ga^2) + eps``, else
    ``avg = sqrt(sq) + eps``; momentum: ``buf = momentum*buf + g/avg``,
    ``p -= lr*buf``; else ``p -= lr*g/avg``.
    """

    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "l1")

    def __init__(self, params, grads=None, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, l1=0.0, decay=None):
        super().__init__(params, grads, decay, dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, l1=l1))

    def _check_hyper(self):
        o = "RMSprop"
        for k in ("lr", "alpha", "eps", "weight_decay", "momentum", "l1"):
            setattr(self, k, _number(o, k, getattr(self, k)))
        if not isinstance(self.centered, (bool, np.bool_)):
            raise TypeError(f"RMSprop: centered: expected a bool, "
                            f"got {type(self.centered).__name__}")
        self.centered = bool(self.centered)

    def _buffer_names(self):
        return ("square_avg", "grad_avg", "momentum_buffer")

    def _update(self, name, p, g, state, decays):
        g = self._coupled_grad(p, g, decays)
        a = self.alpha
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(p)
        sq = state["square_avg"]
        sq *= a
        sq += (1 - a) * (g * g)
        if self.centered:
            ga = state.setdefault("grad_avg", np.zeros_like(p))
            ga += (1 - a) * (g - ga)             # grad_avg.lerp_(grad, 1 - alpha)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += self.eps
        if self.momentum > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(p))
            buf *= self.momentum
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * (g / avg)


# --- penalties for hand-written losses ----------------------------------------

def _penalty_pairs(params, lam, grads, select, owner):
    if grads is None and isinstance(params, Mapping):
        raise TypeError(f"{owner}: grads: expected a dict of gradient arrays with the keys of "
                        "params (or pass a layer/model with .params and .grads), got None")
    params, grads = _pair(params, grads, owner)
    lam = _number(owner, "lam", lam)
    names = _decay_names(select, params, owner)
    return [(params[k], grads[k]) for k in params if k in names], lam


def l2_penalty(params, lam, grads=None, select=None):
    """Add the L2 penalty's gradient ``lam * p`` into ``grads``; return ``lam/2 * sum p^2``.

    ``params``/``grads`` as for the optimizers (two dicts, or a layer/model);
    ``select`` picks the penalized parameters like the optimizers' ``decay``.
    ``l2_penalty(model, lam)`` before ``SGD.step()`` equals
    ``SGD(..., weight_decay=lam)``.
    """
    pairs, lam = _penalty_pairs(params, lam, grads, select, "l2_penalty")
    value = 0.0
    for p, g in pairs:
        value += 0.5 * lam * float(np.dot(p.reshape(-1), p.reshape(-1)))
        g += lam * p
    return value


def l1_penalty(params, lam, grads=None, select=None):
    """Add the L1 penalty's (sub)gradient ``lam * sign(p)`` into ``grads``; return ``lam * sum |p|``.

    Arguments as for ``l2_penalty``; equal to ``SGD(..., l1=lam)``.
    """
    pairs, lam = _penalty_pairs(params, lam, grads, select, "l1_penalty")
    value = 0.0
    for p, g in pairs:
        value += lam * float(np.abs(p).sum())
        g += lam * np.sign(p)
    return value
