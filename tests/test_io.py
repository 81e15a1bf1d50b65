"""save/load: round trips of layers, models, optimizers and dicts; every mismatch fails clearly."""

import json
import os

import numpy as np
import pytest

import fastrnn
from fastrnn import (GRU, LSTM, SRN, Embedding, Linear, Seq2Seq, SequenceClassifier,
                     SequenceTagger, Sequential, load, save)
from fastrnn.io import FORMAT_VERSION, read_header


def outputs_equal(a, b, *args, **kw):
    ya, yb = a.forward(*args, train=False, **kw), b.forward(*args, train=False, **kw)
    ya, yb = (ya[0], yb[0]) if isinstance(ya, tuple) else (ya, yb)
    np.testing.assert_array_equal(ya, yb)


MODELS = {
    "srn": lambda s: SRN(3, 4, nonlinearity="relu", residual=True, num_layers=2,
                         dtype=np.float64, seed=s),
    "lstm": lambda s: LSTM(3, 4, bidirectional=True, batch_first=True, seed=s),
    "gru": lambda s: GRU(3, 4, reset_after=False, bias=False, seed=s),
    "linear": lambda s: Linear(3, 2, seed=s),
    "sequential": lambda s: Sequential(Embedding(6, 3, padding_idx=0, seed=s), LSTM(3, 4, seed=s),
                                       Linear(4, 6, seed=s)),
    "classifier": lambda s: SequenceClassifier(GRU(3, 4, seed=s), 2, pool="mean",
                                               embedding=Embedding(6, 3, seed=s), seed=s),
    "tagger": lambda s: SequenceTagger(LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=s),
                                       5, seed=s),
    "seq2seq": lambda s: Seq2Seq(LSTM(3, 4, seed=s), LSTM(2, 4, seed=s + 1), 5, start_token=3,
                                 end_token=4, seed=s),
}
INPUTS = {
    "srn": lambda: (np.ones((3, 2, 3)),),
    "lstm": lambda: (np.ones((2, 3, 3), np.float32),),
    "gru": lambda: (np.ones((3, 2, 3), np.float32),),
    "linear": lambda: (np.ones((2, 3), np.float32),),
    "sequential": lambda: (np.array([[1, 2], [3, 0]]),),
    "classifier": lambda: (np.array([[1, 2], [3, 5]]),),
    "tagger": lambda: (np.ones((3, 2, 3)),),
    "seq2seq": lambda: (np.ones((3, 2, 3), np.float32), np.array([[0, 1], [4, 4]])),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_rebuilds_the_same_model(name, tmp_path):
    original = MODELS[name](0)
    path = tmp_path / f"{name}.npz"
    save(original, path, meta={"note": name})
    rebuilt = load(path)
    assert type(rebuilt) is type(original)
    assert repr(rebuilt) == repr(original)
    for k, v in original.params.items():
        np.testing.assert_array_equal(rebuilt.params[k], v)
        assert rebuilt.params[k].dtype == v.dtype
    outputs_equal(original, rebuilt, *INPUTS[name]())
    into = MODELS[name](1)
    assert load(path, into=into) is into
    outputs_equal(original, into, *INPUTS[name]())
    assert read_header(path)["meta"] == {"note": name}


def test_file_is_a_plain_npz_with_a_versioned_header(tmp_path):
    path = tmp_path / "ckpt"                       # no extension: used as given
    save(Linear(2, 3, seed=0), path)
    assert os.path.exists(path) and not os.path.exists(str(path) + ".npz")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]      # no temporary file left
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["__fastrnn__"]))
    assert header["format"] == "fastrnn" and header["version"] == FORMAT_VERSION
    assert header["kind"] == "module" and header["class"] == "Linear"
    assert [(e["name"], tuple(e["shape"]), e["dtype"]) for e in header["arrays"]] == \
        [("weight", (3, 2), "float32"), ("bias", (3,), "float32")]


def test_load_into_checks_names_shapes_and_dtypes_and_changes_nothing(tmp_path):
    path = tmp_path / "lstm.npz"
    save(LSTM(3, 4, seed=0), path)
    target = LSTM(3, 5, seed=1)
    before = target.params_flat.copy()
    with pytest.raises(ValueError, match=r"weight_ih_l0.*expected shape \(20, 3\), got \(16, 3\)"):
        load(path, into=target)
    np.testing.assert_array_equal(target.params_flat, before)
    with pytest.raises(ValueError, match="expected dtype float64, got float32"):
        load(path, into=LSTM(3, 4, dtype=np.float64))
    with pytest.raises(ValueError, match=r"missing parameters \[.*_l1"):
        load(path, into=LSTM(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="unexpected parameters.*bias_ih_l0"):
        load(path, into=LSTM(3, 4, bias=False))
    with pytest.raises(ValueError, match="holds a LSTM, got into=GRU"):
        load(path, into=GRU(3, 4))


def test_optimizer_round_trip_resumes_exactly(tmp_path):
    def setup():
        model = Sequential(GRU(2, 3, dtype=np.float64, seed=0), Linear(3, 2, dtype=np.float64,
                                                                       seed=1))
        return model, fastrnn.optim.Adam(model, lr=0.05, amsgrad=True, decay="weights",
                                         weight_decay=0.1)

    x = np.random.default_rng(0).standard_normal((4, 2, 2))

    def train(model, opt, steps):
        for _ in range(steps):
            y, _ = model.forward(x)
            model.zero_grad()
            model.backward(y)
            opt.step()

    m1, o1 = setup()
    train(m1, o1, 3)
    save(m1, tmp_path / "m.npz")
    save(o1, tmp_path / "o.npz")
    m2, o2 = setup()
    load(tmp_path / "m.npz", into=m2)
    load(tmp_path / "o.npz", into=o2)
    assert o2.step_count == 3 and o2.decay == o1.decay
    train(m1, o1, 3)
    train(m2, o2, 3)
    for k, v in m1.params.items():
        np.testing.assert_array_equal(m2.params[k], v)
    sd = load(tmp_path / "o.npz")                  # without into: the state dict
    assert sd["optimizer"] == "Adam" and sd["step_count"] == 3
    with pytest.raises(ValueError, match="SGD"):
        load(tmp_path / "o.npz", into=fastrnn.optim.SGD(m2, lr=0.1))
    with pytest.raises(ValueError, match="optimizer"):
        load(tmp_path / "o.npz", into=m2)


def test_dict_of_arrays(tmp_path):
    arrays = {"a": np.arange(5), "b/c": np.eye(2, dtype=np.float32)}
    save(arrays, tmp_path / "d.npz", meta={"vocab": "abc"})
    out = load(tmp_path / "d.npz")
    assert set(out) == {"a", "b/c"}
    np.testing.assert_array_equal(out["a"], arrays["a"])
    assert out["b/c"].dtype == np.float32
    with pytest.raises(TypeError, match="numeric"):
        save({"x": np.array(["text"])}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="JSON"):
        save(arrays, tmp_path / "bad.npz", meta={"f": lambda: 0})
    assert not (tmp_path / "bad.npz").exists()


def _rewrite_header(path, change):
    with np.load(path, allow_pickle=False) as f:
        items = {k: f[k] for k in f.files}
    header = json.loads(str(items["__fastrnn__"]))
    change(header, items)
    items["__fastrnn__"] = np.array(json.dumps(header))
    with open(path, "wb") as fh:
        np.savez(fh, **items)


def test_bad_files_fail_clearly(tmp_path):
    good = tmp_path / "good.npz"
    save(Linear(2, 2, seed=0), good)

    newer = tmp_path / "newer.npz"
    newer.write_bytes(good.read_bytes())
    _rewrite_header(newer, lambda h, _: h.update(version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="format version 2, newer"):
        load(newer)

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(good.read_bytes())
    _rewrite_header(corrupt, lambda h, items: items.update(a0=np.zeros((3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"'weight'.*header says shape \(2, 2\)"):
        load(corrupt)

    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(3))
    with pytest.raises(ValueError, match="without a fastrnn header"):
        load(plain)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a fastrnn checkpoint"):
        load(text)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")
    with pytest.raises(TypeError, match="save"):
        save(object(), tmp_path / "x.npz")


def test_custom_model_needs_into_or_registration(tmp_path):
    class Tiny(fastrnn.Model):
        def __init__(self):
            super().__init__()
            self.lin = Linear(2, 2, seed=0)

    path = tmp_path / "tiny.npz"
    save(Tiny(), path)
    with pytest.raises(ValueError, match="load it into an object"):
        load(path)
    other = Tiny()
    other.lin.params_flat[...] = 0
    load(path, into=other)
    np.testing.assert_array_equal(other.lin.params_flat, Tiny().lin.params_flat)
