"""Learning-rate schedulers with PyTorch's formulas (``fastrnn.optim.lr_scheduler``).

A scheduler wraps one optimizer of ``fastrnn.optim`` and sets its ``lr``
attribute (``OneCycleLR`` also its ``momentum`` or ``betas[0]``)::

    opt = fastrnn.optim.SGD(model, lr=0.1, momentum=0.9)
    sched = fastrnn.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)     # opt.step() per batch
        sched.step()                    # after the optimizer's steps, as in PyTorch

The semantics are ``torch.optim.lr_scheduler``'s (PyTorch 2.x): constructing
a scheduler records ``base_lr`` (the optimizer's lr then; ``max_lr /
div_factor`` for ``OneCycleLR``) and sets the lr of epoch 0, so that
``last_epoch`` is 0; each ``step()`` advances one epoch (one batch for
``OneCycleLR``) and sets that epoch's lr as torch computes it: from the
optimizer's current lr (``StepLR``, ``MultiStepLR``, ``ExponentialLR``,
``CosineAnnealingLR`` are recursive, so a change made to ``opt.lr`` in
between carries on) or from the schedule alone (``OneCycleLR``).
``ReduceLROnPlateau.step(metrics)`` lowers the lr when a metric stops
improving.

Our optimizers have one learning rate (no parameter groups), so
``get_last_lr()`` is a list of one float, as torch's is for one group. Every
value is set through the optimizer's own checks: a value the optimizer
refuses raises there and changes nothing. ``state_dict()`` /
``load_state_dict()`` save and restore the scheduler, not the optimizer (save
and restore both). Not supported: torch's ``last_epoch`` argument (resume with
``load_state_dict``) and the deprecated ``step(epoch)``.
"""

import math

import numpy as np

from ..core import validation as V
from .optimizer import _number
from .scheduler import LRScheduler, _choice, _int

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "OneCycleLR", "ReduceLROnPlateau"]


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs (torch's ``StepLR``).

    At epoch ``e`` (``last_epoch``): ``lr = base_lr * gamma ** (e // step_size)``,
    computed as torch does, recursively (``lr *= gamma`` at each non-zero
    multiple of ``step_size``).

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set.
    step_size : int
        The period, >= 1.
    gamma : float, default 0.1
        The factor, >= 0.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or bad hyperparameters, naming them.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
    >>> sched = fastrnn.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = [opt.lr]
    >>> for _ in range(5):
    ...     sched.step(); lrs.append(opt.lr)
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, dict(step_size=step_size, gamma=gamma))

    def _check(self):
        self.step_size = _int("StepLR", "step_size", self.step_size, 1)
        self.gamma = _number("StepLR", "gamma", self.gamma)

    def _values(self, epoch):
        lr = self.optimizer.lr
        if epoch == 0 or epoch % self.step_size != 0:
            return {"lr": lr}
        return {"lr": lr * self.gamma}


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (torch's ``MultiStepLR``).

    At epoch ``e``: ``lr = base_lr * gamma ** (number of milestones <= e)``,
    computed recursively as torch does (a milestone given twice applies
    ``gamma`` twice; a milestone 0 applies at construction, as in torch).

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set.
    milestones : iterable of int
        The epochs, each >= 0, in any order (kept sorted).
    gamma : float, default 0.1
        The factor, >= 0.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or bad hyperparameters, naming them.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
    >>> sched = fastrnn.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    >>> lrs = [opt.lr]
    >>> for _ in range(4):
    ...     sched.step(); lrs.append(opt.lr)
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _hyper = ("milestones", "gamma")

    def __init__(self, optimizer, milestones, gamma=0.1):
        super().__init__(optimizer, dict(milestones=milestones, gamma=gamma))

    def _check(self):
        o = "MultiStepLR"
        if isinstance(self.milestones, (str, bytes)) or not hasattr(self.milestones, "__iter__"):
            raise TypeError(f"{o}: milestones: expected an iterable of ints, "
                            f"got {type(self.milestones).__name__}")
        self.milestones = tuple(sorted(_int(o, "milestones[...]", m, 0)
                                       for m in self.milestones))
        self.gamma = _number(o, "gamma", self.gamma)

    def _values(self, epoch):
        lr, n = self.optimizer.lr, self.milestones.count(epoch)
        return {"lr": lr * self.gamma ** n if n else lr}


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch (torch's ``ExponentialLR``).

    At epoch ``e``: ``lr = base_lr * gamma ** e``, computed recursively as torch does.

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set.
    gamma : float
        The factor, >= 0.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or a bad ``gamma``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
    >>> sched = fastrnn.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> sched.step(); sched.step()
    >>> opt.lr
    0.25
    """

    _hyper = ("gamma",)

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer, dict(gamma=gamma))

    def _check(self):
        self.gamma = _number("ExponentialLR", "gamma", self.gamma)

    def _values(self, epoch):
        lr = self.optimizer.lr
        return {"lr": lr if epoch == 0 else lr * self.gamma}


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing of the lr to ``eta_min`` in ``T_max`` epochs (torch's ``CosineAnnealingLR``).

    The closed form is ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * e /
    T_max)) / 2`` at epoch ``e``; like torch, the lr is computed recursively
    from the current one, ``lr_e = eta_min + (lr_{e-1} - eta_min) * (1 + cos(pi
    * e / T_max)) / (1 + cos(pi * (e - 1) / T_max))``, and at the epochs where
    the denominator vanishes (``e - 1 - T_max`` a multiple of ``2 T_max``)
    ``lr_e = lr_{e-1} + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2``. Past
    ``T_max`` the lr rises again (torch's sequence, with no restart).

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set.
    T_max : int
        The half period in epochs, >= 1.
    eta_min : float, default 0.0
        The minimum learning rate, >= 0.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or bad hyperparameters, naming them.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
    >>> sched = fastrnn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    >>> sched.step(); sched.step()                      # half way: (1 + cos(pi/2)) / 2
    >>> round(opt.lr, 12)
    0.5
    """

    _hyper = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, dict(T_max=T_max, eta_min=eta_min))

    def _check(self):
        self.T_max = _int("CosineAnnealingLR", "T_max", self.T_max, 1)
        self.eta_min = _number("CosineAnnealingLR", "eta_min", self.eta_min)

    def _values(self, epoch):
        lr, t, eta_min = self.optimizer.lr, self.T_max, self.eta_min
        if epoch == 0:
            return {"lr": lr}
        if (epoch - 1 - t) % (2 * t) == 0:
            return {"lr": lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / t)) / 2}
        return {"lr": (1 + math.cos(math.pi * epoch / t))
                / (1 + math.cos(math.pi * (epoch - 1) / t)) * (lr - eta_min) + eta_min}


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2017), stepped once per batch (torch's ``OneCycleLR``).

    The lr rises from ``initial_lr = max_lr / div_factor`` to ``max_lr`` over
    the first ``pct_start * total_steps`` steps, then falls to ``min_lr =
    initial_lr / final_div_factor`` at step ``total_steps - 1``
    (``three_phase``: up to ``max_lr``, back down to ``initial_lr`` over as
    many steps, then down to ``min_lr``); with ``cycle_momentum`` the momentum
    moves the other way between ``max_momentum`` and ``base_momentum``. The
    phases' boundaries and the annealing (``cos``: ``end + (start - end) / 2 *
    (1 + cos(pi * pct))``; ``linear``) are torch's, to the bit. Like torch,
    ``step()`` may be called ``total_steps`` times: the last call is one step
    past the cycle's end and extrapolates (with ``linear`` the lr there falls
    below 0, which the optimizers refuse: ValueError, nothing changes).

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set (and ``momentum`` or ``betas[0]``).
    max_lr : float
        The peak learning rate, > 0.
    total_steps : int, optional
        The number of steps of the cycle, >= 1; or give ``epochs`` and
        ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        ``total_steps = epochs * steps_per_epoch`` when ``total_steps`` is None.
    pct_start : float, default 0.3
        The fraction of the cycle spent rising, in [0, 1].
    anneal_strategy : {"cos", "linear"}, default "cos"
    cycle_momentum : bool, default True
        Cycle the optimizer's ``momentum`` (SGD, RMSprop) or ``betas[0]``
        (Adam, AdamW; preferred when both exist, as torch).
    base_momentum, max_momentum : float, default 0.85 and 0.95
        The momentum at the lr's peak and at its ends, >= 0.
    div_factor : float, default 25.0
        ``initial_lr = max_lr / div_factor``, > 0.
    final_div_factor : float, default 1e4
        ``min_lr = initial_lr / final_div_factor``, > 0.
    three_phase : bool, default False

    Attributes
    ----------
    total_steps : int
        The length of the cycle; ``step()`` may be called that many times.
    initial_lr, min_lr : float
        The lr at the start and at the end.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or bad hyperparameters, naming them; ValueError
        when ``cycle_momentum`` is True and the optimizer has neither
        ``momentum`` nor ``betas`` (Adagrad).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, momentum=0.9)
    >>> sched = fastrnn.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> round(opt.lr, 12), opt.momentum                # max_lr / 25, max_momentum
    (0.04, 0.95)
    >>> sched.step(); sched.step()                     # the peak: step pct_start * 10 - 1
    >>> round(opt.lr, 12), round(opt.momentum, 12)
    (1.0, 0.85)
    """

    _hyper = ("max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start",
              "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum",
              "div_factor", "final_div_factor", "three_phase")

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        super().__init__(optimizer, dict(
            max_lr=max_lr, total_steps=total_steps, epochs=epochs,
            steps_per_epoch=steps_per_epoch, pct_start=pct_start,
            anneal_strategy=anneal_strategy, cycle_momentum=cycle_momentum,
            base_momentum=base_momentum, max_momentum=max_momentum, div_factor=div_factor,
            final_div_factor=final_div_factor, three_phase=three_phase))

    def _check(self):
        o = "OneCycleLR"
        if self.total_steps is not None:
            self.total_steps = _int(o, "total_steps", self.total_steps, 1)
        elif self.epochs is not None and self.steps_per_epoch is not None:
            self.epochs = _int(o, "epochs", self.epochs, 1)
            self.steps_per_epoch = _int(o, "steps_per_epoch", self.steps_per_epoch, 1)
            self.total_steps = self.epochs * self.steps_per_epoch
        else:
            raise ValueError(f"{o}: expected total_steps, or epochs and steps_per_epoch, got "
                             f"total_steps=None, epochs={self.epochs!r}, "
                             f"steps_per_epoch={self.steps_per_epoch!r}")
        self.max_lr = _number(o, "max_lr", self.max_lr, low_open=True)
        self.pct_start = _number(o, "pct_start", self.pct_start, high=1.0, high_open=False)
        self.anneal_strategy = _choice(o, "anneal_strategy", self.anneal_strategy,
                                       ("cos", "linear"))
        self.cycle_momentum = V.check_bool(f"{o}: cycle_momentum", self.cycle_momentum)
        self.three_phase = V.check_bool(f"{o}: three_phase", self.three_phase)
        for k in ("base_momentum", "max_momentum"):
            setattr(self, k, _number(o, k, getattr(self, k)))
        for k in ("div_factor", "final_div_factor"):
            setattr(self, k, _number(o, k, getattr(self, k), low_open=True))
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        hyper = self.optimizer.hyperparams
        if self.cycle_momentum and "betas" not in hyper and "momentum" not in hyper:
            raise ValueError(f"{o}: cycle_momentum=True: expected an optimizer with momentum "
                             f"(SGD, RMSprop) or betas (Adam, AdamW), got "
                             f"{type(self.optimizer).__name__}; pass cycle_momentum=False")
        self._use_beta1 = "betas" in hyper

    def _initial_lr(self):
        return self.initial_lr

    def _phases(self):
        """(end step, start lr, end lr, start momentum, end momentum) of each phase, as torch's."""
        n, pct = self.total_steps, self.pct_start
        lo, hi, mn = self.initial_lr, self.max_lr, self.min_lr
        m_lo, m_hi = self.base_momentum, self.max_momentum
        if self.three_phase:
            return [(float(pct * n) - 1, lo, hi, m_hi, m_lo),
                    (float(2 * pct * n) - 2, hi, lo, m_lo, m_hi),
                    (n - 1, lo, mn, m_hi, m_hi)]
        return [(float(pct * n) - 1, lo, hi, m_hi, m_lo), (n - 1, hi, mn, m_lo, m_hi)]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _values(self, epoch):
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: step(): expected at most total_steps="
                             f"{self.total_steps} steps, got step {epoch}")
        phases, start_step = self._phases(), 0.0
        for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
            if epoch <= end_step or i == len(phases) - 1:
                if end_step == start_step:      # torch: ZeroDivisionError
                    raise ValueError(f"OneCycleLR: step {epoch}: expected a phase of the cycle "
                                     f"longer than 0 steps, got pct_start={self.pct_start} "
                                     f"with total_steps={self.total_steps}")
                pct = (epoch - start_step) / (end_step - start_step)
                break
            start_step = end_step
        values = {"lr": self._anneal(lr0, lr1, pct)}
        if self.cycle_momentum:
            momentum = self._anneal(m0, m1, pct)
            if self._use_beta1:
                values["betas"] = (momentum,) + tuple(self.optimizer.betas[1:])
            else:
                values["momentum"] = momentum
        return values


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving (torch's ``ReduceLROnPlateau``).

    ``step(metrics)`` once per epoch: a metric better than ``best`` by the
    threshold (``rel``: below ``best * (1 - threshold)`` in ``min`` mode, above
    ``best * (1 + threshold)`` in ``max`` mode; ``abs``: ``best -+ threshold``)
    becomes ``best`` and resets the count of bad epochs; otherwise the count
    grows. During a cooldown the count stays 0. When the count exceeds
    ``patience``, ``lr = max(lr * factor, min_lr)`` (unless that changes it
    by ``eps`` or less), the cooldown restarts and the count is reset. The
    lr is not changed at construction.

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` is set.
    mode : {"min", "max"}, default "min"
        Whether lower or higher metrics are better.
    factor : float, default 0.1
        In [0, 1).
    patience : int, default 10
        The bad epochs tolerated, >= 0.
    threshold : float, default 1e-4
        >= 0.
    threshold_mode : {"rel", "abs"}, default "rel"
    cooldown : int, default 0
        The epochs after a reduction during which bad epochs are not counted, >= 0.
    min_lr : float, default 0.0
        >= 0.
    eps : float, default 1e-8
        The smallest change of lr made, >= 0.

    Attributes
    ----------
    best : float
        The best metric so far (``inf`` in min mode, ``-inf`` in max mode, before any).
    num_bad_epochs, cooldown_counter : int
        The counters.

    Raises
    ------
    TypeError, ValueError
        For a non-optimizer or bad hyperparameters, naming them.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
    >>> sched = fastrnn.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0]:              # the second 2.0 is the 2nd bad epoch
    ...     sched.step(loss)
    >>> opt.lr, sched.best
    (0.5, 2.0)
    """

    _hyper = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "min_lr", "eps")
    _extra = ("best", "num_bad_epochs", "cooldown_counter")

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        super().__init__(optimizer, dict(
            mode=mode, factor=factor, patience=patience, threshold=threshold,
            threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps))
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _check(self):
        o = "ReduceLROnPlateau"
        self.mode = _choice(o, "mode", self.mode, ("min", "max"))
        self.threshold_mode = _choice(o, "threshold_mode", self.threshold_mode, ("rel", "abs"))
        self.factor = _number(o, "factor", self.factor, high=1.0)
        for k in ("patience", "cooldown"):
            setattr(self, k, _int(o, k, getattr(self, k), 0))
        for k in ("threshold", "min_lr", "eps"):
            setattr(self, k, _number(o, k, getattr(self, k)))

    def _check_extra(self):
        o = "ReduceLROnPlateau"
        self.best = _number(o, "best", self.best, low=None)
        for k in ("num_bad_epochs", "cooldown_counter"):
            setattr(self, k, _int(o, k, getattr(self, k), 0))

    def _values(self, epoch):
        return {}                       # construction leaves the lr as it is

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                        else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel"
                    else best + self.threshold)

    def step(self, metrics):
        """Count one epoch with this metric; lower the lr after ``patience`` bad epochs.

        Parameters
        ----------
        metrics : float
            The monitored quantity (a float, a NumPy scalar or 0-d array).

        Raises
        ------
        TypeError
            When ``metrics`` is not a real number; nothing changes.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
        >>> sched = fastrnn.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0)
        >>> sched.step(0.9); sched.step(0.8)             # accuracy fell: lr * 0.1
        >>> round(opt.lr, 12), sched.num_bad_epochs, sched.last_epoch
        (0.1, 0, 2)
        """
        if isinstance(metrics, (str, bytes, bool, np.bool_)):
            current = None
        else:
            try:
                current = float(metrics)
            except (TypeError, ValueError):
                current = None
        if current is None:
            raise TypeError(f"ReduceLROnPlateau.step: metrics: expected a real number, "
                            f"got {type(metrics).__name__}")
        best, bad, cooldown_counter = self.best, self.num_bad_epochs, self.cooldown_counter
        if self._is_better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            bad = 0                     # bad epochs in a cooldown are not counted
        if bad > self.patience:
            old_lr = float(self.optimizer.lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self._set({"lr": new_lr})
            cooldown_counter, bad = self.cooldown, 0
        self.best, self.num_bad_epochs, self.cooldown_counter = best, bad, cooldown_counter
        self.last_epoch += 1
        self._last_lr = self.optimizer.lr
