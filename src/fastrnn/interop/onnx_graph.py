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

import numpy as np

from .gates import GATES
from .onnx_layout import (ZERO_PRESERVING, Axis, Data, Dims, LayoutOps, Lengths, Zeros,
                          as_text, node_attributes, node_label)

RNN_OPS = {"RNN": "srn", "LSTM": "lstm", "GRU": "gru"}
SRN_ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid"}
_DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"]}
_NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
               "Multinomial", "Bernoulli", *RNN_OPS}


class Reader(LayoutOps):
    """The chain of modules an ONNX model computes; ``read()`` fills ``chain``, ``nodes``, ``outputs``.

    Parameters
    ----------
    onnx : module
        The imported ``onnx`` package.
    model : onnx.ModelProto
        The model read.

    Attributes
    ----------
    chain : list
        After ``read()``: items ``("embedding", weight)``, ``("rnn",
        node_record)``, ``("linear", weight (out, in), bias or None)``,
        ``("pool", "last" | "mean")``.
    nodes : list of dict
        One record per recurrent node, in order (its weights, sizes, ``D``,
        ``lengths`` input, ``index``); the ``("rnn", record)`` chain items.
    x_name, lengths_name : str or None
        The names of the sequence input and of the lengths input (None: none).
    state_inputs : list of str
        The names of the initial-state inputs, in graph order.
    outputs : list of (str, value)
        The graph outputs' names and abstract values (``Data``), in order.
    roles : dict
        Seq label -> "T" or "N".
    dtype : numpy.dtype
        The float dtype.

    Raises
    ------
    ValueError
        For a model without an opset of the default ONNX domain.
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
        """Read the graph: evaluate every needed node on abstract values.

        Returns
        -------
        Reader
            ``self``, with ``chain``, ``nodes``, ``inputs`` and ``outputs`` filled.

        Raises
        ------
        ValueError
            For anything fastrnn cannot compute, naming the node (name and
            op_type) and the attribute or input.
        """
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
                axes = [Axis("S", dims[0], slots), Axis("seq", dims[1], labels[1]),
                        Axis("H", dims[2], None)]
                self.values[name] = Data(axes, None, self.dtype)
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
        attrs = node_attributes(self.onnx, node)
        present = [v for v in ins if v is not None]
        if node.op_type not in _NOT_FOLDED and all(isinstance(v, np.ndarray) for v in present) \
                and (present or node.op_type == "Constant"):
            outs = self._fold(node, ins)
        elif node.op_type in ZERO_PRESERVING and isinstance(ins[0], Zeros) and (
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
        direction = as_text(attrs.get("direction", "forward"))
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
        activations = [as_text(a) for a in attrs.get("activations", [])]
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
