"""Save and load layers, models, optimizers and dicts of arrays: ``.npz`` with a versioned header.

A checkpoint is an ordinary ``.npz`` (``numpy.load`` reads it, with
``allow_pickle=False``) holding the arrays as ``a0``, ``a1``, ... and one
``__fastrnn__`` entry, a JSON header::

    {"format": "fastrnn", "version": 1, "fastrnn_version": "0.1.0",
     "kind": "module" | "optimizer" | "arrays",
     "class": "LSTM", "config": {...},        # how to rebuild the object
     "arrays": [{"name": "weight_ih_l0", "key": "a0", "shape": [...], "dtype": "float32"}, ...],
     "meta": {...}}                            # the user's JSON-able extras

``save(obj, path, meta=None)`` writes ``obj``: a layer or model (its
parameters and its configuration), an optimizer (its buffers and
hyperparameters) or a dict of arrays. The file is written to a temporary
name and renamed, so a crash never leaves half a checkpoint at ``path``.

``load(path, into=None)`` reads it back. With ``into`` (a layer, model or
optimizer) the parameters are copied into that object; without, a layer or
model is rebuilt from its configuration, a dict of arrays returned as a
dict, and an optimizer's ``state_dict`` returned (optimizers need their
parameters: ``load(path, into=opt)``). Everything is checked before anything
is written, and every mismatch raises ``ValueError`` naming it: a file that
is not a fastrnn checkpoint, a newer format version, a header that does not
match the stored arrays, and for ``into`` missing or unexpected parameter
names, shapes and dtypes. ``read_header(path)`` returns the header (``meta``
included) without loading arrays.
"""

import inspect
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping

import numpy as np

FORMAT = "fastrnn"
FORMAT_VERSION = 1
_HEADER_KEY = "__fastrnn__"

__all__ = ["save", "load", "read_header", "describe", "build", "register", "FORMAT_VERSION"]

_extra_classes = {}


def register(cls):
    """Make a ``Model`` subclass rebuildable by ``load`` (it needs ``get_config``/``from_config``)."""
    if not (hasattr(cls, "get_config") and hasattr(cls, "from_config")):
        raise TypeError(f"register: expected a class with get_config and from_config, "
                        f"got {cls!r}")
    _extra_classes[cls.__name__] = cls
    return cls


def _classes():
    from ..core import layers
    from . import models, nn
    found = {"SRN": layers.SRN, "LSTM": layers.LSTM, "GRU": layers.GRU,
             "Linear": nn.Linear, "Embedding": nn.Embedding,
             "Sequential": models.Sequential, "SequenceClassifier": models.SequenceClassifier,
             "SequenceTagger": models.SequenceTagger, "Seq2Seq": models.Seq2Seq}
    found.update(_extra_classes)
    return found


def _jsonable(value):
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def describe(module):
    """``{"class": name, "config": {...}}``: what ``build`` needs to make the same module anew.

    Modules with ``get_config()`` give their own; recurrent layers are
    described by their constructor's arguments, read back from the attributes
    of the same names.
    """
    cls = type(module)
    if hasattr(module, "get_config"):
        return {"class": cls.__name__, "config": module.get_config()}
    if cls.__name__ in ("SRN", "LSTM", "GRU"):
        config = {}
        for name in inspect.signature(cls.__init__).parameters:
            if name in ("self", "seed", "init") or not hasattr(module, name):
                continue
            config[name] = _jsonable(getattr(module, name))
        return {"class": cls.__name__, "config": config}
    raise TypeError(f"describe: cannot describe a {cls.__name__} (no get_config)")


def build(description):
    """The module that ``describe`` described (fresh parameters)."""
    if not isinstance(description, Mapping) or "class" not in description:
        raise ValueError(f"build: expected a {{'class': ..., 'config': ...}} dict, "
                         f"got {description!r}")
    classes = _classes()
    name = description["class"]
    if name not in classes:
        raise ValueError(f"build: unknown class {name!r}; known: {sorted(classes)} (register "
                         "your Model subclass with fastrnn.io.register, or load into an object)")
    cls = classes[name]
    config = dict(description.get("config") or {})
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    return cls(**config)


def _kind(obj):
    from .optim import Optimizer
    if isinstance(obj, Optimizer):
        return "optimizer"
    if hasattr(obj, "state_dict") and isinstance(getattr(obj, "params", None), Mapping):
        return "module"
    if isinstance(obj, Mapping):
        return "arrays"
    raise TypeError(f"save: expected a layer, a model, an optimizer or a dict of arrays, "
                    f"got {type(obj).__name__}")


def _arrays_entry(named):
    entries, arrays = [], {}
    for i, (name, value) in enumerate(named):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf" or arr.dtype.hasobject:
            raise TypeError(f"save: {name!r}: expected a numeric array, got dtype {arr.dtype}")
        key = f"a{i}"
        arrays[key] = arr
        entries.append({"name": name, "key": key, "shape": list(arr.shape),
                        "dtype": arr.dtype.name})
    return entries, arrays


def save(obj, path, meta=None):
    """Write ``obj`` (layer, model, optimizer or dict of arrays) to ``path`` (used as given)."""
    from .. import __version__
    kind = _kind(obj)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "fastrnn_version": __version__,
              "kind": kind, "class": type(obj).__name__, "config": None, "meta": meta}
    if kind == "module":
        try:
            header["config"] = describe(obj)["config"]
        except TypeError:
            header["config"] = None           # weights only: load(path, into=...) still works
        named = list(obj.state_dict().items())
    elif kind == "optimizer":
        sd = obj.state_dict()
        header["config"] = {"hyperparams": sd["hyperparams"], "step_count": sd["step_count"],
                            "decay": sd["decay"], "params": list(sd["state"])}
        named = [(f"state/{p}/{b}", a) for p, bufs in sd["state"].items() for b, a in bufs.items()]
    else:
        header["class"] = "dict"
        for k in obj:
            if not isinstance(k, str):
                raise TypeError(f"save: expected string keys, got {k!r}")
        named = list(obj.items())
    entries, arrays = _arrays_entry(named)
    header["arrays"] = entries
    try:
        text = json.dumps(header)
    except TypeError as exc:
        raise TypeError(f"save: meta: expected JSON-serializable values ({exc})") from None
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastrnn-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_HEADER_KEY: np.array(text)}, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load: {path!r} is not a fastrnn checkpoint (.npz): {exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path!r} is not a fastrnn checkpoint (a single .npy array, "
                         "not an .npz archive)")
    if _HEADER_KEY not in data.files:
        data.close()
        raise ValueError(f"load: {path!r} is an .npz without a fastrnn header "
                         f"({_HEADER_KEY!r} entry); it was not written by fastrnn.save")
    try:
        header = json.loads(str(data[_HEADER_KEY]))
    except (ValueError, TypeError) as exc:
        data.close()
        raise ValueError(f"load: {path!r}: the fastrnn header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        data.close()
        raise ValueError(f"load: {path!r}: expected a header with format {FORMAT!r}, "
                         f"got {header.get('format') if isinstance(header, dict) else header!r}")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        data.close()
        raise ValueError(f"load: {path!r}: expected an integer format version >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        data.close()
        raise ValueError(f"load: {path!r} has format version {version}, newer than this "
                         f"fastrnn reads (up to {FORMAT_VERSION}); upgrade fastrnn")
    return data, header


def read_header(path):
    """The checkpoint's header dict (kind, class, config, array list, meta), no arrays loaded."""
    data, header = _open(path)
    data.close()
    return header


def _read_arrays(data, header, path):
    """{name: array}, each checked against the header's shape and dtype."""
    out = {}
    for e in header.get("arrays", []):
        name, key = e["name"], e["key"]
        if key not in data.files:
            raise ValueError(f"load: {path!r}: array {name!r} is listed in the header but "
                             "missing from the file")
        arr = data[key]
        if list(arr.shape) != list(e["shape"]) or arr.dtype.name != e["dtype"]:
            raise ValueError(f"load: {path!r}: array {name!r}: the header says shape "
                             f"{tuple(e['shape'])} and dtype {e['dtype']}, the file holds shape "
                             f"{arr.shape} and dtype {arr.dtype}")
        out[name] = arr
    return out


def _check_into_module(into, arrays, path):
    params = into.params
    missing = [k for k in params if k not in arrays]
    unexpected = [k for k in arrays if k not in params]
    if missing or unexpected:
        raise ValueError(f"load: {path!r} does not fit the {type(into).__name__}: missing "
                         f"parameters {missing}, unexpected parameters {unexpected}")
    for name, p in params.items():
        a = arrays[name]
        if a.shape != p.shape:
            raise ValueError(f"load: {path!r}: parameter {name!r}: expected shape "
                             f"{p.shape}, got {a.shape}")
        if a.dtype != p.dtype:
            raise ValueError(f"load: {path!r}: parameter {name!r}: expected dtype {p.dtype}, "
                             f"got {a.dtype}")


def _optimizer_state(header, arrays, path):
    cfg = header.get("config") or {}
    state = {p: {} for p in cfg.get("params", [])}
    for name, arr in arrays.items():
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "state":
            raise ValueError(f"load: {path!r}: unexpected optimizer array {name!r}")
        p, b = "/".join(parts[1:-1]), parts[-1]
        if p not in state:
            raise ValueError(f"load: {path!r}: optimizer array {name!r} names an unlisted "
                             f"parameter {p!r}")
        state[p][b] = arr
    return {"optimizer": header.get("class"), "hyperparams": cfg.get("hyperparams", {}),
            "step_count": cfg.get("step_count", 0), "decay": cfg.get("decay", []),
            "state": state}


def load(path, into=None):
    """Read a checkpoint written by ``save`` (see the module doc); returns the loaded object."""
    data, header = _open(path)
    try:
        arrays = _read_arrays(data, header, path)
    finally:
        data.close()
    kind = header.get("kind")
    if kind == "arrays":
        if into is not None:
            raise ValueError(f"load: {path!r} holds a dict of arrays, not parameters of a "
                             f"{type(into).__name__}; call load(path) without into")
        return arrays
    if kind == "optimizer":
        sd = _optimizer_state(header, arrays, path)
        if into is None:
            return sd
        from .optim import Optimizer
        if not isinstance(into, Optimizer):
            raise ValueError(f"load: {path!r} holds a {header.get('class')} optimizer's state, "
                             f"got into={type(into).__name__}")
        try:
            into.load_state_dict(sd)
        except (TypeError, KeyError) as exc:
            raise ValueError(f"load: {path!r}: {exc}") from None
        return into
    if kind != "module":
        raise ValueError(f"load: {path!r}: unknown checkpoint kind {kind!r}")
    if into is None:
        if header.get("config") is None:
            raise ValueError(f"load: {path!r} holds the weights of a {header.get('class')} "
                             "saved without a configuration; load it into an object: "
                             "load(path, into=model)")
        into = build({"class": header.get("class"), "config": header["config"]})
    elif not isinstance(getattr(into, "params", None), Mapping):
        raise ValueError(f"load: {path!r} holds module parameters, got into="
                         f"{type(into).__name__}")
    elif header.get("class") != type(into).__name__:
        raise ValueError(f"load: {path!r} holds a {header.get('class')}, "
                         f"got into={type(into).__name__}")
    _check_into_module(into, arrays, path)
    into.load_state_dict(arrays)
    return into
