"""The C engine's threads: one policy, fastrnn's own.

The compiled engine runs every kernel on its own pool of threads (the calling
thread included) and never on a BLAS's: ``set_num_threads(n)`` sets how many,
``get_num_threads()`` tells. The default is the ``FASTRNN_NUM_THREADS``
environment variable if set, else the number of CPUs this process may run on
(``os.sched_getaffinity``). Results are the same bits for every count.

``threadpoolctl.threadpool_limits(n)`` limits fastrnn too: fastrnn registers a
controller for its engine with threadpoolctl (user_api "fastrnn") when
threadpoolctl is installed, so a limit entered after ``import fastrnn``
reaches the engine, before or after its first use.

The NumPy engine's products run on NumPy's own BLAS, which these settings do
not touch (threadpoolctl's ``user_api="blas"`` does).
"""

import os

import numpy as np

__all__ = ["set_num_threads", "get_num_threads", "default_num_threads", "engine_threads_info"]

ENV_VAR = "FASTRNN_NUM_THREADS"

try:
    from . import _ext
except ImportError:  # no compiled engine: the setting is kept for when there is one
    _ext = None

_count = None  # the setting when the C engine is not built
_MAX_COUNT = 2**31 - 1  # the engine's count is a C int


def _check_count(name, n):
    if (isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer))
            or not 1 <= n <= _MAX_COUNT):
        raise ValueError(f"{name}: expected a positive int up to {_MAX_COUNT}, got {n!r}")
    return int(n)


def default_num_threads():
    """The thread count fastrnn starts with.

    Returns
    -------
    int
        ``FASTRNN_NUM_THREADS`` if set, else the number of CPUs this process
        may run on (``len(os.sched_getaffinity(0))``, or ``os.cpu_count()``
        where affinity is not available).

    Raises
    ------
    ValueError
        If ``FASTRNN_NUM_THREADS`` is set to anything but a positive integer
        (at most 2**31 - 1).
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        if not (env.isascii() and env.isdigit() and 1 <= int(env) <= _MAX_COUNT):
            raise ValueError(f"{ENV_VAR}: expected a positive integer up to {_MAX_COUNT}, "
                             f"got {env!r}")
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_num_threads(n):
    """Set how many threads the C engine runs on (the calling thread included).

    Parameters
    ----------
    n : int
        A positive count (an int or NumPy integer, at most 2**31 - 1). More
        than the CPUs available oversubscribes them: the default never does.

    Returns
    -------
    int
        The previous count.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int.

    Examples
    --------
    >>> import fastrnn
    >>> previous = fastrnn.set_num_threads(1)
    >>> fastrnn.get_num_threads()
    1
    >>> _ = fastrnn.set_num_threads(previous)
    """
    global _count
    n = _check_count("n", n)
    if _ext is not None:
        return _ext.set_num_threads(n)
    previous, _count = get_num_threads(), n
    return previous


def get_num_threads():
    """The C engine's thread count (the calling thread included).

    Returns
    -------
    int
        The last ``set_num_threads`` (or ``threadpoolctl`` limit), else
        ``default_num_threads()``. Without the C engine: the setting kept for
        when there is one.
    """
    if _ext is not None:
        return _ext.get_num_threads()
    return _count if _count is not None else default_num_threads()


def engine_threads_info():
    """What the engine runs with, for ``python -m fastrnn info`` and benchmarks.

    Returns
    -------
    dict
        ``threads`` (the setting), ``workers_started`` (the pool's threads so
        far), ``isa`` (the instruction set of the kernels, or None without
        the C engine).
    """
    if _ext is None:
        return {"threads": get_num_threads(), "workers_started": 0, "isa": None}
    return {"threads": _ext.get_num_threads(), "workers_started": _ext.pool_size(),
            "isa": _ext.get_isa()}


def _register_with_threadpoolctl():
    """Make ``threadpoolctl.threadpool_limits`` see and limit the engine (if installed)."""
    try:
        import threadpoolctl
    except ImportError:
        return
    if _ext is None or not hasattr(threadpoolctl, "register"):
        return

    class FastrnnController(threadpoolctl.LibController):
        """threadpoolctl's handle on the C engine: the compiled module that exports
        ``fastrnn_get_num_threads``."""

        user_api = "fastrnn"
        internal_api = "fastrnn"
        filename_prefixes = (os.path.basename(_ext.__file__).split(".")[0],)
        check_symbols = ("fastrnn_get_num_threads", "fastrnn_set_num_threads")

        def get_num_threads(self):
            return self.dynlib.fastrnn_get_num_threads()

        def set_num_threads(self, num_threads):
            return self.dynlib.fastrnn_set_num_threads(int(num_threads))

        def get_version(self):
            from .._version import __version__
            return __version__

    threadpoolctl.register(FastrnnController)


if _ext is not None:
    _ext.set_num_threads(default_num_threads())
    _register_with_threadpoolctl()
