"""The one place modules are described and built anew from a description.

``describe(module)`` gives ``{"class": name, "config": {...}}`` and
``build(description)`` makes a fresh module from it: what ``save``/``load``
and the models' ``get_config``/``from_config`` use. The known classes are the
recurrent layers, ``Linear``, ``Embedding``, and every class passed to
``register`` (fastrnn's models register themselves where they are defined).
"""

import inspect
from collections.abc import Mapping

import numpy as np

from ..core.layers import GRU, LSTM, SRN
from .nn import Embedding, Linear

__all__ = ["describe", "build", "register"]

_classes = {cls.__name__: cls for cls in (SRN, LSTM, GRU, Linear, Embedding)}


def register(cls):
    """Make a ``Model`` subclass rebuildable by ``load``.

    Parameters
    ----------
    cls : type
        A class with ``get_config()`` and ``from_config(config)``.

    Returns
    -------
    type
        ``cls`` itself, so this works as a class decorator.

    Raises
    ------
    TypeError
        If ``cls`` lacks ``get_config`` or ``from_config``.
    """
    if not (hasattr(cls, "get_config") and hasattr(cls, "from_config")):
        raise TypeError(f"register: expected a class with get_config and from_config, "
                        f"got {cls!r}")
    _classes[cls.__name__] = cls
    return cls


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

    Parameters
    ----------
    module : a layer or model

    Returns
    -------
    dict

    Raises
    ------
    TypeError
        For a module that cannot be described (no ``get_config``).
    """
    cls = type(module)
    if hasattr(module, "get_config"):
        return {"class": cls.__name__, "config": module.get_config()}
    if cls in (SRN, LSTM, GRU):
        config = {}
        for name in inspect.signature(cls.__init__).parameters:
            if name in ("self", "seed", "init") or not hasattr(module, name):
                continue
            config[name] = _jsonable(getattr(module, name))
        return {"class": cls.__name__, "config": config}
    raise TypeError(f"describe: cannot describe a {cls.__name__} (no get_config)")


def build(description):
    """The module that ``describe`` described (fresh parameters).

    Parameters
    ----------
    description : dict
        ``{"class": name, "config": {...}}`` as ``describe`` returns it; the
        class is one of fastrnn's layers and models or a ``register``-ed one.

    Returns
    -------
    object
        A new module.

    Raises
    ------
    ValueError
        For a description that is not such a dict, or an unknown class.
    TypeError, ValueError
        Whatever the class's constructor raises for its configuration.
    """
    if not isinstance(description, Mapping) or "class" not in description:
        raise ValueError(f"build: expected a {{'class': ..., 'config': ...}} dict, "
                         f"got {description!r}")
    name = description["class"]
    if not isinstance(name, str) or name not in _classes:
        raise ValueError(f"build: unknown class {name!r}; known: {sorted(_classes)} (register "
                         "your Model subclass with fastrnn.io.register, or load into an object)")
    cls = _classes[name]
    config = description.get("config") or {}
    if not isinstance(config, Mapping) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"build: {name}: expected a config dict with string keys, "
                         f"got {config!r}")
    config = dict(config)
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    return cls(**config)
