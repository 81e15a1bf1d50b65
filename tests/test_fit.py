"""fastrnn.fit and fastrnn.callbacks: the loop equals a hand-written one bit for bit, the
history, early stopping, checkpoints, clipping, schedulers, TBPTT and the errors."""

import math

import numpy as np
import pytest

import fastrnn
from fastrnn.callbacks import Callback, EarlyStopping, History, ModelCheckpoint

SCE = fastrnn.softmax_cross_entropy


def classifier(seed=0):
    return fastrnn.SequenceClassifier(fastrnn.GRU(2, 6, dtype=np.float64, seed=seed),
                                      num_classes=2, seed=seed + 1)


def classification_batches(sizes=(8, 8, 5), T=5, seed=0):
    """(x, y, lengths) batches of the sum-sign task, the last one smaller."""
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        x = rng.standard_normal((T, n, 2))
        lengths = rng.integers(2, T + 1, size=n)
        steps = np.arange(T)[:, None] < lengths[None, :]
        y = ((x[:, :, 0] * steps).sum(axis=0) > 0).astype(np.int64)
        out.append((x, y, lengths))
    return out


def params_bytes(model):
    return {k: v.tobytes() for k, v in model.params.items()}


def same_params(a, b):
    return params_bytes(a) == params_bytes(b)


class Scripted:
    """A metric returning the next value of a script per call (one validation batch per epoch)."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def __call__(self, out, target):
        self.calls += 1
        return self.values[self.calls - 1]


class Snapshots(Callback):
    """Records a copy of the parameters at every epoch's end."""

    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = {k: v.copy() for k, v in self.model.params.items()}


# --- the loop -------------------------------------------------------------------------------

def test_fit_lowers_the_loss_and_records_one_entry_per_epoch():
    model = classifier()
    opt = fastrnn.optim.Adam(model, lr=0.05)
    train = classification_batches()
    val = classification_batches((6, 4), seed=1)
    history = fastrnn.fit(model, SCE, opt, train, val_data=val, epochs=8, progress=False)
    assert isinstance(history, History)
    assert history.epoch == list(range(1, 9))
    assert set(history) == {"loss", "val_loss", "lr"}
    assert all(len(v) == 8 for v in history.values())
    assert history["lr"] == [0.05] * 8
    assert history.steps == 8 * len(train) and not history.stopped_early
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]


@pytest.mark.parametrize("kind", ["classifier", "tagger", "sequential"])
def test_fit_equals_a_hand_written_loop_bit_for_bit(kind):
    """Same optimizer, same batches: the same parameters, and the history's loss is the mean
    of the batch losses weighted by their kept target items."""
    T = 5
    rng = np.random.default_rng(3)
    batches = []
    for n in (4, 3):
        x = rng.standard_normal((T, n, 2))
        lengths = rng.integers(1, T + 1, size=n)
        if kind == "classifier":
            y = rng.integers(0, 3, size=n)
        elif kind == "tagger":
            y = rng.integers(0, 3, size=(T, n))
        else:
            y = rng.standard_normal((T, n, 3))
        batches.append((x, y, lengths))

    def build():
        rnn = fastrnn.LSTM(2, 4, dtype=np.float64, seed=0)
        if kind == "classifier":
            return fastrnn.SequenceClassifier(rnn, num_classes=3, seed=1)
        if kind == "tagger":
            return fastrnn.SequenceTagger(rnn, num_classes=3, seed=1)
        return fastrnn.Sequential(rnn, fastrnn.Linear(4, 3, dtype=np.float64, seed=1))

    loss = fastrnn.mse if kind == "sequential" else SCE
    fitted, by_hand = build(), build()
    opt_f = fastrnn.optim.Adam(fitted, lr=0.03)
    opt_h = fastrnn.optim.Adam(by_hand, lr=0.03)
    history = fastrnn.fit(fitted, loss, opt_f, batches, epochs=3, clip=0.5, progress=False)

    epoch_losses = []
    for _ in range(3):
        total = weight = 0.0
        for x, y, lengths in batches:
            out = by_hand.forward(x, lengths=lengths, train=True)
            if kind == "sequential":
                out = out[0]
            if kind == "classifier":
                value, dout = loss(out, y)
                size = y.size
            else:
                mask = fastrnn.length_mask(lengths, T)
                value, dout = loss(out, y, mask=mask)
                size = int(mask.sum()) * (y.size // mask.size)
            by_hand.zero_grad()
            if kind == "sequential":
                by_hand.backward(dout, None)
            else:
                by_hand.backward(dout)
            fastrnn.clip_grad_norm(by_hand.grads, 0.5)
            opt_h.step()
            total += value * size
            weight += size
        epoch_losses.append(total / weight)
    assert same_params(fitted, by_hand)
    assert history["loss"] == epoch_losses


def test_tbptt_equals_truncated_bptt_by_hand():
    def build():
        return fastrnn.Sequential(fastrnn.Embedding(5, 4, dtype=np.float64, seed=0),
                                  fastrnn.GRU(4, 6, dtype=np.float64, seed=1),
                                  fastrnn.Linear(6, 5, dtype=np.float64, seed=2))
    stream = (np.arange(3 * 41).reshape(41, 3) * 7) % 5                # (T, N) token ids
    x, y = stream[:-1], stream[1:]
    fitted, by_hand = build(), build()
    opt_f, opt_h = fastrnn.optim.SGD(fitted, lr=0.2), fastrnn.optim.SGD(by_hand, lr=0.2)
    steps = []

    class Steps(Callback):
        def on_batch_end(self, step, logs):
            steps.append((step, logs["batch"], logs["size"]))

    history = fastrnn.fit(fitted, SCE, opt_f, [(x, y)], epochs=2, clip=1.0, tbptt=16,
                          callbacks=[Steps()], progress=False)
    tb = fastrnn.TruncatedBPTT(by_hand, window=16)
    window_losses = []
    for _ in range(2):
        for w in tb.run(x, y):
            fastrnn.clip_grad_norm(by_hand.grads, 1.0)
            opt_h.step()
            window_losses.append((w.loss, w.count))
    assert same_params(fitted, by_hand)
    assert history.steps == 6 and [s for s, _, _ in steps] == list(range(1, 7))
    assert [size for _, _, size in steps] == [48, 48, 24] * 2            # windows of 16, 16, 8
    first = window_losses[:3]
    assert history["loss"][0] == pytest.approx(sum(v * c for v, c in first) / 120, rel=1e-12)


def test_validation_runs_without_training_and_weighs_batches_by_size():
    flags = []

    class Recorder(fastrnn.SequenceClassifier):
        def forward(self, x, lengths=None, state=None, train=True):
            flags.append(train)
            return super().forward(x, lengths=lengths, state=state, train=train)

    model = Recorder(fastrnn.GRU(2, 5, dtype=np.float64, seed=0), num_classes=2, seed=1)
    opt = fastrnn.optim.SGD(model, lr=0.1)
    train = classification_batches((6,))
    val = classification_batches((3, 7), seed=2)                        # unequal sizes
    history = fastrnn.fit(model, SCE, opt, train, val_data=val, epochs=2, progress=False)
    assert flags == [True, False, False] * 2
    values = [SCE(model.forward(x, lengths=n, train=False), y)[0] for x, y, n in val]
    expected = (3 * values[0] + 7 * values[1]) / 10
    assert history["val_loss"][-1] == pytest.approx(expected, rel=1e-12)
    assert abs(expected - np.mean(values)) > 1e-6                       # weighting matters


def test_callable_data_gives_a_fresh_iterable_per_epoch():
    train = classification_batches((4, 4))
    calls = []

    def data():
        calls.append(1)
        return (b for b in train)                                       # a new generator

    model = classifier()
    history = fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), data, epochs=3,
                          progress=False)
    assert len(calls) == 3 and history.steps == 6
    one_shot = classifier()                                             # fine for one epoch
    h1 = fastrnn.fit(one_shot, SCE, fastrnn.optim.SGD(one_shot, lr=0.1), iter(train),
                     progress=False)
    assert h1.steps == 2


def test_hooks_run_in_order_and_a_batch_hook_can_stop():
    events = []

    class Log(Callback):
        def on_train_begin(self):
            events.append("begin")

        def on_epoch_begin(self, epoch):
            events.append(f"epoch{epoch}")

        def on_after_backward(self, step, logs):
            events.append(f"backward{step}")

        def on_batch_end(self, step, logs):
            events.append(f"batch{step}")
            return step == 3

        def on_epoch_end(self, epoch, logs):
            events.append(f"end{epoch}")

        def on_train_end(self, history):
            events.append("done")

    model = classifier()
    history = fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1),
                          classification_batches((4, 4)), epochs=5, callbacks=[Log()],
                          progress=False)
    assert events == ["begin", "epoch1", "backward1", "batch1", "backward2", "batch2", "end1",
                      "epoch2", "backward3", "batch3", "end2", "done"]
    assert history.epoch == [1, 2] and history.steps == 3 and history.stopped_early


def test_after_backward_sees_the_gradients_before_clipping_and_the_step():
    seen = []

    class Grab(Callback):
        def on_after_backward(self, step, logs):
            seen.append((fastrnn.grad_norm(self.model.grads),
                         {k: v.copy() for k, v in self.model.params.items()}))

        def on_batch_end(self, step, logs):
            seen.append(logs["grad_norm"])

    model = classifier()
    before = {k: v.copy() for k, v in model.params.items()}
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), classification_batches((4,)),
                clip=1e-3, callbacks=[Grab()], progress=False)
    (norm, params), logged = seen
    assert norm == logged and norm > 1e-3                               # before clipping
    assert all(np.array_equal(params[k], before[k]) for k in before)    # before the step


def test_clip_is_applied_as_clip_grad_norm():
    x, y, lengths = classification_batches((6,))[0]
    fitted, by_hand, unclipped = classifier(), classifier(), classifier()
    fastrnn.fit(fitted, SCE, fastrnn.optim.SGD(fitted, lr=0.5), [(x, y, lengths)], clip=0.01,
                progress=False)
    fastrnn.fit(unclipped, SCE, fastrnn.optim.SGD(unclipped, lr=0.5), [(x, y, lengths)],
                progress=False)
    by_hand.zero_grad()
    by_hand.backward(SCE(by_hand.forward(x, lengths=lengths), y)[1])
    norm = fastrnn.clip_grad_norm(by_hand.grads, 0.01)
    fastrnn.optim.SGD(by_hand, lr=0.5).step()
    assert norm > 0.01
    assert same_params(fitted, by_hand) and not same_params(fitted, unclipped)


# --- schedulers -----------------------------------------------------------------------------

class Halving:
    """An epoch scheduler: halves the optimizer's lr at each step()."""

    def __init__(self, opt):
        self.opt, self.calls = opt, 0

    def step(self):
        self.calls += 1
        self.opt.lr /= 2


class Plateau:
    """ReduceLROnPlateau-like: step(metric) requires the metric."""

    def __init__(self):
        self.mode, self.metrics = "min", []

    def step(self, metric):
        self.metrics.append(metric)


def test_an_epoch_scheduler_steps_once_per_epoch_and_the_history_has_each_lr():
    model = classifier()
    opt = fastrnn.optim.SGD(model, lr=0.4)
    sched = Halving(opt)
    history = fastrnn.fit(model, SCE, opt, classification_batches(), epochs=3,
                          scheduler=sched, progress=False)
    assert sched.calls == 3
    assert history["lr"] == [0.4, 0.2, 0.1] and opt.lr == 0.05


def test_a_batch_scheduler_steps_after_every_optimizer_step():
    model = classifier()
    opt = fastrnn.optim.SGD(model, lr=0.4)
    sched = Halving(opt)
    history = fastrnn.fit(model, SCE, opt, classification_batches(), epochs=2,
                          scheduler=sched, scheduler_interval="batch", progress=False)
    assert sched.calls == history.steps == 6


@pytest.mark.parametrize("with_val", [True, False])
def test_a_plateau_scheduler_gets_the_val_loss_or_the_loss(with_val):
    model = classifier()
    sched = Plateau()
    history = fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1),
                          classification_batches(), epochs=3, scheduler=sched,
                          val_data=classification_batches((5,), seed=4) if with_val else None,
                          progress=False)
    assert sched.metrics == history["val_loss" if with_val else "loss"]
    with pytest.raises(ValueError, match="scheduler_interval"):
        fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), classification_batches(),
                    scheduler=sched, scheduler_interval="batch", progress=False)


def test_fastrnns_own_schedulers_drive_the_lr_as_they_do_by_hand():
    """fit with StepLR (epochs), OneCycleLR (batches) and ReduceLROnPlateau (val_loss): the lr
    history is what the same scheduler gives stepped by hand."""
    sch = fastrnn.optim.lr_scheduler
    cases = [(lambda o: sch.StepLR(o, step_size=2, gamma=0.5), "epoch", False),
             (lambda o: sch.OneCycleLR(o, max_lr=0.5, total_steps=12), "batch", False),
             # mode="max" on a falling val_loss: never an improvement, so it reduces
             (lambda o: sch.ReduceLROnPlateau(o, mode="max", patience=1, factor=0.5), "epoch",
              True)]
    for make, interval, plateau in cases:
        model = classifier()
        opt = fastrnn.optim.SGD(model, lr=0.3, momentum=0.9)
        val = classification_batches((5,), seed=4)
        history = fastrnn.fit(model, SCE, opt, classification_batches(), val_data=val,
                              epochs=4, scheduler=make(opt), scheduler_interval=interval,
                              progress=False)
        by_hand = make(fastrnn.optim.SGD(classifier(), lr=0.3, momentum=0.9))
        lrs = []   # the lr of each epoch's last step
        for epoch in range(4):
            for k in range(3 if interval == "batch" else 1):
                if k == 2 or interval == "epoch":
                    lrs.append(by_hand.get_last_lr()[0])
                by_hand.step(history["val_loss"][epoch]) if plateau else by_hand.step()
        assert history["lr"] == lrs, (make, history["lr"], lrs)
        assert len(set(lrs)) > 1
        assert opt.lr == by_hand.get_last_lr()[0]


# --- early stopping and checkpoints ----------------------------------------------------------

def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_parameters():
    model = classifier()
    script = Scripted([5.0, 4.0, 3.0, 3.5, 3.2, 2.0, 1.0, 0.5])
    stop = EarlyStopping(monitor="val_score", patience=2)
    snaps = Snapshots()
    history = fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.2),
                          classification_batches(), val_data=classification_batches((5,), seed=4),
                          epochs=8, metrics={"score": script}, callbacks=[snaps, stop],
                          progress=False)
    assert history["val_score"] == [5.0, 4.0, 3.0, 3.5, 3.2]
    assert history.epoch == [1, 2, 3, 4, 5] and history.stopped_early
    assert (stop.best, stop.best_epoch, stop.stopped_epoch) == (3.0, 3, 5)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, snaps.states[3][k], err_msg=k)
    assert not np.array_equal(snaps.states[3]["head.weight"], snaps.states[5]["head.weight"])


def test_early_stopping_min_delta_max_mode_and_no_restore():
    stop = EarlyStopping(monitor="val_acc", patience=1, min_delta=0.05)
    assert stop.mode == "max"
    stop.on_train_begin()
    assert [stop.on_epoch_end(e, {"val_acc": v})
            for e, v in enumerate([0.5, 0.6, 0.62, 0.7], 1)] == [False, False, True, False]
    model = classifier()
    snaps = Snapshots()
    keep = EarlyStopping(monitor="val_score", patience=1, restore_best=False)
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.2), classification_batches(),
                val_data=classification_batches((5,), seed=4), epochs=5,
                metrics={"score": Scripted([1.0, 2.0, 3.0, 4.0, 5.0])},
                callbacks=[snaps, keep], progress=False)
    assert keep.stopped_epoch == 2
    for k, v in model.params.items():                        # the last epoch's parameters
        np.testing.assert_array_equal(v, snaps.states[2][k], err_msg=k)


def test_a_nan_monitor_value_never_improves():
    stop = EarlyStopping(monitor="loss", patience=2)
    stop.on_train_begin()
    out = [stop.on_epoch_end(e, {"loss": v}) for e, v in enumerate([1.0, math.nan, math.nan], 1)]
    assert out == [False, False, True] and stop.best == 1.0


def test_model_checkpoint_saves_only_on_improvement(tmp_path):
    model = classifier()
    snaps = Snapshots()
    best = ModelCheckpoint(tmp_path / "best.npz", monitor="val_score")
    each = ModelCheckpoint(str(tmp_path / "e{epoch}-{val_score:.1f}.npz"), monitor="val_score")
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.2), classification_batches(),
                val_data=classification_batches((5,), seed=4), epochs=5,
                metrics={"score": Scripted([3.0, 2.0, 2.5, 1.0, 1.5] * 2)},
                callbacks=[snaps, best, each], progress=False)
    assert [e for e, _ in best.saved] == [1, 2, 4] and best.best == 1.0
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == ["e1-3.0.npz", "e2-2.0.npz",
                                                               "e4-1.0.npz"]
    loaded = fastrnn.load(tmp_path / "best.npz")
    assert type(loaded) is type(model)
    for k, v in loaded.params.items():
        np.testing.assert_array_equal(v, snaps.states[4][k], err_msg=k)
    assert not np.array_equal(loaded.params["head.weight"], model.params["head.weight"])
    assert fastrnn.io.read_header(tmp_path / "best.npz")["meta"] == {"epoch": 4,
                                                                     "val_score": 1.0}


def test_model_checkpoint_every_epoch_and_a_failed_save_raises(tmp_path):
    model = classifier()
    every = ModelCheckpoint(tmp_path / "m{epoch}.npz", monitor="loss", save_best_only=False)
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.2), classification_batches(),
                epochs=3, callbacks=[every], progress=False)
    assert [e for e, _ in every.saved] == [1, 2, 3]
    assert all((tmp_path / f"m{e}.npz").exists() for e in (1, 2, 3))
    with pytest.raises(FileNotFoundError):
        fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.2), classification_batches(),
                    callbacks=[ModelCheckpoint(tmp_path / "no" / "m.npz", monitor="loss")],
                    progress=False)


# --- progress, NaN and errors ----------------------------------------------------------------

def test_the_progress_bar_shows_the_epoch_and_the_loss(capsys):
    pytest.importorskip("tqdm")
    model = classifier()
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), classification_batches(),
                val_data=classification_batches((5,), seed=4), epochs=2)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss=" in err and "val_loss=" in err
    fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), classification_batches(),
                progress=False)
    assert capsys.readouterr().err == ""


def test_a_nan_loss_stops_before_its_update_with_the_history_so_far():
    calls = []

    def flaky(out, target):
        calls.append(1)
        value, dout = SCE(out, target)
        return (math.nan if len(calls) == 4 else value), dout

    model = classifier()
    snaps = Snapshots()
    with pytest.raises(FloatingPointError, match="epoch 2, batch 1, step 4") as info:
        fastrnn.fit(model, flaky, fastrnn.optim.SGD(model, lr=0.1), classification_batches(),
                    epochs=3, callbacks=[snaps], progress=False)
    assert info.value.history["loss"] and info.value.history.steps == 3
    for k, v in model.params.items():                        # after step 3 = end of epoch 1
        np.testing.assert_array_equal(v, snaps.states[1][k], err_msg=k)


def _fit(**kw):
    model = kw.pop("model", None) or classifier()
    args = dict(model=model, loss=SCE, optimizer=fastrnn.optim.SGD(model, lr=0.1),
                train_data=classification_batches((4,)), progress=False)
    args.update(kw)
    return fastrnn.fit(**args)


@pytest.mark.parametrize("kw, error, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 2.0}, TypeError, "epochs"),
    ({"loss": "sce"}, TypeError, "loss: expected a callable"),
    ({"optimizer": object()}, TypeError, "optimizer"),
    ({"model": object()}, TypeError, "model"),
    ({"train_data": []}, ValueError, "at least one batch"),
    ({"train_data": lambda: []}, ValueError, "epoch 1"),
    ({"train_data": 3}, TypeError, "train_data"),
    ({"train_data": [(1,)]}, TypeError, r"expected \(x, target\)"),
    ({"train_data": (b for b in classification_batches((4,))), "epochs": 2}, TypeError,
     "generator"),
    ({"val_data": iter(classification_batches((4,))), "epochs": 2}, TypeError, "val_data"),
    ({"clip": -1.0}, ValueError, "clip"),
    ({"clip": "1"}, TypeError, "clip"),
    ({"callbacks": [object()]}, TypeError, r"callbacks\[0\]"),
    ({"callbacks": EarlyStopping()}, TypeError, "list of Callback"),
    ({"scheduler": object()}, TypeError, "scheduler"),
    ({"scheduler_interval": "step"}, ValueError, "scheduler_interval"),
    ({"tbptt": 0}, ValueError, "tbptt"),
    ({"tbptt": 4}, ValueError, "lengths"),
    ({"metrics": {"acc": 1}}, TypeError, "metrics"),
    ({"progress": 1}, TypeError, "progress"),
    ({"loss": lambda out, target: 1.0}, TypeError, r"\(value, doutput\)"),
    ({"callbacks": [EarlyStopping()]}, ValueError, "val_data"),
])
def test_bad_arguments_raise_naming_them(kw, error, match):
    with pytest.raises(error, match=match):
        _fit(**kw)


def test_per_step_targets_with_lengths_need_a_loss_taking_a_mask():
    model = fastrnn.SequenceTagger(fastrnn.GRU(2, 4, dtype=np.float64, seed=0), num_classes=3)
    x = np.zeros((4, 2, 2))
    y = np.zeros((4, 2), dtype=np.int64)
    with pytest.raises(TypeError, match="mask="):
        fastrnn.fit(model, lambda out, t: SCE(out, t), fastrnn.optim.SGD(model, lr=0.1),
                    [(x, y, [4, 2])], progress=False)
    history = fastrnn.fit(model, SCE, fastrnn.optim.SGD(model, lr=0.1), [(x, y, [4, 2])],
                          progress=False)
    assert history.steps == 1


def test_a_tbptt_of_another_model_is_refused():
    model = classifier()
    other = fastrnn.TruncatedBPTT(fastrnn.GRU(2, 3), window=4)
    with pytest.raises(ValueError, match="tbptt"):
        _fit(model=model, tbptt=other)


@pytest.mark.parametrize("make, error", [
    (lambda: EarlyStopping(patience=0), ValueError),
    (lambda: EarlyStopping(patience=1.5), TypeError),
    (lambda: EarlyStopping(mode="lowest"), ValueError),
    (lambda: EarlyStopping(min_delta=-1), ValueError),
    (lambda: EarlyStopping(monitor=3), TypeError),
    (lambda: EarlyStopping(restore_best="yes"), TypeError),
    (lambda: ModelCheckpoint(None), TypeError),
    (lambda: ModelCheckpoint("m.npz", save_best_only=1), TypeError),
])
def test_callbacks_refuse_bad_arguments(make, error):
    with pytest.raises(error):
        make()
