"""The abstract values of the ONNX reader and the layout operators that move them.

``onnx_graph.Reader`` gives every tensor of a graph one of these values
instead of numbers (see its module documentation); ``LayoutOps`` holds the
handlers of the operators that only move, merge, slice or shape values
(Transpose, Reshape, Squeeze, Unsqueeze, Slice, Concat, Cast, Identity,
Shape, ConstantOfShape, Expand), and the argument helpers shared with the
reader. Every refusal names the node (``node 'name' (OpType)``).
"""

from collections import namedtuple

import numpy as np

#: Operators whose output is zeros when their (first) input is zeros.
ZERO_PRESERVING = {"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Slice",
                    "Concat", "Expand"}

#: One axis of a Data value: kind ("seq", "F", "H", "D", "S", "1"), size (int, or None for a
#: symbolic seq axis) and ref (seq: its label; H, D: the recurrent node; S: the slot keys;
#: F: None for sequence features, ("last", slots) for the classifier's last-state features).
Axis = namedtuple("Axis", "kind size ref")
Axis.__doc__ = """One axis of a ``Data`` value.

Attributes
----------
kind : {"seq", "F", "H", "D", "S", "1"}
size : int or None
    None for a symbolic seq axis.
ref
    seq: its label; H, D: the recurrent node; S: the slot keys; F: None for
    sequence features, ("last", slots) for the classifier's last-state features.
"""
Dims = namedtuple("Dims", "entries scalar")
Dims.__doc__ = """A shape computed in the graph (the output of Shape, Concat of shapes, ...).

Attributes
----------
entries : tuple
    Each an int or a seq label.
scalar : bool
    A 0-d value (one entry).
"""
Lengths = namedtuple("Lengths", "name divisor")        # divisor: None, "flat" (N,) or "column"
Lengths.__doc__ = """The sequence-lengths input, possibly reshaped or cast.

Attributes
----------
name : str
    The graph input's name.
divisor
    None: the int64 lengths (N,) as given; "flat": cast to float, (N,);
    "column": (N, 1), for dividing a sum over time; or, with ``name`` None,
    the number of steps T (its seq label or size) for a plain mean.
"""


class Zeros:
    """A zero tensor of a computed shape (an initial state of zeros).

    Attributes
    ----------
    (none)
        A marker value: only its type matters (``isinstance(v, Zeros)``).
    """


class Data:
    """A tensor computed from the sequence input, described by its axes.

    Parameters
    ----------
    axes : sequence of Axis
        The tensor's axes.
    stage : int or None
        The number of modules applied so far (None: a state).
    dtype : numpy.dtype
    pool : None, "sum" or "mean"
        Summed (or averaged) over time.
    pending : bool
        The direct output of a MatMul: an Add may be its bias.
    time : Axis, optional
        The time axis a "sum" was taken over.
    """

    def __init__(self, axes, stage, dtype, pool=None, pending=False, time=None):
        self.axes, self.stage, self.dtype = tuple(axes), stage, dtype
        self.pool = pool              # None, "sum" (summed over time) or "mean"
        self.pending = pending        # the direct output of a MatMul: an Add may be its bias
        self.time = time              # the time axis a "sum" was taken over

    def replace(self, axes):
        """The same value with other axes (``pending`` cleared).

        Parameters
        ----------
        axes : sequence of Axis

        Returns
        -------
        Data
        """
        return Data(axes, self.stage, self.dtype, self.pool, time=self.time)


def node_label(node, index):
    """How errors name a node.

    Parameters
    ----------
    node : onnx.NodeProto
    index : int
        Its position in the graph.

    Returns
    -------
    str
        ``node 'name' (OpType)``, or ``node #index (OpType)`` without a name.
    """
    who = repr(node.name) if node.name else f"#{index}"
    return f"node {who} ({node.op_type})"


def node_attributes(onnx, node):
    """A node's attributes as Python values.

    Parameters
    ----------
    onnx : module
        The imported ``onnx`` package.
    node : onnx.NodeProto

    Returns
    -------
    dict
        ``{name: value}``.
    """
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def as_text(value):
    """An attribute string as str.

    Parameters
    ----------
    value : bytes or str

    Returns
    -------
    str
    """
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



class LayoutOps:
    """Handlers of the layout operators; mixed into ``onnx_graph.Reader``.

    Attributes
    ----------
    values, roles : dict
        The reader's tensors and axis roles, which the handlers read and set.
    """

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
                entries += (list(v.entries) if isinstance(v, Dims)
                            else [int(e) for e in v.reshape(-1)])
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
