"""ONNX export and import: ``fastrnn.onnx.export(model, path)`` and ``fastrnn.onnx.load(path)``.

The onnx package is imported only when a function runs (``pip install
'fastrnn[onnx]'``). See ``fastrnn.interop.onnx_export`` for the graph layout
and ``fastrnn.interop.onnx_import`` for what can be loaded.
"""

from .interop.onnx_export import DEFAULT_OPSET, MIN_OPSET, export, to_onnx
from .interop.onnx_import import from_onnx, load

__all__ = ["export", "to_onnx", "load", "from_onnx", "DEFAULT_OPSET", "MIN_OPSET"]
