"""Optimizers: torch.optim's trajectories to 1e-9 in float64, decay selection, state, errors."""

import numpy as np
import pytest

import fastrnn
from fastrnn import optim

SHAPES = {"weight": (4, 3), "bias": (4,), "kernel": (2, 3, 2)}
STEPS = 6


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = {k: np.zeros(s) for k, s in SHAPES.items()}
    return params, grads


def fill_grads(params, grads, step):
    """A gradient depending on the parameters (a quadratic) plus step noise, sign changes included."""
    rng = np.random.default_rng(100 + step)
    for k in params:
        grads[k][...] = 0.7 * params[k] - 0.2 + rng.standard_normal(params[k].shape)


def run_against_torch(make_ours, make_theirs, l1=0.0, steps=STEPS):
    torch = pytest.importorskip("torch")
    params, grads = make_params()
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours = make_ours(params, grads)
    theirs = make_theirs(torch, tparams)
    for step in range(steps):
        fill_grads(params, grads, step)
        for k, p in tparams.items():
            g = grads[k].copy()
            if l1:
                g = g + l1 * np.sign(p.detach().numpy())
            p.grad = torch.tensor(g)
        ours.step()
        theirs.step()
        for k, p in tparams.items():
            np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{k} after step {step + 1}")
    return ours


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.03, weight_decay=0.2, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3,
                     eps=1e-8)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, eps=1e-6)),
]


@pytest.mark.parametrize("name,kw", CASES,
                         ids=[f"{n}-{'-'.join(k for k in kw if k != 'lr') or 'plain'}"
                              for n, kw in CASES])
def test_matches_torch_optim(name, kw):
    run_against_torch(lambda p, g: getattr(optim, name)(p, g, **kw),
                      lambda torch, tp: getattr(torch.optim, name)(list(tp.values()), **kw))


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(lr=0.01)), ("Adagrad", dict(lr=0.1))])
def test_l1_adds_l1_sign_p_to_the_gradient(name, kw):
    run_against_torch(lambda p, g: getattr(optim, name)(p, g, l1=0.05, **kw),
                      lambda torch, tp: getattr(torch.optim, name)(list(tp.values()), **kw),
                      l1=0.05)


@pytest.mark.parametrize("decay", ["weights", lambda name, p: p.ndim >= 2,
                                   {"weight", "kernel"}])
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_decay_selection_equals_torch_param_groups(name, decay):
    kw = dict(lr=0.05, weight_decay=0.3)
    if name == "SGD":
        kw["momentum"] = 0.5

    def theirs(torch, tp):
        return getattr(torch.optim, name)([
            {"params": [tp["weight"], tp["kernel"]]},
            {"params": [tp["bias"]], "weight_decay": 0.0}], **kw)

    opt = run_against_torch(lambda p, g: getattr(optim, name)(p, g, decay=decay, **kw), theirs)
    assert opt.decay == {"weight", "kernel"}


def test_decay_default_is_everything_and_errors_name_unknowns():
    p, g = make_params()
    assert optim.SGD(p, g).decay == set(SHAPES)
    with pytest.raises(ValueError, match="unknown names.*nope"):
        optim.SGD(p, g, decay={"weight", "nope"})
    with pytest.raises(ValueError, match="decay"):
        optim.Adam(p, g, decay="biases")


def test_step_updates_model_parameters_in_place_and_zero_grad():
    model = fastrnn.Sequential(fastrnn.LSTM(3, 4, dtype=np.float64, seed=0),
                               fastrnn.Linear(4, 2, dtype=np.float64, seed=1))
    lstm_flat = model[0].params_flat
    before = lstm_flat.copy()
    opt = optim.SGD(model, lr=0.1)
    y, _ = model.forward(np.ones((5, 2, 3)))
    model.backward(np.ones_like(y))
    expected = before - 0.1 * model[0].grads_flat
    opt.step()
    assert model[0].params_flat is lstm_flat
    np.testing.assert_allclose(lstm_flat, expected, rtol=1e-15)
    assert np.any(model[0].grads_flat != 0)
    opt.zero_grad()
    assert not np.any(model[0].grads_flat) and not np.any(model[1].grads_flat)


def test_float32_parameters_stay_float32():
    p = {"w": np.ones((3, 3), dtype=np.float32)}
    g = {"w": np.full((3, 3), 0.5, dtype=np.float32)}
    for cls in (optim.SGD, optim.Adam, optim.AdamW, optim.Adagrad, optim.RMSprop):
        cls(p, g, lr=0.01, weight_decay=0.1).step()
        assert p["w"].dtype == np.float32
    assert np.all(p["w"] < 1)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("Adam", dict(lr=0.01, amsgrad=True)),
                                     ("Adagrad", dict(lr=0.1)),
                                     ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3))])
def test_state_dict_round_trip_resumes_exactly(name, kw):
    cls = getattr(optim, name)
    p1, g1 = make_params()
    opt1 = cls(p1, g1, **kw)
    for step in range(3):
        fill_grads(p1, g1, step)
        opt1.step()
    sd = opt1.state_dict()
    p2 = {k: v.copy() for k, v in p1.items()}
    g2 = {k: np.zeros_like(v) for k, v in p1.items()}
    opt2 = cls(p2, g2, lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.lr == kw["lr"] and opt2.step_count == 3
    for step in range(3, 6):
        fill_grads(p1, g1, step)
        fill_grads(p2, g2, step)
        opt1.step()
        opt2.step()
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    sd["state"]["weight"]["exp_avg" if name == "Adam" else next(iter(sd["state"]["weight"]))] = \
        np.zeros((1, 1))
    with pytest.raises(ValueError, match=r"state\['weight'\]"):
        opt2.load_state_dict(sd)


def test_load_state_dict_checks_before_changing_anything():
    p, g = make_params()
    opt = optim.Adam(p, g, lr=0.01)
    fill_grads(p, g, 0)
    opt.step()
    good = opt.state_dict()
    with pytest.raises(ValueError, match="Adam.*SGD"):
        opt.load_state_dict(optim.SGD(p, g).state_dict())
    bad = opt.state_dict()
    bad["hyperparams"]["lr"] = -1.0
    bad["step_count"] = 7
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.01 and opt.step_count == 1
    for b in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(opt.state["weight"][b], good["state"]["weight"][b])
    missing = opt.state_dict()
    del missing["state"]["bias"]
    with pytest.raises(ValueError, match="missing.*bias"):
        opt.load_state_dict(missing)


@pytest.mark.parametrize("make,match", [
    (lambda p, g: optim.SGD(p, g, lr=-0.1), "lr"),
    (lambda p, g: optim.SGD(p, g, lr=0.1, nesterov=True), "nesterov"),
    (lambda p, g: optim.SGD(p, g, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "dampening"),
    (lambda p, g: optim.Adam(p, g, betas=(1.0, 0.9)), "beta1"),
    (lambda p, g: optim.Adam(p, g, betas=0.9), "betas"),
    (lambda p, g: optim.AdamW(p, g, weight_decay=-1), "weight_decay"),
    (lambda p, g: optim.RMSprop(p, g, alpha=float("nan")), "alpha"),
    (lambda p, g: optim.Adagrad(p, g, lr_decay=-1), "lr_decay"),
    (lambda p, g: optim.SGD(p, {k: v for k, v in g.items() if k != "bias"}), "same keys"),
    (lambda p, g: optim.SGD(p, dict(g, bias=np.zeros(5))), r"grads\['bias'\].*shape"),
    (lambda p, g: optim.SGD(dict(p, bias=np.zeros(4, dtype=int)), g), "floating"),
    (lambda p, g: optim.SGD(p), "grads"),
    (lambda p, g: optim.SGD([1, 2], g), "params"),
])
def test_bad_arguments_name_what_is_wrong(make, match):
    p, g = make_params()
    with pytest.raises((TypeError, ValueError), match=match):
        make(p, g)


def test_bad_hyperparameter_set_later_is_caught_before_any_update():
    p, g = make_params()
    before = {k: v.copy() for k, v in p.items()}
    opt = optim.SGD(p, g, lr=0.1)
    fill_grads(p, g, 0)
    opt.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step()
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
    assert opt.step_count == 0


def test_l2_and_l1_penalties_value_and_gradient():
    p, g = make_params()
    value = fastrnn.l2_penalty(p, 0.1, grads=g)
    assert value == pytest.approx(0.05 * sum(float((a * a).sum()) for a in p.values()))
    for k in p:
        np.testing.assert_allclose(g[k], 0.1 * p[k], rtol=1e-15)
    g2 = {k: np.zeros_like(v) for k, v in p.items()}
    value = fastrnn.l1_penalty(p, 0.2, grads=g2, select="weights")
    assert value == pytest.approx(0.2 * (np.abs(p["weight"]).sum() + np.abs(p["kernel"]).sum()))
    np.testing.assert_array_equal(g2["bias"], 0)
    np.testing.assert_allclose(g2["weight"], 0.2 * np.sign(p["weight"]))
    with pytest.raises(TypeError, match="grads"):
        fastrnn.l2_penalty(p, 0.1)
    with pytest.raises(ValueError, match="lam"):
        fastrnn.l1_penalty(p, -0.1, grads=g)


@pytest.mark.parametrize("penalty,kw", [(fastrnn.l2_penalty, "weight_decay"),
                                        (fastrnn.l1_penalty, "l1")])
def test_penalty_before_step_equals_optimizer_decay(penalty, kw):
    p1, g1 = make_params()
    p2, g2 = make_params()
    a = optim.SGD(p1, g1, lr=0.1, momentum=0.9)
    b = optim.SGD(p2, g2, lr=0.1, momentum=0.9, **{kw: 0.05})
    for step in range(4):
        fill_grads(p1, g1, step)
        fill_grads(p2, g2, step)
        penalty(p1, 0.05, grads=g1)
        a.step()
        b.step()
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-13, atol=1e-14)


def test_penalty_on_a_model():
    layer = fastrnn.Linear(3, 2, dtype=np.float64, seed=0)
    value = fastrnn.l2_penalty(layer, 1.0)
    assert value == pytest.approx(0.5 * float((layer.params_flat ** 2).sum()))
    np.testing.assert_allclose(layer.grads_flat, layer.params_flat)
