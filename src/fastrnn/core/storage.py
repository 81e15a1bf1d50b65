"""Parameter memory: a module's flat buffers and parameter version, traced and referenced.

* ``Storage``: one module's ``params``/``grads`` flat buffers and its
  ``version`` (``Module.param_version``), shared by the module, its named
  views, its shallow copies and the optimizers over it.
* ``param_storages``/``mark_written``: find the storage an array views (a
  registry keyed by buffer), so that a write through any view can bump the
  right version.
* ``array_ref``/``array_from_ref``: references to views that survive
  ``copy.deepcopy`` and ``pickle`` (they rebuild the view into the copied
  buffer instead of copying the view).
* ``shapes_only()``: build modules without memory, to read their shapes.
"""

import contextlib
import contextvars
import weakref

import numpy as np

__all__ = ["Storage", "ParamArray", "param_storages", "mark_written", "array_ref",
           "array_from_ref", "shapes_only", "shapes_only_active"]


# id(flat buffer) -> its Storage, so that an array can be traced back to the module memory
# it views (an optimizer over a plain dict of views still bumps the right versions).
_STORAGES = weakref.WeakValueDictionary()

# True while building modules only to read their parameter shapes (load's pre-check).
_SHAPES_ONLY = contextvars.ContextVar("fastrnn_shapes_only", default=False)


class Storage:
    """One module's parameter memory: ``params``, ``grads`` (flat buffers) and ``version``.

    Shared by the module, its two ``ParameterViews``, its shallow copies and the
    optimizers over it; a deep copy or an unpickled copy gets its own (pickled
    as its buffers and version). Both buffers own their memory, so every
    view's ``.base`` is the buffer itself.

    Parameters
    ----------
    params, grads : numpy.ndarray
        The (P,) flat buffers (copied if they do not own their memory).
    version : int
        The starting parameter version.
    placeholder : bool
        A shapes-only module's memory (zero-stride, never written or copied).
    """

    def __init__(self, params, grads, version=0, placeholder=False):
        self.placeholder = placeholder
        if not placeholder:
            params = params if params.base is None else params.copy()
            grads = grads if grads.base is None else grads.copy()
        self.params, self.grads, self.version = params, grads, int(version)
        # params_flat as users see it: writes through it (and its views) bump version
        self.params_view = params
        if not placeholder:
            self.params_view = params.view(ParamArray)
            self.params_view._storage = self
            _STORAGES[id(params)] = self
            _STORAGES[id(grads)] = self

    def __reduce__(self):
        if self.placeholder:
            raise TypeError("a shapes-only module (load's pre-check) has no memory to copy")
        return (Storage, (self.params, self.grads, self.version))


class ParamArray(np.ndarray):
    """A view into a module's parameter memory that counts its own writes.

    What ``layer.params[k]`` and ``layer.params_flat`` return. Any write
    through NumPy (item assignment, in-place operators such as ``-=``, a ufunc
    or function with ``out=`` it, ``np.copyto`` and the other functions that
    write into their first argument, ``fill``, ``sort``) bumps the module's
    ``param_version`` first, so packed copies of the weights (streams,
    inference) are never used stale, whichever reference the write went
    through. Views of it (slices, reshapes) count too; results of arithmetic
    on it are plain ndarrays. Writes that bypass NumPy (ctypes, a Cython
    memoryview, ``.view(np.ndarray)``) must call ``mark_params_changed()``.

    Attributes
    ----------
    _storage : Storage or None
        The memory whose ``version`` a write bumps (None: a detached copy).

    Examples
    --------
    >>> import fastrnn
    >>> layer = fastrnn.SRN(2, 3, seed=0)
    >>> w, v = layer.params["weight_hh_l0"], layer.param_version
    >>> w *= 0.5                       # through any reference
    >>> layer.param_version > v
    True
    """

    _storage = None

    def __array_finalize__(self, obj):
        self._storage = getattr(obj, "_storage", None)

    def _written(self):
        if self._storage is not None:
            self._storage.version += 1

    def __getitem__(self, key):
        item = super().__getitem__(key)
        if isinstance(item, ParamArray) and item.base is None:
            return item.view(np.ndarray)  # a copy (fancy indexing): no parameter any more
        return item

    def __setitem__(self, key, value):
        self._written()
        super().__setitem__(key, value)

    def fill(self, value):
        self._written()
        super().fill(value)

    def sort(self, *args, **kwargs):
        self._written()
        super().sort(*args, **kwargs)

    def put(self, *args, **kwargs):
        """``ndarray.put``, counted as a write.

        Parameters
        ----------
        *args, **kwargs
            As ``numpy.ndarray.put``.
        """
        self._written()
        super().put(*args, **kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        written = list(out or ()) + ([inputs[0]] if method == "at" else [])
        for a in written:
            if isinstance(a, ParamArray):
                a._written()
        plain = [x.view(np.ndarray) if isinstance(x, ParamArray) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, ParamArray) else o
                                  for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:  # in place: hand back the caller's own arrays
            return out[0] if len(out) == 1 else out
        return result

    def __array_function__(self, func, types, args, kwargs):
        target = kwargs.get("out")
        if target is None and func in _WRITES_FIRST_ARGUMENT and args:
            target = args[0]
        for a in target if isinstance(target, tuple) else (target,):
            if isinstance(a, ParamArray):
                a._written()
        return super().__array_function__(func, types, args, kwargs)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # results computed from a parameter are plain arrays, not parameters
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def __reduce__(self):  # pickled as the plain values it holds
        return np.asarray(self).copy().__reduce__()

    def copy(self, order="C"):
        """A plain ndarray copy (writing into it changes no parameter).

        Parameters
        ----------
        order : {"C", "F", "A", "K"}, default "C"

        Returns
        -------
        numpy.ndarray
        """
        return np.array(self.view(np.ndarray), order=order, copy=True)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


# NumPy functions that write into their first argument (np.copyto(dst, src), ...)
_WRITES_FIRST_ARGUMENT = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal,
                          np.put_along_axis}


def _storage_of(array):
    """``(storage, "params" | "grads")`` when ``array`` views module memory, else ``(None, None)``."""
    if not isinstance(array, np.ndarray):
        return None, None
    base = array  # the memory's owner (NumPy does not collapse a chain through a subclass)
    while isinstance(base.base, np.ndarray):
        base = base.base
    storage = _STORAGES.get(id(base))
    if storage is not None:
        if storage.params is base:
            return storage, "params"
        if storage.grads is base:
            return storage, "grads"
    return None, None


def param_storages(arrays):
    """The parameter memories that ``arrays`` view, for bumping their versions.

    Parameters
    ----------
    arrays : iterable of numpy.ndarray
        Arrays, some of which may be views into modules' ``params_flat``.

    Returns
    -------
    list
        The distinct storages (objects with an int ``version``), in order of
        first appearance; arrays that view no module's parameters add none.
    """
    found = {}
    for a in arrays:
        storage, which = _storage_of(a)
        if which == "params":
            found.setdefault(id(storage), storage)
    return list(found.values())


def mark_written(array):
    """Bump the ``param_version`` of the module whose parameter memory ``array`` views.

    Parameters
    ----------
    array : numpy.ndarray
        An array just written in place; nothing happens when it views no
        module's ``params_flat`` (a plain array, or a gradient).
    """
    storage, which = _storage_of(array)
    if which == "params":
        storage.version += 1


class _ViewRef:
    """A picklable stand-in for a view into module memory (see ``array_ref``)."""

    def __init__(self, storage, which, offset, shape, strides):
        self.storage, self.which = storage, which
        self.offset, self.shape, self.strides = offset, shape, strides

    def resolve(self):
        flat = getattr(self.storage, self.which)
        return np.ndarray(self.shape, dtype=flat.dtype, buffer=flat, offset=self.offset,
                          strides=self.strides)


def array_ref(array):
    """A picklable reference to ``array`` that keeps it tied to module memory across copies.

    Objects that keep views into module memory (optimizers) store these refs
    when copied or pickled: the ref carries the storage (which the copy of the
    module shares, through the copy's memo) instead of a copy of the view, and
    ``array_from_ref`` rebuilds the view into the copied buffer.

    Parameters
    ----------
    array : numpy.ndarray
        Any array.

    Returns
    -------
    numpy.ndarray or _ViewRef
        ``array`` itself when it views no module memory, else a reference
        (storage, buffer, byte offset, shape, strides).
    """
    storage, which = _storage_of(array)
    if storage is None:
        return array
    flat = getattr(storage, which)
    offset = array.__array_interface__["data"][0] - flat.__array_interface__["data"][0]
    return _ViewRef(storage, which, offset, array.shape, array.strides)


def array_from_ref(ref):
    """The inverse of ``array_ref``.

    Parameters
    ----------
    ref : numpy.ndarray or _ViewRef
        What ``array_ref`` returned (possibly copied or unpickled).

    Returns
    -------
    numpy.ndarray
        The array, or the view rebuilt into the (copied) storage's buffer.
    """
    return ref.resolve() if isinstance(ref, _ViewRef) else ref


def shapes_only_active():
    """Whether modules built now get no parameter memory.

    Returns
    -------
    bool
        True inside ``shapes_only()`` (in this thread or context).
    """
    return _SHAPES_ONLY.get()


@contextlib.contextmanager
def shapes_only():
    """A context in which modules are built without parameter memory, to read their shapes.

    Their flat buffers are zero-stride read-only placeholders and
    ``reset_parameters``/``fastrnn.init`` skip them; ``load`` uses this to
    compare a checkpoint's described model with its arrays before allocating.
    The setting is per thread (a ``contextvars.ContextVar``). Such a module
    cannot be copied or pickled (TypeError).

    Yields
    ------
    None

    Examples
    --------
    >>> import fastrnn
    >>> with shapes_only():
    ...     big = fastrnn.LSTM(3, 20000)          # no 3 GiB allocated
    >>> big.params["weight_hh_l0"].shape
    (80000, 20000)
    """
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)
