"""Convert weights between fastrnn layers and Keras SimpleRNN, LSTM and GRU layers, both ways.

The layout, per direction of one layer (G gates, I inputs, H units)::

    fastrnn (PyTorch's)                    Keras get_weights()
    weight_ih (G*H, I)                     kernel (I, G*H)             = reorder(weight_ih).T
    weight_hh (G*H, H)                     recurrent_kernel (H, G*H)   = reorder(weight_hh).T
    bias_ih (G*H,), bias_hh (G*H,)         bias (G*H,)                 = reorder(bias_ih + bias_hh)
                                           GRU reset_after=True: bias (2, G*H)
                                                                       = [reorder(bias_ih), reorder(bias_hh)]

Gate blocks: fastrnn LSTM (i, f, g, o) is Keras's (i, f, c, o), the same
order; fastrnn GRU (r, z, n) becomes Keras's (z, r, h). fastrnn's
``GRU(reset_after=True)`` (PyTorch's form) is Keras's ``GRU(reset_after=True)``
(Keras 3's default), ``GRU(reset_after=False)`` is Keras's
``reset_after=False``. Keras's LSTM, SimpleRNN and reset-before GRU have one
bias where fastrnn has two; they only ever appear summed (in the reset-before
GRU the candidate's recurrent bias sits outside the reset product, so it
adds to the input bias too). So:

* fastrnn -> Keras sums ``bias_ih + bias_hh``: one float add per entry,
  rounded once; the Keras layer then computes the same function up to that
  rounding and its own order of additions (agreement ~1e-7 relative in
  float32, ~1e-16 in float64, not bit-identical);
* Keras -> fastrnn puts Keras's bias in ``bias_ih`` and zeros in
  ``bias_hh``; Keras -> fastrnn -> Keras gives back bit-identical weights.

A bidirectional layer is Keras's ``Bidirectional(..., merge_mode="concat")``,
whose ``get_weights()`` is the forward layer's list followed by the backward
layer's. ``num_layers=L`` is L stacked Keras layers (all but the last with
``return_sequences=True``). Keras is batch-first, so ``from_keras`` builds
``batch_first=True`` layers unless told otherwise. Keras layers are read by
duck typing (``get_config``, ``get_weights``), so converting weights needs no
keras import; ``to_keras`` imports keras.
"""

import numpy as np

from ..core import validation as V
from ..core.layers import GRU, LSTM, SRN, param_name
from .gates import GATES, KERAS_ORDER, cell_of, inverse, reorder

__all__ = ["to_keras_weights", "load_keras_weights", "from_keras", "to_keras"]

_KERAS_CLASSES = {"SimpleRNN": "srn", "LSTM": "lstm", "GRU": "gru"}
_FASTRNN_CLASSES = {"srn": SRN, "lstm": LSTM, "gru": GRU}


def _keras_gru_two_biases(layer, cell):
    return cell == "gru" and layer.reset_after


def _check_no_projection(layer):
    if getattr(layer, "proj_size", 0):
        raise ValueError(f"layer: an LSTM with proj_size={layer.proj_size} has no Keras "
                         "counterpart (Keras's LSTM has no projection)")


def to_keras_weights(layer):
    """The Keras ``get_weights()`` lists of a fastrnn layer, one per stacked layer.

    Parameters
    ----------
    layer : SRN, LSTM or GRU
        Not a residual SRN (Keras has no such cell).

    Returns
    -------
    list of list of ndarray
        ``num_layers`` lists; list l is what ``set_weights`` of the Keras
        layer at depth l takes: ``[kernel (I_l, G*H), recurrent_kernel (H,
        G*H), bias]`` (bias (G*H,), or (2, G*H) for a reset-after GRU; left
        out when ``bias=False``), the backward layer's three following the
        forward layer's for a bidirectional layer. ``I_0 = input_size``,
        ``I_l = D*H`` above. Arrays are new, in the layer's dtype.

    Raises
    ------
    TypeError
        ``layer`` is not a fastrnn SRN, LSTM or GRU.
    ValueError
        A residual SRN, or an LSTM with ``proj_size`` > 0 (Keras has neither).

    Examples
    --------
    >>> import fastrnn
    >>> w = fastrnn.keras.to_keras_weights(fastrnn.GRU(3, 4, seed=0))
    >>> [a.shape for a in w[0]]
    [(3, 12), (4, 12), (2, 12)]
    """
    cell = cell_of(layer)
    if cell == "srn" and layer.residual:
        raise ValueError("layer: a residual SRN has no Keras counterpart")
    _check_no_projection(layer)
    order = KERAS_ORDER[cell]
    out = []
    for index in range(layer.num_layers):
        weights = []
        for direction in range(layer.num_directions):
            p = {kind: layer.params.get(param_name(kind, index, direction))
                 for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            weights.append(np.ascontiguousarray(reorder(p["weight_ih"], order).T))
            weights.append(np.ascontiguousarray(reorder(p["weight_hh"], order).T))
            if layer.bias:
                if _keras_gru_two_biases(layer, cell):
                    weights.append(np.stack([reorder(p["bias_ih"], order),
                                             reorder(p["bias_hh"], order)]))
                else:
                    weights.append(reorder(p["bias_ih"] + p["bias_hh"], order))
        out.append(weights)
    return out


def _expected_shapes(layer, cell, index):
    G, H, D = GATES[cell], layer.hidden_size, layer.num_directions
    I = layer.input_size if index == 0 else D * H
    shapes = [("kernel", (I, G * H)), ("recurrent_kernel", (H, G * H))]
    if layer.bias:
        shapes.append(("bias", (2, G * H) if _keras_gru_two_biases(layer, cell) else (G * H,)))
    return shapes * D


def _per_layer(layer, cell, weights):
    """``weights`` as one list per stacked layer (a flat list, as keras.Sequential gives, is split)."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"weights: expected a list of get_weights() lists, got "
                        f"{type(weights).__name__}")
    if weights and not isinstance(weights[0], (list, tuple)):          # one flat list
        count = len(_expected_shapes(layer, cell, 0))
        if len(weights) != count * layer.num_layers:
            raise ValueError(f"weights: expected {count * layer.num_layers} arrays "
                             f"({count} per layer), got {len(weights)}")
        weights = [weights[k * count:(k + 1) * count] for k in range(layer.num_layers)]
    if len(weights) != layer.num_layers:
        raise ValueError(f"weights: expected {layer.num_layers} lists (one per layer), "
                         f"got {len(weights)}")
    return weights


def load_keras_weights(layer, weights):
    """Copy Keras weights into a fastrnn layer of the matching configuration.

    Parameters
    ----------
    layer : SRN, LSTM or GRU
        Its cell, sizes, ``bias``, ``bidirectional``, ``nonlinearity`` and
        ``reset_after`` must be those of the Keras layers.
    weights : list
        One ``get_weights()`` list per stacked Keras layer (as
        ``to_keras_weights`` returns), or all of them in one flat list (as a
        ``keras.Sequential`` of the stacked layers returns).

    Returns
    -------
    layer
        The same layer, updated: a single Keras bias goes into ``bias_ih``
        with ``bias_hh = 0``; a reset-after GRU's (2, G*H) bias into
        ``bias_ih`` and ``bias_hh``.

    Raises
    ------
    TypeError
        ``layer`` not a fastrnn recurrent layer, ``weights`` not a list, non-float arrays.
    ValueError
        A wrong number of arrays or a wrong shape (named ``weights[l][k]``,
        with what it is); nothing is written then. An LSTM with
        ``proj_size`` > 0 (Keras's LSTM has no projection).
    """
    cell = cell_of(layer)
    _check_no_projection(layer)
    weights = _per_layer(layer, cell, weights)
    order = inverse(KERAS_ORDER[cell])
    state = {}
    for index, arrays in enumerate(weights):
        expected = _expected_shapes(layer, cell, index)
        if not isinstance(arrays, (list, tuple)) or len(arrays) != len(expected):
            got = len(arrays) if isinstance(arrays, (list, tuple)) else type(arrays).__name__
            raise ValueError(f"weights[{index}]: expected {len(expected)} arrays "
                             f"({', '.join(n for n, _ in expected)}), got {got}")
        checked = []
        for k, ((what, shape), value) in enumerate(zip(expected, arrays)):
            arr = V.as_float_array(f"weights[{index}][{k}] ({what})", value, layer.dtype)
            V.check_shape(f"weights[{index}][{k}] ({what})", arr, shape)
            checked.append(arr)
        per = len(expected) // layer.num_directions
        for direction in range(layer.num_directions):
            kernel, recurrent, *bias = checked[direction * per:(direction + 1) * per]
            name = lambda kind: param_name(kind, index, direction)  # noqa: E731
            state[name("weight_ih")] = reorder(kernel.T, order)
            state[name("weight_hh")] = reorder(recurrent.T, order)
            if layer.bias:
                b = bias[0]
                two = b.ndim == 2
                state[name("bias_ih")] = reorder(b[0] if two else b, order)
                state[name("bias_hh")] = reorder(b[1], order) if two else np.zeros_like(b)
    layer.load_state_dict(state)
    return layer


def _config(keras_layer, where):
    if not (hasattr(keras_layer, "get_config") and hasattr(keras_layer, "get_weights")):
        raise TypeError(f"{where}: expected a Keras layer, got {type(keras_layer).__name__}")
    return keras_layer.get_config()


def _read_cell(keras_layer, where):
    """(cell, settings) of a Keras SimpleRNN/LSTM/GRU, refusing what fastrnn cannot compute."""
    name = type(keras_layer).__name__
    if name not in _KERAS_CLASSES:
        raise TypeError(f"{where}: expected a Keras SimpleRNN, LSTM, GRU or Bidirectional, "
                        f"got {name}")
    cell, config = _KERAS_CLASSES[name], _config(keras_layer, where)
    activation = config.get("activation", "tanh")
    if cell == "srn":
        if activation not in ("tanh", "relu", "sigmoid"):
            raise ValueError(f"{where}: activation={activation!r}: fastrnn's SRN has tanh, "
                             "relu or sigmoid")
    elif activation != "tanh" or config.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise ValueError(f"{where}: activation={activation!r}, recurrent_activation="
                         f"{config.get('recurrent_activation')!r}: fastrnn's {name} uses "
                         "tanh and sigmoid")
    for flag in ("stateful", "unroll"):
        if config.get(flag):
            raise ValueError(f"{where}: {flag}=True is not supported")
    settings = {"units": config["units"], "use_bias": config.get("use_bias", True),
                "activation": activation, "reset_after": config.get("reset_after"),
                "return_sequences": config.get("return_sequences", False),
                "go_backwards": config.get("go_backwards", False),
                # Keras's variational dropout: one input and one recurrent mask for all gates
                "dropout": float(config.get("dropout", 0.0)),
                "recurrent_dropout": float(config.get("recurrent_dropout", 0.0))}
    return cell, settings


def from_keras(keras_layers, batch_first=True):
    """A fastrnn layer with the configuration and weights of stacked Keras recurrent layers.

    Parameters
    ----------
    keras_layers : Keras layer or list of Keras layers
        SimpleRNN, LSTM or GRU layers, or ``Bidirectional`` wrappers of them
        (``merge_mode="concat"``), all of one kind, built (with weights),
        stacked in order (every layer but the last with
        ``return_sequences=True``).
    batch_first : bool
        The fastrnn layer's layout; True is Keras's (N, T, features).

    Returns
    -------
    SRN, LSTM or GRU
        ``num_layers = len(keras_layers)``, the dtype of the Keras weights
        (float32 or float64). Its ``forward(x)[0]`` is the Keras stack's
        output with ``return_sequences=True``.

    Raises
    ------
    TypeError
        Not Keras recurrent layers.
    ValueError
        Settings fastrnn cannot compute (other activations, ``go_backwards``
        outside a Bidirectional, ``stateful``, another ``merge_mode``), layers
        that differ in kind or size, a stack that does not chain.
    """
    layers = list(keras_layers) if isinstance(keras_layers, (list, tuple)) else [keras_layers]
    if not layers:
        raise ValueError("keras_layers: expected at least one layer, got none")
    batch_first = V.check_bool("batch_first", batch_first)
    kinds, weights = [], []
    for k, kl in enumerate(layers):
        where = f"keras_layers[{k}]"
        if type(kl).__name__ == "Bidirectional":
            config = _config(kl, where)
            if config.get("merge_mode", "concat") != "concat":
                raise ValueError(f"{where}: merge_mode={config.get('merge_mode')!r}: fastrnn "
                                 "concatenates the two directions ('concat')")
            cell, fwd = _read_cell(kl.forward_layer, f"{where}.forward_layer")
            cell_b, bwd = _read_cell(kl.backward_layer, f"{where}.backward_layer")
            if cell_b != cell or {**bwd, "go_backwards": False} != {**fwd, "go_backwards": False} \
                    or fwd["go_backwards"] or not bwd["go_backwards"]:
                raise ValueError(f"{where}: its backward layer must be the forward layer's "
                                 "twin running backwards")
            kinds.append((cell, fwd, 2))
        else:
            cell, settings = _read_cell(kl, where)
            if settings["go_backwards"]:
                raise ValueError(f"{where}: go_backwards=True outside a Bidirectional: fastrnn "
                                 "has no reverse-only layer")
            kinds.append((cell, settings, 1))
        weights.append([np.asarray(w) for w in kl.get_weights()])
    cell, first, D = kinds[0]
    for k, (c, s, d) in enumerate(kinds):
        same = {key: s[key] for key in ("units", "use_bias", "activation", "reset_after",
                                        "dropout", "recurrent_dropout")}
        if c != cell or d != D or same != {key: first[key] for key in same}:
            raise ValueError(f"keras_layers[{k}]: differs from keras_layers[0] (kind, units, "
                             "use_bias, activation, reset_after, dropout, recurrent_dropout "
                             "or direction); fastrnn stacks identical layers")
        if k < len(kinds) - 1 and not s["return_sequences"]:
            raise ValueError(f"keras_layers[{k}]: return_sequences=False below another layer")
    if not weights[0]:
        raise ValueError("keras_layers[0]: has no weights yet (build it first)")
    kernel = weights[0][0]
    dtypes = sorted({w.dtype.name for ws in weights for w in ws})
    if len(dtypes) != 1:
        raise ValueError(f"keras_layers: weights of dtypes {dtypes}; a fastrnn layer has "
                         "one dtype")
    dtype = V.check_dtype(kernel.dtype, "Keras weights dtype")
    kwargs = {"num_layers": len(layers), "bias": bool(first["use_bias"]),
              "batch_first": batch_first, "bidirectional": D == 2, "dtype": dtype,
              "input_dropout": first["dropout"], "recurrent_dropout": first["recurrent_dropout"]}
    if cell == "srn":
        kwargs["nonlinearity"] = first["activation"]
    if cell == "gru":
        kwargs["reset_after"] = bool(first["reset_after"])
    layer = _FASTRNN_CLASSES[cell](kernel.shape[0], int(first["units"]), **kwargs)
    return load_keras_weights(layer, weights)


def to_keras(layer, return_sequences=True):
    """New Keras layers computing the same function as a fastrnn layer (imports keras).

    Parameters
    ----------
    layer : SRN, LSTM or GRU
        Not residual, without zoneout (``input_dropout`` and
        ``recurrent_dropout`` become Keras's ``dropout``, ``recurrent_dropout``).
    return_sequences : bool
        For the top Keras layer (the lower ones always return sequences).

    Returns
    -------
    list of keras layers
        ``num_layers`` built layers (``Bidirectional`` wrappers when
        bidirectional) with the converted weights, in the layer's dtype.
        ``keras.Sequential(to_keras(layer))`` maps (N, T, input_size) to
        (N, T, D*H), as ``layer.forward`` with ``batch_first=True``.

    Raises
    ------
    ImportError
        keras is not installed (or its backend cannot load: set KERAS_BACKEND).
    TypeError, ValueError
        As ``to_keras_weights``.
    """
    weights = to_keras_weights(layer)
    if getattr(layer, "zoneout", 0):
        raise ValueError(f"layer: zoneout={layer.zoneout!r} has no Keras counterpart")
    return_sequences = V.check_bool("return_sequences", return_sequences)
    try:
        import keras
    except ImportError as exc:
        raise ImportError("fastrnn.keras.to_keras needs keras (pip install keras) with a "
                          "working backend (e.g. KERAS_BACKEND=torch)") from exc
    cell = cell_of(layer)
    out = []
    for index in range(layer.num_layers):
        kwargs = {"units": layer.hidden_size, "use_bias": layer.bias, "dtype": layer.dtype.name,
                  "return_sequences": return_sequences or index < layer.num_layers - 1,
                  "dropout": layer.input_dropout, "recurrent_dropout": layer.recurrent_dropout}
        if cell == "srn":
            made = keras.layers.SimpleRNN(activation=layer.nonlinearity, **kwargs)
        elif cell == "lstm":
            made = keras.layers.LSTM(**kwargs)
        else:
            made = keras.layers.GRU(reset_after=layer.reset_after, **kwargs)
        if layer.bidirectional:
            made = keras.layers.Bidirectional(made, merge_mode="concat", dtype=layer.dtype.name)
        features = layer.input_size if index == 0 else layer.num_directions * layer.hidden_size
        made.build((None, None, features))
        made.set_weights(weights[index])
        out.append(made)
    return out
