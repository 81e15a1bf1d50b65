"""fastrnn: SRN (Elman), LSTM and GRU for NumPy with exact BPTT and C hot loops.

The package has three floors, each a subpackage:

* ``fastrnn.core``: the engine core. The NumPy reference engine, the C engine's
  binding, the engine selection, the functional API (one recurrence with its
  cache explicit) and the layers ``SRN``, ``LSTM``, ``GRU`` (PyTorch's argument
  names, shapes and ``state_dict`` layout).
* ``fastrnn.train``: the training toolkit built on the layers: feed-forward
  layers, losses, optimizers, clipping, initializers, models, truncated BPTT,
  save/load.
* ``fastrnn.lab``: the long-term-dependency lab: gradient-flow diagnostics,
  long-lag tasks, real-time recurrent learning, the experiments.

The modules users import by their short names (``fastrnn.functional``,
``fastrnn.optim``, ``fastrnn.diagnostics``, ...) are the same module objects
as their homes in the subpackages (see ``_SHORT_NAMES`` below).

Engines: ``set_backend("c" | "numpy")``, ``get_backend()``, or the
``FASTRNN_BACKEND`` environment variable.
"""

import sys as _sys

from ._version import __version__  # noqa: E402

from .core import functional, layers  # noqa: E402
from .core.backend import c_engine_available, get_backend, set_backend  # noqa: E402
from .core.layers import GRU, LSTM, SRN  # noqa: E402
from .core.threads import get_num_threads, set_num_threads  # noqa: E402

__all__ = ["SRN", "LSTM", "GRU", "functional", "set_backend", "get_backend",
           "c_engine_available", "set_num_threads", "get_num_threads", "__version__"]

# --- the training toolkit -----------------------------------------------------------
from .train import clip, distributed, init, io, losses, models, nn, optim, tbptt  # noqa: E402
from .train.clip import clip_grad_norm, clip_grad_value, grad_norm  # noqa: E402
from .train.io import load, save  # noqa: E402
from .train.losses import log_softmax, mse, softmax, softmax_cross_entropy  # noqa: E402
from .train.models import (Model, Seq2Seq, SequenceClassifier, SequenceTagger,  # noqa: E402
                           Sequential, length_mask)
from .train.nn import Embedding, Linear  # noqa: E402
from .train.optim import l1_penalty, l2_penalty  # noqa: E402
from .train.tbptt import TruncatedBPTT  # noqa: E402

__all__ += ["clip_grad_norm", "clip_grad_value", "grad_norm", "l1_penalty", "l2_penalty",
            "optim", "init", "Linear", "Embedding", "softmax_cross_entropy", "mse", "softmax",
            "log_softmax", "Model", "Sequential", "SequenceClassifier", "SequenceTagger",
            "Seq2Seq", "length_mask", "TruncatedBPTT", "save", "load"]

# --- the long-term-dependency lab ---------------------------------------------------
from .lab import diagnostics, experiments, rtrl, tasks  # noqa: E402

__all__ += ["diagnostics", "tasks", "rtrl"]

# The short public module names, one table: ``import fastrnn.optim`` and
# ``from fastrnn.diagnostics import gradient_flow`` find the subpackages' modules.
_SHORT_NAMES = {
    "functional": functional, "layers": layers,
    "clip": clip, "distributed": distributed, "init": init, "io": io, "losses": losses, "models": models, "nn": nn,
    "optim": optim, "tbptt": tbptt,
    "diagnostics": diagnostics, "experiments": experiments, "rtrl": rtrl, "tasks": tasks,
}
for _name, _module in _SHORT_NAMES.items():
    _sys.modules[f"{__name__}.{_name}"] = _module
del _name, _module


# --- interoperability (fastrnn.onnx, fastrnn.keras) -------------------------------------
# Resolved on first access (PEP 562), so ``import fastrnn`` never imports onnx or keras;
# the modules themselves import those libraries only inside the functions that need them.
_LAZY_MODULES = ("onnx", "keras")


def __getattr__(name):
    if name in _LAZY_MODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
