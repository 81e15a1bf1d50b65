"""File-system helpers of ``fastrnn.save``: path checks and an atomic write that acts as a plain one.

``write_atomically(path, write, who)`` writes a file through a temporary
name beside it, flushed to disk and renamed over ``path``, so a crash leaves
the old file or the new one, never half of one; otherwise it behaves as
``open(path, "wb")`` would: a new file gets the mode the umask gives, a
replaced file keeps its mode (and owner, where allowed), a read-only file is
refused (even for root, who could write it), a symlink is written through
(its target is replaced, the link stays).

Temporary names are ``.fastrnn-tmp-<host>-<pid>-<16 hex>.npz``: each write
first removes those of its directory whose writer (same host, that pid) is no
longer running, i.e. the leftovers of a killed save, and never a live
process's.
"""

import errno
import os
import re
import secrets
import socket
import stat

__all__ = ["check_path", "write_atomically"]


def check_path(path, who):
    """A file path argument as a str.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        Bytes and path-likes are decoded with ``os.fsdecode``.
    who : str
        The caller's name, for messages (``"save"``, ``"load"``).

    Returns
    -------
    str

    Raises
    ------
    TypeError
        For another type.
    ValueError
        For an empty path or one with a NUL character.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{who}: path: expected a file path (str, bytes or os.PathLike), "
                        f"got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path or "\0" in path:
        raise ValueError(f"{who}: path: expected a file path, got {path!r}")
    return path


_TMP_PREFIX = ".fastrnn-tmp-"
_TMP_NAME = re.compile(r"^\.fastrnn-tmp-(?P<host>[A-Za-z0-9_]*)-(?P<pid>[0-9]+)-[0-9a-f]{16}\.npz$")


def _host():
    """This host's name as it goes into temporary names (only [A-Za-z0-9_])."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40]


def _pid_alive(pid):
    if pid == os.getpid() or os.name != "posix":   # (os.kill on Windows terminates)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:            # EPERM: alive, another user's
        return True
    return True


def _remove_stale_temps(directory):
    """Delete the temporary files that saves on this host left when their process died."""
    host = _host()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TMP_NAME.match(entry.name)
        if match and match["host"] == host and not _pid_alive(int(match["pid"])):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _target(path, who):
    """The file a plain ``open(path, "wb")`` would write (symlinks followed) and its stat or None."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    if os.path.islink(target):
        raise OSError(errno.ELOOP, f"{who}: {path!r} is a symlink loop")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{who}: {path!r} is a directory, not a file path")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{who}: {path!r} is not a regular file; not replaced")
    if not st.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"{who}: {path!r} is read-only (mode "
                              f"{stat.S_IMODE(st.st_mode):04o}); not replaced (make it writable to "
                              "overwrite it)")
    return target, st


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path, write, who):
    """Write a file atomically, with what a plain ``open(path, "wb")`` write would give.

    Parameters
    ----------
    path : str
        The file (as checked by ``check_path``); a symlink is written through.
    write : callable
        ``write(f)`` writes the content to the binary file object ``f``.
    who : str
        The caller's name, for messages ("save").

    Raises
    ------
    PermissionError
        When ``path`` is read-only (mode without write bits, or not writable
        by this process) or its directory is not writable; nothing is written.
    IsADirectoryError, FileNotFoundError, ValueError
        When ``path`` is a directory, its directory does not exist, or it is
        not a regular file.
    BaseException
        Whatever ``write`` raises; the temporary file is removed and ``path``
        is untouched.
    """
    target, st = _target(path, who)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"{who}: no such directory {directory!r} "
                                f"(for {path!r})")
    _remove_stale_temps(directory)
    tmp = os.path.join(directory, f"{_TMP_PREFIX}{_host()}-{os.getpid()}-"
                                  f"{secrets.token_hex(8)}.npz")
    # mode 0o666 with the umask applied: the mode a plain new file gets
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0), 0o666)
    except PermissionError as exc:
        raise PermissionError(errno.EACCES, f"{who}: cannot create a file in {directory!r} "
                              f"(for {path!r}): {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if st is not None:             # a plain write keeps the file's mode (and owner)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
