"""The gradient average over the ranks, in a fixed order, so every rank gets the same bits.

``MPI_Allreduce`` promises neither that every rank receives the same bits nor
that a rerun does (the summation order is the library's choice and may
depend on the rank, the message size and the algorithm), so it is not used.
For each flat gradient buffer of ``P`` values (a layer's ``grads_flat``,
communicated in place; one buffer per module, not per parameter), with
``k`` ranks and ``c = P // k``:

1. ``Alltoall``: rank j receives chunk j (values ``[j*c, (j+1)*c)``) of
   every rank's buffer;
2. rank j sums the ``k`` copies of its chunk in rank order,
   ``((g_0 + g_1) + g_2) + ...``, then divides by ``k``, into its own
   buffer's chunk j;
3. ``Allgather`` (in place) hands every rank every averaged chunk.

The ``P - k*c < k`` values left over at each buffer's end travel, with the
ranks' loss counts, in one small ``Allgather`` before the buffers; every
rank averages them itself, in the same order. Every element is thus summed
by the same arithmetic in the same order wherever it is summed, and every
rank ends with the same bits, whatever algorithm the MPI library picks; a
rerun gives the same bits. Per buffer and step each rank sends and receives
``2 (k-1)/k * P`` values (what a bandwidth-optimal ring allreduce moves) in 2
collectives, adds ``P`` values and holds ``P`` values of receive buffer.
(The regular collectives are used rather than ``Alltoallv``/``Allgatherv``
with uneven chunks: MPICH runs them about twice as fast.)

Counts: rank r's gradient is that of its loss, the mean over its ``count_r``
items. The plain average is the gradient of the global mean when the counts
are equal; otherwise rank r's gradient is weighted by ``count_r / sum(count)``
(weights computed in float64, the products summed in rank order).
"""

import hashlib
import math
from collections.abc import Mapping

import numpy as np

from ..optimizer import check_param_and_grad
from .runtime import require_mpi

__all__ = ["model_arrays", "model_signature", "GradientAverager"]


def _leaves(module, prefix=""):
    """[(name, module)] of the parameter-holding modules under ``module``, in order.

    A module with flat buffers (``params_flat``/``grads_flat``: every fastrnn
    layer) is a leaf; a container (``named_modules``: every fastrnn model) is
    walked; anything else with ``params``/``grads`` dicts is a leaf too.
    """
    if hasattr(module, "params_flat") and hasattr(module, "grads_flat"):
        return [(prefix, module)]
    named = getattr(module, "named_modules", None)
    if callable(named):
        out = []
        for name, sub in named():
            out += _leaves(sub, f"{prefix}{name}.")
        return out
    return [(prefix, module)]


def model_arrays(model):
    """The parameter and gradient arrays to communicate: each flat buffer once, in order.

    Parameters
    ----------
    model : layer or model
        A fastrnn layer (flat buffers) or model (walked through
        ``named_modules``), or any object with ``params``/``grads`` dicts.

    Returns
    -------
    (list of numpy.ndarray, list of numpy.ndarray)
        Parameters and their gradients, paired; a module registered twice
        (shared) appears once.

    Raises
    ------
    TypeError
        If ``model`` has no ``params``/``grads`` dicts, or an entry is not a
        real floating-point array.
    ValueError
        If an array is read-only, a gradient's shape or dtype differs from its
        parameter's, or there are no parameters.
    """
    if not (isinstance(getattr(model, "params", None), Mapping)
            and isinstance(getattr(model, "grads", None), Mapping)):
        raise TypeError(f"model: expected a fastrnn layer or model (with params and grads "
                        f"dicts), got {type(model).__name__}")
    params, grads, seen = [], [], set()
    for name, leaf in _leaves(model):
        if hasattr(leaf, "params_flat"):
            pairs = [(f"{name}params_flat", leaf.params_flat, leaf.grads_flat)]
        else:
            pairs = [(f"{name}{k}", leaf.params[k], leaf.grads[k]) for k in leaf.params]
        for label, p, g in pairs:
            if id(g) in seen:  # a shared module (its grads_flat is one object; params_flat
                continue       # is a fresh view on every access)
            seen.add(id(g))
            # the allreduce writes the averaged gradient back in place
            check_param_and_grad("model", p, g, f"parameter {label}", f"gradient {label}",
                                 grad_written=True)
            params.append(p)
            grads.append(g)
    if sum(p.size for p in params) == 0:
        raise ValueError("model: expected a model with parameters, got none")
    return params, grads


def model_signature(model):
    """A digest of the parameter names, shapes and dtypes: equal on ranks with the same model.

    Parameters
    ----------
    model : layer or model
        Anything with a ``params`` mapping.

    Returns
    -------
    str
        The SHA-256 hex digest of ``[(name, shape, dtype), ...]`` (not of the
        values).
    """
    text = repr([(k, tuple(v.shape), v.dtype.str) for k, v in model.params.items()])
    return hashlib.sha256(text.encode()).hexdigest()


def _combine(rows, weights, out, scratch):
    """``out`` = the rank-ordered average of ``rows`` (k, m): plain, or weighted by ``weights``."""
    dtype = out.dtype.type
    if weights is None:
        np.add(rows[0], rows[1], out=out)
        for r in range(2, len(rows)):
            out += rows[r]
        out /= dtype(len(rows))
    else:
        np.multiply(rows[0], dtype(weights[0]), out=out)
        for r in range(1, len(rows)):
            np.multiply(rows[r], dtype(weights[r]), out=scratch)
            out += scratch


class _Chunked:
    """One contiguous 1-d gradient buffer: k equal chunks (steps 1-3) and a short tail."""

    def __init__(self, flat, size, rank):
        self.flat = flat
        c = flat.size // size
        self.body, self.tail = flat[:size * c], flat[size * c:]
        self.mine = flat[rank * c:(rank + 1) * c]
        self.recv = np.empty((size, c), dtype=flat.dtype)
        self.scratch = None

    def average_body(self, comm, in_place, weights):
        if self.mine.size == 0:
            return
        comm.Alltoall(self.body, self.recv)
        if weights is not None and self.scratch is None:
            self.scratch = np.empty_like(self.mine)
        _combine(self.recv, weights, self.mine, self.scratch)
        comm.Allgather(in_place, self.body)

    def average_tail(self, rows, weights):
        """``rows``: (k, tail) float64, every rank's tail; averaged here, as the chunks are."""
        if self.tail.size:
            rows = rows.astype(self.flat.dtype)
            _combine(rows, weights, self.tail, np.empty_like(self.tail))


class GradientAverager:
    """Average gradient arrays over the ranks of ``comm`` in place, in a fixed order (module doc).

    Parameters
    ----------
    grads : list of numpy.ndarray
        The gradient arrays (``model_arrays(model)[1]``). C-contiguous ones
        (every fastrnn layer's ``grads_flat``) are communicated in place;
        others are packed, per dtype, into one staging buffer.
    comm : mpi4py.MPI.Comm
        The communicator, with more than one rank.
    """

    def __init__(self, grads, comm):
        self.comm = comm
        size, rank = comm.Get_size(), comm.Get_rank()
        self._in_place = require_mpi().IN_PLACE
        self._buffers, loose = [], {}
        for g in grads:
            if g.flags.c_contiguous:
                self._buffers.append(_Chunked(g.reshape(-1), size, rank))
            else:
                loose.setdefault(g.dtype.str, []).append(g)
        self._staged = []
        for arrays in loose.values():
            stage = np.empty(sum(a.size for a in arrays), dtype=arrays[0].dtype)
            self._staged.append((arrays, stage))
            self._buffers.append(_Chunked(stage, size, rank))
        # the first Allgather's message: [count, every buffer's tail...], float64 (exact)
        self._tails = []
        width = 1
        for buf in self._buffers:
            self._tails.append((buf, width, width + buf.tail.size))
            width += buf.tail.size
        self._message = np.empty(width, dtype=np.float64)
        self._messages = np.empty((size, width), dtype=np.float64)

    def _share_counts_and_tails(self, count):
        """One Allgather of [count, tails]; returns the weights (None: plain average)."""
        self._message[0] = math.nan if count is None else count
        for buf, a, b in self._tails:
            self._message[a:b] = buf.tail
        self.comm.Allgather(self._message, self._messages)
        counts = [float(v) for v in self._messages[:, 0]]
        given = [not math.isnan(v) for v in counts]
        if not any(given):
            return None
        if not all(given):
            missing = [r for r, g in enumerate(given) if not g]
            raise ValueError(f"allreduce_grads: count: expected it on every rank or on none, "
                             f"got none from ranks {missing}")
        total = 0.0
        for v in counts:
            total += v
        if not total > 0:
            raise ValueError(f"allreduce_grads: count: expected counts that sum to > 0, "
                             f"got {counts}")
        if all(v == counts[0] for v in counts):
            return None
        return [v / total for v in counts]

    def average(self, count=None):
        """Replace the gradients by their average over the ranks (``count``: see module doc).

        Parameters
        ----------
        count : float or None
            This rank's loss count, or None on every rank.

        Raises
        ------
        ValueError
            On every rank, if ``count`` was given on some ranks only or the
            counts sum to 0.
        """
        for arrays, stage in self._staged:
            pos = 0
            for a in arrays:
                stage[pos:pos + a.size] = a.reshape(-1)
                pos += a.size
        weights = self._share_counts_and_tails(count)
        for buf, a, b in self._tails:
            buf.average_tail(self._messages[:, a:b], weights)
        for buf in self._buffers:
            buf.average_body(self.comm, self._in_place, weights)
        for arrays, stage in self._staged:
            pos = 0
            for a in arrays:
                a[...] = stage[pos:pos + a.size].reshape(a.shape)
                pos += a.size
