"""fastrnn: SRN (Elman), LSTM and GRU for NumPy with exact BPTT and C hot loops.

The layers ``SRN``, ``LSTM`` and ``GRU`` take PyTorch's arguments and
shapes (x: (T, N, input_size), or (N, T, input_size) with
``batch_first``) and lay out their parameters exactly like PyTorch's
``state_dict``; ``backward`` gives the exact BPTT gradient of every
parameter, the input and the initial state.

>>> import numpy as np, fastrnn
>>> lstm = fastrnn.LSTM(input_size=3, hidden_size=5, num_layers=2, seed=0)
>>> x = np.random.default_rng(0).standard_normal((7, 2, 3)).astype(np.float32)
>>> y, (h, c) = lstm.forward(x, lengths=[7, 4])             # y: (T, N, hidden_size)
>>> dx, (dh0, dc0) = lstm.backward(np.ones_like(y))         # adds into lstm.grads
>>> y.shape, h.shape, dx.shape, lstm.grads["weight_hh_l1"].shape
((7, 2, 5), (2, 2, 5), (7, 2, 3), (20, 5))

The package has three floors, each a subpackage:

* ``fastrnn.core``: the engine core. The NumPy reference engine, the C
  engine's binding and its threads, the engine selection, the functional API
  (one recurrence with its cache explicit) and the layers.
* ``fastrnn.train``: the training toolkit built on the layers: ``Linear``,
  ``Embedding``, losses, optimizers (``fastrnn.optim``), clipping,
  initializers (``fastrnn.init``), models (``Sequential``,
  ``SequenceClassifier``, ``SequenceTagger``, ``Seq2Seq``),
  ``TruncatedBPTT``, ``save``/``load``, the training loop ``fit`` (with
  ``fastrnn.callbacks``), and data-parallel training over MPI
  (``fastrnn.distributed``).
* ``fastrnn.lab``: the long-term-dependency lab: gradient-flow diagnostics,
  long-lag tasks, real-time recurrent learning, the experiments.

The modules users import by their short names (``fastrnn.functional``,
``fastrnn.optim``, ``fastrnn.diagnostics``, ...) are the same module objects
as their homes in the subpackages (see ``_SHORT_NAMES`` below).
``fastrnn.onnx`` (ONNX export and import) and ``fastrnn.keras`` (Keras
weight conversion) are imported on first use, and import onnx and keras
only inside the functions that need them. ``fastrnn.data`` ships a small
text corpus; ``python -m fastrnn`` is the command line (``demo``,
``sample``, ``info``, ``gradflow``, ``lag``).

Engines: ``set_backend("c" | "numpy")``, ``get_backend()``, or the
``FASTRNN_BACKEND`` environment variable. Threads of the C engine:
``set_num_threads(n)``, ``get_num_threads()``, or ``FASTRNN_NUM_THREADS``.
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
from .train import callbacks  # noqa: E402
from .train.fit import fit  # noqa: E402

__all__ += ["clip_grad_norm", "clip_grad_value", "grad_norm", "l1_penalty", "l2_penalty",
            "optim", "init", "Linear", "Embedding", "softmax_cross_entropy", "mse", "softmax",
            "log_softmax", "Model", "Sequential", "SequenceClassifier", "SequenceTagger",
            "Seq2Seq", "length_mask", "TruncatedBPTT", "save", "load", "fit", "callbacks"]

# --- the long-term-dependency lab ---------------------------------------------------
from .lab import diagnostics, experiments, rtrl, tasks  # noqa: E402

__all__ += ["diagnostics", "tasks", "rtrl"]

# The short public module names, one table: ``import fastrnn.optim`` and
# ``from fastrnn.diagnostics import gradient_flow`` find the subpackages' modules.
_SHORT_NAMES = {
    "functional": functional, "layers": layers,
    "callbacks": callbacks, "clip": clip, "distributed": distributed, "init": init, "io": io,
    "losses": losses, "models": models, "nn": nn, "optim": optim, "tbptt": tbptt,
    "diagnostics": diagnostics, "experiments": experiments, "rtrl": rtrl, "tasks": tasks,
    "optim.lr_scheduler": optim.lr_scheduler,   # a submodule of a short name
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
