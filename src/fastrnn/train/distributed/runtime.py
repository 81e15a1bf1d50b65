"""The MPI runtime around DataParallel: importing mpi4py, the launcher, failures, threads."""

import os
import sys
import time

from ...core.threads import set_num_threads

__all__ = ["require_mpi", "launched_by_mpiexec", "install_abort_hook", "local_size",
           "threads_per_rank", "limit_threads"]

_INSTALL = "install the 'mpi' extra: pip install \"fastrnn[mpi]\" (mpi4py and an MPI runtime)"

# Set by the launchers for every process: MPICH and Intel MPI (hydra), Open MPI, PMIx
# (Slurm, PRRTE), MVAPICH.
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
    ``MV2_COMM_WORLD_SIZE``), so it neither imports mpi4py nor initializes MPI.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (default ``os.environ``).

    Returns
    -------
    int
        The launcher's process count; 0 when no launcher variable is set (the
        process was not started by a launcher).

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


_ABORT_HOOK = []


def install_abort_hook(comm):
    """Make an uncaught exception print its traceback, then call ``comm.Abort(1)``.

    Without it, a rank that raises exits while the others wait forever in
    their next collective; with it, the MPI runtime ends every rank with an
    error. ``python -m mpi4py script.py`` does the same job. Installed once
    per process; the previous ``sys.excepthook`` still prints.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The communicator to abort.
    """
    if _ABORT_HOOK:
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
            # the launcher forwards our output through its own pipes: give it a moment,
            # or an abort can outrun the traceback it should show
            time.sleep(0.5)
        finally:
            comm.Abort(1)

    sys.excepthook = abort_on_uncaught
    _ABORT_HOOK.append(abort_on_uncaught)


def local_size(comm):
    """The number of ranks of ``comm`` on this node (a collective over ``comm``).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm

    Returns
    -------
    int
        The size of this rank's ``MPI.COMM_TYPE_SHARED`` split; 1 for a
        one-rank communicator.
    """
    if comm.Get_size() == 1:
        return 1
    MPI = require_mpi()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return local.Get_size()
    finally:
        local.Free()


def threads_per_rank(ranks_on_node):
    """``max(1, cpus // ranks_on_node)``: the CPUs this process may use, shared out.

    Parameters
    ----------
    ranks_on_node : int
        The ranks sharing this node (>= 1).

    Returns
    -------
    int
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, ranks_on_node))


def limit_threads(n):
    """Run the engine (``fastrnn.set_num_threads``, when it exists) and BLAS on ``n`` threads.

    Parameters
    ----------
    n : int
        Threads, >= 1.

    Returns
    -------
    threadpoolctl.ThreadpoolLimiter or None
        The BLAS limiter (its ``restore_original_limits()`` undoes it), None
        without threadpoolctl (then a RuntimeWarning says BLAS is not limited).
    """
    set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import warnings
        warnings.warn(f"DataParallel: threadpoolctl is not installed, so BLAS may run more "
                      f"threads than the {n} per rank this node has cores for; "
                      "pip install threadpoolctl", RuntimeWarning, stacklevel=3)
        return None
    return threadpool_limits(limits=n)
