"""``DataParallel``: replicas of one model on the ranks of a communicator, kept in step."""

import math
import os

import numpy as np

from ...core import validation as V
from . import runtime
from ...core.storage import mark_written
from .reduce import GradientAverager, model_arrays, model_signature
from .sharding import check_int, shard_bounds

__all__ = ["DataParallel"]


class DataParallel:
    """Keep replicas of ``model`` on the ranks of ``comm`` in step: broadcast, then average.

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
        If ``model`` holds no float parameter arrays, ``comm`` is not a
        communicator or ``optimizer`` has no ``state_dict``/``load_state_dict``.
    ValueError
        If ``num_threads`` is not "auto", an int >= 1 or None; on every rank,
        if the ranks' models differ in names, shapes or dtypes, or the
        optimizer's state cannot be loaded on some rank.

    Notes
    -----
    A typical script (``mpiexec -n 2 python train.py``) is in the doc of
    ``fastrnn.distributed``; the reduction and its cost in ``reduce``'s.
    Only the root writes files and prints: :meth:`save`, :meth:`print`,
    :meth:`progress`.
    """

    root = 0

    def __init__(self, model, comm=None, optimizer=None, num_threads="auto",
                 abort_on_error=True):
        threads = self._check_threads(num_threads)          # arguments first, then collectives
        abort_on_error = V.check_bool("abort_on_error", abort_on_error)
        if optimizer is not None:
            self._check_optimizer(optimizer)
        if comm is None:
            comm = runtime.require_mpi().COMM_WORLD
        for attr in ("Get_rank", "Get_size", "Alltoall", "Allgather", "Bcast", "bcast"):
            if not callable(getattr(comm, attr, None)):
                raise TypeError(f"comm: expected an mpi4py communicator, "
                                f"got {type(comm).__name__}")
        self.comm, self.model = comm, model
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if abort_on_error and self.size > 1:
            runtime.install_abort_hook(comm)
        self._params, grads = self._collective("model", lambda: model_arrays(model))
        signatures = comm.allgather(model_signature(model))
        differ = [r for r, s in enumerate(signatures) if s != signatures[self.root]]
        if differ:
            raise ValueError(f"model: expected the same parameter names, shapes and dtypes on "
                             f"every rank, got ranks {differ} differing from rank {self.root}")
        self._averager = GradientAverager(grads, comm) if self.size > 1 else None
        self.local_size = runtime.local_size(comm)
        self.num_threads, self._thread_limiter = None, None
        if threads == "auto" and self.local_size > 1:
            threads = runtime.threads_per_rank(self.local_size)
        if isinstance(threads, int):
            self._thread_limiter = runtime.limit_threads(threads)
            self.num_threads = threads
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

    @staticmethod
    def _check_threads(num_threads):
        if num_threads is None or (isinstance(num_threads, str) and num_threads == "auto"):
            return num_threads
        if isinstance(num_threads, str):
            raise ValueError(f"num_threads: expected 'auto', an int >= 1 or None, "
                             f"got {num_threads!r}")
        n = check_int("num_threads", num_threads)
        if n < 1:
            raise ValueError(f"num_threads: expected 'auto', an int >= 1 or None, got {n}")
        return n

    @staticmethod
    def _check_optimizer(optimizer):
        for attr in ("state_dict", "load_state_dict"):
            if not callable(getattr(optimizer, attr, None)):
                raise TypeError(f"optimizer: expected an optimizer with state_dict and "
                                f"load_state_dict, got {type(optimizer).__name__}")

    # --- collectives on the model ------------------------------------------------------
    def broadcast_parameters(self):
        """Copy rank 0's parameters to every rank, in place (one ``Bcast`` per flat buffer).

        A collective, run by the constructor. Call it again after changing
        parameters on rank 0 alone (e.g. ``fastrnn.load(path, into=model)``
        on the root).
        """
        if self.size == 1:
            return
        for p in self._params:
            if p.flags.c_contiguous:
                self.comm.Bcast(p, root=self.root)
                mark_written(p)  # MPI wrote past NumPy: bump the module's param_version
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
        self._check_optimizer(optimizer)
        if self.size == 1:
            return
        state = self.comm.bcast(optimizer.state_dict() if self.rank == self.root else None,
                                root=self.root)
        if self.rank != self.root:
            self._collective("optimizer", lambda: optimizer.load_state_dict(state))
        else:
            self._collective("optimizer", lambda: None)

    def allreduce_grads(self, count=None):
        """Replace every rank's gradients by their average, in a fixed order (see ``reduce``).

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
        if self.size > 1:
            self._averager.average(count)

    # --- sharding ------------------------------------------------------------------------
    def shard_bounds(self, n):
        """This rank's ``[start, stop)`` of ``n`` items.

        Parameters
        ----------
        n : int
            The number of items (sequences of a batch, examples of a dataset).

        Returns
        -------
        (int, int)
            ``shard_bounds(n, self.rank, self.size)``: contiguous, in rank order,
            sizes differing by at most one.
        """
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
        axis = check_int("axis", axis)
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
        """``print`` on rank 0 only (flushed); a no-op elsewhere.

        Parameters
        ----------
        *args, **kwargs
            As for ``print``.
        """
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
        from ..io import save
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
        """Rank 0's ``obj`` on every rank (pickled ``bcast``; a collective).

        Parameters
        ----------
        obj : object
            Any picklable value; only rank 0's is used (e.g. its decision to
            stop training, so that every rank stops at the same step).

        Returns
        -------
        object
            Rank 0's ``obj``.
        """
        return self.comm.bcast(obj, root=self.root)

    def gather(self, value):
        """Every rank's ``value``, in rank order, on every rank (pickled ``allgather``).

        Parameters
        ----------
        value : object
            Any picklable value (a loss, a throughput, a list of them).

        Returns
        -------
        list
            ``size`` values, rank 0's first.
        """
        return self.comm.allgather(value)

    def __repr__(self):
        n = sum(p.size for p in self._params)
        return (f"DataParallel(rank={self.rank}, size={self.size}, parameters={n}, "
                f"num_threads={self.num_threads})")
