"""Variational dropout and zoneout inside the recurrence: the masks, their checks and draws.

Per recurrence (one layer, one direction), the masks are real arrays given
already scaled; the engines never draw random numbers, so a recurrence with
masks is a deterministic function of them (finite differences with the masks
fixed check its BPTT). ``Masks`` holds them; any field None is off, and a
recurrence without masks runs exactly the plain cell (no multiply by ones):

* ``x`` (N, I), input dropout (Gal & Ghahramani 2016, the mask fixed across
  time as in Keras): the input enters as ``x_t * x`` at every step; ``dW_ih``
  sees the masked input and ``dx`` is multiplied by the mask.
* ``h`` (N, H), recurrent dropout: ``h_{t-1} * h`` replaces ``h_{t-1}`` in every
  recurrent product, one mask for all gates (Keras's): the SRN's ``W_hh h``,
  the LSTM's four gates, the GRU's ``W_h{r,z} h`` and ``W_hn h`` (reset after)
  or ``W_hn (r * h)`` (reset before, Keras's ``reset_after=False``). The direct
  paths are not masked: the residual SRN's ``h_{t-1}``, the GRU's
  ``z * h_{t-1}``, the LSTM's ``c``.
* ``zone_h``, ``zone_c`` (T, N, H), zoneout keep weights by time (Krueger et
  al. 2016; LSTM and GRU, ``zone_c`` LSTM only): ``h_t = d*h_{t-1} +
  (1-d)*h~_t``, ``h~_t`` the cell's usual new state; the LSTM's ``c_t =
  d_c*c_{t-1} + (1-d_c)*c~_t`` with ``h~_t = o*tanh(c~_t)`` reading the
  UNzoned ``c~_t = f*c_{t-1} + i*g`` (the paper's form). Training passes 0/1
  weights (1 keeps the previous state), inference the expectation p.

The LSTM with a projection (``proj_size`` P, ``h_t = (o*tanh(c_t)) W_hr^T``)
takes every mask, the h-shaped ones P wide: ``h`` (N, P) multiplies the P-wide
``h_{t-1}`` in ``W_hh (h_{t-1} * h)``; ``zone_h`` (T, N, P) zones the projected
``h~_t = (o*tanh(c~_t)) W_hr^T`` (from the unzoned ``c~_t``); ``zone_c`` stays
(T, N, H). (The functional API takes no projection, so its masks are H wide.)

Rows past a sequence's end keep their state and output 0 whatever the masks.
``fastrnn.core.cells`` computes the steps, both engines take ``masks=``;
the layers draw the masks here (``layer_masks``) from their ``dropout_rng``,
and so the masks of PyTorch's ``dropout=`` between stacked layers
(``dropout_mask``): every random number of a layer comes from this module.
"""

from collections import namedtuple

import numpy as np

import warnings

from . import validation as V

__all__ = ["Masks", "check_masks", "mask_fields", "at_step", "check_zoneout",
           "check_layer_dropouts", "dropout_generator", "dropout_mask", "layer_masks", "draw",
           "expectation"]


class Masks(namedtuple("Masks", "x h zone_h zone_c", defaults=(None, None, None, None))):
    """Variational dropout masks and zoneout weights of one recurrence (a named tuple).

    Every field is None (off) or an array of the call's dtype, already scaled
    (the engines draw nothing); ``Masks()`` is the plain cell.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, I), optional
        Input dropout: the input enters as ``x_t * x`` at every step.
    h : numpy.ndarray, shape (N, H), optional
        Recurrent dropout: ``h_{t-1} * h`` in every recurrent product (one
        mask for all gates, as Keras; the direct paths are not masked).
        (N, P) for an LSTM with a projection (``proj_size`` P).
    zone_h, zone_c : numpy.ndarray, shape (T, N, H), optional
        Zoneout keep weights by time: ``h_t = d*h_{t-1} + (1-d)*h~_t``
        (LSTM and GRU), the LSTM's ``c`` likewise (``zone_c``); 0/1 when
        training, the expectation p for inference. With a projection
        ``zone_h`` is (T, N, P) (``zone_c`` stays (T, N, H)).

    Examples
    --------
    >>> Masks().is_empty(), Masks(h=np.ones((2, 3))).is_empty()
    (True, False)
    """

    __slots__ = ()

    def is_empty(self):
        """True when every field is None (the plain cell)."""
        return all(m is None for m in self)


def check_masks(kind, masks, T, N, I, H, dtype, private=False):
    """``masks`` checked against one recurrence: None when there are none.

    Parameters
    ----------
    kind : {"srn", "lstm", "gru"}
        The cell.
    masks : Masks, or None
    T, N, I, H : int
    dtype : numpy.dtype
        Every mask is cast to it.
    private : bool
        Read-only private copies (what a cache keeps).

    Returns
    -------
    Masks or None

    Raises
    ------
    TypeError
        For ``masks`` that is not a ``Masks``, or a non-float mask.
    ValueError
        For a mask of another shape, or zoneout on a cell without it
        (``zone_h`` on the SRN, ``zone_c`` on the SRN or the GRU).
    """
    if masks is None:
        return None
    if not isinstance(masks, Masks):
        raise TypeError(f"masks: expected a fastrnn.functional.Masks or None, "
                        f"got {type(masks).__name__}")
    if masks.zone_h is not None and kind == "srn":
        raise ValueError("masks.zone_h: zoneout is for the LSTM and GRU, not the SRN")
    if masks.zone_c is not None and kind != "lstm":
        raise ValueError(f"masks.zone_c: the cell-state zoneout is the LSTM's, "
                         f"not the {kind.upper()}'s")
    shapes = {"x": ((N, I), "(N, I)"), "h": ((N, H), "(N, H)"),
              "zone_h": ((T, N, H), "(T, N, H)"), "zone_c": ((T, N, H), "(T, N, H)")}
    out = {}
    for field, value in masks._asdict().items():
        if value is not None:
            value = V.as_float_array(f"masks.{field}", value, dtype, private=private)
            V.check_shape(f"masks.{field}", value, *shapes[field])
        out[field] = value
    checked = Masks(**out)
    return None if checked.is_empty() else checked


def mask_fields(masks):
    """The four arrays of ``masks``, each None when off.

    Parameters
    ----------
    masks : Masks or None

    Returns
    -------
    tuple
        ``(x, h, zone_h, zone_c)``; four None for None.
    """
    return (None, None, None, None) if masks is None else tuple(masks)


def at_step(seq, t):
    """One step of a sequence of zoneout weights.

    Parameters
    ----------
    seq : numpy.ndarray, shape (T, N, H), or None
    t : int

    Returns
    -------
    numpy.ndarray, shape (N, H), or None
        ``seq[t]``; None for None.
    """
    return None if seq is None else seq[t]


# --- the layers' masks --------------------------------------------------------------

def check_zoneout(kind, zoneout):
    """A layer's ``zoneout`` argument, checked: ``(as kept, (p_h, p_c))``.

    Parameters
    ----------
    kind : {"srn", "lstm", "gru"}
    zoneout : float, or a pair (zoneout_h, zoneout_c) for the LSTM
        Probabilities in [0, 1); the LSTM's float is both. The SRN has none (0).

    Returns
    -------
    kept : float or tuple of two floats
        What the layer keeps as its ``zoneout`` attribute.
    rates : tuple of two floats
        ``(p_h, p_c)``; ``p_c`` is 0 except for the LSTM.

    Raises
    ------
    TypeError
        For a non-real value, or a pair for the GRU.
    ValueError
        For a value outside [0, 1), or a pair of another length.
    """
    if kind == "lstm" and isinstance(zoneout, (tuple, list)):
        if len(zoneout) != 2:
            raise ValueError(f"zoneout: expected a float or a pair (zoneout_h, zoneout_c), "
                             f"got {len(zoneout)} values")
        pair = (V.check_probability("zoneout_h", zoneout[0]),
                V.check_probability("zoneout_c", zoneout[1]))
        return pair, pair
    p = V.check_probability("zoneout", zoneout)
    return p, (p, p if kind == "lstm" else 0.0)


def check_layer_dropouts(layer, dropout, input_dropout, recurrent_dropout, zoneout):
    """Check a layer's four dropout arguments and set them on ``layer``.

    Sets ``dropout``, ``input_dropout``, ``recurrent_dropout``, ``zoneout``
    (as given) and ``_zone`` (``(p_h, p_c)``, ``check_zoneout``). Warns, as
    PyTorch does, when ``dropout`` > 0 has no layer above to drop into.

    Parameters
    ----------
    layer : the recurrent layer being built
        Its ``_cell`` and ``num_layers`` are read.
    dropout, input_dropout, recurrent_dropout : float
        Probabilities in [0, 1).
    zoneout : float, or a pair for the LSTM
        As ``check_zoneout`` takes it.

    Raises
    ------
    TypeError, ValueError
        For a value that is not a probability in [0, 1).
    """
    layer.dropout = V.check_probability("dropout", dropout)
    if layer.dropout > 0 and layer.num_layers == 1:
        warnings.warn(f"dropout={layer.dropout} drops the outputs of every layer but the "
                      "last; with num_layers=1 it does nothing", UserWarning, stacklevel=4)
    layer.input_dropout = V.check_probability("input_dropout", input_dropout)
    layer.recurrent_dropout = V.check_probability("recurrent_dropout", recurrent_dropout)
    layer.zoneout, layer._zone = check_zoneout(layer._cell, zoneout)


def dropout_generator(seed):
    """The generator of a layer's dropout masks, from the constructor's ``seed``.

    An int, a sequence of ints or a SeedSequence gives a stream of its own,
    apart from the one that draws the initial parameters (so adding dropout
    to a layer does not change its initial parameters, and the masks do not
    repeat the parameters' draws); a Generator or BitGenerator is used as it
    is; None draws fresh entropy.

    Parameters
    ----------
    seed : None, int, sequence of ints, numpy.random.Generator, BitGenerator or SeedSequence
        As the layers' ``seed`` (checked by the caller).

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a, b = dropout_generator(7), dropout_generator(7)
    >>> bool(a.random() == b.random())
    True
    """
    if isinstance(seed, (np.random.Generator, np.random.BitGenerator)):
        return np.random.default_rng(seed)
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # a child of the seed's own sequence: the first child, whatever spawn() did before
    return np.random.default_rng(np.random.SeedSequence(sequence.entropy,
                                                        spawn_key=sequence.spawn_key + (1,)))


def dropout_mask(rng, p, shape, dtype):
    """An inverted-dropout mask: 0 with probability ``p``, else ``1/(1-p)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws one uniform per element.
    p : float
        The drop probability, in [0, 1).
    shape : tuple of int
        The mask's shape (the shape of what it multiplies).
    dtype : numpy.dtype
        The mask's dtype (the layer's).

    Returns
    -------
    numpy.ndarray
        Each element 0 or ``1/(1-p)`` (rounded once to ``dtype``), its mean 1
        in expectation.

    Examples
    --------
    >>> dropout_mask(np.random.default_rng(0), 0.5, (2, 3), np.float64).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 2.0]]
    """
    keep = rng.random(shape) >= p
    return keep.astype(dtype) / np.dtype(dtype).type(1 - p)


def layer_masks(layer, train, T, N, I):
    """The masks of every direction of one layer of ``layer`` (SRN, LSTM, GRU).

    A training forward draws, per direction in order, from ``layer.dropout_rng``
    (``draw``: the same seed gives the same masks on every engine); inference
    never drops and uses zoneout's expectation (``expectation``).

    Parameters
    ----------
    layer : the recurrent layer
        Its ``input_dropout``, ``recurrent_dropout``, ``_zone`` (the zoneout
        rates), ``dropout_rng``, ``hidden_size``, ``proj_size`` (the LSTM's:
        the h-shaped masks are then P wide), ``dtype``, ``num_directions``.
    train : bool
    T, N, I : int
        The steps, the sequences and this layer's input width.

    Returns
    -------
    list of Masks or None
        One per direction.
    """
    kind, H, D, P = layer._cell, layer.hidden_size, layer.num_directions, layer.proj_size
    if not any(layer._zone) and not (train and (layer.input_dropout or layer.recurrent_dropout)):
        return [None] * D  # the plain cell: nothing to make (a step's cost at small sizes)
    if not train:
        return [expectation(kind, T, N, H, layer.dtype, *layer._zone, proj_size=P)] * D
    return [draw(layer.dropout_rng, kind, T, N, I, H, layer.dtype, layer.input_dropout,
                 layer.recurrent_dropout, *layer._zone, proj_size=P) for _ in range(D)]


def draw(rng, kind, T, N, I, H, dtype, input_dropout=0.0, recurrent_dropout=0.0,
         zoneout_h=0.0, zoneout_c=0.0, proj_size=0):
    """The training masks of one recurrence, drawn from ``rng`` in a fixed order.

    Inverted dropout: ``x`` (N, I) and ``h`` (N, H) are Bernoulli(1-p)/(1-p),
    drawn once for all T steps (mean 1, so inference needs no rescaling);
    zoneout's keep weights (T, N, H) are Bernoulli(p), a new draw every step.
    With ``proj_size`` P > 0 (the projected LSTM) ``h`` is (N, P) and
    ``zone_h`` (T, N, P); ``zone_c`` stays (T, N, H).
    The order (x, h, zone_h, zone_c, each only when its rate is > 0) makes a
    seed give the same masks on every engine.

    Parameters
    ----------
    rng : numpy.random.Generator
    kind : {"srn", "lstm", "gru"}
    T, N, I, H : int
    dtype : numpy.dtype
    input_dropout, recurrent_dropout, zoneout_h, zoneout_c : float
        Checked rates (in [0, 1)); 0 draws nothing.
    proj_size : int
        The LSTM's projection P, the width of h; 0: none (h is H wide).

    Returns
    -------
    Masks or None
        None when every rate is 0.
    """
    def dropout(shape, p):
        return dropout_mask(rng, p, shape, dtype) if p > 0 else None

    def zone(p, width):
        return (rng.random((T, N, width)) < p).astype(dtype) if p > 0 else None

    Hs = proj_size or H  # the width of h
    masks = Masks(dropout((N, I), input_dropout), dropout((N, Hs), recurrent_dropout),
                  zone(zoneout_h, Hs), zone(zoneout_c, H) if kind == "lstm" else None)
    return None if masks.is_empty() else masks


def expectation(kind, T, N, H, dtype, zoneout_h=0.0, zoneout_c=0.0, proj_size=0):
    """Inference's masks: no dropout, zoneout's expected keep weight p everywhere.

    Parameters
    ----------
    kind : {"srn", "lstm", "gru"}
    T, N, H : int
    dtype : numpy.dtype
    zoneout_h, zoneout_c : float
    proj_size : int
        The LSTM's projection P: ``zone_h`` is then (T, N, P); 0: none.

    Returns
    -------
    Masks or None
        None without zoneout.
    """
    def full(p, width):
        return np.full((T, N, width), p, dtype=dtype) if p > 0 else None

    masks = Masks(zone_h=full(zoneout_h, proj_size or H),
                  zone_c=full(zoneout_c, H) if kind == "lstm" else None)
    return None if masks.is_empty() else masks
