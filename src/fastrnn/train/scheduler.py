"""The schedulers' base class ``LRScheduler`` and the argument checks they share.

``LRScheduler`` holds the optimizer, ``base_lr``, ``last_epoch`` and the last
lr, and implements ``step``, ``get_last_lr`` and ``state_dict``/``load_state_dict``;
it is the one place a scheduler changes the optimizer (through the
optimizer's checks). The schedules are in ``fastrnn.train.lr_scheduler``
(``fastrnn.optim.lr_scheduler``), whose module doc describes the semantics.
"""

from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np

from .optimizer import Optimizer, _number

__all__ = ["LRScheduler"]


# --- argument checks ------------------------------------------------------------------

def _int(owner, name, value, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name}: expected an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{owner}: {name}: expected an int >= {low}, got {value}")
    return int(value)


def _choice(owner, name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name}: expected one of {list(choices)}, got {value!r}")
    return value


@contextmanager
def _all_or_nothing(obj, names=None):
    """Undo the block's changes to ``obj``'s attributes ``names`` (None: all of them) when it
    raises TypeError or ValueError."""
    old = dict(vars(obj)) if names is None else {k: getattr(obj, k) for k in names}
    try:
        yield
    except (TypeError, ValueError):
        if names is None:
            vars(obj).clear()
        for k, v in old.items():
            setattr(obj, k, v)
        raise


class LRScheduler:
    """Base class of the schedulers: the optimizer, ``base_lr``, ``last_epoch``, the state.

    Subclasses define ``_hyper`` (the constructor's hyperparameters, kept as
    attributes and in ``state_dict``), ``_check()`` (validates and normalizes
    them; run at construction and by ``load_state_dict``) and
    ``_values(epoch)`` (the optimizer attributes to set at that epoch, e.g.
    ``{"lr": 0.01}``).

    Parameters
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer whose ``lr`` the scheduler sets (SGD, Adam, ...).
    hyper : dict
        The hyperparameters, set as attributes.

    Attributes
    ----------
    optimizer : fastrnn.optim.Optimizer
        The optimizer given.
    base_lr : float
        The initial learning rate (the optimizer's lr at construction).
    last_epoch : int
        The number of ``step()`` calls since construction (0 after it).

    Raises
    ------
    TypeError
        When ``optimizer`` is not an optimizer of ``fastrnn.optim``.
    TypeError, ValueError
        For bad hyperparameters, naming them.
    """

    _hyper = ()
    _extra = ()             # more state for state_dict (ReduceLROnPlateau's counters)

    def __init__(self, optimizer, hyper):
        owner = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{owner}: optimizer: expected an optimizer of fastrnn.optim (SGD, "
                            f"Adam, ...), got {type(optimizer).__name__}")
        optimizer._check_hyper()        # its lr as it will be read: a checked float
        self.optimizer = optimizer
        for k, v in hyper.items():
            setattr(self, k, v)
        self._check()
        self.base_lr = self._initial_lr()
        self.last_epoch = -1
        self._advance()                 # epoch 0

    # subclasses --------------------------------------------------------------------
    def _check(self):
        pass

    def _check_extra(self):
        pass

    def _initial_lr(self):
        return self.optimizer.lr

    def _values(self, epoch):
        raise NotImplementedError

    # the one place the optimizer is changed ------------------------------------------
    def _set(self, values):
        """Set the optimizer's attributes, through its checks; on an error, none."""
        opt = self.optimizer
        with _all_or_nothing(opt, values):
            for k, v in values.items():
                setattr(opt, k, v)
            opt._check_hyper()

    def _advance(self):
        values = self._values(self.last_epoch + 1)
        try:
            self._set(values)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}: epoch {self.last_epoch + 1}: the optimizer "
                          f"refuses {values}: {e}") from None
        self.last_epoch += 1
        self._last_lr = self.optimizer.lr

    # public ------------------------------------------------------------------------
    def step(self):
        """Advance one epoch (one batch for ``OneCycleLR``) and set its learning rate.

        Call it after the optimizer's ``step()``, as in PyTorch.

        Raises
        ------
        ValueError
            ``OneCycleLR`` stepped past ``total_steps``; or the optimizer refuses
            the value (its own check; nothing changes).

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=1.0)
        >>> sched = fastrnn.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched.step()
        >>> opt.lr, sched.last_epoch
        (0.5, 1)
        """
        self._advance()

    def get_last_lr(self):
        """The learning rate the scheduler set last, as a list of one float (as torch's).

        Returns
        -------
        list of float
            ``[lr]``: our optimizers have one learning rate.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=0.1)
        >>> sched = fastrnn.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.05]
        """
        return [self._last_lr]

    def state_dict(self):
        """Everything ``load_state_dict`` needs to resume the same sequence.

        Returns
        -------
        dict
            ``{"scheduler": class name, "base_lr": float, "last_epoch": int,
            "last_lr": float, ...}`` and the hyperparameters (plain Python
            values; tuples as lists). The optimizer is not in it.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> opt = fastrnn.optim.SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=0.1)
        >>> sched = fastrnn.optim.lr_scheduler.StepLR(opt, step_size=3)
        >>> sched.state_dict()["last_epoch"], sched.state_dict()["step_size"]
        (0, 3)
        """
        state = {"scheduler": type(self).__name__, "base_lr": self.base_lr,
                 "last_epoch": self.last_epoch, "last_lr": self._last_lr}
        for k in self._hyper + self._extra:
            v = getattr(self, k)
            state[k] = list(v) if isinstance(v, tuple) else v
        return state

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``: hyperparameters, ``base_lr``, ``last_epoch``, counters.

        The optimizer is not changed: restore its own ``state_dict`` too (its lr).

        Parameters
        ----------
        state_dict : dict
            As ``state_dict()`` returns it.

        Raises
        ------
        TypeError
            For a non-dict, or values of the wrong type.
        ValueError
            When it is another scheduler's state, a key is missing or unknown, or
            a value is out of range. Everything is checked before anything changes.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> params, grads = {"w": np.zeros(2)}, {"w": np.zeros(2)}
        >>> opt = fastrnn.optim.SGD(params, grads, lr=1.0)
        >>> sched = fastrnn.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> sched.step(); sched.step()
        >>> saved, saved_opt = sched.state_dict(), opt.state_dict()
        >>> opt2 = fastrnn.optim.SGD(params, grads, lr=1.0)
        >>> sched2 = fastrnn.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
        >>> opt2.load_state_dict(saved_opt); sched2.load_state_dict(saved)
        >>> sched2.step(); sched2.step()
        >>> opt2.lr, sched2.last_epoch
        (0.25, 4)
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        if state_dict.get("scheduler") != type(self).__name__:
            raise ValueError(f"{owner}: expected the state of a {type(self).__name__}, got "
                             f"that of a {state_dict.get('scheduler')!r}")
        keys = {"scheduler", "base_lr", "last_epoch", "last_lr"} | set(self._hyper + self._extra)
        if set(state_dict) != keys:
            raise ValueError(f"{owner}: expected keys {sorted(keys)}, got missing "
                             f"{sorted(keys - set(state_dict))} and unknown "
                             f"{sorted(set(state_dict) - keys, key=str)}")
        with _all_or_nothing(self):      # the derived attributes (OneCycleLR's) too
            self.base_lr = _number(owner, "base_lr", state_dict["base_lr"])
            self.last_epoch = _int(owner, "last_epoch", state_dict["last_epoch"], 0)
            self._last_lr = _number(owner, "last_lr", state_dict["last_lr"])
            for k in self._hyper + self._extra:
                v = state_dict[k]
                setattr(self, k, tuple(v) if isinstance(v, list) else v)
            self._check()
            self._check_extra()
