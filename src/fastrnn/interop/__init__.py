"""Interoperability: ONNX export and import, Keras weight conversion.

The modules here import onnx and keras lazily, inside the functions that
need them; importing fastrnn never imports either. Users reach them as
``fastrnn.onnx`` and ``fastrnn.keras``.
"""
