"""Keras weight conversion: ``fastrnn.keras.to_keras_weights``, ``load_keras_weights``,
``from_keras`` and ``to_keras``.

Converting weights needs no keras import; ``to_keras`` imports keras (set
``KERAS_BACKEND``, e.g. ``torch``, before). The layout is documented in
``fastrnn.interop.keras``.
"""

from .interop.keras import from_keras, load_keras_weights, to_keras, to_keras_weights

__all__ = ["to_keras_weights", "load_keras_weights", "from_keras", "to_keras"]
