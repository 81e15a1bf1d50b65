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
