"""Export fastrnn layers and models to ONNX with the standard RNN, LSTM and GRU operators.

What is exported
----------------
* ``SRN`` (tanh, relu, sigmoid), ``LSTM``, ``GRU`` (both forms: ``reset_after``
  is ONNX's ``linear_before_reset``), any ``num_layers``, bidirectional: one
  ONNX node per layer, both biases kept (``B = [Wb, Rb]``), gate blocks
  reordered to ONNX's (LSTM i, o, f, c; GRU z, r, h). The residual SRN has no
  ONNX operator and is refused.
* ``Linear`` (MatMul + Add, or Gemm on the pooled features), ``Embedding``
  (Gather), ``Sequential`` chains of those, ``SequenceClassifier`` (both
  pools) and ``SequenceTagger``.

The graph
---------
The recurrent nodes run time-major (ONNX's ``layout=0``: ONNX Runtime does not
implement ``layout=1``); a batch-first graph transposes its input and output.
T and N are symbolic dimensions. Names (``j`` counts the recurrent modules of
a ``Sequential`` from 0):

=====================  ==========================================  ==============================
graph input / output   shape                                       when
=====================  ==========================================  ==============================
``x``                  (T, N, I) or (N, T, I); int64 ids (T, N)    always
                       or (N, T) when the model starts with an
                       ``Embedding``
``h0``, ``c0``         (L*D, N, H) like fastrnn's state            ``initial_state=True``
                       (``h0_j``, ``c0_j`` in a ``Sequential``)
``lengths``            int64 (N,), 1 <= lengths[n] <= T            ``lengths=True``
``y``                  (T, N, D*H) or (N, T, D*H)                  layers and ``Sequential``
``hn``, ``cn``         (L*D, N, H) (``hn_j``, ``cn_j``)            layers and ``Sequential``
``logits``             (N, C) classifier, (T, N, C) or (N, T, C)   the two patterns
                       tagger
=====================  ==========================================  ==============================

With ``lengths`` the recurrent nodes get ONNX's ``sequence_lens``: outputs past
a sequence's end are 0, its final state is the one at its own last step and
the reverse direction starts there, as in fastrnn. The fastrnn configuration
(``fastrnn.io.describe``) is stored in the model's ``metadata_props`` under
``fastrnn.model`` so that ``fastrnn.onnx.load`` rebuilds the same classes.
"""

import json
import os
import tempfile

import numpy as np

from ..core import validation as V
from ..core.layers import GRU, LSTM, SRN, param_name
from .gates import ONNX_ORDER, cell_of, reorder

__all__ = ["to_onnx", "export", "DEFAULT_OPSET", "MIN_OPSET"]

#: The opset written when ``opset`` is None (read by ONNX Runtime, OpenVINO, TensorRT).
DEFAULT_OPSET = 17
#: The oldest opset the graphs are valid in (``Squeeze``/``ReduceSum`` axes as inputs,
#: ``Reshape.allowzero``, RNN operators of version 14).
MIN_OPSET = 14

_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}
_OP_TYPES = {"srn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def require_onnx():
    """The ``onnx`` package, imported on demand.

    Returns
    -------
    module
        ``onnx``.

    Raises
    ------
    ImportError
        When onnx is not installed, saying which extra to install
        (``pip install 'fastrnn[onnx]'``).
    """
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("fastrnn.onnx needs the onnx package: pip install 'fastrnn[onnx]' "
                          "(or pip install onnx)") from exc
    return onnx


class _Graph:
    """Nodes, initializers, inputs and outputs of the graph being built, with unique names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.helper = onnx, onnx.helper
        self.dtype = dtype
        self.elem = self.helper.np_dtype_to_tensor_dtype(dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._used = set()

    def name(self, base):
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def const(self, base, array):
        name = self.name(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"),
                                                                   name))
        return name

    def ints(self, base, values):
        return self.const(base, np.asarray(values, dtype=np.int64))

    def op(self, op_type, inputs, base, n_out=1, **attrs):
        """Add one node named ``base``; returns its output name (a list when n_out > 1)."""
        node_name = self.name(base)
        outs = [self.name(f"{node_name}:{k}" if n_out > 1 else f"{node_name}:out")
                for k in range(n_out)]
        while inputs and inputs[-1] == "":       # trailing optional inputs are left out
            inputs = inputs[:-1]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, name=node_name,
                                                **attrs))
        return outs if n_out > 1 else outs[0]

    def input(self, name, elem, shape):
        self._used.add(name)
        self.inputs.append(self.helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, value, name, elem, shape):
        """Expose ``value`` as the graph output ``name`` (renaming it through an Identity)."""
        self._used.add(name)
        self.nodes.append(self.helper.make_node("Identity", [value], [name],
                                                name=self.name(f"{name}/Identity")))
        self.outputs.append(self.helper.make_tensor_value_info(name, elem, shape))


# --- the recurrent layers -------------------------------------------------------------


def _check_recurrent(where, layer):
    if isinstance(layer, LSTM) and layer.proj_size:
        raise ValueError(f"{where}: an LSTM with proj_size={layer.proj_size} (a projection "
                         "h_t = W_hr (o*tanh(c_t))) has no ONNX operator (ONNX's LSTM has no "
                         "projection); only proj_size=0 is exported")
    if isinstance(layer, SRN) and layer.residual:
        raise ValueError(f"{where}: a residual SRN (h_t = h_(t-1) + f(...)) has no ONNX "
                         "operator; only SRN(residual=False) is exported")
    if getattr(layer, "zoneout", 0):  # input/recurrent dropout: training only, exported as is
        raise ValueError(f"{where}: zoneout={layer.zoneout!r} cannot be exported exactly (the "
                         "ONNX RNN operators have no zoneout, which inference applies as its "
                         "expectation); export a layer with zoneout=0")


def _node_weights(layer, cell, layer_index):
    """ONNX's W (D, G*H, In), R (D, G*H, H) and B (D, 2*G*H) or None for one layer."""
    order = ONNX_ORDER[cell]
    W, R, B = [], [], []
    for direction in range(layer.num_directions):
        p = {kind: layer.params.get(param_name(kind, layer_index, direction))
             for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        W.append(reorder(p["weight_ih"], order))
        R.append(reorder(p["weight_hh"], order))
        if layer.bias:
            B.append(np.concatenate([reorder(p["bias_ih"], order),
                                     reorder(p["bias_hh"], order)]))
    return np.stack(W), np.stack(R), (np.stack(B) if B else None)


def _emit_recurrent(g, layer, x, seq_lens, h0, c0, prefix):
    """Nodes for one fastrnn recurrent layer on time-major ``x`` (T, N, In).

    Returns ``(y, hn, cn, top_h)``: the output (T, N, D*H), the final states
    (L*D, N, H) (``cn`` None unless LSTM) and the top layer's final hidden
    state (D, N, H).
    """
    cell = cell_of(layer)
    D, L, H = layer.num_directions, layer.num_layers, layer.hidden_size
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if cell == "srn":
        attrs["activations"] = [_ACTIVATIONS[layer.nonlinearity]] * D
    elif cell == "gru":
        attrs["linear_before_reset"] = int(layer.reset_after)
    finals = {"h": [], "c": []}
    for index in range(L):
        where = f"{prefix}l{index}"
        W, R, B = _node_weights(layer, cell, index)
        inputs = [x, g.const(f"{where}/W", W), g.const(f"{where}/R", R),
                  "" if B is None else g.const(f"{where}/B", B), seq_lens or ""]
        for state in (h0, c0) if cell == "lstm" else (h0,):
            if state is None:
                inputs.append("")
            elif L == 1:
                inputs.append(state)
            else:                                             # this layer's D slots
                inputs.append(g.op("Slice", [state, g.ints(f"{where}/start", [index * D]),
                                             g.ints(f"{where}/end", [(index + 1) * D]),
                                             g.ints(f"{where}/axes", [0])], f"{where}/Slice"))
        outs = g.op(_OP_TYPES[cell], inputs, f"{where}/{_OP_TYPES[cell]}",
                    n_out=3 if cell == "lstm" else 2, **attrs)
        finals["h"].append(outs[1])
        if cell == "lstm":
            finals["c"].append(outs[2])
        if D == 1:                                            # Y (T, 1, N, H) -> (T, N, H)
            x = g.op("Squeeze", [outs[0], g.ints(f"{where}/axis", [1])], f"{where}/Squeeze")
        else:                                                 # Y (T, 2, N, H) -> (T, N, 2*H)
            t = g.op("Transpose", [outs[0]], f"{where}/Transpose", perm=[0, 2, 1, 3])
            x = g.op("Reshape", [t, g.ints(f"{where}/shape", [0, 0, -1])], f"{where}/Reshape")

    def stacked(states, kind):
        if not states:
            return None
        if len(states) == 1:
            return states[0]
        return g.op("Concat", states, f"{prefix}{kind}n/Concat", axis=0)
    return x, stacked(finals["h"], "h"), stacked(finals["c"], "c"), finals["h"][-1]


# --- the feed-forward modules -----------------------------------------------------------


def _emit_linear(g, linear, x, prefix, pooled=False):
    """``x @ weight.T + bias``: Gemm on the (N, F) pooled features, MatMul + Add on sequences."""
    W = linear.params["weight"]
    b = linear.params["bias"] if linear.has_bias else None
    if pooled:
        inputs = [x, g.const(f"{prefix}weight", W)]
        if b is not None:
            inputs.append(g.const(f"{prefix}bias", b))
        return g.op("Gemm", inputs, f"{prefix}Gemm", transB=1)
    y = g.op("MatMul", [x, g.const(f"{prefix}weight_T", np.ascontiguousarray(W.T))],
             f"{prefix}MatMul")
    if b is not None:
        y = g.op("Add", [y, g.const(f"{prefix}bias", b)], f"{prefix}Add")
    return y


def _emit_embedding(g, embedding, ids, prefix):
    return g.op("Gather", [g.const(f"{prefix}weight", embedding.params["weight"]), ids],
                f"{prefix}Gather", axis=0)


# --- the models -------------------------------------------------------------------------


def _plan(model):
    """``(kind, modules)``: the model as a chain of modules and what its forward returns."""
    from ..train.models import SequenceClassifier, SequenceTagger, Sequential, Seq2Seq, Model
    from ..train.nn import Embedding, Linear
    if isinstance(model, (SRN, LSTM, GRU)):
        return "layer", [model]
    if isinstance(model, (Linear, Embedding)):
        return "module", [model]
    if isinstance(model, (SequenceClassifier, SequenceTagger)):
        emb = getattr(model, "embedding", None)
        kind = "classifier" if isinstance(model, SequenceClassifier) else "tagger"
        return kind, ([emb] if emb is not None else []) + [model.rnn, model.head]
    if isinstance(model, Sequential):
        for i, m in enumerate(model.layers):
            if not isinstance(m, (SRN, LSTM, GRU, Linear, Embedding)):
                raise TypeError(f"model: Sequential module {i}: expected SRN, LSTM, GRU, Linear "
                                f"or Embedding, got {type(m).__name__} (nested models are not "
                                "exported: flatten them into one Sequential)")
            if isinstance(m, Embedding) and i > 0:
                raise ValueError(f"model: Sequential module {i}: an Embedding can only come "
                                 "first")
        return "sequential", list(model.layers)
    if isinstance(model, Seq2Seq):
        raise TypeError("model: Seq2Seq is not exported as one graph (its greedy decoding is a "
                        "loop over steps); export model.encoder and model.decoder separately")
    what = "a Model subclass" if isinstance(model, Model) else type(model).__name__
    raise TypeError(f"model: expected a fastrnn SRN, LSTM, GRU, Linear, Embedding, Sequential, "
                    f"SequenceClassifier or SequenceTagger, got {what}")


def _native_batch_first(modules):
    flags = {m.batch_first for m in modules if isinstance(m, (SRN, LSTM, GRU))}
    if len(flags) > 1:
        raise ValueError("model: expected every recurrent layer to have the same batch_first, "
                         "got both")
    return flags.pop() if flags else False


def _check_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset: expected an int or None, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected {MIN_OPSET} <= opset <= {newest} (this onnx "
                         f"package's newest), got {opset}")
    return int(opset)


def to_onnx(model, batch_first=None, opset=None, initial_state=False, lengths=False):
    """The ONNX graph of a fastrnn layer or model, built in memory.

    Parameters
    ----------
    model : SRN, LSTM, GRU, Linear, Embedding, Sequential, SequenceClassifier or SequenceTagger
        float32 or float64. Not a residual SRN (no ONNX operator computes it).
    batch_first : bool or None
        Layout of the graph's sequence input and output: (N, T, ...) if True,
        (T, N, ...) if False; None follows the model's ``batch_first``.
    opset : int or None
        ONNX opset, ``MIN_OPSET`` (14) up to the installed onnx's newest;
        None means ``DEFAULT_OPSET`` (17).
    initial_state : bool
        Add the initial states as graph inputs ``h0`` (and ``c0``), each
        (L*D, N, H); without them the states start at 0.
    lengths : bool
        Add a graph input ``lengths``, int64 (N,), the per-sequence lengths
        (ONNX's ``sequence_lens``).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``; inputs and outputs as in
        the module documentation.

    Raises
    ------
    TypeError
        ``model`` of a class that is not exported, a non-bool flag, a non-int opset.
    ValueError
        A residual SRN, an LSTM with ``proj_size`` > 0 (ONNX has no
        projection), an opset out of range, layers with mixed ``batch_first``.
    ImportError
        The onnx package is not installed.
    """
    onnx = require_onnx()
    kind, modules = _plan(model)
    bf = _native_batch_first(modules) if batch_first is None else V.check_bool("batch_first",
                                                                                batch_first)
    initial_state = V.check_bool("initial_state", initial_state)
    lengths = V.check_bool("lengths", lengths)
    opset = _check_opset(onnx, opset)
    from ..train.nn import Embedding, Linear
    recurrent = [m for m in modules if isinstance(m, (SRN, LSTM, GRU))]
    for i, m in enumerate(modules):
        _check_recurrent(f"model: module {i}" if kind == "sequential" else "model", m)
    dtypes = {np.dtype(m.dtype) for m in modules}
    if len(dtypes) != 1:
        raise TypeError(f"model: expected one dtype for all parameters, got "
                        f"{sorted(d.name for d in dtypes)}")
    dtype = dtypes.pop()
    g = _Graph(onnx, dtype)
    TN = ["N", "T"] if bf else ["T", "N"]
    first = modules[0]
    if isinstance(first, Embedding):
        x = g.input("x", onnx.TensorProto.INT64, TN)
        x_tm = g.op("Transpose", [x], "x/Transpose", perm=[1, 0]) if bf else x
    else:
        features = first.in_features if isinstance(first, Linear) else first.input_size
        x = g.input("x", g.elem, TN + [features])
        x_tm = g.op("Transpose", [x], "x/Transpose", perm=[1, 0, 2]) if bf else x

    def suffix(j):
        return f"_{j}" if kind == "sequential" else ""
    states = []
    if initial_state:
        for j, m in enumerate(recurrent):
            shape = [m.num_layers * m.num_directions, "N", m.hidden_size]
            h0 = g.input(f"h0{suffix(j)}", g.elem, shape)
            c0 = g.input(f"c0{suffix(j)}", g.elem, shape) if isinstance(m, LSTM) else None
            states.append((h0, c0))
    seq_lens = None
    if lengths:
        lengths_in = g.input("lengths", onnx.TensorProto.INT64, ["N"])
        seq_lens = g.op("Cast", [lengths_in], "lengths/Cast", to=onnx.TensorProto.INT32)

    h, finals, j = x_tm, [], 0
    for i, m in enumerate(modules):
        prefix = _prefix(kind, i, m)
        if isinstance(m, (SRN, LSTM, GRU)):
            h0, c0 = states[j] if states else (None, None)
            h, hn, cn, top_h = _emit_recurrent(g, m, h, seq_lens, h0, c0, prefix)
            finals.append((m, hn, cn))
            j += 1
        elif isinstance(m, Embedding):
            h = _emit_embedding(g, m, h, prefix)
        elif kind == "classifier":
            h = _emit_linear(g, m, _emit_pool(g, model, h, top_h, lengths_in if lengths else None),
                             prefix, pooled=True)
        else:
            h = _emit_linear(g, m, h, prefix)

    last = modules[-1]
    out_features = (last.out_features if isinstance(last, Linear) else last.embedding_dim
                    if isinstance(last, Embedding) else last.num_directions * last.hidden_size)
    main = "logits" if kind in ("classifier", "tagger") else "y"
    if kind == "classifier":
        g.output(h, main, g.elem, ["N", out_features])
    else:
        if bf:
            h = g.op("Transpose", [h], f"{main}/Transpose", perm=[1, 0, 2])
        g.output(h, main, g.elem, TN + [out_features])
    if kind in ("layer", "sequential"):
        for j, (m, hn, cn) in enumerate(finals):
            shape = [m.num_layers * m.num_directions, "N", m.hidden_size]
            g.output(hn, f"hn{suffix(j)}", g.elem, shape)
            if cn is not None:
                g.output(cn, f"cn{suffix(j)}", g.elem, shape)
    return _finish(onnx, g, model, opset)


def _prefix(kind, index, module):
    """Node-name prefix of a module: its index in a Sequential, its attribute in a pattern."""
    from ..train.nn import Embedding, Linear
    if kind == "sequential":
        return f"{index}/"
    if kind in ("classifier", "tagger"):
        return "embedding/" if isinstance(module, Embedding) else (
            "head/" if isinstance(module, Linear) else "rnn/")
    return ""


def _emit_pool(g, model, y, top_h, lengths_in):
    """The classifier's features (N, D*H): the top layer's final h, or the mean output."""
    if model.pool == "last":                           # (D, N, H) -> (N, D, H) -> (N, D*H)
        t = g.op("Transpose", [top_h], "pool/Transpose", perm=[1, 0, 2])
        return g.op("Reshape", [t, g.ints("pool/shape", [0, -1])], "pool/Reshape")
    total = g.op("ReduceSum", [y, g.ints("pool/axes", [0])], "pool/ReduceSum", keepdims=0)
    if lengths_in is None:                             # every sequence has T steps
        T = g.op("Gather", [g.op("Shape", [y], "pool/Shape"), g.ints("pool/time", 0)],
                 "pool/Gather", axis=0)
        count = g.op("Cast", [T], "pool/Cast", to=g.elem)
    else:                                              # lengths (N,) -> (N, 1)
        count = g.op("Unsqueeze", [g.op("Cast", [lengths_in], "pool/Cast", to=g.elem),
                                   g.ints("pool/axis", [1])], "pool/Unsqueeze")
    return g.op("Div", [total, count], "pool/Div")


def _finish(onnx, g, model, opset):
    from .. import __version__
    from ..train.io import describe
    graph = onnx.helper.make_graph(g.nodes, "fastrnn", g.inputs, g.outputs, g.initializers)
    proto = onnx.helper.make_model_gen_version(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="fastrnn", producer_version=__version__)
    try:
        config = json.dumps(describe(model))
    except TypeError:
        config = None
    if config is not None:
        onnx.helper.set_model_props(proto, {"fastrnn.model": config})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, batch_first=None, opset=None, initial_state=False, lengths=False):
    """Write ``model`` to the ONNX file ``path`` (see ``to_onnx`` for the graph).

    The graph is built and checked in memory, then written to a temporary
    file next to ``path`` and renamed: if anything fails, ``path`` is left as
    it was.

    Parameters
    ----------
    model : SRN, LSTM, GRU, Linear, Embedding, Sequential, SequenceClassifier or SequenceTagger
    path : str or os.PathLike
        The file to write (conventionally ``*.onnx``).
    batch_first, opset, initial_state, lengths
        As in ``to_onnx``.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    TypeError, ValueError, ImportError
        As ``to_onnx``; TypeError also for a ``path`` that is not a str or path.

    Examples
    --------
    >>> import os, tempfile, numpy as np, fastrnn
    >>> _ = __import__("pytest").importorskip("onnx")
    >>> lstm = fastrnn.LSTM(3, 4, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "lstm.onnx")
    >>> fastrnn.onnx.export(lstm, path) == path
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    data = to_onnx(model, batch_first=batch_first, opset=opset, initial_state=initial_state,
                   lengths=lengths).SerializeToString()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastrnn-", suffix=".onnx.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
