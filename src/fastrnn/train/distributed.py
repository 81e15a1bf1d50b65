"""Data-parallel training over MPI (mpi4py): every rank trains a replica on its shard.

Each of ``size`` processes (ranks) holds the same model, computes the
gradient of its own shard of the batch, and :meth:`DataParallel.allreduce_grads`
replaces every rank's gradients by their average, so the optimizer steps that
follow are identical everywhere and the replicas stay bit-identical::

    # mpiexec -n 2 python train.py
    from fastrnn.train.distributed import DataParallel

    model = fastrnn.SequenceClassifier(fastrnn.LSTM(8, 64), num_classes=3)
    opt = fastrnn.optim.Adam(model, lr=1e-3)
    dp = DataParallel(model, optimizer=opt)        # rank 0's weights and state everywhere
    for x, y in batches:                           # the same global batches on every rank
        xs, ys = dp.shard(x, axis=1), dp.shard(y, axis=0)
        loss, dlogits = fastrnn.softmax_cross_entropy(model.forward(xs), ys)
        model.zero_grad(); model.backward(dlogits)
        dp.allreduce_grads()                       # the gradient of the global mean loss
        fastrnn.clip_grad_norm(model.grads, 1.0); opt.step()
    dp.save(model, "model.npz")                    # written by rank 0 only

The reduction has a fixed order, so every rank ends bit-identical and a rerun
gives the same bits. ``MPI_Allreduce`` promises neither (its summation order
may differ between ranks and between runs), so it is not used. Instead every
rank packs its gradients (all of the model's flat ``grads_flat`` buffers, one
bucket per dtype) into ``size`` equal chunks with its loss count appended, and
one ``Alltoall`` sends chunk j to rank j; rank j adds the ``size`` copies of
its chunk in rank order (``((g_0 + g_1) + g_2) + ...``, then ``/ size``) and
one ``Allgather`` hands every rank every averaged chunk. Each element is
summed once, by its owner, so every rank receives the same bits, whatever
algorithm the MPI library picks. Cost per step: 2 collectives (whatever the
number of modules), ``2 (size-1)/size * P`` elements sent and received per
rank (P parameters), which is what a bandwidth-optimal ring allreduce moves,
plus 2 copies of P elements and ``P`` additions; memory: 2 P elements.

Mean over the global batch: the average of the ranks' gradients is the
gradient of the global mean loss when every rank's loss is the mean over the
same number of items (equal shards: :func:`shard_bounds` gives shards that
differ by at most one item, so make the batch a multiple of ``size``). With
unequal shards pass ``count`` (the number of items the rank's loss averages,
e.g. ``TruncatedBPTT``'s ``Window.count``): rank r's gradient is then weighted
by ``count_r / sum(count)``.
"""

import hashlib
import math
import os
import sys

import numpy as np

__all__ = ["DataParallel", "shard_bounds", "launched_by_mpiexec", "require_mpi"]

_INSTALL = "install the 'mpi' extra: pip install \"fastrnn[mpi]\" (mpi4py and an MPI runtime)"

# Set by the launchers: MPICH/Intel MPI (hydra), Open MPI, PMIx (Slurm, PRRTE), MVAPICH.
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")


def require_mpi():
    """Import and return ``mpi4py.MPI``, or raise an ImportError naming the extra to install.

    Returns
    -------
    module
        ``mpi4py.MPI`` (importing it initializes MPI).

    Raises
    ------
    ImportError
        If mpi4py or its MPI library is missing.
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"fastrnn.distributed needs mpi4py: {_INSTALL} ({exc})") from exc
    return MPI


def launched_by_mpiexec(environ=None):
    """The number of processes an MPI launcher started, read from its environment, or 0.

    Reads the variables that ``mpiexec``/``srun`` set for every process
    (``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``, ``PMIX_SIZE``,
    ``MV2_COMM_WORLD_SIZE``), so it does not import mpi4py nor initialize MPI.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``).

    Returns
    -------
    int
        The launcher's process count; 0 when no launcher variable is set (not
        started by a launcher).

    Examples
    --------
    >>> launched_by_mpiexec({})
    0
    >>> launched_by_mpiexec({"PMI_SIZE": "4"})
    4
    """
    environ = os.environ if environ is None else environ
    for name in _LAUNCHER_SIZE_VARS:
        value = environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


def shard_bounds(n, rank, size):
    """The ``[start, stop)`` block of ``n`` items that ``rank`` of ``size`` owns.

    Blocks are contiguous, in rank order (their concatenation is
    ``range(n)``), and their lengths differ by at most one: the first
    ``n % size`` ranks get one item more (``numpy.array_split``'s rule).

    Parameters
    ----------
    n : int
        The number of items, >= 0.
    rank : int
        The rank, ``0 <= rank < size``.
    size : int
        The number of ranks, >= 1.

    Returns
    -------
    (int, int)
        ``start`` and ``stop``.

    Raises
    ------
    TypeError, ValueError
        If an argument is not an int in its range.

    Examples
    --------
    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    n, rank, size = (_int(name, v) for name, v in (("n", n), ("rank", rank), ("size", size)))
    if n < 0:
        raise ValueError(f"n: expected an int >= 0, got {n}")
    if size < 1:
        raise ValueError(f"size: expected an int >= 1, got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"rank: expected 0 <= rank < size = {size}, got {rank}")
    q, r = divmod(n, size)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


def _int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    return int(value)


# --- the model's gradient and parameter arrays ----------------------------------------

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


def _arrays(model):
    """(params arrays, grads arrays) to communicate: each flat buffer once, shared ones once."""
    from collections.abc import Mapping
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
            if id(p) in seen:
                continue
            seen.add(id(p))
            for what, a in (("parameter", p), ("gradient", g)):
                if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
                    raise TypeError(f"model: {what} {label}: expected a real floating-point "
                                    f"NumPy array, got {type(a).__name__}")
                if not a.flags.writeable:
                    raise ValueError(f"model: {what} {label}: expected a writeable array")
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"model: gradient {label}: expected the shape and dtype of its "
                                 f"parameter {p.shape} {p.dtype}, got {g.shape} {g.dtype}")
            params.append(p)
            grads.append(g)
    if not params or sum(p.size for p in params) == 0:
        raise ValueError("model: expected a model with parameters, got none")
    return params, grads


def _signature(model):
    """A digest of the parameter names, shapes and dtypes (the same on every rank or an error)."""
    text = repr([(k, tuple(v.shape), v.dtype.str) for k, v in model.params.items()])
    return hashlib.sha256(text.encode()).hexdigest()


class _Bucket:
    """The gradients of one dtype, packed for the fixed-order reduction (module doc).

    ``send`` and ``recv`` are (size, chunk + 1): row j holds chunk j of the
    packed gradients and, in its last column, the sender's loss count (NaN
    for "not given").
    """

    def __init__(self, grads, size, dtype):
        self.grads, self.size, self.dtype = grads, size, np.dtype(dtype)
        self.total = sum(g.size for g in grads)
        self.chunk = max(1, -(-self.total // size))
        self.send = np.zeros((size, self.chunk + 1), dtype=self.dtype)
        self.recv = np.empty_like(self.send)
        self.mine = np.empty(self.chunk, dtype=self.dtype)
        self.scratch = np.empty(self.chunk, dtype=self.dtype)

    def pack(self, count):
        """Copy the gradients into ``send``'s rows, in order, and the count into the last column."""
        c, pos = self.chunk, 0
        for g in self.grads:
            src = g.reshape(-1)
            i = 0
            while i < src.size:
                row, col = divmod(pos, c)
                n = min(c - col, src.size - i)
                self.send[row, col:col + n] = src[i:i + n]
                i += n
                pos += n
        self.send[:, c] = np.nan if count is None else count

    def reduce_mine(self):
        """Average the ``size`` received copies of this rank's chunk in rank order, into ``mine``."""
        c, k = self.chunk, self.size
        counts = [float(v) for v in self.recv[:, c]]
        given = [not math.isnan(v) for v in counts]
        if any(given) and not all(given):
            missing = [r for r, g in enumerate(given) if not g]
            raise ValueError(f"allreduce_grads: count: expected it on every rank or on none, "
                             f"got none from ranks {missing}")
        acc = self.mine
        if not any(given) or (counts[0] > 0 and all(v == counts[0] for v in counts)):
            acc[...] = self.recv[0, :c]
            for r in range(1, k):
                acc += self.recv[r, :c]
            acc /= self.dtype.type(k)
            return
        total = 0.0
        for v in counts:
            total += v
        if not total > 0:
            raise ValueError(f"allreduce_grads: count: expected counts that sum to > 0, "
                             f"got {counts}")
        np.multiply(self.recv[0, :c], self.dtype.type(counts[0] / total), out=acc)
        for r in range(1, k):
            np.multiply(self.recv[r, :c], self.dtype.type(counts[r] / total), out=self.scratch)
            acc += self.scratch

    def gathered(self):
        """A flat view of ``recv`` that receives every rank's averaged chunk (size * chunk)."""
        return self.recv.reshape(-1)[:self.size * self.chunk]

    def unpack(self):
        flat, pos = self.gathered(), 0
        for g in self.grads:
            g[...] = flat[pos:pos + g.size].reshape(g.shape)
            pos += g.size


# --- failure handling and threads -----------------------------------------------------

_ABORT_HOOK_INSTALLED = []


def _install_abort_hook(comm):
    """Make an uncaught exception print its traceback, then ``comm.Abort(1)``.

    Without it, a rank that raises exits while the others wait forever in
    the next collective (``python -m mpi4py script.py`` does the same job).
    """
    if _ABORT_HOOK_INSTALLED:
        return
    previous = sys.excepthook

    def abort_on_uncaught(exc_type, exc, tb):
        try:
            previous(exc_type, exc, tb)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:   # a closed stream must not stop the abort
                    pass
        finally:
            comm.Abort(1)

    sys.excepthook = abort_on_uncaught
    _ABORT_HOOK_INSTALLED.append(abort_on_uncaught)


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _limit_threads(n):
    """Run the engine (``fastrnn.set_num_threads`` when it exists) and BLAS on ``n`` threads.

    Returns the threadpoolctl limiter (kept so the limit lasts), or None.
    """
    import fastrnn
    set_num_threads = getattr(fastrnn, "set_num_threads", None)
    if callable(set_num_threads):
        set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import warnings
        warnings.warn("DataParallel: threadpoolctl is not installed, so BLAS may run more "
                      f"threads than the {n} per rank this node has cores for; "
                      "pip install threadpoolctl", RuntimeWarning, stacklevel=3)
        return None
    return threadpool_limits(limits=n)


# --- the public class -----------------------------------------------------------------

class DataParallel:
    """Keep replicas of ``model`` on the ranks of ``comm`` in step: broadcast once, average gradients.

    On construction (a collective: every rank of ``comm`` must construct its
    DataParallel at the same point) it checks that every rank's model has the
    same parameter names, shapes and dtypes, copies rank 0's parameters (and
    ``optimizer``'s state, when given) to every rank, limits the engine and
    BLAS threads when ranks share a node, and makes an uncaught exception on
    any rank abort every rank instead of leaving them waiting.

    Parameters
    ----------
    model : layer or model
        Any fastrnn layer (``SRN``, ``LSTM``, ``GRU``, ``Linear``,
        ``Embedding``) or model (``Sequential``, ``SequenceClassifier``,
        ``SequenceTagger``, ``Seq2Seq``, a ``Model`` subclass). Its flat
        gradient buffers are communicated in place.
    comm : mpi4py.MPI.Comm, optional
        The communicator (default ``MPI.COMM_WORLD``); ``MPI.COMM_SELF``
        gives a one-rank DataParallel that communicates nothing.
    optimizer : fastrnn.optim.Optimizer, optional
        Its ``state_dict()`` (buffers, step count, hyperparameters) is copied
        from rank 0 to every rank, e.g. after rank 0 alone loaded a checkpoint.
    num_threads : "auto", int or None
        Threads per rank for the engine and BLAS. ``"auto"`` (default): when
        ``k`` ranks share a node, ``max(1, cpus // k)`` each (no
        oversubscription), else unchanged. None: leave them alone.
    abort_on_error : bool
        Install the abort-on-uncaught-exception hook (default True; only when
        ``comm`` has more than one rank).

    Attributes
    ----------
    comm : mpi4py.MPI.Comm
    rank, size : int
        This process's rank and the number of ranks.
    local_size : int
        The number of ranks on this node.
    num_threads : int or None
        The threads per rank that were set (None: unchanged).

    Raises
    ------
    ImportError
        If mpi4py is not installed.
    TypeError
        If ``model`` holds no float parameter arrays.
    ValueError
        On every rank, if the ranks' models differ in names, shapes or dtypes,
        or the optimizer's state cannot be loaded on some rank.

    Notes
    -----
    Typical script (``mpiexec -n 2 python train.py``), see the module doc.
    Only the root writes files and prints: :meth:`save`, :meth:`print`,
    :meth:`progress`.
    """

    root = 0

    def __init__(self, model, comm=None, optimizer=None, num_threads="auto",
                 abort_on_error=True):
        if comm is None:
            comm = require_mpi().COMM_WORLD
        for attr in ("Get_rank", "Get_size", "Alltoall", "Allgather", "Bcast", "bcast"):
            if not callable(getattr(comm, attr, None)):
                raise TypeError(f"comm: expected an mpi4py communicator, "
                                f"got {type(comm).__name__}")
        self.comm, self.model = comm, model
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if abort_on_error and self.size > 1:
            _install_abort_hook(comm)
        self._params, grads = self._collective("model", lambda: _arrays(model))
        signatures = comm.allgather(_signature(model))
        differ = [r for r, s in enumerate(signatures) if s != signatures[self.root]]
        if differ:
            raise ValueError(f"model: expected the same parameter names, shapes and dtypes on "
                             f"every rank, got ranks {differ} differing from rank {self.root}")
        dtypes = sorted({g.dtype.str for g in grads})
        self._buckets = [_Bucket([g for g in grads if g.dtype.str == d], self.size, d)
                         for d in dtypes]
        self.local_size = self._local_size()
        self.num_threads = self._threads(num_threads)
        self.broadcast_parameters()
        if optimizer is not None:
            self.broadcast_optimizer(optimizer)

    # --- set-up ------------------------------------------------------------------------
    def _collective(self, what, fn):
        """Run ``fn`` on every rank; if it raised anywhere, raise on every rank (no hang)."""
        try:
            result, error = fn(), None
        except (TypeError, ValueError, KeyError) as exc:
            result, error = None, exc
        errors = self.comm.allgather(None if error is None else f"{type(error).__name__}: "
                                                                f"{error}")
        if error is not None:
            raise error
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            r, e = failed[0]
            raise ValueError(f"{what}: failed on rank {r}: {e}")
        return result

    def _local_size(self):
        split = getattr(self.comm, "Split_type", None)
        if self.size == 1 or split is None:
            return 1
        MPI = require_mpi()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        try:
            return local.Get_size()
        finally:
            local.Free()

    def _threads(self, num_threads):
        if num_threads is None:
            return None
        if isinstance(num_threads, str):
            if num_threads != "auto":
                raise ValueError(f"num_threads: expected 'auto', an int >= 1 or None, "
                                 f"got {num_threads!r}")
            if self.local_size == 1:
                return None
            n = max(1, _cpus() // self.local_size)
        else:
            n = _int("num_threads", num_threads)
            if n < 1:
                raise ValueError(f"num_threads: expected 'auto', an int >= 1 or None, got {n}")
        self._thread_limiter = _limit_threads(n)
        return n

    # --- collectives on the model ------------------------------------------------------
    def broadcast_parameters(self):
        """Copy rank 0's parameters to every rank, in place (one ``Bcast`` per flat buffer).

        A collective. Call it again after changing parameters on rank 0 alone
        (e.g. ``fastrnn.load(path, into=model)`` on the root).
        """
        if self.size == 1:
            return
        for p in self._params:
            if p.flags.c_contiguous:
                self.comm.Bcast(p, root=self.root)
            else:
                buf = np.ascontiguousarray(p)
                self.comm.Bcast(buf, root=self.root)
                p[...] = buf

    def broadcast_optimizer(self, optimizer):
        """Copy rank 0's optimizer state (``state_dict()``) to every rank.

        A collective. Every rank's ``load_state_dict`` checks the state before
        changing anything; if it fails on any rank, every rank raises.

        Parameters
        ----------
        optimizer : fastrnn.optim.Optimizer
            The optimizer over this rank's model (any object with
            ``state_dict``/``load_state_dict``).

        Raises
        ------
        TypeError
            If ``optimizer`` has no ``state_dict``/``load_state_dict``.
        ValueError
            On every rank, if the state did not load on some rank.
        """
        for attr in ("state_dict", "load_state_dict"):
            if not callable(getattr(optimizer, attr, None)):
                raise TypeError(f"optimizer: expected an optimizer with state_dict and "
                                f"load_state_dict, got {type(optimizer).__name__}")
        if self.size == 1:
            return
        state = self.comm.bcast(optimizer.state_dict() if self.rank == self.root else None,
                                root=self.root)
        if self.rank != self.root:
            self._collective("optimizer", lambda: optimizer.load_state_dict(state))
        else:
            self._collective("optimizer", lambda: None)

    def allreduce_grads(self, count=None):
        """Replace every rank's gradients by their average, in a fixed order (module doc).

        A collective: call it on every rank after ``backward`` and before
        clipping and the optimizer step. Afterwards the gradients are
        bit-identical on every rank.

        Parameters
        ----------
        count : float, optional
            The number of items this rank's loss is the mean of. None (on
            every rank): plain average, right when every rank's shard has the
            same size. Given on every rank: rank r's gradient is weighted by
            ``count_r / sum(count)``, the gradient of the mean over the global
            batch with unequal shards (equal counts give the plain average).

        Raises
        ------
        TypeError, ValueError
            If ``count`` is not a finite number >= 0 (on the calling rank), or,
            on every rank, if it was given on some ranks and not others or the
            counts sum to 0.
        """
        if count is not None:
            if isinstance(count, (bool, np.bool_)) or not isinstance(
                    count, (int, float, np.integer, np.floating)):
                raise TypeError(f"count: expected a number >= 0 or None, "
                                f"got {type(count).__name__}")
            if not (math.isfinite(float(count)) and count >= 0):
                raise ValueError(f"count: expected a finite number >= 0, got {count}")
            if self.size == 1 and not count > 0:
                raise ValueError(f"count: expected counts that sum to > 0, got [{count}]")
        if self.size == 1:
            return
        for b in self._buckets:
            b.pack(count)
            self.comm.Alltoall(b.send, b.recv)
            b.reduce_mine()
            self.comm.Allgather(b.mine, b.gathered())
            b.unpack()

    # --- sharding ------------------------------------------------------------------------
    def shard_bounds(self, n):
        """This rank's ``[start, stop)`` of ``n`` items (:func:`shard_bounds`)."""
        return shard_bounds(n, self.rank, self.size)

    def shard(self, array, axis):
        """This rank's block of ``array`` along ``axis`` (a view).

        Parameters
        ----------
        array : array_like
            A batch: e.g. inputs (T, N, I) with ``axis=1``, labels (N,) or
            ``lengths`` (N,) with ``axis=0``.
        axis : int
            The batch axis.

        Returns
        -------
        numpy.ndarray
            ``array`` restricted to ``shard_bounds(array.shape[axis])`` along ``axis``.

        Raises
        ------
        ValueError
            If ``axis`` is not an axis of ``array``.
        """
        a = np.asarray(array)
        axis = _int("axis", axis)
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"axis: expected an axis of an array of shape {a.shape}, "
                             f"got {axis}")
        start, stop = self.shard_bounds(a.shape[axis])
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        return a[tuple(index)]

    def shard_indices(self, n, seed=None):
        """This rank's indices of a dataset of ``n`` items, optionally shuffled.

        Parameters
        ----------
        n : int
            The dataset's length.
        seed : int, optional
            Shuffle ``range(n)`` with ``numpy.random.default_rng(seed)`` first;
            pass the same seed on every rank (and a new one each epoch), so the
            ranks' index sets are disjoint and cover ``range(n)``.

        Returns
        -------
        numpy.ndarray
            int64 indices, ``shard_bounds(n)`` of them.
        """
        start, stop = self.shard_bounds(n)
        if seed is None:
            return np.arange(start, stop, dtype=np.int64)
        return np.random.default_rng(seed).permutation(n)[start:stop].astype(np.int64)

    # --- rank-0-only output ------------------------------------------------------------
    @property
    def is_root(self):
        """True on rank 0, the rank that prints and saves."""
        return self.rank == self.root

    def print(self, *args, **kwargs):
        """``print`` on rank 0 only (flushed); a no-op elsewhere."""
        if self.is_root:
            kwargs.setdefault("flush", True)
            print(*args, **kwargs)

    def progress(self, iterable=None, **kwargs):
        """A ``tqdm`` progress bar shown on rank 0 only (disabled, but usable, elsewhere).

        Parameters
        ----------
        iterable : iterable, optional
            Passed to ``tqdm``.
        **kwargs
            ``tqdm``'s keyword arguments (``total``, ``desc``, ...).

        Returns
        -------
        tqdm.tqdm
        """
        from tqdm.auto import tqdm
        kwargs["disable"] = bool(kwargs.get("disable", False)) or not self.is_root
        return tqdm(iterable, **kwargs)

    def save(self, obj, path, meta=None):
        """``fastrnn.save`` on rank 0 only; a collective, so a failed save raises everywhere.

        Parameters
        ----------
        obj, path, meta
            As for :func:`fastrnn.save`.

        Returns
        -------
        str
            ``path``.

        Raises
        ------
        Exception
            On rank 0, whatever ``fastrnn.save`` raised; on the other ranks a
            RuntimeError naming it.
        """
        from .io import save
        error = None
        if self.is_root:
            try:
                save(obj, path, meta=meta)
            except Exception as exc:   # every rank must learn of it, then it is re-raised
                error = exc
        message = self.comm.bcast(None if error is None else f"{type(error).__name__}: {error}",
                                  root=self.root)
        if error is not None:
            raise error
        if message is not None:
            raise RuntimeError(f"save: rank {self.root} failed to write {os.fspath(path)!r}: "
                               f"{message}")
        return os.fspath(path)

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (pickled ``bcast``): e.g. its decision to stop."""
        return self.comm.bcast(obj, root=self.root)

    def gather(self, value):
        """Every rank's ``value``, in rank order, on every rank (pickled ``allgather``)."""
        return self.comm.allgather(value)

    def __repr__(self):
        n = sum(p.size for p in self._params)
        return (f"DataParallel(rank={self.rank}, size={self.size}, parameters={n}, "
                f"buckets={len(self._buckets)}, num_threads={self.num_threads})")
