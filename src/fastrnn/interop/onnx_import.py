"""Load an ONNX graph of RNN/LSTM/GRU operators as the matching fastrnn layer or model.

``load(path)`` (or ``from_onnx(model_proto)``) reads graphs written by
``fastrnn.onnx.export`` and by ``torch.onnx.export`` of ``nn.RNN``/``nn.LSTM``/
``nn.GRU``, and any graph made of the same pieces:

* RNN (Tanh, Relu or Sigmoid), LSTM and GRU nodes (either
  ``linear_before_reset``), forward or bidirectional, ``layout`` 0 or 1, with
  constant W, R, B; ``sequence_lens`` from a lengths graph input; initial
  states from graph inputs (L*D, N, H) (sliced per node) or zeros;
* the layout operators around them (Transpose, Reshape, Squeeze, Unsqueeze,
  Concat and Slice of states, Shape arithmetic, Cast, Identity);
* an embedding (Gather from a constant table), Linear layers (MatMul + Add,
  Gemm) and the classifier's pooling (the top layer's final h, or ReduceSum
  divided by the lengths).

Consecutive recurrent nodes of the same kind become one multi-layer fastrnn
layer unless the graph's state inputs or outputs (or the fastrnn metadata of
an exported model) split them. The result is the layer itself, a
``SequenceClassifier`` (pooled output), a ``SequenceTagger`` (when the file
says so in its fastrnn metadata), or a ``Sequential`` of the modules; its
``batch_first`` follows the graph's input layout.

What fastrnn cannot compute is refused with a ValueError naming the node
(name and op_type) and the attribute or input: peepholes (P), ``clip``,
``input_forget``, other activations, ``direction="reverse"`` alone,
non-constant weights, unknown operators, skip connections.
"""

import json
import os

import numpy as np

from ..core.layers import GRU, LSTM, SRN, param_name
from .gates import ONNX_ORDER, inverse, reorder
from .onnx_export import require_onnx
from .onnx_graph import Data, Reader

__all__ = ["load", "from_onnx"]

_CLASSES = {"srn": SRN, "lstm": LSTM, "gru": GRU}


def load(path):
    """The fastrnn layer or model computed by the ONNX file at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        An ONNX model file.

    Returns
    -------
    SRN, LSTM, GRU, Linear, Embedding, Sequential, SequenceClassifier or SequenceTagger
        With the graph's parameters (bit-identical to a fastrnn export's),
        dtype (float32 or float64) and layout: ``batch_first=True`` when the
        graph's sequence input is (N, T, ...).

    Raises
    ------
    TypeError
        ``path`` is not a str or path.
    OSError
        The file cannot be read.
    ValueError
        Not an ONNX file; or the graph computes something fastrnn cannot (the message names the
        node, its op_type and the attribute or input).
    ImportError
        The onnx package is not installed.

    Examples
    --------
    >>> import os, tempfile, fastrnn
    >>> _ = __import__("pytest").importorskip("onnx")
    >>> path = os.path.join(tempfile.mkdtemp(), "gru.onnx")
    >>> _ = fastrnn.onnx.export(fastrnn.GRU(3, 4, num_layers=2, seed=0), path)
    >>> fastrnn.onnx.load(path)
    GRU(3, 4, num_layers=2, bias=True, batch_first=False, bidirectional=False, reset_after=True, dtype=float32)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    onnx = require_onnx()
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:                    # protobuf's DecodeError and friends
        raise ValueError(f"path: {path!r} is not an ONNX model file ({exc})") from None
    return from_onnx(model)


def from_onnx(model):
    """The fastrnn layer or model computed by an in-memory ``onnx.ModelProto`` (see ``load``).

    Parameters
    ----------
    model : onnx.ModelProto

    Returns
    -------
    SRN, LSTM, GRU, Linear, Embedding, Sequential, SequenceClassifier or SequenceTagger

    Raises
    ------
    TypeError
        ``model`` is not a ModelProto.
    ValueError
        As ``load``.
    """
    onnx = require_onnx()
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"model: expected an onnx.ModelProto, got {type(model).__name__}")
    reader = Reader(onnx, model).read()
    return _Assembler(reader, _hints(model)).build()


def _hints(model):
    """What a fastrnn export recorded: the class, each recurrent module's num_layers, padding_idx."""
    props = {p.key: p.value for p in model.metadata_props}
    try:
        described = json.loads(props["fastrnn.model"])
    except (KeyError, ValueError):
        return {}
    groups, padding = [], None

    def walk(d):
        nonlocal padding
        if not isinstance(d, dict):
            return
        cls, config = d.get("class"), d.get("config") or {}
        if cls in ("SRN", "LSTM", "GRU"):
            groups.append(config.get("num_layers"))
        elif cls == "Embedding":
            padding = config.get("padding_idx")
        for key in ("embedding", "rnn"):
            walk(config.get(key))
        for sub in config.get("modules") or []:
            walk(sub)
    walk(described)
    return {"class": described.get("class"), "groups": groups, "padding_idx": padding}


def _compatible(a, b):
    keys = ("cell", "D", "H", "nonlinearity", "reset_after")
    return all(a.get(k) == b.get(k) for k in keys)


class _Assembler:
    def __init__(self, reader, hints):
        self.r, self.hints = reader, hints
        self.dtype = reader.dtype              # None when the input is token ids: the table's
        if self.dtype is None and reader.chain and reader.chain[0][0] == "embedding":
            self.dtype = reader.chain[0][1].dtype
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"model: expected float32 or float64 parameters, got {self.dtype}")

    def build(self):
        r = self.r
        names = {rec["lengths"] for rec in r.nodes}
        if len(names) > 1:
            odd = next(rec for rec in r.nodes if rec["lengths"] != r.nodes[0]["lengths"])
            raise ValueError(f"{odd['where']}: input sequence_lens differs from the first "
                             "recurrent node's; fastrnn passes one lengths to every layer")
        main, states = self._outputs()
        groups = self._groups(states)
        spans = {(g[0], g[-1]) for g in groups}
        for name, (block, kind) in states:
            if block not in spans:
                raise ValueError(f"graph output {name!r}: stacks the final states of part of a "
                                 "recurrent layer")
        self.batch_first = self._batch_first(main)
        group_of = {k: i for i, g in enumerate(groups) for k in g}
        items = []
        for item in r.chain:
            if item[0] != "rnn":
                items.append(item)
                continue
            gid = group_of[item[1]["index"]]
            if not (items and items[-1][0] == "rnn-group" and items[-1][2] is groups[gid]):
                items.append(("rnn-group", [], groups[gid]))
            items[-1][1].append(item[1])
        modules = [self._module(item) for item in items if item[0] != "pool"]
        return self._choose(items, modules, states)

    # --- outputs, groups, layout ---------------------------------------------------------

    def _outputs(self):
        main, states = None, []
        for name, value in self.r.outputs:
            if not isinstance(value, Data):
                raise ValueError(f"graph output {name!r}: not a tensor fastrnn computes "
                                 f"({type(value).__name__})")
            if value.stage is None:
                states.append((name, self._state_block(name, value)))
            elif main is not None:
                raise ValueError(f"graph outputs {main[0]!r} and {name!r}: a fastrnn model has "
                                 "one main output")
            else:
                main = (name, value)
        if main is not None and main[1].stage != len(self.r.chain):
            raise ValueError(f"graph output {main[0]!r}: not the output of the last module")
        if main is None and (not self.r.chain or self.r.chain[-1][0] != "rnn"):
            raise ValueError("model: no graph output computed from the sequence input")
        return main, states

    def _state_block(self, name, value):
        """The nodes (indices a..b) whose final states the output ``name`` stacks, and the kind."""
        axes = value.axes
        if len(axes) != 3 or axes[0].kind != "S" or axes[2].kind != "H":
            raise ValueError(f"graph output {name!r}: expected a final state in fastrnn's "
                             "layout (num_layers*num_directions, N, hidden_size)")
        slots = axes[0].ref
        kinds = {s[0] for s in slots}
        nodes = sorted({s[1] for s in slots})
        expected = tuple((slots[0][0], k, d) for k in nodes for d in range(self.r.nodes[k]["D"]))
        if len(kinds) != 1 or kinds & {n for n in self.r.state_inputs} or slots != expected \
                or nodes != list(range(nodes[0], nodes[-1] + 1)):
            raise ValueError(f"graph output {name!r}: expected the final states of consecutive "
                             "recurrent nodes, each complete and in order")
        return (nodes[0], nodes[-1]), kinds.pop()

    def _groups(self, states):
        """Lists of node indices, one per fastrnn recurrent layer, in order."""
        nodes = self.r.nodes
        blocks = {}
        for name, (block, kind) in states:
            blocks.setdefault(block, f"graph output {name!r}")
        for inp in self.r.state_inputs:
            for kind in ("h", "c"):
                users = [rec for rec in nodes if rec["init"].get(kind)
                         and rec["init"][kind][0] == inp]
                if not users:
                    continue
                offsets = [rec["init"][kind][1] for rec in users]
                expected = [sum(u["D"] for u in users[:k]) for k in range(len(users))]
                idx = [u["index"] for u in users]
                if offsets != expected or idx != list(range(idx[0], idx[-1] + 1)):
                    raise ValueError(f"graph input {inp!r}: its slices do not feed consecutive "
                                     "recurrent nodes in order")
                blocks.setdefault((idx[0], idx[-1]), f"graph input {inp!r}")
        runs, current = [], []                          # consecutive rnn items, by chain order
        for item in self.r.chain:
            if item[0] == "rnn" and current and _compatible(current[-1], item[1]) \
                    and current[-1]["index"] + 1 == item[1]["index"]:
                current.append(item[1])
            else:
                if current:
                    runs.append(current)
                current = [item[1]] if item[0] == "rnn" else []
        if current:
            runs.append(current)
        fixed = sorted(blocks)
        for (a, b), (c, d) in zip(fixed, fixed[1:]):
            if c <= b:
                raise ValueError(f"{blocks[(a, b)]} and {blocks[(c, d)]} group the recurrent "
                                 "nodes differently")
        for (a, b) in fixed:
            if not any(run[0]["index"] <= a and b <= run[-1]["index"] for run in runs):
                raise ValueError(f"{blocks[(a, b)]}: stacks states of recurrent nodes that "
                                 f"differ (cell, hidden size, directions or activation), from "
                                 f"{nodes[a]['where']} to {nodes[b]['where']}")
        groups = self._hinted(runs, fixed)
        if groups is None:
            groups = []
            for run in runs:
                start = run[0]["index"]
                for (a, b) in [blk for blk in fixed if start <= blk[0] <= run[-1]["index"]]:
                    if a > start:
                        groups.append(list(range(start, a)))
                    groups.append(list(range(a, b + 1)))
                    start = b + 1
                if start <= run[-1]["index"]:
                    groups.append(list(range(start, run[-1]["index"] + 1)))
        for group in groups:
            for kind in ("h", "c"):
                sources = {nodes[k]["init"].get(kind) is None for k in group}
                if len(sources) > 1:
                    raise ValueError(f"{nodes[group[0]]['where']} ... {nodes[group[-1]]['where']}: "
                                     f"some layers read initial_{kind} from a graph input and "
                                     "others start at zeros; fastrnn takes one initial state")
        return groups

    def _hinted(self, runs, fixed):
        sizes = self.hints.get("groups") or []
        if not sizes or sum(s or 0 for s in sizes) != len(self.r.nodes):
            return None
        groups, k = [], 0
        for s in sizes:
            groups.append(list(range(k, k + s)))
            k += s
        in_run = {rec["index"]: i for i, run in enumerate(runs) for rec in run}
        for g in groups:
            if len({in_run[k] for k in g}) != 1:
                return None
        spans = {(g[0], g[-1]) for g in groups}
        return groups if all(blk in spans for blk in fixed) else None

    def _batch_first(self, main):
        x = self.r.values[self.r.x_name]
        roles = [self.r.roles.get(ax.ref) for ax in x.axes if ax.kind == "seq"]
        batch_first = roles[:2] == ["N", "T"]
        if main is not None:
            name, y = main
            seq = [self.r.roles.get(ax.ref) for ax in y.axes if ax.kind == "seq"]
            if any(ax.kind in ("D", "S") for ax in y.axes):
                raise ValueError(f"graph output {name!r}: keeps ONNX's direction axis "
                                 "(T, D, N, H); fastrnn outputs (T, N, D*H)")
            if len(seq) == 2 and None not in seq + roles and seq != roles[:2]:
                raise ValueError(f"graph output {name!r}: its layout {seq} differs from the "
                                 f"sequence input's {roles}; fastrnn keeps one layout")
        return batch_first

    # --- modules ------------------------------------------------------------------------

    def _module(self, item):
        from ..train.nn import Embedding, Linear
        if item[0] == "embedding":
            weight = item[1]
            padding = self.hints.get("padding_idx")
            if padding is not None and (not 0 <= padding < weight.shape[0]
                                        or np.any(weight[padding])):
                padding = None
            dtype = self.dtype or weight.dtype
            emb = Embedding(weight.shape[0], weight.shape[1], padding_idx=padding, dtype=dtype)
            emb.load_state_dict({"weight": self._check_dtype("the embedding table", weight)})
            return emb
        if item[0] == "linear":
            weight, bias = item[1], item[2]
            lin = Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                         dtype=self.dtype or weight.dtype)
            sd = {"weight": self._check_dtype("a Linear weight", weight)}
            if bias is not None:
                sd["bias"] = self._check_dtype("a Linear bias", bias)
            lin.load_state_dict(sd)
            return lin
        return self._recurrent(item[1])

    def _check_dtype(self, what, array):
        if self.dtype is not None and array.dtype != self.dtype:
            raise ValueError(f"model: {what} is {array.dtype}, the data {self.dtype}")
        return array

    def _recurrent(self, records):
        r0 = records[0]
        cell, D, H = r0["cell"], r0["D"], r0["H"]
        bias = any(rec["B"] is not None for rec in records)
        kwargs = {"num_layers": len(records), "bias": bias, "batch_first": self.batch_first,
                  "bidirectional": D == 2, "dtype": self.dtype}
        if cell == "srn":
            kwargs["nonlinearity"] = r0["nonlinearity"]
        if cell == "gru":
            kwargs["reset_after"] = r0["reset_after"]
        layer = _CLASSES[cell](r0["input_size"], H, **kwargs)
        order = inverse(ONNX_ORDER[cell])
        sd = {}
        for index, rec in enumerate(records):
            for what in ("W", "R", "B"):
                if rec[what] is not None:
                    self._check_dtype(f"input {what} of {rec['where']}", rec[what])
            for d in range(D):
                sd[param_name("weight_ih", index, d)] = reorder(rec["W"][d], order)
                sd[param_name("weight_hh", index, d)] = reorder(rec["R"][d], order)
                if bias:
                    B = rec["B"][d] if rec["B"] is not None else np.zeros(2 * len(rec["R"][d]),
                                                                         self.dtype)
                    b_ih, b_hh = np.split(B, 2)
                    sd[param_name("bias_ih", index, d)] = reorder(b_ih, order)
                    sd[param_name("bias_hh", index, d)] = reorder(b_hh, order)
        layer.load_state_dict(sd)
        return layer

    def _choose(self, items, modules, states):
        from ..train.models import SequenceClassifier, SequenceTagger, Sequential
        kinds = [item[0] for item in items]
        emb = modules[0] if kinds and kinds[0] == "embedding" else None
        core = kinds[1:] if emb is not None else kinds
        if "pool" in kinds:
            if core != ["rnn-group", "pool", "linear"] or states:
                raise ValueError("model: a pooled (classifier) graph must be [embedding] -> "
                                 "recurrent layers -> pooling -> Linear, with no state outputs")
            rnn, head, pool = modules[-2], modules[-1], items[-2][1]
            if not head.has_bias:
                raise ValueError("model: fastrnn's SequenceClassifier head has a bias; the "
                                 "graph's Linear has none")
            model = SequenceClassifier(rnn, head.out_features, pool=pool, embedding=emb)
            model.head.load_state_dict(head.state_dict())
            return model
        if len(modules) == 1:
            return modules[0]
        if (self.hints.get("class") == "SequenceTagger" and core == ["rnn-group", "linear"]
                and not states and modules[-1].has_bias):
            model = SequenceTagger(modules[-2], modules[-1].out_features, embedding=emb)
            model.head.load_state_dict(modules[-1].state_dict())
            return model
        return Sequential(*modules)             # an embedding is always first (reads the ids)
