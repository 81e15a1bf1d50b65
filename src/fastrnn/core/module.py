"""The parameter-holding base of every layer: one flat buffer, named views, PyTorch's state_dict.

Parameters live in one flat buffer ``params_flat`` and their gradients in
``grads_flat`` (same layout); ``params`` and ``grads`` are dicts of named views
into them, so an optimizer updating ``params[k]`` in place updates the layer and
global-norm clipping is one pass over ``grads_flat``.
"""

import numpy as np

from . import validation as V


def _is_torch_tensor(value):
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy")


class Module:
    """Base of every layer: a flat parameter buffer with named views.

    Subclasses call ``_allocate(shapes, dtype)`` with an ordered dict of
    ``name -> shape`` and then fill ``params``.
    """

    #: True for modules whose ``forward`` returns ``(y, state)``.
    recurrent = False

    def _allocate(self, shapes, dtype):
        self.dtype = V.check_dtype(dtype)
        self._shapes = {name: tuple(shape) for name, shape in shapes.items()}
        total = sum(int(np.prod(s)) for s in self._shapes.values())
        self.params_flat = np.empty(total, dtype=self.dtype)
        self.grads_flat = np.zeros(total, dtype=self.dtype)
        self.params = self._views(self.params_flat)
        self.grads = self._views(self.grads_flat)
        self._cache = None

    def _views(self, flat):
        views, offset = {}, 0
        for name, shape in self._shapes.items():
            size = int(np.prod(shape))
            views[name] = flat[offset:offset + size].reshape(shape)
            offset += size
        return views

    @property
    def num_parameters(self):
        """The number of scalar parameters."""
        return int(self.params_flat.size)

    def zero_grad(self):
        """Set every gradient to 0 (``backward`` accumulates)."""
        self.grads_flat[...] = 0

    def state_dict(self):
        """A dict of copies of the parameters, PyTorch's keys in PyTorch's order."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from array-likes (torch tensors too), cast to the module's dtype.

        Everything is checked before anything is written: a missing or
        unexpected key raises ``KeyError``, a wrong shape ``ValueError``, a
        non-float array ``TypeError``; then the module is unchanged.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        missing = [k for k in self._shapes if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._shapes]
        if missing or unexpected:
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {}
        for name, shape in self._shapes.items():
            value = state_dict[name]
            if _is_torch_tensor(value):
                value = value.detach().cpu().numpy()
            arr = V.as_float_array(f"state_dict[{name!r}]", value, self.dtype)
            V.check_shape(f"state_dict[{name!r}]", arr, shape)
            arrays[name] = arr
        for name, arr in arrays.items():
            self.params[name][...] = arr

    def _require_cache(self):
        if self._cache is None:
            raise V.no_cache_error(type(self).__name__)
        return self._cache

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)
