"""Learning-rate schedulers: torch.optim.lr_scheduler's sequences to 1e-12, closed forms and
hand-made plateau sequences without torch, OneCycleLR's momentum, state round trips, errors."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn import optim
from fastrnn.optim import lr_scheduler as S

RTOL = 1e-12
STEPS = 30


def make_opt(cls=optim.SGD, **kw):
    params, grads = {"w": np.zeros(3)}, {"w": np.zeros(3)}
    return cls(params, grads, **kw)


def lrs_of(sched, opt, steps, metrics=None):
    """The optimizer's lr after construction and after each of ``steps`` steps."""
    out = [opt.lr]
    for i in range(steps):
        sched.step() if metrics is None else sched.step(metrics[i])
        assert sched.get_last_lr() == [opt.lr]
        out.append(opt.lr)
    return out


# --- the import paths -------------------------------------------------------------------

def test_the_module_is_reachable_by_every_path():
    from fastrnn.optim.lr_scheduler import StepLR
    assert fastrnn.optim.lr_scheduler is S is sys.modules["fastrnn.optim.lr_scheduler"]
    assert StepLR is S.StepLR and S.__name__ == "fastrnn.train.lr_scheduler"
    code = ("import fastrnn.optim.lr_scheduler as m, fastrnn\n"
            "from fastrnn.optim.lr_scheduler import OneCycleLR\n"
            "assert m is fastrnn.optim.lr_scheduler and OneCycleLR is m.OneCycleLR\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(fastrnn.__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr


# --- against torch ------------------------------------------------------------------------

PLATEAU_METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.5, 2.9, 2.9, 2.9, 2.9, 1.0, 1.0,
                   1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.49, 0.49, 0.49, 0.49, 0.49, 0.3, 0.3]

CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5), None),
    ("StepLR", dict(step_size=1, gamma=0.9), None),
    ("MultiStepLR", dict(milestones=[9, 2, 5, 5], gamma=0.3), None),
    ("MultiStepLR", dict(milestones=[0, 4], gamma=0.5), None),
    ("ExponentialLR", dict(gamma=0.93), None),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), None),
    ("CosineAnnealingLR", dict(T_max=10), None),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.001), None),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS), None),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS, anneal_strategy="linear",
                        pct_start=0.25, div_factor=10.0, final_div_factor=100.0), None),
    ("OneCycleLR", dict(max_lr=2.0, epochs=5, steps_per_epoch=6, three_phase=True), None),
    ("OneCycleLR", dict(max_lr=2.0, total_steps=STEPS, three_phase=True,
                        anneal_strategy="linear", pct_start=0.4), None),
    ("ReduceLROnPlateau", dict(patience=2), PLATEAU_METRICS),
    ("ReduceLROnPlateau", dict(factor=0.5, patience=0, cooldown=2, min_lr=0.002),
     PLATEAU_METRICS),
    ("ReduceLROnPlateau", dict(mode="max", factor=0.5, patience=1, threshold=0.05,
                               threshold_mode="abs"), [-m for m in PLATEAU_METRICS]),
    ("ReduceLROnPlateau", dict(factor=0.5, patience=1, threshold=0.1, eps=0.02),
     PLATEAU_METRICS),
]


def torch_lrs(torch, name, kw, metrics, steps, opt_cls="SGD", opt_kw=None):
    p = torch.zeros(3, requires_grad=True)
    topt = getattr(torch.optim, opt_cls)([p], **(opt_kw or dict(lr=0.1, momentum=0.9)))
    sched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    lrs, moms = [topt.param_groups[0]["lr"]], [dict(topt.param_groups[0])]
    for i in range(steps):
        p.grad = torch.ones(3)
        topt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
        lrs.append(topt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [lrs[-1]]
        moms.append(dict(topt.param_groups[0]))
    return lrs, moms


@pytest.mark.parametrize("name, kw, metrics", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_sequence_is_torchs(name, kw, metrics):
    torch = pytest.importorskip("torch")
    # OneCycleLR's last allowed step extrapolates past the cycle: a negative lr with "linear"
    # (test_one_cycle_refuses_a_negative_lr_past_the_cycle)
    steps = STEPS - 1 if kw.get("anneal_strategy") == "linear" else STEPS
    theirs, _ = torch_lrs(torch, name, kw, metrics, steps)
    opt = make_opt(lr=0.1, momentum=0.9)
    ours = lrs_of(getattr(S, name)(opt, **kw), opt, steps, metrics)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    assert len(set(ours)) > 1             # the schedule moved the lr


@pytest.mark.parametrize("opt_cls, opt_kw, attr", [
    ("SGD", dict(lr=0.1, momentum=0.9), "momentum"),
    ("RMSprop", dict(lr=0.1, momentum=0.5), "momentum"),
    ("Adam", dict(lr=0.1, betas=(0.9, 0.99)), "betas"),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.9)), "betas"),
])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_cycles_the_momentum_as_torch(opt_cls, opt_kw, attr, three_phase):
    torch = pytest.importorskip("torch")
    kw = dict(max_lr=0.3, total_steps=20, base_momentum=0.8, max_momentum=0.9,
              three_phase=three_phase)
    _, groups = torch_lrs(torch, "OneCycleLR", kw, None, 20, opt_cls, opt_kw)
    opt = make_opt(getattr(optim, opt_cls), **opt_kw)
    sched = S.OneCycleLR(opt, **kw)
    ours = [getattr(opt, attr)]
    for _ in range(20):
        sched.step()
        ours.append(getattr(opt, attr))
    theirs = [g[attr] for g in groups]
    if attr == "betas":
        assert all(b[1] == opt_kw["betas"][1] for b in ours)     # beta2 is kept
        ours, theirs = [b[0] for b in ours], [b[0] for b in theirs]
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    assert min(ours) == pytest.approx(0.8) and max(ours) == pytest.approx(0.9)


def test_stepping_past_total_steps_fails_like_torch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=1.0, total_steps=5)
    opt = make_opt(lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=5)
    for _ in range(5):                    # torch allows total_steps steps after construction
        p.grad = torch.ones(1)
        topt.step()
        tsched.step()
        sched.step()
    assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=RTOL)
    with pytest.raises(ValueError):
        tsched.step()
    lr = opt.lr
    with pytest.raises(ValueError, match="total_steps=5"):
        sched.step()
    assert opt.lr == lr and sched.last_epoch == 5


def test_one_cycle_refuses_a_negative_lr_past_the_cycle():
    opt = make_opt(lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    lrs_of(sched, opt, 9)
    assert opt.lr == pytest.approx(sched.min_lr, rel=RTOL)      # the cycle's end
    with pytest.raises(ValueError, match="OneCycleLR: epoch 10: the optimizer refuses .* lr"):
        sched.step()                      # torch sets min_lr - (max_lr - min_lr) / 7 < 0
    assert opt.lr == pytest.approx(sched.min_lr, rel=RTOL) and sched.last_epoch == 9
    assert opt.momentum == pytest.approx(0.95)


# --- without torch: closed forms and hand-made sequences ------------------------------------

def test_closed_forms():
    base = 0.2
    for make, closed in [
        (lambda o: S.StepLR(o, step_size=4, gamma=0.3), lambda e: base * 0.3 ** (e // 4)),
        (lambda o: S.MultiStepLR(o, milestones=[3, 7, 7], gamma=0.5),
         lambda e: base * 0.5 ** sum(m <= e for m in (3, 7, 7))),
        (lambda o: S.ExponentialLR(o, gamma=0.9), lambda e: base * 0.9 ** e),
        (lambda o: S.CosineAnnealingLR(o, T_max=12, eta_min=0.01),
         lambda e: 0.01 + (base - 0.01) * (1 + math.cos(math.pi * e / 12)) / 2),
    ]:
        opt = make_opt(lr=base)
        sched = make(opt)
        assert sched.base_lr == base and sched.last_epoch == 0
        lrs = lrs_of(sched, opt, 12)
        assert sched.last_epoch == 12
        np.testing.assert_allclose(lrs, [closed(e) for e in range(13)], rtol=RTOL, atol=1e-15)


def test_cosine_goes_back_up_past_t_max_without_restart():
    opt = make_opt(lr=1.0)
    lrs = lrs_of(S.CosineAnnealingLR(opt, T_max=4), opt, 8)
    assert lrs[4] == 0.0                   # eta_min at T_max
    np.testing.assert_allclose(lrs[4:], [0.0, (1 - math.cos(math.pi / 4)) / 2, 0.5,
                                         (1 + math.cos(math.pi / 4)) / 2, 1.0], atol=1e-12)


def test_the_recursive_schedules_carry_a_manual_change_on():
    opt = make_opt(lr=1.0)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    sched.step()
    opt.lr = 0.1                           # as in torch, the schedule continues from here
    sched.step()
    assert opt.lr == pytest.approx(0.05, rel=RTOL)


def test_one_cycle_milestones():
    opt = make_opt(lr=123.0, momentum=0.5)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=20, pct_start=0.25)
    assert sched.base_lr == sched.initial_lr == 1.0 / 25 and sched.min_lr == 1.0 / 25 / 1e4
    lrs = lrs_of(sched, opt, 19)
    assert lrs[0] == pytest.approx(0.04, rel=RTOL) and opt.momentum == pytest.approx(0.95)
    assert lrs[4] == pytest.approx(1.0, rel=RTOL) and max(lrs) == lrs[4]   # step 0.25*20 - 1
    assert lrs[19] == pytest.approx(0.04 / 1e4, rel=RTOL)
    assert all(a < b for a, b in zip(lrs[:4], lrs[1:5]))
    assert all(a > b for a, b in zip(lrs[4:19], lrs[5:20]))


def test_one_cycle_takes_epochs_times_steps_per_epoch():
    opt = make_opt(lr=0.1, momentum=0.9)
    assert S.OneCycleLR(opt, max_lr=1.0, epochs=3, steps_per_epoch=7).total_steps == 21


def plateau_lrs(metrics, **kw):
    opt = make_opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, **kw)
    assert opt.lr == 1.0 and sched.last_epoch == 0
    assert sched.best == (-math.inf if kw.get("mode") == "max" else math.inf)
    return lrs_of(sched, opt, len(metrics), metrics)[1:]


def test_plateau_patience():
    # best 5 at epoch 1; three epochs not better: the third (> patience=2) reduces
    assert plateau_lrs([5, 5, 6, 5, 5, 5, 5, 4], factor=0.5, patience=2) == \
        [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_plateau_cooldown_ignores_bad_epochs():
    # patience 0: every bad epoch reduces, except for the 2 epochs of cooldown after each
    assert plateau_lrs([5, 6, 6, 6, 6, 6, 6], factor=0.5, patience=0, cooldown=2) == \
        [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_plateau_thresholds_min_lr_and_eps():
    # rel: 4.9 is not below 5 * (1 - 0.05); abs: 4.9 is not below 5 - 0.2, 4.7 is
    assert plateau_lrs([5, 4.9], factor=0.5, patience=0, threshold=0.05) == [1, 0.5]
    assert plateau_lrs([5, 4.9, 4.7], factor=0.5, patience=0, threshold=0.2,
                       threshold_mode="abs") == [1, 0.5, 0.5]
    assert plateau_lrs([1, 2, 2, 2], factor=0.1, patience=0, min_lr=0.05) == [1, .1, .05, .05]
    assert plateau_lrs([1, 2, 2], factor=0.9, patience=0, eps=0.15) == [1, 1, 1]


def test_plateau_max_mode():
    assert plateau_lrs([0.5, 0.6, 0.6, 0.55, 0.7], mode="max", factor=0.5, patience=1) == \
        [1, 1, 1, 0.5, 0.5]


def test_plateau_takes_numpy_metrics_and_refuses_others():
    opt = make_opt(lr=1.0)
    sched = S.ReduceLROnPlateau(opt)
    sched.step(np.float32(2.0))
    sched.step(np.array(1.0))
    assert sched.best == 1.0 and sched.last_epoch == 2
    for bad in ("1.0", None, [1.0, 2.0], True):
        with pytest.raises(TypeError, match="metrics: expected a real number"):
            sched.step(bad)
    assert sched.last_epoch == 2


# --- state ------------------------------------------------------------------------------

RESUMABLE = [
    ("StepLR", dict(step_size=3, gamma=0.5), None),
    ("MultiStepLR", dict(milestones=[2, 8], gamma=0.5), None),
    ("ExponentialLR", dict(gamma=0.9), None),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01), None),
    ("OneCycleLR", dict(max_lr=1.0, epochs=4, steps_per_epoch=5), None),
    ("ReduceLROnPlateau", dict(factor=0.5, patience=1, cooldown=1), PLATEAU_METRICS[:20]),
]


@pytest.mark.parametrize("name, kw, metrics", RESUMABLE, ids=[c[0] for c in RESUMABLE])
def test_state_dict_round_trip_resumes_the_same_sequence(name, kw, metrics):
    cls = getattr(S, name)
    opt_whole = make_opt(lr=0.1, momentum=0.9)
    whole = lrs_of(cls(opt_whole, **kw), opt_whole, 20, metrics)
    opt = make_opt(lr=0.1, momentum=0.9)
    sched = cls(opt, **kw)
    first = lrs_of(sched, opt, 8, metrics)
    state = json.loads(json.dumps(sched.state_dict()))     # plain values only
    opt_state = opt.state_dict()
    opt2 = make_opt(lr=0.1, momentum=0.9)
    sched2 = cls(opt2, **kw)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(state)
    assert sched2.state_dict() == sched.state_dict() and sched2.last_epoch == 8
    rest = lrs_of(sched2, opt2, 12, None if metrics is None else metrics[8:])
    np.testing.assert_allclose(first + rest[1:], whole, rtol=RTOL, atol=0)
    assert opt2.momentum == opt_whole.momentum          # OneCycleLR's momentum too


def test_load_state_dict_checks_everything_first():
    opt = make_opt(lr=1.0)
    sched = S.StepLR(opt, step_size=2)
    sched.step()
    good = sched.state_dict()
    for bad, error, match in [
        ([1, 2], TypeError, "expected a dict"),
        (dict(good, scheduler="ExponentialLR"), ValueError, "state of a StepLR"),
        ({k: v for k, v in good.items() if k != "gamma"}, ValueError, "missing \\['gamma'\\]"),
        (dict(good, extra=1), ValueError, "unknown \\['extra'\\]"),
        (dict(good, step_size=0), ValueError, "step_size"),
        (dict(good, last_epoch=-3), ValueError, "last_epoch"),
        (dict(good, gamma="x"), TypeError, "gamma"),
    ]:
        with pytest.raises(error, match=match):
            sched.load_state_dict(bad)
        assert sched.state_dict() == good
    other = S.StepLR(make_opt(lr=1.0), step_size=5, gamma=0.5)
    other.load_state_dict(good)
    assert other.step_size == 2 and other.gamma == 0.1 and other.last_epoch == 1


def test_a_refused_state_leaves_the_derived_values_too():
    sched = S.OneCycleLR(make_opt(optim.Adagrad, lr=0.1), max_lr=1.0, total_steps=10,
                         cycle_momentum=False)
    state = S.OneCycleLR(make_opt(lr=0.1, momentum=0.9), max_lr=2.0, total_steps=10).state_dict()
    before = dict(vars(sched))
    with pytest.raises(ValueError, match="got Adagrad"):     # cycle_momentum needs momentum
        sched.load_state_dict(state)
    assert vars(sched) == before and sched.initial_lr == 1.0 / 25


# --- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda o: S.StepLR({"lr": 0.1}, step_size=1), TypeError, "optimizer: expected an optim"),
    (lambda o: S.StepLR(o, step_size=0), ValueError, "step_size: expected an int >= 1, got 0"),
    (lambda o: S.StepLR(o, step_size=2.0), TypeError, "step_size: expected an int, got float"),
    (lambda o: S.StepLR(o, step_size=2, gamma=-0.5), ValueError, "gamma"),
    (lambda o: S.MultiStepLR(o, milestones="12"), TypeError, "milestones: expected an iter"),
    (lambda o: S.MultiStepLR(o, milestones=[3, -1]), ValueError, "milestones"),
    (lambda o: S.ExponentialLR(o, gamma=float("nan")), ValueError, "gamma"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=-1.0), ValueError, "eta_min"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError, "expected total_steps, or epochs"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, epochs=3), ValueError, "steps_per_epoch=None"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=0.0, total_steps=9), ValueError, "max_lr"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp"), ValueError,
     "anneal_strategy: expected one of \\['cos', 'linear'\\], got 'exp'"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=9, three_phase=1), TypeError,
     "three_phase: expected a bool"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=9, div_factor=0), ValueError,
     "div_factor"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1), ValueError,
     "longer than 0 steps"),                          # torch: ZeroDivisionError
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode: expected one of"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), TypeError, "min_lr"),
])
def test_bad_arguments_are_refused_and_the_optimizer_is_untouched(make, error, match):
    opt = make_opt(lr=0.1, momentum=0.9)
    with pytest.raises(error, match=match):
        make(opt)
    assert opt.lr == 0.1 and opt.momentum == 0.9


def test_one_cycle_needs_momentum_or_betas():
    opt = make_opt(optim.Adagrad, lr=0.1)
    with pytest.raises(ValueError, match="cycle_momentum=True: expected an optimizer with "
                                         "momentum .* got Adagrad"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert opt.lr == 0.1
    S.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)
    assert opt.lr == pytest.approx(0.04, rel=RTOL)


def test_values_go_through_the_optimizers_checks():
    opt = make_opt(optim.Adam, lr=0.1, betas=(0.9, 0.999))
    with pytest.raises(ValueError, match="beta1"):        # Adam refuses beta1 = 1
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, max_momentum=1.0)
    assert opt.lr == 0.1 and opt.betas == (0.9, 0.999)
    opt.lr = "fast"                                       # a bad value set by hand
    with pytest.raises(TypeError, match="lr: expected a real number"):
        S.ExponentialLR(opt, gamma=0.5)
