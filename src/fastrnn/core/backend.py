"""Which engine runs the recurrences: "c" (compiled, the default when built) or "numpy".

The choice is process-wide. It starts as the ``FASTRNN_BACKEND`` environment
variable if set (``c`` or ``numpy``, any case), else ``"c"`` when the compiled
extension imports and ``"numpy"`` otherwise; ``set_backend`` changes it for
every later call. Both engines compute the same results (within 1e-12 in
float64, 1e-5 in float32) and raise the same errors for invalid calls.

Examples
--------
>>> import fastrnn
>>> previous = fastrnn.get_backend()
>>> fastrnn.set_backend("numpy")
>>> fastrnn.get_backend()
'numpy'
>>> fastrnn.set_backend(previous)
"""

import importlib
import os

BACKENDS = ("c", "numpy")
_ENGINE_MODULES = {"c": "fastrnn.core.c_engine", "numpy": "fastrnn.core.reference"}
_current = None


def _check_name(name, source):
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"{source}: expected one of {BACKENDS}, got {name!r}")
    return name


def c_engine_available():
    """Whether the compiled C engine can be used.

    Returns
    -------
    bool
        True when the compiled extension (``fastrnn.core._ext``, built by
        ``pip install .``) imports.
    """
    try:
        importlib.import_module(_ENGINE_MODULES["c"])
    except ImportError:
        return False
    return True


def _default():
    env = os.environ.get("FASTRNN_BACKEND")
    if env:
        return _check_name(env.strip().lower(), "FASTRNN_BACKEND")
    return "c" if c_engine_available() else "numpy"


def set_backend(name):
    """Select the engine for every later call, process-wide.

    Parameters
    ----------
    name : {"c", "numpy"}
        ``"c"``: the compiled engine; ``"numpy"``: the NumPy reference engine.

    Raises
    ------
    ValueError
        If ``name`` is not ``"c"`` or ``"numpy"``.
    ImportError
        If ``name`` is ``"c"`` and the compiled extension is not built; the
        engine in use is unchanged.
    """
    global _current
    name = _check_name(name, "set_backend")
    get_engine(name)  # fail now, not at the first forward
    _current = name


def get_backend():
    """The name of the engine in use.

    Returns
    -------
    str
        ``"c"`` or ``"numpy"``: the last ``set_backend``, else the default
        (``FASTRNN_BACKEND``, else ``"c"`` when built).

    Raises
    ------
    ValueError
        If no engine was set yet and ``FASTRNN_BACKEND`` holds another name.
    """
    global _current
    if _current is None:
        _current = _default()
    return _current


def get_engine(name=None):
    """The engine module that computes the recurrences.

    Parameters
    ----------
    name : {"c", "numpy"}, optional
        Default: the current backend (``get_backend()``).

    Returns
    -------
    module
        ``fastrnn.core.c_engine`` or ``fastrnn.core.reference``: both have the
        functions of the engine contract (``fastrnn.core.reference``'s module
        doc), ``srn_forward``, ``srn_backward``, ``lstm_forward``, ...

    Raises
    ------
    ValueError
        For another name.
    ImportError
        For ``"c"`` when the compiled extension is not built.
    """
    name = get_backend() if name is None else _check_name(name, "backend")
    try:
        return importlib.import_module(_ENGINE_MODULES[name])
    except ImportError as exc:
        raise ImportError(
            f"the {name!r} backend is not available ({exc}); the compiled engine "
            "is built by 'pip install .'") from exc
