"""Defects of the adversarial pass (issue 9), Python side: each test failed before its fix.

* copies and pickles of every layer and model are whole, working, independent
  modules (zero_grad, writes to params_flat, optimizers over them), also across
  a spawned process;
* ``params[k] = value`` copies into the view (checked and cast), never detaches;
  ``param_version`` counts every write the library makes or sees;
* constructors name a bad ``seed`` and refuse oversized layers before allocating.

Clipping of large gradients: tests/test_clip.py; checkpoints: tests/test_io.py;
the CLI's one-line errors: tests/test_cli.py.
"""

import copy
import multiprocessing
import pickle
import tracemalloc

import numpy as np
import pytest

import fastrnn
from fastrnn import (GRU, LSTM, SRN, Embedding, Linear, Seq2Seq, SequenceClassifier,
                     SequenceTagger, Sequential)
from fastrnn import optim


# --- one small instance of every layer and model, with an input ----------------------

def _ids(T=4, N=3, V=6, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(T, N))


FACTORIES = {
    "SRN": lambda: SRN(3, 4, nonlinearity="relu", num_layers=2, seed=0),
    "LSTM": lambda: LSTM(3, 4, bidirectional=True, seed=0),
    "GRU": lambda: GRU(3, 4, reset_after=False, dtype=np.float64, seed=0),
    "Linear": lambda: Linear(3, 2, seed=0),
    "Embedding": lambda: Embedding(6, 3, padding_idx=0, seed=0),
    "Sequential": lambda: Sequential(Embedding(6, 3, seed=0), LSTM(3, 4, seed=1),
                                     Linear(4, 6, seed=2)),
    "SequenceClassifier": lambda: SequenceClassifier(GRU(3, 4, seed=0), 2, pool="mean",
                                                     embedding=Embedding(6, 3, seed=1), seed=2),
    "SequenceTagger": lambda: SequenceTagger(LSTM(3, 4, bidirectional=True, seed=0), 5, seed=1),
    "Seq2Seq": lambda: Seq2Seq(GRU(3, 4, seed=0), GRU(2, 4, seed=1), 5, start_token=3,
                               end_token=4, seed=2),
}
INPUTS = {
    "SRN": lambda: (np.linspace(-1, 1, 36, dtype=np.float32).reshape(4, 3, 3),),
    "LSTM": lambda: (np.linspace(-1, 1, 36, dtype=np.float32).reshape(4, 3, 3),),
    "GRU": lambda: (np.linspace(-1, 1, 36).reshape(4, 3, 3),),
    "Linear": lambda: (np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),),
    "Embedding": lambda: (_ids(),),
    "Sequential": lambda: (_ids(),),
    "SequenceClassifier": lambda: (_ids(),),
    "SequenceTagger": lambda: (np.linspace(-1, 1, 36, dtype=np.float32).reshape(4, 3, 3),),
    "Seq2Seq": lambda: (np.linspace(-1, 1, 36, dtype=np.float32).reshape(4, 3, 3),
                        _ids(3, 3, 5, seed=1)),
}
NAMES = sorted(FACTORIES)


def output(model, inputs, train=True):
    out = model.forward(*inputs, train=train)
    return out[0] if isinstance(out, tuple) else out


def forward_backward(model, inputs):
    """One forward and a backward of sum(output): the gradients it adds."""
    y = output(model, inputs)
    model.backward(np.ones_like(y))
    return y


def leaves(model):
    """The parameter-holding modules (layers, Linear, Embedding) inside ``model``."""
    if isinstance(model, fastrnn.Model):
        return [leaf for _, m in model.named_modules() for leaf in leaves(m)]
    return [model]


def grads_copy(model):
    return {k: g.copy() for k, g in model.grads.items()}


def pickle_round_trip(obj):
    return pickle.loads(pickle.dumps(obj))


COPIES = {"deepcopy": copy.deepcopy, "pickle": pickle_round_trip,
          "pickle-protocol-5": lambda o: pickle.loads(pickle.dumps(o, protocol=5))}


# --- item 1: copies and pickles are whole, working, independent ------------------------

@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", NAMES)
def test_copies_are_working_independent_modules(backend, name, how):
    original = FACTORIES[name]()
    inputs = INPUTS[name]()
    forward_backward(original, inputs)              # a cache and gradients to copy
    clone = COPIES[how](original)
    np.testing.assert_array_equal(output(clone, inputs, train=False),
                                  output(original, inputs, train=False))
    for leaf in leaves(clone):                       # the views alias the copy's own buffers
        for k in leaf.params:
            assert np.shares_memory(leaf.params[k], leaf.params_flat), k
            assert np.shares_memory(leaf.grads[k], leaf.grads_flat), k
    for a, b in zip(leaves(clone), leaves(original)):
        assert not np.shares_memory(a.params_flat, b.params_flat)
        assert not np.shares_memory(a.grads_flat, b.grads_flat)

    # zero_grad zeroes what backward accumulates: two steps give equal gradients
    clone.zero_grad()
    forward_backward(clone, inputs)
    first = grads_copy(clone)
    clone.zero_grad()
    forward_backward(clone, inputs)
    for k, g in clone.grads.items():
        np.testing.assert_array_equal(g, first[k], err_msg=f"{name}: {k} accumulated")

    # a write to params_flat reaches forward (as it does in the original)
    for a, b in zip(leaves(clone), leaves(original)):
        a.params_flat[...] *= 0.5
        b.params_flat[...] *= 0.5
    np.testing.assert_array_equal(output(clone, inputs, train=False),
                                  output(original, inputs, train=False))

    # independent: training the copy leaves the original alone
    before = original.state_dict()
    opt = optim.SGD(clone, lr=0.1)
    opt.step()
    for k, v in original.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert any(not np.array_equal(clone.params[k], before[k]) for k in before)


@pytest.mark.parametrize("name", NAMES)
def test_an_optimizer_over_a_copy_trains_it_as_the_original(name):
    original = FACTORIES[name]()
    clone = copy.deepcopy(original)
    inputs = INPUTS[name]()
    start = clone.state_dict()
    for model in (original, clone):
        opt = optim.Adam(model, lr=0.01)
        for _ in range(3):
            model.zero_grad()
            forward_backward(model, inputs)
            opt.step()
    for k, v in original.params.items():
        assert not np.array_equal(clone.params[k], start[k]) or not np.any(original.grads[k])
        np.testing.assert_array_equal(clone.params[k], v, err_msg=k)
    assert clone.param_version > 0


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", ["LSTM", "Sequential", "Seq2Seq"])
def test_copying_model_and_optimizer_together_keeps_them_linked(name, how):
    """copy.deepcopy((model, opt)) / one pickle of both: the copied optimizer steps the copy."""
    model = FACTORIES[name]()
    inputs = INPUTS[name]()
    sub = {k: v for i, (k, v) in enumerate(model.params.items()) if i % 2 == 0}
    opts = [optim.Adam(model, lr=0.01),                                # over the model
            optim.SGD(sub, {k: model.grads[k] for k in sub}, lr=0.1, momentum=0.9)]  # views
    for _ in range(2):
        model.zero_grad()
        forward_backward(model, inputs)
        for o in opts:
            o.step()
    clone, clone_opts = COPIES[how]((model, opts))
    for _ in range(2):                                   # both go on identically
        for m, os_ in ((model, opts), (clone, clone_opts)):
            m.zero_grad()
            forward_backward(m, inputs)
            for o in os_:
                o.step()
    for k, v in model.params.items():
        np.testing.assert_array_equal(clone.params[k], v, err_msg=k)
    for o in clone_opts:                                 # and the optimizer's arrays are the copy's
        for k, p in o.params.items():
            assert np.shares_memory(p, clone.params[k]) and not np.shares_memory(p, model.params[k])


def _train_in_child(payload):
    """Spawned process: unpickle (model, optimizer), train a few steps, send both back."""
    model, opt, name = pickle.loads(payload)
    inputs = INPUTS[name]()
    for _ in range(3):
        model.zero_grad()
        forward_backward(model, inputs)
        opt.step()
    return pickle.dumps((model, opt))


@pytest.mark.parametrize("name", ["SequenceClassifier", "Seq2Seq"])
def test_a_spawned_process_trains_a_pickled_model(name):
    model = FACTORIES[name]()
    opt = optim.Adam(model, lr=0.01)
    payload = pickle.dumps((model, opt, name))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        trained, trained_opt = pickle.loads(pool.apply(_train_in_child, (payload,)))
    inputs = INPUTS[name]()
    for _ in range(3):                                   # the same training here
        model.zero_grad()
        forward_backward(model, inputs)
        opt.step()
    for k, v in model.params.items():
        np.testing.assert_array_equal(trained.params[k], v, err_msg=k)
    assert trained_opt.step_count == 3
    for m, o in ((trained, trained_opt), (model, opt)):  # and what came back goes on alike
        m.zero_grad()
        forward_backward(m, inputs)
        o.step()
    for k, v in model.params.items():
        np.testing.assert_array_equal(trained.params[k], v, err_msg=k)
        np.testing.assert_array_equal(trained.grads[k], model.grads[k], err_msg=k)


# --- item 4: assignment copies into the views; the parameter version -----------------------

def test_assigning_a_parameter_copies_into_its_view(backend):
    layer = LSTM(3, 4, seed=0)
    opt = optim.SGD(layer, lr=0.5)                       # built before the assignment
    view = layer.params["weight_hh_l0"]
    new = np.random.default_rng(1).standard_normal((16, 4))          # float64 into float32
    layer.params["weight_hh_l0"] = new
    assert layer.params["weight_hh_l0"] is view and view.dtype == np.float32
    np.testing.assert_array_equal(view, new.astype(np.float32))
    assert np.shares_memory(view, layer.params_flat)
    reference = LSTM(3, 4, seed=0)
    reference.load_state_dict(layer.state_dict())
    x = np.ones((2, 3, 3), np.float32)
    y, _ = layer.forward(x)
    assert y.dtype == np.float32 and y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y, reference.forward(x)[0])
    layer.backward(np.ones_like(y))                      # works (failed on out['dW_ih'])
    before = view.copy()
    opt.step()                                           # the old optimizer updates the layer
    assert not np.array_equal(view, before)


def test_bad_assignments_raise_and_change_nothing():
    layer = GRU(3, 4, seed=0)
    before, version = layer.params_flat.copy(), layer.param_version
    with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\].*expected shape "
                                         r"\(12, 4\), got \(24, 8\)"):
        layer.params["weight_hh_l0"] = np.zeros((24, 8))
    with pytest.raises(TypeError, match=r"params\['bias_ih_l0'\].*floating.*int64"):
        layer.params["bias_ih_l0"] = np.arange(12)
    with pytest.raises(KeyError, match="weight_hh_l9"):
        layer.params["weight_hh_l9"] = np.zeros((12, 4))
    with pytest.raises(TypeError, match="cannot be removed"):
        del layer.params["weight_hh_l0"]
    with pytest.raises(AttributeError, match="load_state_dict"):
        layer.params = {}
    with pytest.raises(ValueError, match=r"params_flat.*expected shape"):
        layer.params_flat = np.zeros(3)
    with pytest.raises(ValueError, match=r"grads\['weight_ih_l0'\]"):
        layer.grads["weight_ih_l0"] = np.zeros(3)
    np.testing.assert_array_equal(layer.params_flat, before)
    assert layer.param_version == version
    assert sorted(layer.params) == sorted(layer.state_dict())


def test_in_place_update_through_the_mapping_is_cheap_and_counted():
    layer = SRN(2, 3, seed=0)
    view = layer.params["weight_ih_l0"]
    version = layer.param_version
    layer.params["weight_ih_l0"] -= 0.5                  # __setitem__(k, the view itself)
    assert layer.params["weight_ih_l0"] is view
    assert layer.param_version == version + 1
    layer.grads["weight_ih_l0"] += 1.0
    assert np.all(layer.grads_flat[:view.size] == 1.0)


def test_assigning_params_flat_and_grads_flat_copies_in():
    layer = Linear(3, 2, seed=0)
    w = layer.params["weight"]
    layer.params_flat = np.arange(8, dtype=np.float64)
    assert layer.params["weight"] is w and w.base is layer.params_flat
    np.testing.assert_array_equal(w, np.arange(6).reshape(2, 3))
    layer.grads_flat = np.ones(8)
    np.testing.assert_array_equal(layer.grads["bias"], [1.0, 1.0])


def test_model_params_assignment_goes_to_the_module():
    model = FACTORIES["SequenceClassifier"]()
    rnn_version = model.rnn.param_version
    view = model.rnn.params["weight_hh_l0"]
    model.params["rnn.weight_hh_l0"] = np.zeros((12, 4))
    assert model.rnn.params["weight_hh_l0"] is view and not view.any()
    assert model.rnn.param_version == rnn_version + 1
    with pytest.raises(ValueError, match=r"expected shape \(12, 4\), got \(4, 4\)"):
        model.params["rnn.weight_hh_l0"] = np.ones((4, 4))
    with pytest.raises(KeyError, match="rnn.nope"):
        model.params["rnn.nope"] = 1.0
    with pytest.raises(TypeError, match="cannot be removed"):
        del model.params["head.weight"]
    model.params["head.bias"] -= 1.0
    assert not view.any()


def _layer():
    return LSTM(3, 4, seed=0)


def _bumps(action, make=_layer):
    """True when action(layer) raises the layer's param_version."""
    layer = make()
    version = layer.param_version
    action(layer)
    return layer.param_version > version


@pytest.mark.parametrize("action", [
    lambda l: l.load_state_dict(l.state_dict()),
    lambda l: l.params.__setitem__("weight_hh_l0", np.zeros((16, 4))),
    lambda l: setattr(l, "params_flat", np.zeros(l.num_parameters)),
    lambda l: l.reset_parameters(),
    lambda l: l.reset_parameters(seed=3),
    lambda l: fastrnn.init.initialize(l, "keras", seed=0),
    lambda l: fastrnn.init.orthogonal_(l.params["weight_hh_l0"], gates=4, rng=0),
    lambda l: fastrnn.init.zeros_(l.params["bias_ih_l0"]),
    lambda l: fastrnn.init.lstm_forget_bias_(l, 2.0),
    lambda l: l.mark_params_changed(),
], ids=["load_state_dict", "setitem", "params_flat=", "reset", "reset-seed", "initialize",
        "orthogonal_", "zeros_", "forget_bias", "mark"])
def test_every_write_bumps_the_version(action):
    assert _bumps(action)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.Adagrad,
                                 optim.RMSprop])
def test_every_optimizer_step_bumps_the_version(cls):
    layer = _layer()
    views = {k: layer.params[k] for k in ("weight_hh_l0", "bias_hh_l0")}
    for opt in (cls(layer), cls(views, {k: layer.grads[k] for k in views})):
        version = layer.param_version
        opt.step()
        assert layer.param_version > version
    model = FACTORIES["Seq2Seq"]()
    versions = [m.param_version for _, m in model.named_modules()]
    cls(model).step()
    assert all(m.param_version > v for (_, m), v in zip(model.named_modules(), versions))


def test_the_labs_in_place_updates_bump_the_version():
    layer = SRN(2, 3, seed=0)
    rt = fastrnn.rtrl.RTRL(layer)
    rt.reset(1)
    rt.step(np.ones((1, 2), np.float32))
    version = layer.param_version
    rt.sgd(np.ones((1, 3), np.float32), 0.1)             # writes into the layer's views
    assert layer.param_version > version
    from fastrnn.lab.experiments import make_cell
    assert make_cell("lstm", 2, 3, seed=0).param_version > 1   # forget-gate bias written


def test_reading_gradients_and_clipping_do_not_bump(tmp_path):
    layer = _layer()
    version = layer.param_version
    y, _ = layer.forward(np.ones((2, 1, 3), np.float32))
    layer.backward(np.ones_like(y))
    fastrnn.clip_grad_norm(layer, 1e-3)
    fastrnn.clip_grad_value(layer, 1e-4)
    layer.zero_grad()
    layer.state_dict()
    fastrnn.save(layer, tmp_path / "l.npz")
    assert layer.param_version == version
    fastrnn.load(tmp_path / "l.npz", into=layer)         # load into: a write
    assert layer.param_version > version


def test_model_version_follows_its_modules_and_copies_count_apart():
    model = FACTORIES["Sequential"]()
    version = model.param_version
    model[1].params["weight_hh_l0"] = np.zeros((16, 4))
    assert model.param_version > version
    clone = copy.deepcopy(model)
    version, clone_version = model.param_version, clone.param_version
    clone.mark_params_changed()
    assert model.param_version == version and clone.param_version > clone_version
    shallow = copy.copy(model[2])                        # shares the memory, so the version
    v = model[2].param_version
    shallow.params["bias"] = np.zeros(6)
    assert model[2].param_version > v and not model[2].params["bias"].any()


# --- unclear errors: seeds and sizes ---------------------------------------------------------

SEEDED = {
    "SRN": lambda seed: SRN(2, 3, seed=seed),
    "LSTM-init": lambda seed: LSTM(2, 3, seed=seed, init="keras"),
    "Linear": lambda seed: Linear(2, 3, seed=seed),
    "Embedding": lambda seed: Embedding(4, 2, seed=seed),
    "SequenceClassifier": lambda seed: SequenceClassifier(GRU(2, 3, seed=0), 2, seed=seed),
    "Seq2Seq": lambda seed: Seq2Seq(GRU(2, 3, seed=0), GRU(2, 3, seed=1), 4, 0, 1, seed=seed),
}


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_constructors_name_a_bad_seed(name):
    make = SEEDED[name]
    with pytest.raises(TypeError, match="seed: expected None, an int"):
        make(1.5)
    with pytest.raises(TypeError, match="seed: expected"):
        make("abc")
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        make(-1)
    for good in (None, 0, 2**40, [1, 2], np.random.default_rng(0), np.random.SeedSequence(3),
                 np.int64(4)):
        make(good)
    a, b = make(7), make(7)                              # ints stay deterministic
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_reset_parameters_and_initialize_name_a_bad_seed():
    layer = SRN(2, 3, seed=0)
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        layer.reset_parameters(seed=-5)
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        fastrnn.init.initialize(layer, "keras", seed=-5)
    with pytest.raises(ValueError, match="rng: expected an int >= 0"):
        fastrnn.init.orthogonal_(layer.params["weight_hh_l0"], rng=-5)


# (sizes far beyond this machine's memory, so that even without the check no allocation can
# succeed: each first array would be > 100 GB)
@pytest.mark.parametrize("make", [lambda: LSTM(10**6, 10**6), lambda: GRU(3, 10**5),
                                  lambda: SRN(10**5, 10**5, bidirectional=True, num_layers=2)],
                         ids=["LSTM(1e6,1e6)", "GRU(3,1e5)", "SRN-bidir"])
def test_oversized_layers_are_refused_before_allocating(make):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="sizes too large.*32-bit limit"):
            make()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated before refusing"


def test_unallocatable_feed_forward_layers_say_so():
    with pytest.raises(MemoryError, match=r"Linear: cannot allocate 100000000010000000000 "
                                          "parameters"):
        Linear(10**10, 10**10)
    with pytest.raises(MemoryError, match="Embedding: cannot allocate"):
        Embedding(10**12, 10**8)
