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
name beside it, flushed to disk and renamed over ``path``, so a crash never
leaves half a checkpoint there; otherwise it behaves as a plain write: a new
file gets the mode the umask gives (0644 under umask 022), a replaced file
keeps its mode, a read-only file is refused (``PermissionError``, even for
root), and a symlink is written through (its target is replaced). The
temporary name (``.fastrnn-tmp-<host>-<pid>-<random>.npz``) carries the
writer's process id: a save removes the temporary files of writers on this
host that have died (killed mid-save), never those of a live process.

``load(path, into=None)`` reads it back. With ``into`` (a layer, model or
optimizer) the parameters are copied into that object; without, a layer or
model is rebuilt from its configuration, a dict of arrays returned as a
dict, and an optimizer's ``state_dict`` returned (optimizers need their
parameters: ``load(path, into=opt)``). Everything is checked before anything
is written, and every malformed or mismatched file raises ``ValueError``
naming the file and what is wrong: a file that is not a fastrnn checkpoint
(empty, truncated, corrupted: a CRC error), a newer format version, a
malformed header, a header that does not match the stored arrays, a
configuration the classes refuse, and for ``into`` missing or unexpected
parameter names, shapes and dtypes. Sizes are checked before anything large
is allocated: each array's shape is read from its ``.npy`` header (and
checked against the bytes stored) and the model the header describes is
first built without memory (``fastrnn.core.storage.shapes_only``) and its
parameter shapes compared with the stored ones. ``read_header(path)``
returns the header (``meta`` included) without loading arrays.
"""

import errno
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from .._version import __version__
from ..core.storage import shapes_only
from . import models  # noqa: F401  (its classes register themselves for build)
from .files import check_path, write_atomically
from .optim import Optimizer
from .registry import build, describe, register

FORMAT = "fastrnn"
FORMAT_VERSION = 1
_HEADER_KEY = "__fastrnn__"

__all__ = ["save", "load", "read_header", "describe", "build", "register", "FORMAT_VERSION"]

def _kind(obj):
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


def _write_npz(f, header_text, arrays):
    """The bytes of the checkpoint (a hook: the tests interrupt a save here)."""
    np.savez(f, **{_HEADER_KEY: np.array(header_text)}, **arrays)


def save(obj, path, meta=None):
    """Write a layer, model, optimizer or dict of arrays to a checkpoint file.

    Parameters
    ----------
    obj : layer, model, optimizer or dict of arrays
        What to save (the module doc says what is stored for each).
    path : str, bytes or os.PathLike
        The file, used as given (no suffix added); a symlink is written through.
    meta : JSON-serializable, optional
        Extras stored in the header (``read_header(path)["meta"]``).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    TypeError
        For an object that cannot be saved, a path of another type, or a
        ``meta`` that is not JSON-serializable.
    ValueError
        For an empty path, or a path naming something other than a regular file.
    PermissionError
        When ``path`` is a read-only file (not replaced) or its directory is
        not writable.
    IsADirectoryError, FileNotFoundError
        When ``path`` is a directory, or its directory does not exist.

    Notes
    -----
    The write is atomic (temporary file, fsync, rename): whatever happens, the
    file at ``path`` is the old checkpoint or the new one. The new file has
    the permissions a plain write would give (see the module doc).

    Examples
    --------
    >>> import os, tempfile, numpy as np, fastrnn
    >>> model = fastrnn.SequenceClassifier(fastrnn.GRU(3, 4, seed=0), num_classes=2, seed=0)
    >>> opt = fastrnn.optim.Adam(model, lr=1e-3)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = fastrnn.save(model, os.path.join(tmp, "model.npz"), meta={"epoch": 3})
    ...     _ = fastrnn.save(opt, os.path.join(tmp, "adam.npz"))
    ...     again = fastrnn.load(path)                          # rebuilt from its header
    ...     header = fastrnn.io.read_header(path)
    ...     opt2 = fastrnn.load(os.path.join(tmp, "adam.npz"), into=fastrnn.optim.Adam(again))
    >>> type(again).__name__, header["meta"], opt2.lr
    ('SequenceClassifier', {'epoch': 3}, 0.001)
    >>> all(np.array_equal(again.params[k], model.params[k]) for k in model.params)
    True
    """
    path = check_path(path, "save")
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
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save: meta: expected JSON-serializable values ({exc})") from None
    write_atomically(path, lambda f: _write_npz(f, text, arrays), "save")
    return path


# --- load -------------------------------------------------------------------------------

_MAX_HEADER_BYTES = 64 << 20
# what a damaged or crafted file raises while it is read; each becomes a ValueError naming it
_READ_ERRORS = (ValueError, TypeError, KeyError, EOFError, SyntaxError, RecursionError,
                OverflowError, NotImplementedError, zipfile.BadZipFile, zlib.error, struct.error)


def _bad(path, what):
    return ValueError(f"load: {path!r}: {what}")


def _npy_info(zf, member, path, label):
    """``(shape, dtype)`` from the ``.npy`` header of ``member``; its data is not read.

    Checks that the entry holds exactly the bytes that shape and dtype need,
    so reading it later allocates no more than the file holds.
    """
    try:
        info = zf.getinfo(member)
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            offset = f.tell()
    except _READ_ERRORS as exc:
        raise _bad(path, f"{label}: unreadable .npy entry {member!r} ({exc})") from None
    if dtype.hasobject:
        raise _bad(path, f"{label}: entry {member!r} holds Python objects (dtype {dtype}); "
                         "a checkpoint holds numbers only")
    count = 1
    for n in shape:
        count *= n
    if info.file_size != offset + count * dtype.itemsize:
        raise _bad(path, f"{label}: entry {member!r} declares shape {shape} of {dtype} "
                         f"({count * dtype.itemsize} bytes) but holds "
                         f"{info.file_size - offset} bytes (truncated or padded)")
    return tuple(shape), dtype


def _read_npy(zf, member, path, label):
    try:
        with zf.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _bad(path, f"{label}: cannot read entry {member!r} ({type(exc).__name__}: "
                         f"{exc})") from None


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_header(header, path):
    """Raise ValueError unless the header has the form ``save`` writes."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise _bad(path, f"expected a header with format {FORMAT!r}, got {got!r}")
    version = header.get("version")
    if not _is_int(version, 1):
        raise _bad(path, f"expected an integer format version >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"load: {path!r} has format version {version}, newer than this "
                         f"fastrnn reads (up to {FORMAT_VERSION}); upgrade fastrnn")
    kind = header.get("kind")
    if kind not in ("module", "optimizer", "arrays"):
        raise _bad(path, f"unknown checkpoint kind {kind!r}")
    if not isinstance(header.get("class"), str):
        raise _bad(path, f"header 'class': expected a class name, got {header.get('class')!r}")
    config = header.get("config")
    if config is not None and not isinstance(config, dict):
        raise _bad(path, f"header 'config': expected a dict or null, got {config!r}")
    entries = header.get("arrays")
    if not isinstance(entries, list):
        raise _bad(path, f"header 'arrays': expected a list, got {entries!r}")
    names, keys = set(), set()
    for i, e in enumerate(entries):
        ok = (isinstance(e, dict) and isinstance(e.get("name"), str)
              and isinstance(e.get("key"), str) and isinstance(e.get("dtype"), str)
              and isinstance(e.get("shape"), list) and all(_is_int(n) for n in e["shape"]))
        if not ok:
            raise _bad(path, f"header 'arrays'[{i}]: expected {{'name': str, 'key': str, "
                             f"'shape': [ints >= 0], 'dtype': str}}, got {e!r}")
        if e["name"] in names or e["key"] in keys or e["key"] == _HEADER_KEY:
            raise _bad(path, f"header 'arrays'[{i}]: name {e['name']!r} or key {e['key']!r} "
                             "repeated")
        names.add(e["name"])
        keys.add(e["key"])
    if kind == "optimizer":
        cfg = config or {}
        ok = (isinstance(cfg.get("hyperparams", {}), dict)
              and _is_int(cfg.get("step_count", 0))
              and isinstance(cfg.get("decay", []), list)
              and all(isinstance(d, str) for d in cfg.get("decay", []))
              and isinstance(cfg.get("params", []), list)
              and all(isinstance(d, str) for d in cfg.get("params", [])))
        if not ok:
            raise _bad(path, f"header 'config': expected an optimizer's {{'hyperparams': dict, "
                             f"'step_count': int, 'decay': [str], 'params': [str]}}, got {cfg!r}")


class _Checkpoint:
    """An open checkpoint: its header checked, its arrays' shapes known, no data read."""

    def __init__(self, path):
        self.path = path = check_path(path, "load")
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, f"load: no such file: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, f"load: {path!r} is a directory, not a "
                                                  "checkpoint")
        try:
            self.zf = zipfile.ZipFile(path)
        except _READ_ERRORS as exc:
            raise ValueError(f"load: {path!r} is not a fastrnn checkpoint (.npz): "
                             f"{exc}") from None
        try:
            self.header = self._read_header()
        except BaseException:
            self.zf.close()
            raise

    def _read_header(self):
        path, member = self.path, _HEADER_KEY + ".npy"
        if member not in self.zf.namelist():
            raise ValueError(f"load: {path!r} is an .npz without a fastrnn header "
                             f"({_HEADER_KEY!r} entry); it was not written by fastrnn.save")
        shape, dtype = _npy_info(self.zf, member, path, "the header")
        if shape != () or dtype.kind != "U" or self.zf.getinfo(member).file_size > \
                _MAX_HEADER_BYTES:
            raise _bad(path, f"the header entry: expected a JSON string of at most "
                             f"{_MAX_HEADER_BYTES} bytes, got shape {shape} of {dtype}")
        try:
            header = json.loads(str(_read_npy(self.zf, member, path, "the header")))
        except (ValueError, RecursionError) as exc:
            raise _bad(path, f"the fastrnn header is not valid JSON ({exc})") from None
        _check_header(header, path)
        return header

    def array_shapes(self):
        """``{name: (shape, dtype)}`` of the stored arrays, checked against the header."""
        out = {}
        for e in self.header["arrays"]:
            name, member = e["name"], e["key"] + ".npy"
            if member not in self.zf.namelist():
                raise _bad(self.path, f"array {name!r} is listed in the header but missing "
                                      "from the file")
            shape, dtype = _npy_info(self.zf, member, self.path, f"array {name!r}")
            if list(shape) != e["shape"] or dtype.name != e["dtype"]:
                raise _bad(self.path, f"array {name!r}: the header says shape "
                                      f"{tuple(e['shape'])} and dtype {e['dtype']}, the file "
                                      f"holds shape {shape} and dtype {dtype}")
            out[name] = (shape, dtype)
        return out

    def read_arrays(self):
        return {e["name"]: _read_npy(self.zf, e["key"] + ".npy", self.path, f"array {e['name']!r}")
                for e in self.header["arrays"]}

    def close(self):
        self.zf.close()


def read_header(path):
    """The header of a checkpoint, without loading its arrays.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A file written by ``save``.

    Returns
    -------
    dict
        ``{"format", "version", "fastrnn_version", "kind", "class", "config",
        "arrays", "meta"}`` (the module doc describes them).

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When the file is not a well-formed fastrnn checkpoint (naming the file).
    """
    ckpt = _Checkpoint(path)
    ckpt.close()
    return ckpt.header


def _check_fits(module, shapes, path, what):
    """Raise ValueError unless ``shapes`` ({name: (shape, dtype)}) are ``module``'s parameters."""
    params = module.params
    missing = [k for k in params if k not in shapes]
    unexpected = [k for k in shapes if k not in params]
    if missing or unexpected:
        raise _bad(path, f"does not fit {what}: missing parameters {missing}, unexpected "
                         f"parameters {unexpected}")
    for name, p in params.items():
        shape, dtype = shapes[name]
        if shape != p.shape:
            raise _bad(path, f"parameter {name!r} of {what}: expected shape {p.shape}, "
                             f"got {shape}")
        if dtype != p.dtype:
            raise _bad(path, f"parameter {name!r} of {what}: expected dtype {p.dtype}, "
                             f"got {dtype}")


def _optimizer_state(header, arrays, path):
    cfg = header.get("config") or {}
    state = {p: {} for p in cfg.get("params", [])}
    for name, arr in arrays.items():
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "state":
            raise _bad(path, f"unexpected optimizer array {name!r}")
        p, b = "/".join(parts[1:-1]), parts[-1]
        if p not in state:
            raise _bad(path, f"optimizer array {name!r} names an unlisted parameter {p!r}")
        state[p][b] = arr
    return {"optimizer": header.get("class"), "hyperparams": cfg.get("hyperparams", {}),
            "step_count": cfg.get("step_count", 0), "decay": cfg.get("decay", []),
            "state": state}


def _module_to_fill(header, shapes, into, path):
    """The module the arrays go into: ``into`` or a new one, its shapes checked first."""
    cls = header["class"]
    if into is not None:
        if not isinstance(getattr(into, "params", None), Mapping):
            raise _bad(path, f"holds module parameters, got into={type(into).__name__}")
        if cls != type(into).__name__:
            raise ValueError(f"load: {path!r} holds a {cls}, got into={type(into).__name__}")
        _check_fits(into, shapes, path, f"the {cls} given as into")
        return into
    if header.get("config") is None:
        raise ValueError(f"load: {path!r} holds the weights of a {cls} saved without a "
                         "configuration; load it into an object: load(path, into=model)")
    description = {"class": cls, "config": header["config"]}
    try:
        with shapes_only():            # no parameter memory: compare shapes first
            probe = build(description)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError,
            RecursionError) as exc:
        raise _bad(path, f"the header's configuration of the {cls} is invalid: "
                         f"{type(exc).__name__}: {exc}") from None
    _check_fits(probe, shapes, path, f"the {cls} the header describes")
    return build(description)


def load(path, into=None):
    """Read a checkpoint written by ``save``.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The checkpoint file.
    into : layer, model or optimizer, optional
        Copy the stored parameters (or optimizer state) into this object
        instead of building a new one.

    Returns
    -------
    object
        The module (rebuilt, or ``into``), the optimizer ``into``, an
        optimizer's ``state_dict`` (no ``into``), or a dict of arrays.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        For any malformed checkpoint, or one that does not fit ``into``,
        naming the file and what is wrong; nothing large is allocated and
        nothing is written before the check.
    IsADirectoryError, TypeError
        When ``path`` is a directory, or not a path.

    Examples
    --------
    >>> import os, tempfile, numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(2, 3, seed=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = fastrnn.save(lstm, os.path.join(tmp, "lstm.npz"))
    ...     target = fastrnn.load(path, into=fastrnn.LSTM(2, 3, seed=1))   # copied in
    ...     arrays = fastrnn.load(fastrnn.save({"x": np.arange(3)}, os.path.join(tmp, "d.npz")))
    >>> bool(np.array_equal(target.params_flat, lstm.params_flat)), arrays["x"].tolist()
    (True, [0, 1, 2])
    """
    ckpt = _Checkpoint(path)
    try:
        header, path = ckpt.header, ckpt.path
        shapes = ckpt.array_shapes()
        kind = header["kind"]
        target = None
        if kind == "module":
            target = _module_to_fill(header, shapes, into, path)
        elif kind == "arrays" and into is not None:
            raise ValueError(f"load: {path!r} holds a dict of arrays, not parameters of a "
                             f"{type(into).__name__}; call load(path) without into")
        elif kind == "optimizer" and into is not None:
            if not isinstance(into, Optimizer):
                raise ValueError(f"load: {path!r} holds a {header['class']} optimizer's state, "
                                 f"got into={type(into).__name__}")
        arrays = ckpt.read_arrays()
    finally:
        ckpt.close()
    if kind == "arrays":
        return arrays
    if kind == "optimizer":
        sd = _optimizer_state(header, arrays, path)
        if into is None:
            return sd
        try:
            into.load_state_dict(sd)
        except (TypeError, KeyError, ValueError) as exc:
            raise _bad(path, str(exc)) from None
        return into
    target.load_state_dict(arrays)
    return target
