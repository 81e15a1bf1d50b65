"""Which engine runs the recurrences: "c" (compiled, the default when built) or "numpy"."""

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
    """True when the compiled extension imports."""
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
    """Select the engine for every later call: "c" or "numpy"."""
    global _current
    name = _check_name(name, "set_backend")
    get_engine(name)  # fail now, not at the first forward
    _current = name


def get_backend():
    """The name of the engine in use ("c" or "numpy")."""
    global _current
    if _current is None:
        _current = _default()
    return _current


def get_engine(name=None):
    """The engine module for ``name`` (default: the current backend)."""
    name = get_backend() if name is None else _check_name(name, "backend")
    try:
        return importlib.import_module(_ENGINE_MODULES[name])
    except ImportError as exc:
        raise ImportError(
            f"the {name!r} backend is not available ({exc}); the compiled engine "
            "is built by 'pip install .'") from exc
