"""Callbacks for ``fastrnn.fit`` (``fastrnn.callbacks``), and the ``History`` it returns.

A callback subclasses ``Callback`` and overrides any of its hooks
(``on_train_begin``, ``on_epoch_begin``, ``on_after_backward``,
``on_batch_end``, ``on_epoch_end``, ``on_train_end``); a hook that returns
True from ``on_batch_end`` or ``on_epoch_end`` stops training. ``fit`` sets
each callback's ``model`` and ``optimizer`` before ``on_train_begin``.

* ``EarlyStopping``: stop when a monitored value (``"val_loss"``) stops
  improving, and put the best epoch's parameters back.
* ``ModelCheckpoint``: save the model (``fastrnn.save``, atomic: a good file
  stays good when a save fails) when the monitored value improves.
"""

import math
import os

from ..core import validation as V
from .io import save
from .optimizer import _number

__all__ = ["History", "Callback", "EarlyStopping", "ModelCheckpoint"]


class History(dict):
    """What ``fit`` returns: ``{key: [one value per epoch]}``.

    Keys: ``"loss"`` (the epoch's mean training loss, each batch weighted by
    its number of target items), ``"lr"`` (the optimizer's ``lr`` at the
    epoch's end, before a per-epoch scheduler steps: the epoch's rate; when
    the optimizer has one), and with ``val_data`` ``"val_loss"`` and
    ``"val_<name>"`` for each metric.

    Attributes
    ----------
    epoch : list of int
        The epochs run, from 1.
    steps : int
        The number of optimizer steps taken.
    stopped_early : bool
        True when a callback asked to stop (from ``on_batch_end`` or
        ``on_epoch_end``).
    """

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.steps = 0
        self.stopped_early = False

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.setdefault(key, []).append(value)


class Callback:
    """Base class of ``fit``'s callbacks: every hook does nothing; override the ones you need.

    Epochs and steps count from 1. ``fit`` sets ``model`` and ``optimizer``
    before ``on_train_begin``.

    Attributes
    ----------
    model : model or layer
        The model being trained (None before ``fit`` starts).
    optimizer : optimizer
        Its optimizer (None before ``fit`` starts).
    """

    model = None
    optimizer = None

    def on_train_begin(self):
        """Called once, before the first epoch."""

    def on_epoch_begin(self, epoch):
        """Called before each epoch's first batch.

        Parameters
        ----------
        epoch : int
            The epoch, from 1.
        """

    def on_after_backward(self, step, logs):
        """Called after each backward, before clipping and the optimizer step.

        Parameters
        ----------
        step : int
            The optimizer step about to be taken, from 1.
        logs : dict
            ``"loss"`` (the batch's loss) and ``"size"`` (its number of target
            items); the gradients are in ``model.grads``.
        """

    def on_batch_end(self, step, logs):
        """Called after each optimizer step.

        Parameters
        ----------
        step : int
            The optimizer step just taken, from 1.
        logs : dict
            ``"epoch"``, ``"batch"`` (from 1), ``"loss"``, ``"size"``, and
            ``"grad_norm"`` (before clipping) when ``fit`` clips.

        Returns
        -------
        bool or None
            True to stop training after this batch (the epoch is then
            finished as usual: validation, history, ``on_epoch_end``).
        """

    def on_epoch_end(self, epoch, logs):
        """Called after each epoch's validation, once the history has it.

        Parameters
        ----------
        epoch : int
            The epoch, from 1.
        logs : dict
            The epoch's values (``"loss"``, ``"val_loss"``, ``"lr"``, ...).

        Returns
        -------
        bool or None
            True to stop training.
        """

    def on_train_end(self, history):
        """Called once after the last epoch (not when ``fit`` raises).

        Parameters
        ----------
        history : History
            The history ``fit`` returns.
        """


def _mode(owner, mode, monitor):
    if mode == "auto":
        return "max" if any(w in monitor for w in ("acc", "auc", "f1")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode: expected 'min', 'max' or 'auto', got {mode!r}")
    return mode


class _Monitor(Callback):
    """The shared part of EarlyStopping and ModelCheckpoint: the best value of ``monitor``."""

    def __init__(self, monitor, mode, min_delta):
        owner = type(self).__name__
        if not isinstance(monitor, str):
            raise TypeError(f"{owner}: monitor: expected a str such as 'val_loss', "
                            f"got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = _mode(owner, mode, monitor)
        self.min_delta = _number(owner, "min_delta", min_delta)  # a real >= 0
        self.best, self.best_epoch = None, None

    def _value(self, logs):
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__}: monitor: expected one of the epoch's "
                             f"values {sorted(logs)}, got {self.monitor!r} (val_* values "
                             f"need val_data)")
        return float(logs[self.monitor])

    def _improved(self, value):
        """Whether ``value`` beats the best by more than min_delta (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop after ``patience`` epochs in a row without improvement; restore the best parameters.

    An epoch improves when its value beats the best so far by more than
    ``min_delta`` (a NaN never improves). With ``restore_best`` the
    parameters of the best epoch are copied back into the model when
    training ends, whether this callback stopped it or not.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's logs (``"loss"``, ``"val_loss"``, ``"val_<metric>"``).
    patience : int, default 3
        Stop after this many consecutive epochs without improvement (>= 1;
        Keras' and Lightning's meaning).
    min_delta : float, default 0.0
        The smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better ("auto": "max" for names with
        "acc", "auc" or "f1", else "min").
    restore_best : bool, default True
        Copy the best epoch's parameters back at the end.

    Attributes
    ----------
    best : float or None
        The best value seen.
    best_epoch : int or None
        Its epoch.
    stopped_epoch : int or None
        The epoch after which this callback stopped training (None: it did not).

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it; ``ValueError`` at the first epoch's end
        when ``monitor`` is not among the epoch's values.

    Examples
    --------
    >>> stop = EarlyStopping(patience=2)
    >>> stop.on_train_begin()
    >>> [stop.on_epoch_end(e, {"val_loss": v}) for e, v in enumerate([3.0, 2.0, 2.5, 2.4], 1)]
    [False, False, False, True]
    >>> stop.best, stop.best_epoch, stop.stopped_epoch
    (2.0, 2, 4)
    """

    def __init__(self, monitor="val_loss", patience=3, min_delta=0.0, mode="auto",
                 restore_best=True):
        super().__init__(monitor, mode, min_delta)
        self.patience = V.check_positive_int("EarlyStopping: patience", patience)
        self.restore_best = V.check_bool("EarlyStopping: restore_best", restore_best)
        self.stopped_epoch = None
        self._wait, self._best_state = 0, None

    def on_train_begin(self):
        """Forget any previous run."""
        self.best, self.best_epoch, self.stopped_epoch = None, None, None
        self._wait, self._best_state = 0, None

    def on_epoch_end(self, epoch, logs):
        """Record an improvement (and the parameters), or count an epoch without one.

        Parameters
        ----------
        epoch : int
            The epoch, from 1.
        logs : dict
            The epoch's values; ``logs[monitor]`` is read.

        Returns
        -------
        bool
            True when ``patience`` epochs have passed without improvement.
        """
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best and self.model is not None:
                self._best_state = self.model.state_dict()
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, history):
        """Copy the best epoch's parameters back into the model (with ``restore_best``).

        Parameters
        ----------
        history : History
            Unused.
        """
        if self.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)


class ModelCheckpoint(_Monitor):
    """Save the model at the end of an epoch, by default only when ``monitor`` improves.

    The file is written with ``fastrnn.save`` (a temporary file renamed over
    ``path``: a checkpoint that was good stays good if a save fails), with
    ``meta={"epoch": epoch, <monitor>: value}``; ``fastrnn.load(path)``
    rebuilds the model.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``"{epoch}"`` and the epoch's values may be formatted in
        (``"ckpt-{epoch:03d}-{val_loss:.3f}.npz"``).
    monitor : str, default "val_loss"
        A key of the epoch's logs.
    mode : {"auto", "min", "max"}, default "auto"
        As for ``EarlyStopping``.
    save_best_only : bool, default True
        Save only when ``monitor`` improves on the best so far (False: every
        epoch).
    min_delta : float, default 0.0
        The smallest change that counts as an improvement.

    Attributes
    ----------
    best : float or None
        The best value seen.
    best_epoch : int or None
        Its epoch.
    saved : list of (int, str)
        The epochs saved and their files, in order.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it; ``ValueError`` at the first epoch's end
        when ``monitor`` is not among the epoch's values.
    """

    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=True,
                 min_delta=0.0):
        super().__init__(monitor, mode, min_delta)
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise TypeError(f"ModelCheckpoint: path: expected a str or os.PathLike, "
                            f"got {type(path).__name__}") from None
        self.save_best_only = V.check_bool("ModelCheckpoint: save_best_only", save_best_only)
        self.saved = []

    def on_train_begin(self):
        """Forget any previous run's best value."""
        self.best, self.best_epoch, self.saved = None, None, []

    def on_epoch_end(self, epoch, logs):
        """Save the model when ``monitor`` improved (every epoch without ``save_best_only``).

        Parameters
        ----------
        epoch : int
            The epoch, from 1.
        logs : dict
            The epoch's values.

        Returns
        -------
        bool
            False (never stops training).
        """
        value = self._value(logs)
        improved = self._improved(value)
        if improved:
            self.best, self.best_epoch = value, epoch
        if improved or not self.save_best_only:
            path = self.path.format(epoch=epoch, **logs)
            save(self.model, path, meta={"epoch": epoch, self.monitor: value})
            self.saved.append((epoch, path))
        return False
