"""The names of the recurrent layers' parameters: PyTorch's, built in one place.

``SRN``, ``LSTM`` and ``GRU`` (``fastrnn.core.layers``, which re-exports
these), their ``state_dict``, the ONNX and Keras converters and the lab all
name a parameter with ``param_name``.
"""

PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def param_name(kind, layer=0, direction=0):
    """PyTorch's name of one parameter of a recurrent layer.

    The one place parameter names are built: the layers, their ``state_dict``
    and the ONNX and Keras converters all call it.

    Parameters
    ----------
    kind : {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"}
        One of ``PARAM_KINDS`` (not checked); ``weight_hr`` is the LSTM's
        projection (``proj_size`` > 0 only).
    layer : int, default 0
        The layer, 0 at the bottom.
    direction : int, default 0
        0 for the forward direction, 1 for the reverse one of a bidirectional
        layer.

    Returns
    -------
    str
        ``"{kind}_l{layer}"``, followed by ``"_reverse"`` when ``direction``
        is nonzero.

    Examples
    --------
    >>> param_name("weight_hh", 1, 1)
    'weight_hh_l1_reverse'
    >>> param_name("bias_ih")
    'bias_ih_l0'
    """
    return f"{kind}_l{layer}" + ("_reverse" if direction else "")
