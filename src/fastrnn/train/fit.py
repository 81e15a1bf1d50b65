"""A small training loop: ``fit`` with per-epoch history, callbacks and a progress bar.

``fit(model, loss, optimizer, train_data, val_data=None, epochs=1, ...)``
runs, for every batch of every epoch::

    out = model.forward(x, train=True)          # lengths=lengths when the batch has them
    value, dout = loss(out, target)             # mask=... for padded per-step targets
    model.zero_grad(); model.backward(dout)
    callbacks: on_after_backward               # e.g. an all-reduce of the gradients
    clip_grad_norm(model.grads, clip)           # when clip is given
    optimizer.step()

then evaluates ``val_data`` (``train=False``: the training cache is never
touched), records the epoch in the ``History`` it returns, steps the
scheduler and asks the callbacks whether to stop. With ``tbptt=window`` a
batch is instead a long stream ``(x, target)`` trained in windows by
``TruncatedBPTT``, one optimizer step per window.

The callbacks (``Callback``, ``EarlyStopping``, ``ModelCheckpoint``) and
``History`` are in ``callbacks`` (``fastrnn.callbacks``).

Nothing in ``fit`` is random: the batches are used in the order given.
"""

import inspect
import math
from collections.abc import Iterator, Mapping

import numpy as np

from ..core import validation as V
from .callbacks import Callback, History
from .clip import clip_grad_norm
from .containers import _is_recurrent
from .patterns import length_mask
from .tbptt import TruncatedBPTT

__all__ = ["fit"]


def _check_data(name, data, epochs, required):
    if data is None and not required:
        return None
    if callable(data):
        return data
    if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{name}: expected an iterable of (x, target[, lengths]) batches or a "
                        f"callable returning one per epoch, got {type(data).__name__}")
    if isinstance(data, Iterator) and epochs > 1:
        raise TypeError(f"{name}: expected a re-iterable (a list) or a callable returning a "
                        f"fresh iterable per epoch, got a one-shot {type(data).__name__} "
                        f"with epochs={epochs} (it would be empty from epoch 2 on)")
    return data


def _epoch_batches(name, data, epoch):
    batches = data() if callable(data) else data
    try:
        return iter(batches)
    except TypeError:
        raise TypeError(f"{name}: the callable returned {type(batches).__name__} for epoch "
                        f"{epoch}, expected an iterable of batches") from None


def _unpack(name, batch, epoch, index):
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        got = type(batch).__name__ + (f" of length {len(batch)}"
                                      if isinstance(batch, (tuple, list)) else "")
        raise TypeError(f"{name}: epoch {epoch}, batch {index}: expected (x, target) or "
                        f"(x, target, lengths), got {got}")
    return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


def _batch_first(model):
    """The layout of the first module found with a ``batch_first`` flag (False if none)."""
    queue, seen = [model], set()
    while queue:
        m = queue.pop(0)
        if id(m) in seen:
            continue
        seen.add(id(m))
        flag = getattr(m, "batch_first", None)
        if isinstance(flag, (bool, np.bool_)):
            return bool(flag)
        named = getattr(m, "named_modules", None)
        if callable(named):
            queue.extend(mod for _, mod in named())
    return False


def _takes_mask(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "mask" or p.kind is p.VAR_KEYWORD for p in params)


class _Runner:
    """One forward and loss of a batch, as training and validation share them."""

    def __init__(self, model, loss):
        self.model, self.loss = model, loss
        self.recurrent = _is_recurrent(model)
        self.batch_first = _batch_first(model)

    def forward(self, x, lengths, train):
        kw = {} if lengths is None else {"lengths": lengths}
        out = self.model.forward(x, train=train, **kw)
        return out[0] if self.recurrent else out

    def mask(self, x, target, lengths):
        """length_mask for padded per-step targets (target.shape[:2] == x.shape[:2]), else None."""
        if lengths is None or np.ndim(target) < 2 or np.shape(target)[:2] != np.shape(x)[:2]:
            return None
        T = np.shape(x)[1 if self.batch_first else 0]
        return length_mask(lengths, T, self.batch_first)

    @staticmethod
    def size(target, mask):
        """The number of target items a batch's mean is over (the kept ones with a mask)."""
        n = int(np.size(target))
        return n if mask is None else int(np.count_nonzero(mask)) * (n // mask.size)

    def evaluate(self, fn, name, out, target, mask):
        if mask is None:
            return fn(out, target)
        if not _takes_mask(fn):
            raise TypeError(f"{name}: batches with lengths and per-step targets need a "
                            f"callable taking mask= (the steps past each length), got "
                            f"{getattr(fn, '__name__', type(fn).__name__)} without one")
        return fn(out, target, mask=mask)

    def loss_and_grad(self, out, target, mask):
        result = self.evaluate(self.loss, "loss", out, target, mask)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"loss: expected a callable returning (value, doutput), got one "
                            f"returning {type(result).__name__}")
        return float(result[0]), result[1]


def _scheduler_wants_metric(scheduler):
    """True when ``scheduler.step`` has a required positional argument (ReduceLROnPlateau)."""
    try:
        params = inspect.signature(scheduler.step).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


def _lr(optimizer):
    lr = getattr(optimizer, "lr", None)
    ok = isinstance(lr, (int, float, np.integer, np.floating)) and not isinstance(lr, bool)
    return float(lr) if ok else None


def _progress_bar(enabled, total, desc):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:            # tqdm is a dependency; without it, no bar
        return None
    return tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True, leave=True)


def _check_args(model, loss, optimizer, clip, callbacks, scheduler, scheduler_interval,
                tbptt, metrics):
    for attr in ("forward", "backward", "zero_grad"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(f"model: expected a layer or model with forward, backward and "
                            f"zero_grad, got {type(model).__name__} (no {attr})")
    if not isinstance(getattr(model, "grads", None), Mapping):
        raise TypeError(f"model: expected a .grads dict, got {type(model).__name__} without")
    if not callable(loss):
        raise TypeError(f"loss: expected a callable loss(output, target) -> (value, doutput), "
                        f"got {type(loss).__name__}")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer: expected an object with step(), got "
                        f"{type(optimizer).__name__}")
    if clip is not None:
        if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, (int, float, np.integer,
                                                                       np.floating)):
            raise TypeError(f"clip: expected None or a max gradient norm > 0, "
                            f"got {type(clip).__name__}")
        if not clip > 0:
            raise ValueError(f"clip: expected None or a max gradient norm > 0, got {clip}")
    if isinstance(callbacks, Callback) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks: expected a list of Callback objects, got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}]: expected a fastrnn Callback (EarlyStopping, "
                            f"ModelCheckpoint, a subclass of Callback), got {type(cb).__name__}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler: expected an object with step(), got "
                        f"{type(scheduler).__name__}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval: expected 'epoch' or 'batch', "
                         f"got {scheduler_interval!r}")
    wants_metric = scheduler is not None and _scheduler_wants_metric(scheduler)
    if wants_metric and scheduler_interval == "batch":
        raise ValueError("scheduler_interval: expected 'epoch' for a scheduler whose step "
                         f"takes a metric ({type(scheduler).__name__}), got 'batch'")
    if isinstance(tbptt, TruncatedBPTT):
        if tbptt.model is not model or tbptt.loss is not loss:
            raise ValueError("tbptt: expected a TruncatedBPTT of this model and loss, got one "
                             "of another " + ("model" if tbptt.model is not model else "loss"))
    elif tbptt is not None:
        tbptt = TruncatedBPTT(model, V.check_positive_int("tbptt", tbptt), loss=loss,
                              time_axis=1 if _batch_first(model) else 0)
    metrics = {} if metrics is None else metrics
    if not isinstance(metrics, Mapping) or not all(callable(f) for f in metrics.values()):
        raise TypeError("metrics: expected None or a dict {name: callable(output, target) -> "
                        f"float}}, got {type(metrics).__name__}")
    return callbacks, wants_metric, tbptt, dict(metrics)


def fit(model, loss, optimizer, train_data, val_data=None, epochs=1, clip=None, callbacks=(),
        scheduler=None, scheduler_interval="epoch", metrics=None, tbptt=None, progress=True):
    """Train ``model`` for ``epochs`` passes over ``train_data``; return the per-epoch history.

    Each batch: forward (``train=True``), loss, ``zero_grad``, backward, the
    callbacks' ``on_after_backward``, ``clip_grad_norm`` (with ``clip``),
    ``optimizer.step()``, the callbacks' ``on_batch_end``. Each epoch then:
    validation (module doc), the history, the scheduler, ``on_epoch_end``.
    A batch ``(x, target, lengths)`` passes ``lengths=`` to ``forward``, and
    when the targets are per step (``target.shape[:2] == x.shape[:2]``) the
    loss gets ``mask=length_mask(lengths, T, batch_first)`` too.

    Parameters
    ----------
    model : layer or model
        With ``forward(x, [lengths=,] train=)`` (returning the output, or
        ``(output, state)`` for a recurrent layer or ``Sequential``),
        ``backward(doutput)``, ``zero_grad()`` and ``grads``.
    loss : callable
        ``loss(output, target[, mask=]) -> (value, doutput)``, as
        ``fastrnn.softmax_cross_entropy`` and ``fastrnn.mse``.
    optimizer : optimizer
        Anything with ``step()`` (``fastrnn.optim.Adam(model, lr=...)``, ...).
    train_data : iterable or callable
        Batches ``(x, target)`` or ``(x, target, lengths)`` (a list, or any
        iterable that can be iterated again), or a callable returning a fresh
        iterable of them for each epoch (e.g. shuffled as you like). With
        ``tbptt``, each batch is a long stream ``(x, target)``.
    val_data : iterable or callable, optional
        Batches as ``train_data``, evaluated after each epoch with
        ``train=False``: ``"val_loss"`` is the mean over the batches weighted
        by their number of target items (``target.size``, or the items the
        length mask keeps).
    epochs : int, default 1
        The number of passes (>= 1); callbacks may stop earlier.
    clip : float, optional
        The largest total gradient norm (``fastrnn.clip_grad_norm``).
    callbacks : sequence of Callback, default ()
        Called in order at each hook.
    scheduler : object with step(), optional
        Stepped after each epoch (``scheduler_interval="epoch"``) or each
        optimizer step ("batch"). When its ``step`` requires an argument
        (``ReduceLROnPlateau``) it gets ``val_loss`` (``loss`` without
        ``val_data``), per epoch only.
    scheduler_interval : {"epoch", "batch"}, default "epoch"
        When ``scheduler`` steps ("batch" for ``OneCycleLR``).
    metrics : dict of callables, optional
        ``{name: fn(output, target[, mask=]) -> float}``, evaluated on
        ``val_data`` as ``"val_<name>"`` (weighted as the loss).
    tbptt : int or TruncatedBPTT, optional
        Truncated BPTT over each batch's stream in windows of this many steps
        (or by this ``TruncatedBPTT`` of ``model`` and ``loss``): one step per
        window, each stream from a zero state.
    progress : bool, default True
        A tqdm bar per epoch, its postfix the running mean loss.

    Returns
    -------
    History
        ``{"loss": [...], "lr": [...], "val_loss": [...], ...}``, one value
        per epoch run (``lr``: the learning rate of the epoch's last step),
        with ``epoch``, ``steps`` and ``stopped_early``.

    Raises
    ------
    TypeError
        For a model, loss, optimizer, scheduler or callback without what is
        needed, a batch that is not ``(x, target[, lengths])``, a one-shot
        iterator (a generator) as data with ``epochs > 1``, or a loss without
        ``mask=`` for padded per-step targets.
    ValueError
        For ``epochs``, ``clip`` or ``tbptt`` out of range, a metric-driven
        scheduler with ``scheduler_interval="batch"``, lengths with ``tbptt``,
        or an epoch whose data yields no batch.
    FloatingPointError
        When a training loss is NaN or infinite: raised before that batch's
        optimizer step (the parameters are those of the step before), with
        the history so far as the exception's ``history``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5, 32, 2)).astype(np.float32)        # (T, N, input_size)
    >>> y = (x[:, :, 0].sum(axis=0) > 0).astype(np.int64)             # (N,) classes
    >>> model = fastrnn.SequenceClassifier(fastrnn.GRU(2, 8, seed=0), num_classes=2, seed=1)
    >>> opt = fastrnn.optim.Adam(model, lr=0.05)
    >>> batches = [(x[:, :16], y[:16]), (x[:, 16:], y[16:])]
    >>> history = fastrnn.fit(model, fastrnn.softmax_cross_entropy, opt, batches,
    ...                       val_data=batches, epochs=5, clip=1.0, progress=False)
    >>> len(history["loss"]), history.steps, history["loss"][-1] < history["loss"][0]
    (5, 10, True)
    """
    epochs = V.check_positive_int("epochs", epochs)
    callbacks, wants_metric, tb, metrics = _check_args(
        model, loss, optimizer, clip, callbacks, scheduler, scheduler_interval, tbptt, metrics)
    train_data = _check_data("train_data", train_data, epochs, required=True)
    val_data = _check_data("val_data", val_data, epochs, required=False)
    progress = V.check_bool("progress", progress)
    run = _Runner(model, loss)
    history = History()

    for cb in callbacks:
        cb.model, cb.optimizer = model, optimizer
    for cb in callbacks:
        cb.on_train_begin()
    stop = False
    for epoch in range(1, epochs + 1):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        batches = _epoch_batches("train_data", train_data, epoch)
        total = len(train_data) if tb is None and hasattr(train_data, "__len__") else None
        bar = _progress_bar(progress, total, f"epoch {epoch}/{epochs}")
        loss_sum = weight_sum = 0.0
        steps_before = history.steps
        try:
            for index, batch in enumerate(batches, 1):
                x, target, lengths = _unpack("train_data", batch, epoch, index)
                for value, size in _train_steps(run, tb, x, target, lengths, epoch, index):
                    step = history.steps + 1
                    if not math.isfinite(value):
                        exc = FloatingPointError(
                            f"fit: epoch {epoch}, batch {index}, step {step}: the training "
                            f"loss is {value}; stopped before this step's update (try a "
                            f"lower learning rate or clip=...)")
                        exc.history = history
                        raise exc
                    logs = {"loss": value, "size": size}
                    for cb in callbacks:
                        cb.on_after_backward(step, logs)
                    logs = {"epoch": epoch, "batch": index, **logs}
                    if clip is not None:
                        logs["grad_norm"] = clip_grad_norm(model.grads, clip)
                    last_lr = _lr(optimizer)   # the lr of the epoch's last step, for the history
                    optimizer.step()
                    history.steps = step
                    if scheduler is not None and scheduler_interval == "batch":
                        scheduler.step()
                    loss_sum += value * size
                    weight_sum += size
                    if bar is not None:
                        bar.set_postfix(loss=f"{loss_sum / weight_sum:.4f}")
                        bar.update(1)
                    for cb in callbacks:
                        stop = bool(cb.on_batch_end(step, logs)) or stop
                    if stop:
                        break
                if stop:
                    break
            if history.steps == steps_before:
                raise ValueError(f"train_data: expected at least one batch per epoch, "
                                 f"got none in epoch {epoch}")
            logs = {"loss": loss_sum / weight_sum if weight_sum else math.nan}
            if last_lr is not None:
                logs["lr"] = last_lr
            if val_data is not None:
                logs.update(_validate(run, val_data, metrics, epoch))
            if bar is not None and "val_loss" in logs:
                bar.set_postfix(loss=f"{logs['loss']:.4f}", val_loss=f"{logs['val_loss']:.4f}")
        finally:
            if bar is not None:
                bar.close()
        history._append(epoch, logs)
        if scheduler is not None and scheduler_interval == "epoch":
            if wants_metric:
                scheduler.step(logs["val_loss" if "val_loss" in logs else "loss"])
            else:
                scheduler.step()
        for cb in callbacks:
            stop = bool(cb.on_epoch_end(epoch, dict(logs))) or stop
        if stop:
            break
    history.stopped_early = stop
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _train_steps(run, tb, x, target, lengths, epoch, index):
    """Yield (loss, size) after each backward: once per batch, or once per TBPTT window."""
    model = run.model
    if tb is not None:
        if lengths is not None:
            raise ValueError(f"train_data: epoch {epoch}, batch {index}: expected (x, target) "
                             f"streams with tbptt, got lengths too")
        for w in tb.run(x, target):
            yield w.loss, w.count
        return
    out = run.forward(x, lengths, train=True)
    mask = run.mask(x, target, lengths)
    value, dout = run.loss_and_grad(out, target, mask)
    model.zero_grad()
    if math.isfinite(value):
        if run.recurrent:
            model.backward(dout, None)
        else:
            model.backward(dout)
    yield value, run.size(target, mask)


def _validate(run, val_data, metrics, epoch):
    """{"val_loss": ..., "val_<metric>": ...}: means over the batches weighted by target.size."""
    sums = dict.fromkeys(["val_loss"] + [f"val_{k}" for k in metrics], 0.0)
    weight = 0
    for index, batch in enumerate(_epoch_batches("val_data", val_data, epoch), 1):
        x, target, lengths = _unpack("val_data", batch, epoch, index)
        out = run.forward(x, lengths, train=False)
        mask = run.mask(x, target, lengths)
        size = run.size(target, mask)
        value, _ = run.loss_and_grad(out, target, mask)
        sums["val_loss"] += value * size
        for name, fn in metrics.items():
            sums[f"val_{name}"] += float(run.evaluate(fn, f"metrics[{name!r}]", out, target,
                                                      mask)) * size
        weight += size
    if weight == 0:
        raise ValueError(f"val_data: expected at least one batch with targets, got none in "
                         f"epoch {epoch}")
    return {k: v / weight for k, v in sums.items()}
