"""save/load: round trips of layers, models, optimizers and dicts; every mismatch fails clearly."""

import json
import os
import tracemalloc

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


# --- saving behaves as a plain write, atomically (issue 9, item 8) ----------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_save_gives_a_new_file_the_mode_of_a_plain_write(tmp_path, umask_022):
    save(Linear(2, 2, seed=0), tmp_path / "new.npz")
    np.savez(tmp_path / "numpy.npz", w=np.zeros(2))
    mode = os.stat(tmp_path / "new.npz").st_mode & 0o777
    assert mode == 0o644 == os.stat(tmp_path / "numpy.npz").st_mode & 0o777
    os.umask(0o077)
    save(Linear(2, 2, seed=0), tmp_path / "private.npz")
    assert os.stat(tmp_path / "private.npz").st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask_022, mode):
    path = tmp_path / "m.npz"
    save(Linear(2, 2, seed=0), path)
    os.chmod(path, mode)
    save(Linear(2, 2, seed=1), path)
    assert os.stat(path).st_mode & 0o777 == mode
    np.testing.assert_array_equal(load(path).params_flat, Linear(2, 2, seed=1).params_flat)


def test_save_refuses_a_read_only_file(tmp_path):
    path = tmp_path / "frozen.npz"
    save(Linear(2, 2, seed=0), path)
    os.chmod(path, 0o444)
    content = path.read_bytes()
    with pytest.raises(PermissionError, match=r"read-only \(mode 0444\)"):
        save(Linear(2, 2, seed=1), path)
    assert path.read_bytes() == content and os.stat(path).st_mode & 0o777 == 0o444
    assert sorted(os.listdir(tmp_path)) == ["frozen.npz"]


def test_save_writes_through_a_symlink(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    target = store / "real.npz"
    save(Linear(2, 2, seed=0), target)
    link = tmp_path / "latest.npz"
    link.symlink_to(os.path.join("store", "real.npz"))          # relative, another directory
    save(Linear(2, 2, seed=1), link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("store", "real.npz")
    np.testing.assert_array_equal(load(target).params_flat, Linear(2, 2, seed=1).params_flat)
    dangling = tmp_path / "next.npz"
    dangling.symlink_to(store / "created.npz")
    save(Linear(2, 2, seed=2), dangling)
    assert dangling.is_symlink() and (store / "created.npz").is_file()
    assert sorted(os.listdir(store)) == ["created.npz", "real.npz"]


def test_save_paths_are_checked(tmp_path):
    layer = Linear(2, 2, seed=0)
    with pytest.raises(ValueError, match="save: path: expected a file path, got ''"):
        save(layer, "")
    with pytest.raises(TypeError, match="save: path: expected a file path.*got int"):
        save(layer, 3)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(layer, tmp_path)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        save(layer, tmp_path / "nowhere" / "m.npz")
    as_bytes = os.fsencode(tmp_path / "b.npz")          # bytes paths work both ways
    save(layer, as_bytes)
    np.testing.assert_array_equal(load(as_bytes).params_flat, layer.params_flat)
    assert read_header(as_bytes)["class"] == "Linear"


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(Linear(2, 2, seed=0), path)
    content = path.read_bytes()

    def fail_midway(f, header_text, arrays):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fastrnn.io, "_write_npz", fail_midway)
    with pytest.raises(OSError, match="No space left"):
        save(Linear(2, 2, seed=1), path)
    assert path.read_bytes() == content
    assert os.listdir(tmp_path) == ["m.npz"]


_KILLED_WRITER = """
import os, sys, time
import fastrnn, fastrnn.io
def stall(f, header_text, arrays):
    f.write(b"PK\\x03\\x04" + b"x" * 100000)     # part of the new checkpoint...
    f.flush()
    open(sys.argv[2], "w").close()                # ...then tell the parent, and hang
    time.sleep(600)
fastrnn.io._write_npz = stall
fastrnn.save(fastrnn.Linear(2, 2, seed=1), sys.argv[1])
"""


def test_a_killed_save_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path, ready = tmp_path / "m.npz", tmp_path / "ready"
    save(Linear(2, 2, seed=0), path)
    content = path.read_bytes()
    src = os.path.dirname(os.path.dirname(fastrnn.__file__))
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path), str(ready)],
                             env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never reached the write"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)              # killed mid-write
    finally:
        child.kill()
        child.wait()
    ready.unlink()
    assert path.read_bytes() == content                 # the old file is intact
    left = [n for n in os.listdir(tmp_path) if n != "m.npz"]
    assert len(left) == 1 and f"-{child.pid}-" in left[0] and left[0].startswith(".fastrnn-tmp-")
    # another writer's temporary that is still alive (this process), another host's, and
    # a file that is not fastrnn's stay; only the dead writer's goes
    host = left[0].split("-")[2]
    keep = [f".fastrnn-tmp-{host}-{os.getpid()}-{'0' * 16}.npz",
            f".fastrnn-tmp-otherhost-{child.pid}-{'1' * 16}.npz", ".fastrnn-notes.npz"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    save(Linear(2, 2, seed=2), tmp_path / "other.npz")    # the next save to that directory
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz", "other.npz"] + keep)


# --- malformed checkpoints are refused, naming the file, before allocating (item 9) -----------

def _entries(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _write_zip(path, arrays, raw=None):
    """A zip of .npy entries (``raw``: {name: bytes} written as they are)."""
    import zipfile
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=True)
        for name, data in (raw or {}).items():
            zf.writestr(name, data)


def _with_header(change, model=None):
    """A builder: a good checkpoint of ``model`` whose header ``change(header)`` edits."""
    def build(path):
        save(model if model is not None else LSTM(3, 4, seed=0), path)
        items = _entries(path)
        header = json.loads(str(items["__fastrnn__"]))
        change(header)
        items["__fastrnn__"] = np.array(json.dumps(header))
        _write_zip(path, items)
    return build


def _raw_header(text):
    """A builder: a good checkpoint whose header entry is ``text``."""
    def build(path):
        save(LSTM(3, 4, seed=0), path)
        items = _entries(path)
        items["__fastrnn__"] = np.array(text)
        _write_zip(path, items)
    return build


def _flip_a_data_byte(path):
    import struct
    import zipfile
    save(LSTM(3, 4, seed=0), path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("a1.npy")
    data = bytearray(path.read_bytes())
    n, m = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + n + m + info.compress_size - 3] ^= 0x40
    path.write_bytes(bytes(data))


def _truncated_npy(path):
    """An entry whose .npy header declares 10**9 floats but holds 16 bytes."""
    save(Linear(2, 2, seed=0), path)
    items = _entries(path)
    head = {"descr": "<f4", "fortran_order": False, "shape": (10**9,)}
    import io as _io
    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, head)
    raw = {"a0.npy": buf.getvalue() + b"\0" * 16}
    del items["a0"]
    header = json.loads(str(items["__fastrnn__"]))
    header["arrays"][0]["shape"] = [10**9]
    items["__fastrnn__"] = np.array(json.dumps(header))
    _write_zip(path, items, raw)


def _object_array(path):
    save({"x": np.zeros(2)}, path)
    items = _entries(path)
    items["a0"] = np.array([{"evil": 1}, None], dtype=object)
    header = json.loads(str(items["__fastrnn__"]))
    header["arrays"][0]["dtype"] = "object"
    items["__fastrnn__"] = np.array(json.dumps(header))
    _write_zip(path, items)


def _drop_entry(path):
    save(LSTM(3, 4, seed=0), path)
    items = _entries(path)
    del items["a2"]
    _write_zip(path, items)


def _set(key, value):
    return lambda h: h.update({key: value})


MALFORMED = {
    "empty": (lambda p: p.write_bytes(b""), "not a fastrnn checkpoint"),
    "not-a-zip": (lambda p: p.write_bytes(b"\x93NUMPY junk" * 30), "not a fastrnn checkpoint"),
    "truncated": (lambda p: (save(LSTM(3, 4, seed=0), p),
                             p.write_bytes(p.read_bytes()[:900])), "not a fastrnn checkpoint"),
    "flipped-byte": (_flip_a_data_byte, "Bad CRC-32"),
    "header-not-json": (_raw_header("{not json"), "not valid JSON"),
    "header-a-list": (_raw_header("[1, 2]"), "expected a header with format"),
    "version-a-string": (_with_header(_set("version", "1")), "integer format version"),
    "kind-unknown": (_with_header(_set("kind", "weights")), "unknown checkpoint kind"),
    "class-a-list": (_with_header(_set("class", ["LSTM"])), "header 'class'"),
    "config-a-list": (_with_header(_set("config", [1])), "header 'config'"),
    "arrays-not-a-list": (_with_header(_set("arrays", {"a0": 1})), "header 'arrays'"),
    "array-without-name": (_with_header(lambda h: h["arrays"][0].pop("name")),
                           r"header 'arrays'\[0\]"),
    "array-a-string": (_with_header(lambda h: h["arrays"].__setitem__(1, "a1")),
                       r"header 'arrays'\[1\]"),
    "negative-shape": (_with_header(lambda h: h["arrays"][0].__setitem__("shape", [-1, 3])),
                       r"header 'arrays'\[0\]"),
    "repeated-name": (_with_header(lambda h: h["arrays"][1].__setitem__("name", "weight_ih_l0")),
                      "repeated"),
    "missing-entry": (_drop_entry, "missing from the file"),
    "npy-truncated": (_truncated_npy, r"declares shape \(1000000000,\)"),
    "object-array": (_object_array, "Python objects"),
    "unexpected-keyword": (_with_header(lambda h: h["config"].update(foo=1)),
                           "configuration of the LSTM is invalid.*foo"),
    "hidden-size-a-string": (_with_header(lambda h: h["config"].update(hidden_size="4")),
                             "configuration of the LSTM is invalid.*hidden_size"),
    "unknown-class": (_with_header(_set("class", "Transformer")), "unknown class"),
    "nested-config-broken": (_with_header(lambda h: h["config"].pop("modules"),
                                          model=Sequential(Linear(2, 2, seed=0))),
                             "configuration of the Sequential is invalid"),
    "optimizer-config": (_with_header(lambda h: h["config"].update(hyperparams=[1]),
                                      model=fastrnn.optim.SGD(Linear(2, 2, seed=0), lr=0.1)),
                         "optimizer's"),
    "sizes-not-the-arrays": (_with_header(lambda h: h["config"].update(hidden_size=5)),
                             r"'weight_ih_l0' of the LSTM the header describes: expected shape "
                             r"\(20, 3\), got \(16, 3\)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_checkpoints_raise_a_value_error_naming_the_file(tmp_path, case):
    build, message = MALFORMED[case]
    path = tmp_path / f"{case}.npz"
    build(path)
    with pytest.raises(ValueError, match=message) as err:
        load(path)
    assert repr(str(path)) in str(err.value)


def test_a_header_describing_a_huge_model_is_refused_before_allocating(tmp_path):
    """4 KB that describe an LSTM(3, 20000, num_layers=4): 41.7 GiB if it were built."""
    path = tmp_path / "huge.npz"
    _with_header(lambda h: h["config"].update(hidden_size=20000, num_layers=4))(path)
    # the header is a UCS-4 string: 4 bytes per character of every constructor argument
    assert path.stat().st_size < 8192
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"does not fit the LSTM the header describes: "
                                             r"missing parameters \['weight_ih_l1'"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated while refusing"
    one_layer = tmp_path / "wide.npz"
    _with_header(lambda h: h["config"].update(hidden_size=20000))(one_layer)
    with pytest.raises(ValueError, match=r"expected shape \(80000, 3\), got \(16, 3\)"):
        load(one_layer)


def test_a_truncated_array_is_refused_before_allocating(tmp_path):
    path = tmp_path / "t.npz"
    _truncated_npy(path)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated while refusing"


def test_header_level_damage_is_refused_by_read_header_too(tmp_path):
    for case in ("empty", "header-not-json", "array-without-name", "kind-unknown"):
        path = tmp_path / f"{case}.npz"
        MALFORMED[case][0](path)
        with pytest.raises(ValueError, match=MALFORMED[case][1]):
            read_header(path)
