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

from .optimizer import Optimizer, _decay_names, _number, _pair
from . import lr_scheduler  # noqa: F401  (fastrnn.optim.lr_scheduler)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "l1_penalty",
           "l2_penalty"]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening and Nesterov (``torch.optim.SGD``).

    The update of each parameter ``p`` with gradient ``g``, at every ``step()``::

        d = g + weight_decay * p + l1 * sign(p)     # decay terms: parameters in opt.decay
        if momentum != 0:
            buf = d if first_step else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p -= lr * d

    State: ``state[name]["momentum_buffer"]`` (``buf``), only with momentum,
    created at the first step.

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys, shapes
        and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    lr : float, default 1e-3
        The learning rate, >= 0.
    momentum : float, default 0.0
        >= 0.
    dampening : float, default 0.0
        Any real number.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening = 0).
    weight_decay : float, default 0.0
        Coupled L2 coefficient, >= 0.
    l1 : float, default 0.0
        L1 coefficient, >= 0.
    decay : None, "all", "weights", collection of names or callable, default None
        Which parameters ``weight_decay`` and ``l1`` apply to (module doc);
        None decays all.

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only), ``decay``
        or hyperparameters (ranges above, NaN never), naming them;
        attributes changed later are checked at the next ``step()``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> params, grads = {"w": np.array([1.0, -2.0])}, {"w": np.array([0.5, 0.5])}
    >>> opt = fastrnn.optim.SGD(params, grads, lr=0.1, momentum=0.9)
    >>> opt.step()                                  # buf = 0.5: w -= 0.05
    >>> opt.step()                                  # buf = 0.9*0.5 + 0.5 = 0.95: w -= 0.095
    >>> np.round(params["w"], 6).tolist()
    [0.855, -2.145]
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

    The update of each parameter ``p`` with gradient ``g`` at step ``t``
    (``step_count``, from 1)::

        g = g + weight_decay * p + l1 * sign(p)     # decay terms: parameters in opt.decay
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        vmax = max(vmax, v)                         # amsgrad only
        p -= lr / (1 - beta1**t) * m / (sqrt(vmax if amsgrad else v) / sqrt(1 - beta2**t) + eps)

    State (created at the first step): ``exp_avg`` (m), ``exp_avg_sq`` (v),
    and with ``amsgrad`` ``max_exp_avg_sq`` (vmax).

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys, shapes
        and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    lr : float, default 1e-3
        The learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        ``(beta1, beta2)``, each in [0, 1).
    eps : float, default 1e-8
        >= 0.
    weight_decay : float, default 0.0
        Coupled L2 coefficient (added to the gradient), >= 0.
    amsgrad : bool, default False
    l1 : float, default 0.0
        L1 coefficient, >= 0.
    decay : None, "all", "weights", collection of names or callable, default None
        Which parameters ``weight_decay`` and ``l1`` apply to (module doc);
        None decays all.

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only), ``decay``
        or hyperparameters (ranges above, NaN never), naming them;
        attributes changed later are checked at the next ``step()``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> layer = fastrnn.Linear(3, 2, dtype=np.float64, seed=0)
    >>> opt = fastrnn.optim.Adam(layer, lr=0.01)
    >>> before = layer.params_flat.copy()
    >>> layer.grads_flat[:] = 1.0
    >>> opt.step()                                  # the first step moves every parameter by ~lr
    >>> bool(np.allclose(before - layer.params_flat, 0.01))
    True
    >>> sorted(opt.state["weight"])
    ['exp_avg', 'exp_avg_sq']
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

    For the parameters in ``opt.decay``, ``p *= 1 - lr * weight_decay`` first;
    then Adam's update (``Adam``) with a gradient that carries no L2 term
    (``l1``, if any, is still added: ``g + l1 * sign(p)``). State as ``Adam``.

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys, shapes
        and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    lr : float, default 1e-3
        The learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        ``(beta1, beta2)``, each in [0, 1).
    eps : float, default 1e-8
        >= 0.
    weight_decay : float, default 1e-2
        Decoupled decay coefficient, >= 0 (PyTorch's default).
    amsgrad : bool, default False
    l1 : float, default 0.0
        L1 coefficient, >= 0.
    decay : None, "all", "weights", collection of names or callable, default None
        Which parameters ``weight_decay`` and ``l1`` apply to (module doc);
        None decays all.

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only), ``decay``
        or hyperparameters (ranges above, NaN never), naming them;
        attributes changed later are checked at the next ``step()``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> model = fastrnn.Linear(3, 2, seed=0)
    >>> opt = fastrnn.optim.AdamW(model, lr=1e-2, weight_decay=1e-2, decay="weights")
    >>> sorted(opt.decay)                           # the bias is not decayed
    ['weight']
    """

    _decoupled = True

    def __init__(self, params, grads=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, l1=0.0, decay=None):
        super().__init__(params, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, l1=l1, decay=decay)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011, ``torch.optim.Adagrad``).

    The update of each parameter ``p`` with gradient ``g`` at step ``t``
    (``step_count``, from 1)::

        g = g + weight_decay * p + l1 * sign(p)     # decay terms: parameters in opt.decay
        clr = lr / (1 + (t - 1) * lr_decay)
        sum += g**2
        p -= clr * g / (sqrt(sum) + eps)

    State: ``sum``, created at construction filled with
    ``initial_accumulator_value``.

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys, shapes
        and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    lr : float, default 1e-2
        The learning rate, >= 0.
    lr_decay : float, default 0.0
        >= 0.
    weight_decay : float, default 0.0
        Coupled L2 coefficient, >= 0.
    initial_accumulator_value : float, default 0.0
        >= 0.
    eps : float, default 1e-10
        >= 0.
    l1 : float, default 0.0
        L1 coefficient, >= 0.
    decay : None, "all", "weights", collection of names or callable, default None
        Which parameters ``weight_decay`` and ``l1`` apply to (module doc);
        None decays all.

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only), ``decay``
        or hyperparameters (ranges above, NaN never), naming them;
        attributes changed later are checked at the next ``step()``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> params, grads = {"w": np.array([1.0, 1.0])}, {"w": np.array([2.0, -0.5])}
    >>> opt = fastrnn.optim.Adagrad(params, grads, lr=0.1)
    >>> opt.step()                                  # p -= lr * g / |g| at the first step
    >>> np.round(params["w"], 6).tolist()
    [0.9, 1.1]
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

    The update of each parameter ``p`` with gradient ``g``::

        g = g + weight_decay * p + l1 * sign(p)     # decay terms: parameters in opt.decay
        sq = alpha * sq + (1 - alpha) * g**2
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = sqrt(sq - ga**2) + eps
        else:
            avg = sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p -= lr * buf
        else:
            p -= lr * g / avg

    State (created at the first step): ``square_avg`` (sq), with ``centered``
    ``grad_avg`` (ga), with momentum ``momentum_buffer`` (buf).

    Parameters
    ----------
    params, grads : dicts of numpy.ndarray, or a layer/model and None
        The parameters (updated in place) and their gradients (same keys, shapes
        and dtypes), or a module whose ``.params`` and ``.grads`` are used.
    lr : float, default 1e-2
        The learning rate, >= 0.
    alpha : float, default 0.99
        The smoothing constant, >= 0.
    eps : float, default 1e-8
        >= 0.
    weight_decay : float, default 0.0
        Coupled L2 coefficient, >= 0.
    momentum : float, default 0.0
        >= 0.
    centered : bool, default False
        Normalize by an estimate of the gradient's variance instead of its
        second moment.
    l1 : float, default 0.0
        L1 coefficient, >= 0.
    decay : None, "all", "weights", collection of names or callable, default None
        Which parameters ``weight_decay`` and ``l1`` apply to (module doc);
        None decays all.

    Raises
    ------
    TypeError, ValueError
        For bad params/grads (other keys, shapes or dtypes; read-only), ``decay``
        or hyperparameters (ranges above, NaN never), naming them;
        attributes changed later are checked at the next ``step()``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> params, grads = {"w": np.array([1.0])}, {"w": np.array([3.0])}
    >>> opt = fastrnn.optim.RMSprop(params, grads, lr=0.01, alpha=0.75)
    >>> opt.step()                                  # sq = 0.25 * 9: p -= 0.01 * 3 / 1.5
    >>> np.round(params["w"], 6).tolist()
    [0.98]
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

    For hand-written losses: ``l2_penalty(model, lam)`` before ``SGD.step()``
    equals ``SGD(..., weight_decay=lam)``.

    Parameters
    ----------
    params : dict of numpy.ndarray, or a layer/model
        As for the optimizers.
    lam : float
        The coefficient, >= 0.
    grads : dict of numpy.ndarray, optional
        Added into in place (None: the module's ``.grads``).
    select : None, "all", "weights", collection of names or callable, default None
        The penalized parameters, like the optimizers' ``decay``.

    Returns
    -------
    float
        ``lam/2 * sum p^2`` over the selected parameters.

    Raises
    ------
    TypeError, ValueError
        As the optimizers for ``params``, ``grads`` and ``select`` (a dict of
        params without ``grads`` is a TypeError); ValueError for ``lam < 0``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> params, grads = {"w": np.array([1.0, -2.0])}, {"w": np.zeros(2)}
    >>> fastrnn.l2_penalty(params, 0.1, grads)
    0.25
    >>> grads["w"].tolist()
    [0.1, -0.2]
    """
    pairs, lam = _penalty_pairs(params, lam, grads, select, "l2_penalty")
    value = 0.0
    for p, g in pairs:
        value += 0.5 * lam * float(np.dot(p.reshape(-1), p.reshape(-1)))
        g += lam * p
    return value


def l1_penalty(params, lam, grads=None, select=None):
    """Add the L1 penalty's (sub)gradient ``lam * sign(p)`` into ``grads``; return ``lam * sum |p|``.

    Equal to ``SGD(..., l1=lam)``.

    Parameters
    ----------
    params : dict of numpy.ndarray, or a layer/model
        As for the optimizers.
    lam : float
        The coefficient, >= 0.
    grads : dict of numpy.ndarray, optional
        Added into in place (None: the module's ``.grads``).
    select : None, "all", "weights", collection of names or callable, default None
        The penalized parameters, like the optimizers' ``decay``.

    Returns
    -------
    float
        ``lam * sum |p|`` over the selected parameters.

    Raises
    ------
    TypeError, ValueError
        As ``l2_penalty``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> params, grads = {"w": np.array([1.0, -2.0, 0.0])}, {"w": np.zeros(3)}
    >>> fastrnn.l1_penalty(params, 0.5, grads)
    1.5
    >>> grads["w"].tolist()
    [0.5, -0.5, 0.0]
    """
    pairs, lam = _penalty_pairs(params, lam, grads, select, "l1_penalty")
    value = 0.0
    for p, g in pairs:
        value += lam * float(np.abs(p).sum())
        g += lam * np.sign(p)
    return value
