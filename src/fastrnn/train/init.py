"""Weight initializers, applied per gate block of the stacked recurrent matrices.

A recurrent layer stacks its G gate blocks (LSTM i, f, g, o; GRU r, z, n; SRN
one) into ``weight_ih`` (G*H, I) and ``weight_hh`` (G*H, H). Each block is its
own (H, X) matrix, so every initializer here takes ``gates=G`` and treats the
G blocks separately: fans are those of one block (fan_in = X, fan_out = H),
each block of ``orthogonal_`` is orthogonal, each block of ``identity_`` is
the identity. With ``gates=1`` the functions are PyTorch's ``torch.nn.init``.

Every function works IN PLACE on a float array (a view such as
``layer.params["weight_hh_l0"]`` included), bumps the ``param_version`` of the
layer whose parameters it writes, and returns it; ``rng`` is a
``numpy.random.Generator``, an int seed, or None (fresh entropy), or anything
else ``numpy.random.default_rng`` takes. (The array initializers are defined
in ``fastrnn.train.initializers``; this module re-exports them.)

Building a layer with named initializers::

    fastrnn.LSTM(32, 64, init="keras")          # xavier W_ih, orthogonal W_hh, forget bias 1
    fastrnn.SRN(1, 100, nonlinearity="relu", init="irnn")   # Le et al. 2015
    fastrnn.GRU(8, 16, init={"weight_hh": "orthogonal", "bias": 0.0})

or, on an existing layer, ``fastrnn.init.initialize(layer, scheme, seed)``.
Schemes (strings):

* a matrix initializer name (``"xavier_uniform"``, ``"xavier_normal"``,
  ``"kaiming_uniform"``, ``"kaiming_normal"``, ``"orthogonal"``): both weight
  matrices per gate block, biases 0;
* ``"keras"``: ``weight_ih`` xavier (Glorot) uniform, ``weight_hh``
  orthogonal, biases 0 and, for an LSTM, forget-gate bias 1 (Jozefowicz et
  al. 2015);
* ``"irnn"`` (alias ``"identity"``): ``weight_hh`` = I per block, ``weight_ih``
  normal with std 0.001, biases 0 (Le, Jaitly & Hinton 2015; meant for
  ``SRN(nonlinearity="relu")``);
* ``"pytorch"``: nothing changed: the layer keeps its construction's
  PyTorch default, uniform(-1/sqrt(H), 1/sqrt(H)) everywhere (what
  ``init=None`` gives; ``layer.reset_parameters(seed)`` draws it anew).

A dict gives per-kind control: keys ``"weight_ih"``, ``"weight_hh"``,
``"bias"`` (both biases), ``"bias_ih"``, ``"bias_hh"`` with an initializer
name, a number (constant) or a callable ``f(block, rng)`` that fills an (H, X)
or (H,) block in place; and ``"forget_bias"`` (LSTM only) with a number.
Kinds left out keep their current values.

The LSTM's forget gate gets the bias ``b_ih + b_hh``; ``forget_bias=v`` sets
the forget block of ``bias_ih`` to v and that of ``bias_hh`` to 0, so the sum is v.
"""

import numbers
from collections.abc import Mapping

import numpy as np

from ..core.module import check_seed
from .initializers import (_blocks, _rng, calculate_gain, constant_, identity_,  # noqa: F401
                           kaiming_normal_, kaiming_uniform_, normal_, ones_, orthogonal_,
                           uniform_, xavier_normal_, xavier_uniform_, zeros_)

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_", "identity_", "lstm_forget_bias_", "initialize", "INITIALIZERS",
           "SCHEMES"]

from ..core.cells import GATES as _GATES  # noqa: E402
_FORGET_GATE = 1          # LSTM gate order i, f, g, o
_SEED_SALT = 0x696E6974   # "init": initialize(layer, seed=s) draws apart from the layer's seed s


def _salted(seed):
    """``initialize``'s own seed from a layer's: a stream apart from reset_parameters(seed)'s."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed), _SEED_SALT]
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, _SEED_SALT))
    if isinstance(seed, (list, tuple, np.ndarray)):
        return [*(int(v) for v in np.ravel(seed)), _SEED_SALT]
    return seed                        # None, or a Generator/BitGenerator that goes on



def lstm_forget_bias_(layer, value=1.0):
    """Set an LSTM layer's forget-gate bias to ``value`` (b_ih block = value, b_hh block = 0).

    Parameters
    ----------
    layer : LSTM
        Built with ``bias=True``; changed in place (its ``param_version`` grows).
    value : float
        The forget gate's total bias ``b_ih + b_hh``.

    Returns
    -------
    layer

    Raises
    ------
    ValueError
        For a layer that is not an LSTM, or has no bias.
    TypeError
        For a non-number ``value``.
    """
    if getattr(layer, "_cell", None) != "lstm":
        raise ValueError(f"forget_bias: expected an LSTM layer, got {type(layer).__name__}")
    if not getattr(layer, "bias", True):
        raise ValueError("forget_bias: the layer was built with bias=False")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"forget_bias: expected a number, got {type(value).__name__}")
    H = layer.hidden_size
    f = slice(_FORGET_GATE * H, (_FORGET_GATE + 1) * H)
    for name, p in layer.params.items():
        if name.startswith("bias_ih"):
            p[f] = value
        elif name.startswith("bias_hh"):
            p[f] = 0
    layer.mark_params_changed()
    return layer


# --- by name ---------------------------------------------------------------------

def _irnn_input(block, rng):
    block[...] = rng.normal(0.0, 0.001, size=block.shape)


INITIALIZERS = {
    "xavier_uniform": lambda b, rng: xavier_uniform_(b, rng=rng),
    "glorot_uniform": lambda b, rng: xavier_uniform_(b, rng=rng),
    "xavier_normal": lambda b, rng: xavier_normal_(b, rng=rng),
    "glorot_normal": lambda b, rng: xavier_normal_(b, rng=rng),
    "kaiming_uniform": lambda b, rng: kaiming_uniform_(b, rng=rng),
    "he_uniform": lambda b, rng: kaiming_uniform_(b, rng=rng),
    "kaiming_normal": lambda b, rng: kaiming_normal_(b, rng=rng),
    "he_normal": lambda b, rng: kaiming_normal_(b, rng=rng),
    "orthogonal": lambda b, rng: orthogonal_(b, rng=rng),
    "identity": lambda b, rng: identity_(b),
    "zeros": lambda b, rng: zeros_(b),
    "ones": lambda b, rng: ones_(b),
    "normal": lambda b, rng: normal_(b, rng=rng),
}
"""Initializers by name, each ``f(block, rng)`` filling one gate block in place."""

_MATRIX_SCHEMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                   "orthogonal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal")

SCHEMES = {
    "keras": {"weight_ih": "xavier_uniform", "weight_hh": "orthogonal", "bias": 0.0,
              "forget_bias": 1.0},
    "irnn": {"weight_ih": _irnn_input, "weight_hh": "identity", "bias": 0.0},
    "identity": {"weight_ih": _irnn_input, "weight_hh": "identity", "bias": 0.0},
    "pytorch": {},
}
SCHEMES.update({name: {"weight_ih": name, "weight_hh": name, "bias": 0.0}
                for name in _MATRIX_SCHEMES})

_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _resolve(scheme, cell):
    """A scheme as {kind: initializer or None, "forget_bias": value or None}."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ValueError(f"init: expected a scheme in {sorted(SCHEMES)} or a dict, "
                             f"got {scheme!r}")
        spec = dict(SCHEMES[scheme])
        if scheme == "keras" and cell != "lstm":
            spec.pop("forget_bias")
    elif isinstance(scheme, Mapping):
        spec = dict(scheme)
        allowed = set(_KINDS) | {"bias", "forget_bias"}
        unknown = sorted(str(k) for k in spec if k not in allowed)
        if unknown:
            raise ValueError(f"init: expected keys among {sorted(allowed)}, got {unknown}")
    else:
        raise TypeError(f"init: expected a scheme name or a dict, got {type(scheme).__name__}")
    if "bias" in spec:
        b = spec.pop("bias")
        spec.setdefault("bias_ih", b)
        spec.setdefault("bias_hh", b)
    out = {}
    for kind in _KINDS:
        f = spec.get(kind)
        if f is None:
            continue
        if isinstance(f, str):
            if f not in INITIALIZERS:
                raise ValueError(f"init[{kind!r}]: expected an initializer in "
                                 f"{sorted(INITIALIZERS)}, a number or a callable, got {f!r}")
            f = INITIALIZERS[f]
        elif isinstance(f, numbers.Real) and not isinstance(f, bool):
            f = (lambda v: lambda b, rng: constant_(b, v))(float(f))
        elif not callable(f):
            raise TypeError(f"init[{kind!r}]: expected an initializer name, a number or a "
                            f"callable, got {type(f).__name__}")
        out[kind] = f
    fb = spec.get("forget_bias")
    if fb is not None:
        if cell != "lstm":
            raise ValueError(f"init['forget_bias']: applies to LSTM layers only, got a "
                             f"{cell.upper()} layer")
        if isinstance(fb, bool) or not isinstance(fb, numbers.Real):
            raise TypeError(f"init['forget_bias']: expected a number, got {type(fb).__name__}")
    out["forget_bias"] = fb
    return out


def initialize(layer, scheme, seed=None):
    """Re-initialize a recurrent layer (SRN, LSTM, GRU) by scheme name or dict (module doc).

    Every gate block of every layer and direction is initialized separately.

    Parameters
    ----------
    layer : SRN, LSTM or GRU
        The layer, changed in place (its ``param_version`` grows).
    scheme : str or dict
        A name from ``SCHEMES`` or a per-kind dict (module doc).
    seed : None, int, sequence of ints, SeedSequence or numpy.random.Generator
        An int (or ints, or a SeedSequence) draws from a stream apart from the
        one ``reset_parameters(seed)`` draws; a Generator goes on.

    Returns
    -------
    layer

    Raises
    ------
    TypeError, ValueError
        For a bad layer, scheme or seed (naming it); the scheme is checked
        completely before any parameter changes.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> lstm = fastrnn.LSTM(3, 4, seed=0)
    >>> _ = fastrnn.init.initialize(lstm, "keras", seed=0)
    >>> lstm.params["bias_ih_l0"][4:8].tolist(), lstm.params["bias_hh_l0"][4:8].tolist()
    ([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
    >>> srn = fastrnn.SRN(2, 3, nonlinearity="relu", init="irnn", seed=0)
    >>> srn.params["weight_hh_l0"].tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    cell = getattr(layer, "_cell", None)
    if cell not in _GATES or not isinstance(getattr(layer, "params", None), Mapping):
        raise TypeError(f"layer: expected an SRN, LSTM or GRU layer, got {type(layer).__name__}")
    spec = _resolve(scheme, cell)
    if spec["forget_bias"] is not None and not getattr(layer, "bias", True):
        raise ValueError("init['forget_bias']: the layer was built with bias=False")
    if getattr(getattr(layer, "_storage", None), "placeholder", False):
        return layer                  # built only for its shapes (load's pre-check)
    rng = _rng(_salted(check_seed(seed)), "seed")
    G = _GATES[cell]
    new = {}
    for name, p in layer.params.items():
        kind = next((k for k in _KINDS if name.startswith(k)), None)
        f = spec.get(kind)
        if f is None:
            continue
        new[name] = p.copy()          # filled first, written only if every block succeeded
        for block in _blocks(new[name], G):
            f(block, rng)
    for name, value in new.items():
        layer.params[name] = value    # copies in and bumps param_version
    if spec["forget_bias"] is not None:
        lstm_forget_bias_(layer, spec["forget_bias"])
    return layer
