"""The parameter-holding base of every layer: one flat buffer, named views, PyTorch's state_dict.

Parameters live in one flat buffer ``params_flat`` and their gradients in
``grads_flat`` (same layout); ``params`` and ``grads`` are mappings of named
views into them (``ParameterViews``), so an optimizer updating ``params[k]``
in place updates the layer and global-norm clipping is one pass over
``grads_flat``.

The views never detach: ``params[k] = value`` copies ``value`` into the
existing view (after the checks and casts of ``load_state_dict``), and so does
``params_flat = value``. Copies are whole: ``copy.deepcopy(layer)`` and
``pickle`` give an independent layer whose views alias its own buffers.

``Module.param_version`` counts the writes to parameter memory that the
library makes or sees: ``load_state_dict``, ``params[k] = ...``,
``params_flat = ...``, ``reset_parameters``, ``fastrnn.init``, every fastrnn
optimizer step, and every NumPy write into a parameter view (``params[k]`` and
``params_flat`` are ``storage.ParamArray``s, which count their writes, also
through a kept reference or a slice). A write past NumPy (ctypes, a Cython
memoryview, ``.view(np.ndarray)``) must be followed by
``mark_params_changed()``. Anything derived from the parameters (a packed copy
of the weights, say) is current while the version is unchanged.
"""

import functools
import inspect
import reprlib
from collections.abc import Mapping

import numpy as np

from . import validation as V
from .storage import Storage, shapes_only_active

__all__ = ["Module", "ParameterViews", "PrefixedViews", "check_seed"]


def _is_torch_tensor(value):
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy")


def coerce_parameter(label, value, shape, dtype):
    """``value`` (array-like or torch tensor) as a C-contiguous ``dtype`` array of ``shape``.

    The one check of an incoming parameter value, shared by ``load_state_dict``
    and ``params[k] = value``.

    Parameters
    ----------
    label : str
        How the value is named in messages (``"state_dict['weight']"``).
    value : array-like or torch.Tensor
        Real floats of any precision.
    shape : tuple of int
        The shape required.
    dtype : numpy.dtype
        The dtype it is cast to.

    Returns
    -------
    numpy.ndarray
        ``value`` cast (a new array when a cast or copy was needed).

    Raises
    ------
    TypeError
        For a non-float value.
    ValueError
        For another shape.
    """
    if _is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    arr = V.as_float_array(label, value, dtype)
    V.check_shape(label, arr, shape)
    return arr


def check_seed(seed, name="seed"):
    """Check a random seed the way the constructors take it, naming the argument on error.

    Parameters
    ----------
    seed : None, int, sequence of ints, numpy.random.Generator, BitGenerator or SeedSequence
        Anything ``numpy.random.default_rng`` accepts (ints must be >= 0).
    name : str
        The argument's name, for the message.

    Returns
    -------
    seed
        Unchanged (a Generator is not advanced).

    Raises
    ------
    TypeError
        For a seed of another type (a float, a string, ...).
    ValueError
        For a negative int.

    Examples
    --------
    >>> check_seed(3)
    3
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed: expected an int >= 0 (or a sequence of them), got -1
    """
    if seed is None or isinstance(seed, (np.random.Generator, np.random.BitGenerator,
                                         np.random.SeedSequence)):
        return seed
    try:
        np.random.default_rng(seed)
    except TypeError:
        raise TypeError(f"{name}: expected None, an int >= 0, a sequence of ints >= 0 or a "
                        f"numpy.random.Generator (or BitGenerator, SeedSequence), got "
                        f"{type(seed).__name__} {reprlib.repr(seed)}") from None
    except ValueError:
        raise ValueError(f"{name}: expected an int >= 0 (or a sequence of them), "
                         f"got {reprlib.repr(seed)}") from None
    return seed


# --- the named views ---------------------------------------------------------------

class ParameterViews(Mapping):
    """A module's ``params`` (or ``grads``): named views into one flat buffer.

    Reading gives the live view (``layer.params["weight_hh_l0"]``), so in-place
    updates reach the layer. Assignment never detaches a view: it copies the
    value into it after the checks and casts of ``load_state_dict``, and bumps
    the module's ``param_version`` (for ``params``). ``params[k] -= lr * g``
    assigns the view to itself, which only bumps the version. A pickled or
    copied mapping rebuilds its views into its (copied) storage.

    Parameters
    ----------
    storage : Storage
        The module's memory (flat buffers and version).
    which : {"params", "grads"}
        Which buffer the views are into.
    shapes : dict
        ``{name: shape}`` in buffer order.
    dtype : numpy.dtype
        The module's dtype (assigned values are cast to it).
    owner : str
        The module's class name, for messages.

    Raises
    ------
    KeyError
        Assigning an unknown name.
    TypeError
        Assigning a non-float value, or deleting a name.
    ValueError
        Assigning a value of another shape (nothing is written).
    """

    def __init__(self, storage, which, shapes, dtype, owner):
        self._storage, self._which, self._owner = storage, which, owner
        self._shapes, self._dtype = shapes, dtype
        # params: views of the ParamArray params_view, so writes bump param_version
        flat = storage.params_view if which == "params" else storage.grads
        views, offset = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape, dtype=np.int64))
            views[name] = flat[offset:offset + size].reshape(shape)
            offset += size
        self._views = views

    def __getitem__(self, name):
        return self._views[name]

    def __iter__(self):
        return iter(self._views)

    def __len__(self):
        return len(self._views)

    def __contains__(self, name):
        return name in self._views

    def __setitem__(self, name, value):
        view = self._views.get(name) if isinstance(name, str) else None
        if view is None:
            raise KeyError(f"{self._owner}.{self._which}[{name!r}]: unknown name; expected one "
                           f"of {list(self._views)}")
        if value is not view:  # (params[k] op= ... hands back the view, already written)
            arr = coerce_parameter(f"{self._owner}.{self._which}[{name!r}]", value, view.shape,
                                   self._dtype)
            view[...] = arr    # a parameter view bumps param_version itself

    def __delitem__(self, name):
        raise TypeError(f"{self._owner}.{self._which}: a parameter cannot be removed "
                        f"(del {self._which}[{name!r}])")

    def __reduce__(self):
        return (ParameterViews, (self._storage, self._which, self._shapes, self._dtype,
                                 self._owner))

    def __repr__(self):
        return f"{type(self).__name__}({self._views!r})"


class PrefixedViews(Mapping):
    """A container's ``params`` (or ``grads``): its modules' views under ``"<module>.<name>"``.

    Reading and assignment go to the module's own mapping, so assignment
    copies in, checks and bumps the module's ``param_version`` exactly as
    ``ParameterViews`` does.

    Parameters
    ----------
    modules : dict
        The ordered ``{name: module}`` of the container (live: modules
        registered later appear).
    which : {"params", "grads"}
        Which mapping of each module.

    Raises
    ------
    KeyError
        Assigning an unknown name.
    TypeError
        Deleting a name, or assigning a non-float value.
    ValueError
        Assigning a value of another shape.
    """

    def __init__(self, modules, which):
        self._modules, self._which = modules, which

    def _split(self, key):
        if isinstance(key, str) and "." in key:
            prefix, name = key.split(".", 1)
            module = self._modules.get(prefix)
            if module is not None and name in getattr(module, self._which):
                return getattr(module, self._which), name
        raise KeyError(key)

    def __getitem__(self, key):
        views, name = self._split(key)
        return views[name]

    def __iter__(self):
        for prefix, module in self._modules.items():
            for name in getattr(module, self._which):
                yield f"{prefix}.{name}"

    def __len__(self):
        return sum(len(getattr(m, self._which)) for m in self._modules.values())

    def __contains__(self, key):
        try:
            self._split(key)
        except KeyError:
            return False
        return True

    def __setitem__(self, key, value):
        try:
            views, name = self._split(key)
        except KeyError:
            raise KeyError(f"{self._which}[{key!r}]: unknown name; expected one of "
                           f"{list(self)}") from None
        views[name] = value

    def __delitem__(self, key):
        raise TypeError(f"{self._which}: a parameter cannot be removed (del {self._which}"
                        f"[{key!r}])")

    def __repr__(self):
        return f"{type(self).__name__}({dict(self.items())!r})"


# --- the base ----------------------------------------------------------------------

def _wrap_reset(reset):
    """``reset_parameters`` that checks ``seed``, skips shapes-only modules and bumps the version."""
    signature = inspect.signature(reset)
    takes_seed = "seed" in signature.parameters

    @functools.wraps(reset)
    def reset_parameters(self, *args, **kwargs):
        if takes_seed:
            check_seed(signature.bind(self, *args, **kwargs).arguments.get("seed"))
        if self._storage.placeholder:
            return None
        result = reset(self, *args, **kwargs)
        self._storage.version += 1
        return result

    reset_parameters._fastrnn_wrapped = True
    return reset_parameters


class Module:
    """Base of every layer: a flat parameter buffer with named views.

    Subclasses call ``_allocate(shapes, dtype)`` with an ordered dict of
    ``name -> shape`` and then fill the parameters (usually in
    ``reset_parameters``, whose every call checks its ``seed`` and bumps
    ``param_version``).

    Attributes
    ----------
    params, grads : ParameterViews
        Named live views into ``params_flat`` and ``grads_flat``.
    params_flat, grads_flat : numpy.ndarray
        (P,) buffers; assignment copies in.
    param_version : int
        Counts the writes to the parameters (read-only).
    num_parameters : int
        P, the number of scalar parameters.
    dtype : numpy.dtype
        float32 or float64.

    Notes
    -----
    ``copy.deepcopy`` and ``pickle`` give an independent, working module (its
    views alias its own buffers; the cache of the latest forward is not
    copied, so the copy's ``backward`` needs a ``forward`` of its own).
    ``copy.copy`` shares the buffers and the version with the original.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> layer = fastrnn.SRN(2, 3, seed=0)
    >>> list(layer.params)
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    >>> layer.num_parameters, layer.params_flat.shape
    (21, (21,))
    >>> bool(np.shares_memory(layer.params["weight_hh_l0"], layer.params_flat))
    True
    >>> layer.params["bias_hh_l0"] = [1.0, 2.0, 3.0]    # copied in, cast to float32
    >>> layer.params_flat[-3:].tolist()
    [1.0, 2.0, 3.0]
    """

    #: True for modules whose ``forward`` returns ``(y, state)``.
    recurrent = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every reset_parameters, the library's and a user subclass's alike, bumps the
        # parameter version and checks its seed without having to remember to.
        reset = cls.__dict__.get("reset_parameters")
        if callable(reset) and not getattr(reset, "_fastrnn_wrapped", False):
            cls.reset_parameters = _wrap_reset(reset)

    def _allocate(self, shapes, dtype):
        self.dtype = V.check_dtype(dtype)
        shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        total = sum(int(np.prod(s, dtype=object)) for s in shapes.values())
        owner = type(self).__name__
        if shapes_only_active():
            if total * self.dtype.itemsize >= 2**62:
                raise ValueError(f"{owner}: {total} parameters exceed the address space")
            flat = np.broadcast_to(np.zeros(1, dtype=self.dtype), (total,))
            storage = Storage(flat, flat, placeholder=True)
        else:
            nbytes = total * self.dtype.itemsize
            try:
                storage = Storage(np.empty(total, dtype=self.dtype),
                                   np.zeros(total, dtype=self.dtype))
            except (MemoryError, ValueError):
                raise MemoryError(f"{owner}: cannot allocate {total} parameters and as many "
                                  f"gradients ({2 * nbytes / 2**30:.1f} GiB of "
                                  f"{self.dtype.name})") from None
        self._shapes = shapes
        self._storage = storage
        self._params = ParameterViews(storage, "params", shapes, self.dtype, owner)
        self._grads = ParameterViews(storage, "grads", shapes, self.dtype, owner)
        self._cache = None

    # --- the parameter memory ----------------------------------------------------

    @property
    def params(self):
        """The parameters by name: ``ParameterViews`` of live views into ``params_flat``.

        ``params[k] = value`` copies ``value`` in (checked and cast like
        ``load_state_dict``); the mapping itself cannot be rebound.
        """
        return self._params

    @params.setter
    def params(self, value):
        raise AttributeError(f"{type(self).__name__}.params cannot be rebound (the views would "
                             "detach from params_flat); assign entries, params[k] = value, "
                             "or call load_state_dict")

    @property
    def grads(self):
        """The gradients by name: ``ParameterViews`` of live views into ``grads_flat``."""
        return self._grads

    @grads.setter
    def grads(self, value):
        raise AttributeError(f"{type(self).__name__}.grads cannot be rebound (the views would "
                             "detach from grads_flat); assign entries, grads[k] = value")

    @property
    def params_flat(self):
        """All parameters in one 1-d array (P,), the memory every ``params`` view shares.

        A ``ParamArray``: writes through it bump ``param_version``. Assigning
        ``params_flat = value`` copies a (P,) real float array in (cast to the
        module's dtype; ``ValueError`` for another shape, ``TypeError`` for a
        non-float).
        """
        return self._storage.params_view

    @params_flat.setter
    def params_flat(self, value):
        flat = self._storage.params_view
        if value is not flat:  # (params_flat op= ... hands back itself, already written)
            flat[...] = coerce_parameter(f"{type(self).__name__}.params_flat", value,
                                         flat.shape, self.dtype)

    @property
    def grads_flat(self):
        """All gradients in one 1-d array (P,), same layout as ``params_flat``.

        Assigning copies in, like ``params_flat``.
        """
        return self._storage.grads

    @grads_flat.setter
    def grads_flat(self, value):
        flat = self._storage.grads
        if value is not flat:
            flat[...] = coerce_parameter(f"{type(self).__name__}.grads_flat", value,
                                         flat.shape, self.dtype)

    @property
    def param_version(self):
        """An int that grows with every write to the parameters the library makes or sees.

        Bumped by ``load_state_dict``, ``params[k] = ...``, ``params_flat =
        ...``, ``reset_parameters``, ``fastrnn.init``, every fastrnn optimizer
        step and any NumPy write into a parameter view (``params[k] op= ...``,
        ``params[k][i, j] = ...``, ``np.copyto(params[k], ...)``, ...); not by
        clipping or ``backward`` (gradients only). Writes past NumPy must call
        ``mark_params_changed()``. A deep copy starts from the original's value
        and counts on its own.
        """
        return self._storage.version

    def mark_params_changed(self):
        """Declare that the parameters changed: call after writing into parameter memory any other way.

        For example after writing through ctypes, a Cython memoryview or
        ``layer.params_flat.view(np.ndarray)`` (NumPy writes into the parameter
        views count themselves). Bumps ``param_version``, so anything derived
        from the parameters is recomputed.

        Examples
        --------
        >>> import numpy as np, fastrnn
        >>> layer = fastrnn.SRN(2, 3, seed=0)
        >>> v = layer.param_version
        >>> layer.params_flat.view(np.ndarray)[0] = 1.0   # past NumPy's view of a parameter
        >>> layer.param_version == v
        True
        >>> layer.mark_params_changed()
        >>> layer.param_version > v
        True
        """
        self._storage.version += 1

    @property
    def num_parameters(self):
        """The number of scalar parameters."""
        return int(self._storage.params.size)

    def zero_grad(self):
        """Set every gradient to 0 (``backward`` accumulates); ``param_version`` is unchanged."""
        self._storage.grads[...] = 0

    def state_dict(self):
        """A dict of copies of the parameters, PyTorch's keys in PyTorch's order.

        Returns
        -------
        dict
            ``{name: numpy.ndarray}``, copies (later updates do not reach them).
        """
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from array-likes (torch tensors too), cast to the module's dtype.

        Parameters
        ----------
        state_dict : mapping
            ``{name: array-like}`` with exactly the names of ``params``, each
            of that parameter's shape; real floats of any precision.

        Raises
        ------
        KeyError
            A missing or unexpected name.
        ValueError
            A wrong shape.
        TypeError
            A non-mapping, or a non-float array.

        Notes
        -----
        Everything is checked before anything is written: after an error the
        module is unchanged. Bumps ``param_version``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        missing = [k for k in self._shapes if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._shapes]
        if missing or unexpected:
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {name: coerce_parameter(f"state_dict[{name!r}]", state_dict[name], shape,
                                         self.dtype)
                  for name, shape in self._shapes.items()}
        for name, arr in arrays.items():
            self._params[name][...] = arr
        self._storage.version += 1

    # --- copies ------------------------------------------------------------------

    def __getstate__(self):
        # Copies and pickles carry the parameters, not the cache of the latest forward
        # (large, and tied to the engine): a copy's backward needs a forward of its own.
        state = self.__dict__.copy()
        if "_cache" in state:
            state["_cache"] = None
        state.pop("_packed", None)  # packed weights: made again when needed
        return state

    def _require_cache(self):
        if self._cache is None:
            raise V.no_cache_error(type(self).__name__)
        return self._cache

    def __call__(self, *args, **kwargs):
        """``forward(*args, **kwargs)``."""
        return self.forward(*args, **kwargs)
