"""Read an ONNX graph as a chain of fastrnn modules, by following what every tensor means.

The reader walks the graph's nodes in order (ONNX requires topological order)
and gives every tensor an abstract value instead of numbers:

* ``numpy.ndarray``: a constant (initializers, ``Constant`` nodes, and any node
  whose inputs are all constant, folded with onnx's reference evaluator);
* ``Dims``: an integer vector computed from shapes (``Shape``, ``Gather``,
  ``Concat``, ...), its entries ints or the labels of symbolic axes;
* ``Zeros``: a tensor of zeros of a computed shape (``ConstantOfShape``, ``Expand``);
* ``Lengths``: the per-sequence lengths input (possibly cast, or unsqueezed
  into a divisor);
* ``Data``: a tensor computed from the sequence input, as a list of labelled
  axes: a time or batch axis ("seq", its role T or N learnt from the
  recurrent node that reads it), features "F", one direction's hidden units
  "H", the direction axis "D" of a recurrent output, the state slots "S" of a
  final or initial state, unit axes "1". Layout operators (Transpose,
  Reshape, Squeeze, Unsqueeze, Slice of states, Concat of states) move and
  merge these labels; the operators that compute (RNN/LSTM/GRU, Gather of an
  embedding table, MatMul/Add/Gemm with constant weights, the classifier's
  pooling) append a module to the chain.

Anything else (an unknown operator, a merge of axes fastrnn cannot mean, a
value used in a way a chain cannot express) raises ValueError naming the node
by its name and op_type, and the attribute or input at fault.
"""

from collections import namedtuple

import numpy as np

from .gates import GATES

RNN_OPS = {"RNN": "srn", "LSTM": "lstm", "GRU": "gru"}
SRN_ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid"}
_DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"]}
_NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
               "Multinomial", "Bernoulli", *RNN_OPS}

#: One axis of a Data value: kind ("seq", "F", "H", "D", "S", "1"), size (int, or None for a
#: symbolic seq axis) and ref (seq: its label; H, D: the recurrent node; S: the slot keys;
#: F: None for sequence features, ("last", slots) for the classifier's last-state features).
_ZERO_PRESERVING = {"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Slice",
                    "Concat", "Expand"}

Axis = namedtuple("Axis", "kind size ref")
Dims = namedtuple("Dims", "entries scalar")
Lengths = namedtuple("Lengths", "name divisor")        # divisor: None, "flat" (N,) or "column"


class Zeros:
    """A zero tensor of a computed shape (an initial state of zeros)."""


class Data:
    """A tensor computed from the sequence input; ``stage`` = modules applied so far (None: a state)."""

    def __init__(self, axes, stage, dtype, pool=None, pending=False, time=None):
        self.axes, self.stage, self.dtype = tuple(axes), stage, dtype
        self.pool = pool              # None, "sum" (summed over time) or "mean"
        self.pending = pending        # the direct output of a MatMul: an Add may be its bias
        self.time = time              # the time axis a "sum" was taken over

    def replace(self, axes):
        return Data(axes, self.stage, self.dtype, self.pool, time=self.time)


def node_label(node, index):
    """How errors name a node: ``node 'name' (OpType)`` (or its index when it has no name)."""
    return f"node {node.name!r} ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


def _attrs(onnx, node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _size(ax):
    """An axis size as a monomial (int factor, sorted labels)."""
    return (ax.size, ()) if ax.size is not None else (1, (ax.ref,))


def _entry_size(e):
    return (int(e), ()) if isinstance(e, (int, np.integer)) else (1, (e,))


def _mul(a, b):
    return (a[0] * b[0], tuple(sorted(a[1] + b[1])))


def _div(a, b):
    syms = list(a[1])
    for s in b[1]:
        if s not in syms:
            return None
        syms.remove(s)
    if b[0] == 0 or a[0] % b[0]:
        return None
    return (a[0] // b[0], tuple(syms))


class Reader:
    """The chain of modules an ONNX model computes; ``read()`` fills ``chain``, ``nodes``, ``outputs``.

    After ``read()``:

    * ``chain``: items ``("embedding", weight)``, ``("rnn", node_record)``,
      ``("linear", weight (out, in), bias or None)``, ``("pool", "last" | "mean")``;
    * ``inputs``: ``{role: name}`` for "x", "lengths" and the state inputs
      (``("state", name)`` entries in ``state_inputs``);
    * ``outputs``: ``[(name, kind, value)]``, kind "main" or "state";
    * ``roles``: seq label -> "T" or "N"; ``dtype``: the float dtype.
    """

    def __init__(self, onnx, model):
        self.onnx, self.model, self.graph = onnx, model, model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          None)
        if self.opset is None:
            raise ValueError("model: no opset for the default ONNX domain")
        self.values, self.roles, self.chain, self.nodes = {}, {}, [], []
        self.dtype, self.x_name, self.lengths_name = None, None, None
        self.state_inputs = []

    # --- entry point --------------------------------------------------------------------

    def read(self):
        numpy_helper = self.onnx.numpy_helper
        for init in self.graph.initializer:
            self.values[init.name] = numpy_helper.to_array(init)
        for i, node in enumerate(self.graph.node):
            if node.domain not in ("", "ai.onnx"):
                raise ValueError(f"{node_label(node, i)}: operator domain {node.domain!r} is "
                                 "not supported (only the default ONNX domain)")
        self._read_inputs()
        for index in self._needed_nodes():
            self._step(index, self.graph.node[index])
        self.outputs = []
        for out in self.graph.output:
            if out.name not in self.values:
                raise ValueError(f"graph output {out.name!r}: not computed by any node")
            self.outputs.append((out.name, self.values[out.name]))
        return self

    def _needed_nodes(self):
        """Indices of the nodes the graph outputs depend on, in graph order."""
        producer = {o: i for i, n in enumerate(self.graph.node) for o in n.output if o}
        needed, todo = set(), [o.name for o in self.graph.output]
        while todo:
            i = producer.get(todo.pop())
            if i is None or i in needed:
                continue
            needed.add(i)
            node = self.graph.node[i]
            todo.extend(n for n in node.input if n)
        return sorted(needed)

    # --- graph inputs -------------------------------------------------------------------

    def _roles_of_inputs(self):
        """What each graph input is ("x", "lengths" or "state"), from the first node that says."""
        consumers = {}
        for i, node in enumerate(self.graph.node):
            for slot, name in enumerate(node.input):
                consumers.setdefault(name, []).append((node, slot))
        roles = {}
        for inp in self.graph.input:
            if inp.name in self.values:                 # an initializer listed as an input
                continue
            role, seen, todo = None, set(), [inp.name]
            while todo and role is None:
                name = todo.pop(0)
                for node, slot in consumers.get(name, ()):
                    op = node.op_type
                    if op in RNN_OPS:
                        role = {0: "x", 4: "lengths", 5: "state", 6: "state"}.get(slot, "weight")
                    elif op == "Gather":
                        role = "x" if slot == 1 else "weight"
                    elif op in ("MatMul", "Gemm"):
                        role = "x" if slot == 0 else "weight"
                    elif op == "Div" and slot == 1:
                        role = "lengths"
                    elif op != "Shape":
                        todo.extend(o for o in node.output if o and o not in seen)
                        seen.update(node.output)
                    if role is not None:
                        break
            roles[inp.name] = role or "x"
        return roles

    def _read_inputs(self):
        TP = self.onnx.TensorProto
        roles = self._roles_of_inputs()
        for inp in self.graph.input:
            if inp.name not in roles:
                continue
            role, name = roles[inp.name], inp.name
            ttype = inp.type.tensor_type
            if not inp.type.HasField("tensor_type") or not ttype.HasField("shape"):
                raise ValueError(f"graph input {name!r}: expected a tensor of known rank")
            dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
            elem = ttype.elem_type
            labels = [f"{name}:{k}" for k in range(len(dims))]
            if role == "weight":
                raise ValueError(f"graph input {name!r}: used as a weight; fastrnn needs "
                                 "weights stored as initializers or constants")
            if role == "lengths":
                if elem not in (TP.INT32, TP.INT64) or len(dims) != 1:
                    raise ValueError(f"graph input {name!r}: expected the lengths as an int32 "
                                     f"or int64 vector (N,), got rank {len(dims)}")
                self._claim("lengths_name", name)
                self.values[name] = Lengths(name, None)
            elif role == "state":
                if elem not in (TP.FLOAT, TP.DOUBLE) or len(dims) != 3 or not dims[0]:
                    raise ValueError(f"graph input {name!r}: expected an initial state of shape "
                                     "(num_layers*num_directions, N, hidden_size) with a fixed "
                                     "first dimension")
                self._set_dtype(name, elem)
                slots = tuple((name, k) for k in range(dims[0]))
                self.values[name] = Data([Axis("S", dims[0], slots), Axis("seq", dims[1], labels[1]),
                                          Axis("H", dims[2], None)], None, self.dtype)
                self.state_inputs.append(name)
            else:
                self._claim("x_name", name)
                if elem in (TP.INT32, TP.INT64):
                    axes = [Axis("seq", d or None, lab) for d, lab in zip(dims, labels)]
                    self.values[name] = Data(axes, 0, np.dtype(np.int64))
                    continue
                self._set_dtype(name, elem)
                if len(dims) < 2 or not dims[-1]:
                    raise ValueError(f"graph input {name!r}: expected shape (T, N, features) or "
                                     "(N, T, features) with a fixed number of features")
                axes = [Axis("seq", d or None, lab) for d, lab in zip(dims[:-1], labels)]
                self.values[name] = Data(axes + [Axis("F", dims[-1], None)], 0, self.dtype)
        if self.x_name is None:
            raise ValueError("model: no sequence input found among the graph inputs "
                             f"{[i.name for i in self.graph.input]}")

    def _claim(self, attr, name):
        if getattr(self, attr) is not None:
            what = "sequence" if attr == "x_name" else "lengths"
            raise ValueError(f"graph input {name!r}: a second {what} input (the first is "
                             f"{getattr(self, attr)!r}); fastrnn models take one")
        setattr(self, attr, name)

    def _set_dtype(self, name, elem):
        TP = self.onnx.TensorProto
        dtype = {TP.FLOAT: np.dtype(np.float32), TP.DOUBLE: np.dtype(np.float64)}.get(elem)
        if dtype is None:
            raise ValueError(f"graph input {name!r}: expected float32 or float64, got "
                             f"{TP.DataType.Name(elem)}")
        if self.dtype is not None and dtype != self.dtype:
            raise ValueError(f"graph input {name!r}: dtype {dtype} differs from {self.dtype}")
        self.dtype = dtype

    # --- one node -----------------------------------------------------------------------

    def _step(self, index, node):
        where = node_label(node, index)
        ins = [self.values.get(n) if n else None for n in node.input]
        for n, v in zip(node.input, ins):
            if n and v is None:
                raise ValueError(f"{where}: input {n!r} is not computed before this node")
        attrs = _attrs(self.onnx, node)
        present = [v for v in ins if v is not None]
        if node.op_type not in _NOT_FOLDED and all(isinstance(v, np.ndarray) for v in present) \
                and (present or node.op_type == "Constant"):
            outs = self._fold(node, ins)
        elif node.op_type in _ZERO_PRESERVING and isinstance(ins[0], Zeros) and (
                node.op_type != "Concat" or all(isinstance(v, Zeros) for v in present)):
            outs = [Zeros()]                        # reshaped zeros are zeros
        elif node.op_type in RNN_OPS:
            outs = self._recurrent(where, node, ins, attrs)
        else:
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise ValueError(f"{where}: operator {node.op_type} is not supported by "
                                 "fastrnn.onnx.load (it reads RNN/LSTM/GRU, Gather, MatMul, Add, "
                                 "Gemm, pooling and layout operators)")
            outs = handler(where, ins, attrs)
            outs = outs if isinstance(outs, list) else [outs]
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = value

    def _fold(self, node, ins):
        from onnx.reference import ReferenceEvaluator
        names = [f"in{k}" if v is not None else "" for k, v in enumerate(ins)]
        copy = self.onnx.helper.make_node(node.op_type, names, list(node.output), domain="")
        copy.attribute.extend(node.attribute)
        feeds = {n: v for n, v in zip(names, ins) if n}
        outs = ReferenceEvaluator(copy, opsets={"": self.opset}).run(None, feeds)
        return [np.asarray(o) for o in outs]

    def _const(self, where, what, value, optional=False):
        if value is None and optional:
            return None
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{where}: input {what} must be a constant (an initializer or a "
                             "Constant), got a value computed from the graph inputs")
        return value

    def _data(self, where, value, what="input 0"):
        if not isinstance(value, Data):
            raise ValueError(f"{where}: {what}: expected a tensor computed from the sequence "
                             f"input, got {type(value).__name__}")
        return value

    def _axes_arg(self, where, ins, attrs, position=1):
        if len(ins) > position and ins[position] is not None:
            return [int(a) for a in np.atleast_1d(self._const(where, "axes", ins[position]))]
        return [int(a) for a in attrs.get("axes", [])]

    def _bind(self, where, ax, role):
        if ax.kind != "seq":
            raise ValueError(f"{where}: expected a {role} axis here, got a {ax.kind} axis")
        known = self.roles.setdefault(ax.ref, role)
        if known != role:
            raise ValueError(f"{where}: axis {ax.ref!r} is used both as {known} and as {role}")

    # --- layout operators ---------------------------------------------------------------

    def _op_Identity(self, where, ins, attrs):
        return ins[0]

    def _op_Cast(self, where, ins, attrs):
        v, to = ins[0], attrs.get("to")
        TP = self.onnx.TensorProto
        floats = (TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16)
        if isinstance(v, Lengths):
            return Lengths(v.name, "flat") if to in floats else v
        if isinstance(v, Dims):
            if to in floats:
                if len(v.entries) != 1:
                    raise ValueError(f"{where}: casts a shape vector to float")
                return Lengths(None, v.entries[0])       # the number of steps T, as a divisor
            return v
        data = self._data(where, v)
        target = self.onnx.helper.tensor_dtype_to_np_dtype(to)
        if data.dtype.kind != target.kind or (target.kind == "f" and target != data.dtype):
            raise ValueError(f"{where}: attribute to={TP.DataType.Name(to)}: fastrnn keeps "
                             f"{data.dtype} throughout")
        return data

    def _op_Transpose(self, where, ins, attrs):
        data = self._data(where, ins[0])
        perm = attrs.get("perm", list(range(len(data.axes)))[::-1])
        return data.replace([data.axes[p] for p in perm])

    def _op_Unsqueeze(self, where, ins, attrs):
        v, axes = ins[0], self._axes_arg(where, ins, attrs)
        if isinstance(v, Dims) and v.scalar and axes in ([0], [-1]):
            return Dims(v.entries, False)
        if isinstance(v, Lengths) and v.divisor == "flat" and axes in ([1], [-1]):
            return Lengths(v.name, "column")
        data = self._data(where, v)
        out = list(data.axes)
        rank = len(out) + len(axes)
        for a in sorted(a % rank for a in axes):
            out.insert(a, Axis("1", 1, None))
        return data.replace(out)

    def _op_Squeeze(self, where, ins, attrs):
        data = self._data(where, ins[0])
        axes = {a % len(data.axes) for a in self._axes_arg(where, ins, attrs)}
        if not axes:
            axes = {k for k, ax in enumerate(data.axes) if ax.size == 1 and ax.kind != "seq"}
        out, slots = [], None
        for k, ax in enumerate(data.axes):
            if k not in axes:
                out.append(ax)
            elif ax.size != 1 or ax.kind in ("seq", "F", "H"):
                raise ValueError(f"{where}: squeezes axis {k} ({ax.kind}, size {ax.size}); "
                                 "only unit, direction and state-slot axes of size 1 can go")
            elif ax.kind == "S":
                slots = ax.ref
        if slots is not None:                      # a one-slot state becomes features
            out = [Axis("F", ax.size, ("last", slots)) if ax.kind == "H" else ax for ax in out]
        return data.replace(out)

    def _op_Reshape(self, where, ins, attrs):
        data, target = self._data(where, ins[0]), ins[1]
        if isinstance(target, Dims):
            entries = list(target.entries)
        else:
            entries = [int(e) for e in self._const(where, "shape", target).reshape(-1)]
        sizes, infer = [], None
        for j, e in enumerate(entries):
            if isinstance(e, (int, np.integer)) and e == 0 and not attrs.get("allowzero", 0):
                sizes.append(_size(data.axes[j]))
            elif isinstance(e, (int, np.integer)) and e == -1:
                infer = j
                sizes.append(None)
            else:
                sizes.append(_entry_size(e))
        if infer is not None:
            total = (1, ())
            for ax in data.axes:
                total = _mul(total, _size(ax))
            known = (1, ())
            for s in sizes:
                if s is not None:
                    known = _mul(known, s)
            sizes[infer] = _div(total, known)
            if sizes[infer] is None:
                raise ValueError(f"{where}: cannot infer the -1 dimension of shape {entries}")
        groups, i, n = [], 0, len(data.axes)
        for s in sizes:
            group, prod = [], (1, ())
            if s == (1, ()):
                if i < n and _size(data.axes[i]) == (1, ()):
                    group, i = [i], i + 1
                groups.append(group)
                continue
            while prod != s:
                nxt = _mul(prod, _size(data.axes[i])) if i < n else None
                if nxt is None or _div(s, nxt) is None:
                    raise ValueError(f"{where}: reshape to {entries} does not split the axes "
                                     f"{[ax.kind for ax in data.axes]} into whole groups")
                prod, group, i = nxt, group + [i], i + 1
            groups.append(group)
        while i < n and _size(data.axes[i]) == (1, ()) and groups:
            groups[-1].append(i)
            i += 1
        if i != n:
            raise ValueError(f"{where}: reshape to {entries} leaves axes unused")
        return data.replace([self._merge(where, [data.axes[k] for k in g]) for g in groups])

    def _merge(self, where, axes):
        core = [ax for ax in axes if ax.kind != "1"]
        if not core:
            return Axis("1", 1, None)
        if len(core) == 1:
            return core[0]
        if len(core) == 2 and core[1].kind == "H":
            a, h = core
            if a.kind == "D" and a.ref == h.ref:           # (D, H) -> the D*H outputs
                return Axis("F", a.size * h.size, None)
            if a.kind == "S":                              # (slots, H) -> last-state features
                return Axis("F", a.size * h.size, ("last", a.ref))
        raise ValueError(f"{where}: merges axes {[ax.kind for ax in core]} into one; fastrnn "
                         "only concatenates directions (D, H) -> D*H")

    def _op_Slice(self, where, ins, attrs):
        data = self._data(where, ins[0])
        starts, ends = (self._const(where, w, v).reshape(-1) for w, v in
                        (("starts", ins[1]), ("ends", ins[2])))
        axes = self._const(where, "axes", ins[3], True) if len(ins) > 3 else None
        steps = self._const(where, "steps", ins[4], True) if len(ins) > 4 else None
        axes = range(len(starts)) if axes is None else axes.reshape(-1)
        out = list(data.axes)
        for k, (a, s, e) in enumerate(zip(axes, starts, ends)):
            ax = out[int(a)]
            if ax.kind != "S" or (steps is not None and int(steps.reshape(-1)[k]) != 1):
                raise ValueError(f"{where}: slices a {ax.kind} axis; fastrnn reads slices of "
                                 "states only")
            slots = ax.ref[slice(int(s), int(e))]
            out[int(a)] = Axis("S", len(slots), slots)
        return data.replace(out)

    def _op_Concat(self, where, ins, attrs):
        axis = attrs.get("axis", 0)
        if all(isinstance(v, (Dims, np.ndarray)) for v in ins):
            entries = []
            for v in ins:
                entries += list(v.entries) if isinstance(v, Dims) else [int(e) for e in v.reshape(-1)]
            return Dims(tuple(entries), False)
        parts = [self._data(where, v, f"input {k}") for k, v in enumerate(ins)]
        first = parts[0].axes
        axis %= len(first)
        if any(len(p.axes) != len(first) or p.axes[axis].kind != "S" for p in parts):
            raise ValueError(f"{where}: concatenates along a non-state axis; fastrnn "
                             "concatenates final states only")
        slots = sum((p.axes[axis].ref for p in parts), ())
        axes = list(first)
        axes[axis] = Axis("S", len(slots), slots)
        return Data(axes, None, parts[0].dtype)

    # --- shape arithmetic ---------------------------------------------------------------

    def _op_Shape(self, where, ins, attrs):
        data = self._data(where, ins[0])
        entries = tuple(ax.size if ax.size is not None else ax.ref for ax in data.axes)
        return Dims(entries[attrs.get("start", 0):attrs.get("end", len(entries))], False)

    def _op_Gather(self, where, ins, attrs):
        table, idx = ins
        if isinstance(table, Dims):
            k = np.asarray(self._const(where, "indices", idx))
            picked = tuple(table.entries[int(i)] for i in k.reshape(-1))
            return Dims(picked, k.ndim == 0)
        weight = self._const(where, "data (the embedding table)", table)
        ids = self._data(where, idx, "input 1 (the indices)")
        if attrs.get("axis", 0) != 0 or weight.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"{where}: expected an embedding lookup (a 2-d table, integer ids, "
                             "axis=0)")
        self._chain_input(where, ids)
        self.chain.append(("embedding", weight))
        return Data(ids.axes + (Axis("F", weight.shape[1], None),), len(self.chain), self.dtype
                    or weight.dtype)

    def _op_ConstantOfShape(self, where, ins, attrs):
        value = attrs.get("value")
        fill = 0 if value is None else self.onnx.numpy_helper.to_array(value).reshape(-1)[0]
        if fill != 0:
            raise ValueError(f"{where}: attribute value={fill}: only zeros (a zero initial "
                             "state) are read")
        return Zeros()

    def _op_Expand(self, where, ins, attrs):
        if isinstance(ins[0], np.ndarray) and not np.any(ins[0]):
            return Zeros()
        raise ValueError(f"{where}: expands a non-zero value; only zero initial states are read")

    # --- modules ------------------------------------------------------------------------

    def _chain_input(self, where, data):
        if data.stage != len(self.chain):
            raise ValueError(f"{where}: reads a value from before the latest module; fastrnn "
                             "models are chains (no skip connections)")

    def _features(self, where, data):
        last = data.axes[-1]
        if last.kind not in ("F", "H") or any(ax.kind in ("D", "S") for ax in data.axes):
            raise ValueError(f"{where}: expected features on the last axis, got axes "
                             f"{[ax.kind for ax in data.axes]}")
        return last

    def _linear(self, where, data, weight, bias):
        last = self._features(where, data)
        pool = data.pool
        if isinstance(last.ref, tuple):              # features made of final states
            pool = "last"
            top = self.chain[-1][1] if self.chain and self.chain[-1][0] == "rnn" else None
            if top is None or last.ref[1] != tuple(("h", top["index"], d)
                                                   for d in range(top["D"])):
                raise ValueError(f"{where}: reads final states other than the top layer's "
                                 "hidden states in direction order (a classifier's features)")
            data = Data(data.axes, len(self.chain), data.dtype)
        self._chain_input(where, data)
        if pool == "sum":
            raise ValueError(f"{where}: reads a sum over time that was not divided by the "
                             "lengths; fastrnn pools by the mean or the last state")
        if pool is not None:
            self.chain.append(("pool", pool))
        if weight.shape[1] != last.size:
            raise ValueError(f"{where}: weight expects {weight.shape[1]} features, got {last.size}")
        self.chain.append(("linear", weight, bias))
        axes = data.axes[:-1] + (Axis("F", weight.shape[0], None),)
        return Data(axes, len(self.chain), data.dtype, pending=bias is None)

    def _op_MatMul(self, where, ins, attrs):
        data = self._data(where, ins[0])
        w = self._const(where, "B (the weight)", ins[1])
        if w.ndim != 2:
            raise ValueError(f"{where}: expected a 2-d constant weight, got shape {w.shape}")
        return self._linear(where, data, np.ascontiguousarray(w.T), None)

    def _op_Add(self, where, ins, attrs):
        data, bias = (ins[0], ins[1]) if isinstance(ins[0], Data) else (ins[1], ins[0])
        data = self._data(where, data)
        bias = self._const(where, "B (the bias)", bias)
        kind, weight, old = self.chain[-1] if self.chain else (None, None, None)
        if not data.pending or kind != "linear" or old is not None \
                or bias.size != weight.shape[0] or bias.shape[-1] != bias.size:
            raise ValueError(f"{where}: adds something other than a bias (out_features,) to "
                             "the output of a MatMul")
        self.chain[-1] = ("linear", weight, bias.reshape(-1))
        return data.replace(data.axes)

    def _op_Gemm(self, where, ins, attrs):
        data = self._data(where, ins[0])
        for name, expected in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
            if attrs.get(name, expected) != expected:
                raise ValueError(f"{where}: attribute {name}={attrs[name]}: fastrnn's Linear "
                                 f"needs {name}={expected}")
        w = self._const(where, "B (the weight)", ins[1])
        w = w if attrs.get("transB", 0) else w.T
        bias = self._const(where, "C (the bias)", ins[2], True) if len(ins) > 2 else None
        if bias is not None and (bias.size != w.shape[0] or bias.shape[-1] != bias.size):
            raise ValueError(f"{where}: input C: expected a bias ({w.shape[0]},), got shape "
                             f"{bias.shape}")
        if len(data.axes) != 2:
            raise ValueError(f"{where}: expected a 2-d input, got {len(data.axes)} axes")
        return self._linear(where, data, np.ascontiguousarray(w),
                            None if bias is None else bias.reshape(-1))

    def _reduce(self, where, ins, attrs, pool):
        data = self._data(where, ins[0])
        axes = self._axes_arg(where, ins, attrs)
        if len(axes) != 1 or attrs.get("keepdims", 1):
            raise ValueError(f"{where}: expected a reduction over the time axis alone with "
                             "keepdims=0")
        ax = data.axes[axes[0]]
        self._bind(where, ax, "T")
        if data.pool is not None:
            raise ValueError(f"{where}: pools twice")
        return Data(data.axes[:axes[0]] + data.axes[axes[0] + 1:], data.stage, data.dtype, pool,
                    time=ax)

    def _op_ReduceSum(self, where, ins, attrs):
        return self._reduce(where, ins, attrs, "sum")

    def _op_ReduceMean(self, where, ins, attrs):
        if self.lengths_name is not None:
            raise ValueError(f"{where}: a mean over all T steps ignores the lengths input")
        return self._reduce(where, ins, attrs, "mean")

    def _op_Div(self, where, ins, attrs):
        data, count = self._data(where, ins[0]), ins[1]
        if data.pool != "sum":
            raise ValueError(f"{where}: divides something other than a sum over time")
        if isinstance(count, Lengths) and count.name is None:        # Shape(y)[T] as a float
            ok = count.divisor in (data.time.ref, data.time.size) and self.lengths_name is None
        elif isinstance(count, Lengths):
            ok = count.divisor == "column" and count.name == self.lengths_name
        else:
            ok = (isinstance(count, np.ndarray) and count.size == 1 and data.time.size
                  and float(count.reshape(-1)[0]) == data.time.size and self.lengths_name is None)
        if not ok:
            raise ValueError(f"{where}: expected a division by the lengths (N, 1) or by T, as "
                             "in a mean over each sequence's steps")
        return Data(data.axes, data.stage, data.dtype, "mean")

    # --- the recurrent operators ----------------------------------------------------------

    def _recurrent(self, where, node, ins, attrs):
        cell = RNN_OPS[node.op_type]
        ins = ins + [None] * (8 - len(ins))
        x = self._data(where, ins[0], "input X")
        self._chain_input(where, x)
        W = self._const(where, "W", ins[1])
        R = self._const(where, "R", ins[2])
        B = self._const(where, "B", ins[3], True)
        G = GATES[cell]
        direction = _text(attrs.get("direction", "forward"))
        if direction not in ("forward", "bidirectional"):
            raise ValueError(f"{where}: attribute direction={direction!r}: fastrnn layers run "
                             "forward or bidirectional")
        D = 2 if direction == "bidirectional" else 1
        H = attrs.get("hidden_size", R.shape[-1])
        if W.ndim != 3 or R.shape != (D, G * H, H) or W.shape[:2] != (D, G * H) or (
                B is not None and B.shape != (D, 2 * G * H)):
            raise ValueError(f"{where}: weights of shapes W {W.shape}, R {R.shape}, B "
                             f"{None if B is None else B.shape} do not fit hidden_size={H}, "
                             f"{D} direction(s)")
        for name in ("clip", "activation_alpha", "activation_beta"):
            if name in attrs:
                raise ValueError(f"{where}: attribute {name}={attrs[name]}: not supported "
                                 "(fastrnn has no cell clipping or activation parameters)")
        record = {"where": where, "cell": cell, "D": D, "H": H, "W": W, "R": R, "B": B,
                  "index": len(self.nodes), "input_size": W.shape[2]}
        activations = [_text(a) for a in attrs.get("activations", [])]
        if cell == "srn":
            acts = activations or ["Tanh"] * D
            if len(set(acts)) != 1 or acts[0] not in SRN_ACTIVATIONS:
                raise ValueError(f"{where}: attribute activations={acts}: fastrnn's SRN uses "
                                 "one of Tanh, Relu, Sigmoid for every direction")
            record["nonlinearity"] = SRN_ACTIVATIONS[acts[0]]
        elif activations and activations != _DEFAULT_ACTIVATIONS[cell] * D:
            raise ValueError(f"{where}: attribute activations={activations}: fastrnn's "
                             f"{node.op_type} uses {_DEFAULT_ACTIVATIONS[cell]}")
        if cell == "lstm":
            if attrs.get("input_forget", 0):
                raise ValueError(f"{where}: attribute input_forget=1 (coupled input and forget "
                                 "gates) is not supported")
            P = self._const(where, "P (peepholes)", ins[7], True)
            if P is not None and np.any(P):
                raise ValueError(f"{where}: input P (peepholes) is not supported: fastrnn's "
                                 "LSTM has no peephole connections")
        if cell == "gru":
            record["reset_after"] = bool(attrs.get("linear_before_reset", 0))
        layout = attrs.get("layout", 0)
        if len(x.axes) != 3:
            raise ValueError(f"{where}: input X: expected 3 axes, got {len(x.axes)}")
        t_ax, n_ax = (x.axes[0], x.axes[1]) if layout == 0 else (x.axes[1], x.axes[0])
        self._bind(where, t_ax, "T")
        self._bind(where, n_ax, "N")
        feat = self._features(where, x)
        if feat.size != W.shape[2] or isinstance(feat.ref, tuple):
            raise ValueError(f"{where}: input X has {feat.size} features, W expects {W.shape[2]}")
        record["lengths"] = self._lengths(where, ins[4])
        record["init"] = {"h": self._initial(where, "initial_h", ins[5], D, H, layout)}
        if cell == "lstm":
            record["init"]["c"] = self._initial(where, "initial_c", ins[6], D, H, layout)
        self.nodes.append(record)
        self.chain.append(("rnn", record))
        k = record["index"]
        Dax, Hax = Axis("D", D, k), Axis("H", H, k)
        y_axes = (t_ax, Dax, n_ax, Hax) if layout == 0 else (n_ax, t_ax, Dax, Hax)
        outs = [Data(y_axes, len(self.chain), self.dtype)]
        for kind in ("h", "c") if cell == "lstm" else ("h",):
            slots = tuple((kind, k, d) for d in range(D))
            s = Axis("S", D, slots)
            outs.append(Data((s, n_ax, Hax) if layout == 0 else (n_ax, s, Hax), None, self.dtype))
        return outs

    def _lengths(self, where, value):
        if value is None:
            return None
        if not isinstance(value, Lengths) or value.divisor is not None:
            raise ValueError(f"{where}: input sequence_lens: expected the lengths graph input "
                             "(fastrnn takes lengths as an input, not a constant)")
        return value.name

    def _initial(self, where, what, value, D, H, layout):
        if value is None or isinstance(value, Zeros) or (isinstance(value, np.ndarray)
                                                          and not np.any(value)):
            return None
        data = self._data(where, value, f"input {what}")
        axes = data.axes
        s_ax, n_ax, h_ax = (axes[0], axes[1], axes[2]) if layout == 0 else (axes[1], axes[0],
                                                                            axes[2])
        slots = s_ax.ref if s_ax.kind == "S" else ()
        names = {slot[0] for slot in slots}
        if (len(axes) != 3 or s_ax.kind != "S" or len(slots) != D or len(names) != 1
                or h_ax.kind != "H" or h_ax.size != H or not isinstance(slots[0][1], int)
                or [s[1] for s in slots] != list(range(slots[0][1], slots[0][1] + D))
                or names.pop() not in self.state_inputs):
            raise ValueError(f"{where}: input {what}: expected {D} consecutive slices of an "
                             "initial-state graph input (L*D, N, H) or zeros")
        self._bind(where, n_ax, "N")
        return slots[0]
