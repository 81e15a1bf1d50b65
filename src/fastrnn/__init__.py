"""fastrnn: SRN (Elman), LSTM and GRU for NumPy with exact BPTT and C hot loops.

Layers: ``SRN``, ``LSTM``, ``GRU`` (PyTorch's argument names, shapes and
``state_dict`` layout). Per-cell functions with the cache explicit:
``fastrnn.functional``. Engines: ``set_backend("c" | "numpy")``,
``get_backend()``, or the ``FASTRNN_BACKEND`` environment variable.
"""

from . import functional
from ._backend import c_engine_available, get_backend, set_backend
from .layers import GRU, LSTM, SRN

__version__ = "0.1.0"

__all__ = ["SRN", "LSTM", "GRU", "functional", "set_backend", "get_backend",
           "c_engine_available", "__version__"]

# --- the training toolkit: clipping, optimizers, initializers, layers around the
# recurrence, losses, models, truncated BPTT, save/load ---------------------------
from . import init, optim
from .clip import clip_grad_norm, clip_grad_value, grad_norm
from .io import load, save
from .losses import log_softmax, mse, softmax, softmax_cross_entropy
from .models import Model, Seq2Seq, SequenceClassifier, SequenceTagger, Sequential, length_mask
from .nn import Embedding, Linear
from .optim import l1_penalty, l2_penalty
from .tbptt import TruncatedBPTT

__all__ += ["clip_grad_norm", "clip_grad_value", "grad_norm", "l1_penalty", "l2_penalty",
            "optim", "init", "Linear", "Embedding", "softmax_cross_entropy", "mse", "softmax",
            "log_softmax", "Model", "Sequential", "SequenceClassifier", "SequenceTagger",
            "Seq2Seq", "length_mask", "TruncatedBPTT", "save", "load"]

# --- the long-term-dependency lab: gradient flow, Jacobians and gate health; the
# long-lag tasks; real-time recurrent learning ------------------------------------
from . import diagnostics, rtrl, tasks

__all__ += ["diagnostics", "tasks", "rtrl"]
