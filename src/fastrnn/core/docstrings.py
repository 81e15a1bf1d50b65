"""The text the docstrings of the public API share, written once, and the decorator that uses it.

``SRN``, ``LSTM`` and ``GRU`` share most of their documentation (the common
arguments, the attributes, the methods, the shapes of ``x``, ``y``,
``state`` and ``lengths``, the gradient rule, the constructor's errors), and
so do ``srn_forward``, ``lstm_forward`` and ``gru_forward`` (their arrays,
``lengths``, ``reverse``, ``train``, ``backend``, their errors) and the three
backward functions. Each object's own docstring holds only what is its own;
``complete_doc`` adds the shared text, so that ``help(fastrnn.LSTM)`` and
``help(fastrnn.functional.lstm_forward)`` show everything.
"""

import inspect
import re
import textwrap

__all__ = ["complete_doc"]

# --- the recurrent layers (fastrnn.core.layers) ---------------------------------------

_LAYER_PARAMETERS = """
input_size : int
    I: the features of each step of ``x`` (>= 1).
hidden_size : int
    H: the units of each direction's state (>= 1).
num_layers : int, default 1
    L: layers stacked; layer l > 0 reads the output of layer l - 1
    (D*H features).
bias : bool, default True
    False: no ``bias_ih_l*`` and ``bias_hh_l*`` parameters (the biases
    are 0).
batch_first : bool, default False
    ``x``, ``y`` and ``dy`` are (N, T, ...) instead of (T, N, ...); the
    state's layout does not change.
dropout : float, default 0.0
    PyTorch's ``dropout``: in training forwards (``train=True``), inverted
    dropout on the output of every layer but the last (each element
    zeroed with this probability, the others scaled by 1/(1-dropout));
    ``backward`` goes through the same masks. Inference never drops. The
    masks come from ``dropout_rng``; in [0, 1).
bidirectional : bool, default False
    Every layer also runs from the last step to the first (parameters
    named ``..._reverse``), its output after the forward direction's in
    ``y``: D = 2.
dtype : numpy.float32 or numpy.float64, default numpy.float32
    The dtype of the parameters, the gradients and every output; float
    inputs of another precision are cast to it.
seed : None, int, sequence of ints, numpy.random.Generator, BitGenerator or SeedSequence, optional
    The seed of the initial draw (and of ``init``): anything
    ``numpy.random.default_rng`` takes (ints >= 0); the same seed gives
    the same parameters. None draws fresh entropy.
input_dropout : float, default 0.0
    Variational input dropout (Gal & Ghahramani 2016, Keras's
    ``dropout``), in [0, 1): in training forwards each layer and direction
    draws one inverted-dropout mask of its input (N, layer input),
    ``Bernoulli(1-p)/(1-p)``, and applies it at every step, inside the
    recurrence (``x_t * mask`` feeds all gates: one mask shared by the
    gates, as Keras). Inference never drops.
recurrent_dropout : float, default 0.0
    Variational recurrent dropout (Keras's ``recurrent_dropout``), in
    [0, 1): one mask (N, H) per layer and direction and training forward,
    fixed across time, multiplies ``h_{t-1}`` wherever it enters a
    recurrent product (all gates; the GRU's ``z*h_{t-1}``, the residual
    SRN's ``h_{t-1}`` and the LSTM's ``c`` are not masked). Inference
    never drops. With the LSTM's ``proj_size`` P the mask is (N, P).
zoneout : float, or for the LSTM a pair (zoneout_h, zoneout_c), default 0.0
    Zoneout (Krueger et al. 2016; LSTM, GRU), in [0, 1) (the LSTM's float
    is both): in training forwards each unit keeps its previous state with
    this probability at every step, ``h_t = d*h_{t-1} + (1-d)*h~_t`` with
    ``h~_t`` the cell's usual new state, d drawn per step, layer and
    direction; the LSTM's ``c_t = d_c*c_{t-1} + (1-d_c)*c~_t`` and ``h~_t =
    o*tanh(c~_t)`` reads the unzoned ``c~_t = f*c_{t-1} + i*g`` (the
    paper's form); with ``proj_size`` P, ``h~_t = W_hr (o*tanh(c~_t))``
    and ``d_h`` is P wide. Inference uses the expectation (d = p
    everywhere, streams too). Not in PyTorch; ONNX export and
    ``to_keras`` refuse it.
init : None, str or dict, default None
    Named initializers applied per gate block after PyTorch's default
    draw (``fastrnn.init.initialize``): a scheme such as ``"keras"``,
    ``"orthogonal"``, ``"xavier_uniform"``, ``"irnn"``, or a dict per
    parameter kind (``"weight_ih"``, ``"weight_hh"``, ``"bias"``,
    ``"forget_bias"``, ...; see ``fastrnn.init``). None keeps PyTorch's
    default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)).
"""

_LAYER_SECTIONS = """Attributes
----------
params : ParameterViews
    The parameters by name, PyTorch's names in PyTorch's order: for each
    layer k and direction, ``weight_ih_l{k}`` (G*H, input_size for k = 0,
    else D*H), ``weight_hh_l{k}`` (G*H, H) and, with ``bias``,
    ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), suffixed ``_reverse`` for
    the reverse direction (``param_name``), the G gate blocks of H rows
    stacked in PyTorch's order. Live views into ``params_flat``
    (``ParamArray``): writing into them writes the layer, and
    ``params[k] = value`` copies ``value`` in (checked and cast).
grads : ParameterViews
    The gradients, same names and shapes, views into ``grads_flat``.
params_flat : ParamArray, shape (P,)
    Every parameter in one buffer, in the order of ``params``.
grads_flat : numpy.ndarray, shape (P,)
    Every gradient, same layout; ``backward`` adds into it.
param_version : int
    Grows with every write to the parameters the library makes or sees
    (``load_state_dict``, ``params[k] = ...``, NumPy writes through any
    view of the parameters, ``reset_parameters``, ``fastrnn.init``, the
    optimizers' steps; ``mark_params_changed()`` declares any other).
    The weights packed for inference and streams are made again when it
    changes, so they are never used stale.
num_directions : int
    D: 2 if ``bidirectional`` else 1.
dropout_rng : numpy.random.Generator
    Draws the dropout masks of training forwards: a stream of its own
    from ``seed`` (the same seed gives the same masks on either engine);
    assign another Generator to reseed. Per layer, each direction's
    ``input_dropout``, ``recurrent_dropout`` and zoneout masks in this
    order, then the ``dropout`` mask of the layer's output.
num_parameters : int
    P, the number of scalar parameters.
input_size, hidden_size, num_layers, bias, batch_first, bidirectional : int or bool
    The constructor's arguments, checked (so are the cell's options:
    ``nonlinearity`` and ``residual``, or ``reset_after``).
dtype : numpy.dtype
    float32 or float64.

Methods
-------
forward(x, state=None, lengths=None, train=True)
    Run whole sequences: ``(y, state)``; ``layer(x, ...)`` is the same.
backward(dy, dstate=None)
    BPTT through the latest forward: ``(dx, dstate0)``.
stream(batch_size=1, state=None)
    A ``fastrnn.Stream``: the forward one step (or chunk) at a time.
reset_parameters(seed=None)
    PyTorch's default draw again.
zero_grad()
    Set every gradient to 0.
state_dict(), load_state_dict(state_dict)
    Copies of the parameters by name, and the way back in (torch tensors
    accepted).
mark_params_changed()
    Declare a write into the parameters made around NumPy (ctypes, ...).

Raises
------
TypeError
    For a non-int size, a non-bool flag (``bias``, ``batch_first``,
    ``bidirectional``, ``residual``, ``reset_after``), a non-real
    ``dropout`` (``input_dropout``, ``recurrent_dropout``, ``zoneout``), a
    ``dtype`` other than float32 or float64, or a ``seed`` or ``init`` of
    another type.
ValueError
    For a size < 1, a ``dropout`` (or the others above) outside [0, 1), an unknown
    ``nonlinearity`` or ``init`` scheme (or dict key), a negative
    ``seed``, ``init={"forget_bias": ...}`` without ``bias``, or sizes
    past the C engine's 32-bit limits.
MemoryError
    When the parameters and their gradients cannot be allocated (the
    message gives the size).

Notes
-----
Shapes, with T steps, N sequences, L = ``num_layers``, D =
``num_directions``, H = ``hidden_size``:

* ``x``: (T, N, input_size), or (N, T, input_size) with ``batch_first``;
* ``y``: (T, N, D*H), or (N, T, D*H) with ``batch_first``: the top
  layer's output at every step, the forward direction's H features first;
* ``state``: (L*D, N, H) whatever ``batch_first`` is, index ``layer*D +
  direction``; the LSTM's is a tuple ``(h, c)`` of two such arrays; None
  means zeros;
* ``lengths``: optional ints (N,), ``1 <= lengths[n] <= T``: sequence n
  uses steps [0, lengths[n]), its outputs past the end are exactly 0, its
  final state is the one at its own last step and its reverse direction
  starts there (what ``pack_padded_sequence(..., enforce_sorted=False)``
  gives in PyTorch).

Gradients: ``backward`` ADDS the parameter gradients into ``grads``, so
successive calls accumulate until ``zero_grad()``, like PyTorch's
``.grad``; the input gradients it returns (``dx``, ``dstate0``) are fresh
arrays, never accumulated. A ``backward`` that raises (Ctrl-C included)
leaves ``grads`` as it was.
"""

# --- the functional API (fastrnn.core.functional) -------------------------------------

_FORWARD_PARAMETERS = """
x : array-like of float, shape (T, N, I)
    The inputs (T, N, I >= 1), cast to the weights' dtype. With
    ``lengths``, the steps past a sequence's end are never read (they may
    hold anything, NaN included).
h0 : array-like of float, shape (N, H), or None
    The initial hidden state; None means zeros.
c0 : array-like of float, shape (N, H), or None
    The initial cell state; None means zeros.
W_ih : array-like of float, shape (G*H, I)
    The input weights, gate blocks of H rows stacked in PyTorch's order.
    Its dtype, float32 or float64, is the call's: every other float
    argument is cast to it.
W_hh : array-like of float, shape (G*H, H)
    The recurrent weights (H is read from here).
b_ih, b_hh : array-like of float, shape (G*H,), or None, default None
    The biases, both or neither; None: no bias (the backward's ``db_ih``
    and ``db_hh`` are then None).
lengths : array-like of int, shape (N,), optional
    Sequence n uses steps [0, lengths[n]), ``1 <= lengths[n] <= T``: its
    outputs past the end are exactly 0 and its final state is the one
    after its own last step. None: every sequence uses all T steps.
reverse : bool, default False
    Run the time loop from step T-1 down to 0 (the reverse direction of a
    bidirectional layer); with ``lengths``, each sequence starts at its
    own last step.
train : bool, default True
    Keep a cache for the backward: private copies of ``x`` and
    ``lengths``, references to the weights, every step's states (and
    gates). False: inference, no cache.
backend : {"c", "numpy"}, optional
    The engine; None: the current one (``fastrnn.get_backend()``). The
    cache remembers it for the backward.
masks : Masks, optional
    Variational dropout and zoneout inside the recurrence, the masks given
    already scaled (the engines draw nothing; a field None is off, and
    None or all-None runs exactly the plain cell): ``x`` (N, I), the input
    enters as ``x_t * x`` at every step; ``h`` (N, H), ``h_{t-1} * h``
    replaces ``h_{t-1}`` in every recurrent product (all gates; the direct
    paths ``z*h_{t-1}``, the residual ``h_{t-1}`` and ``c`` are not
    masked); ``zone_h``, ``zone_c`` (T, N, H), zoneout keep weights by
    time (LSTM and GRU; ``zone_c`` LSTM only): ``h_t = d*h_{t-1} +
    (1-d)*h~_t``, the LSTM's ``h~_t = o*tanh(c~_t)`` reading the unzoned
    ``c~_t = f*c_{t-1} + i*g`` (Krueger et al. 2016). Cast to the
    weights' dtype; the cache keeps private copies for the backward.
"""

_FORWARD_SECTIONS = """
Raises
------
TypeError
    For an integer, bool, complex or object array, a ``W_ih`` of another
    float dtype than float32 or float64, ``lengths`` that are not
    integers, or a flag that is not a bool.
ValueError
    For an array of another shape than above, one bias given without the
    other, an unknown ``nonlinearity`` or ``backend``, ``lengths``
    outside [1, T], or sizes past the C engine's 32-bit limits (the
    message gives them).
ImportError
    For ``backend="c"`` when the compiled engine is not built.

Notes
-----
The arguments are never modified. The results are fresh arrays of the
weights' dtype, the same bits on every call (on the C engine for every
thread count too).
"""

_BACKWARD_PARAMETERS = """
dy : array-like of float, shape (T, N, H), or None
    dL/dy, the gradient reaching the outputs; None means zeros.
dhT : array-like of float, shape (N, H), or None
    dL/d(final hidden state); None means zeros.
dcT : array-like of float, shape (N, H), or None
    dL/d(final cell state); None means zeros.
cache : RNNCache
    The cache of the matching forward with ``train=True`` (it can be
    differentiated more than once).
out : dict of numpy.ndarray, optional
    Where to ADD the parameter gradients: keys ``"dW_ih"`` (G*H, I),
    ``"dW_hh"`` (G*H, H) and, when the forward had biases, ``"db_ih"``
    and ``"db_hh"`` (G*H,); each writeable, C-contiguous, of the cache's
    dtype. None: fresh zeros are added into.
state_grads : bool, default False
    Also return ``dh_seq`` (T, N, H), the total gradient ``dL/dh_t``
    reaching the state written at each step t, indexed by time (the
    gradient-flow diagnostic, computed inside the backward loop).
"""

_BACKWARD_SECTIONS = """
Raises
------
TypeError
    For a ``cache`` that is not an ``RNNCache``, a non-float ``dy``,
    ``dhT`` or ``dcT``, or a non-bool ``state_grads``.
ValueError
    For the cache of another cell's forward, an array of another shape,
    or an ``out`` array that is not writeable, C-contiguous, of the
    cache's dtype and of its shape.
KeyError
    For an ``out`` without ``"dW_ih"`` or ``"dW_hh"`` (or, when the
    forward had biases, ``"db_ih"`` or ``"db_hh"``).

Notes
-----
Gradient rule: the parameter gradients are ADDED into their arrays (those
of ``out``, which are returned, or fresh zeros), like PyTorch's ``.grad``;
``dx`` and ``dh0`` (``dc0``) are fresh arrays, overwritten, never
accumulated. The cache references the weights: updating them in place
between the forward and the backward changes the gradient.
"""

_SHARED = {"layer": (_LAYER_PARAMETERS, _LAYER_SECTIONS),
           "forward": (_FORWARD_PARAMETERS, _FORWARD_SECTIONS),
           "backward": (_BACKWARD_PARAMETERS, _BACKWARD_SECTIONS)}

# --- putting a docstring together ----------------------------------------------------

# numpydoc's order of sections
_ORDER = ("Parameters", "Attributes", "Methods", "Returns", "Yields", "Raises", "Warns",
          "See Also", "Notes", "References", "Examples")
# a section header: a title line, then a line of dashes
_HEADER = re.compile(r"^(\w[\w ]*)\n-+$", re.M)


def _sections(doc):
    """``(summary, [(title, body), ...])`` of a cleaned numpydoc docstring."""
    parts = _HEADER.split(doc)
    return parts[0].strip(), [(t, b.strip("\n")) for t, b in zip(parts[1::2], parts[2::2])]


def _entries(text):
    """``{"name" or "name1, name2": entry}`` of a Parameters section, each entry its
    "name : type" line and description, unindented."""
    entries, key = {}, None
    for line in textwrap.dedent(text).splitlines():
        if line and not line.startswith(" "):
            key = line.partition(" : ")[0]
            entries[key] = [line]
        elif key is not None and line.strip():
            entries[key].append(line)
    return {key: "\n".join(lines) for key, lines in entries.items()}


def complete_doc(kind):
    """A decorator completing a docstring with the shared text of ``kind``.

    The decorated object's own docstring holds its summary and description,
    a Parameters section with the arguments only it takes (if any), its own
    sections after Parameters (Returns, See Also) and its Examples. The
    completed docstring documents every argument of the signature (of
    ``__init__`` for a class) in order, the object's own entry where it has
    one and the shared one otherwise; the object's own sections and the
    shared ones (Attributes, Methods, Raises, Notes for the layers; Raises
    and Notes for the functional API) follow in numpydoc's order.

    Parameters
    ----------
    kind : {"layer", "forward", "backward"}
        Whose shared text: the recurrent layers', or the functional API's
        forward or backward functions'.

    Returns
    -------
    callable
        The decorator: it sets ``obj.__doc__`` and returns ``obj``.

    Raises
    ------
    KeyError
        For another ``kind``; and, when decorating, for an argument
        documented neither by the object nor by the shared text (a new
        argument without its documentation fails the import).
    ValueError
        When decorating an object whose docstring documents an argument its
        signature does not have, or has a section numpydoc does not know.

    Examples
    --------
    >>> @complete_doc("forward")
    ... def toy_forward(x, reverse=False):
    ...     \"""A toy.
    ...
    ...     Examples
    ...     --------
    ...     >>> 1 + 1
    ...     2
    ...     \"""
    >>> print("\\n".join(toy_forward.__doc__.splitlines()[2:5]))
    Parameters
    ----------
    x : array-like of float, shape (T, N, I)
    """
    shared_parameters, shared_sections = _SHARED[kind]
    shared = _entries(shared_parameters)

    def complete(obj):
        summary, sections = _sections(inspect.cleandoc(obj.__doc__ or ""))
        own = _entries(dict(sections).get("Parameters", ""))
        sections = [(t, b) for t, b in sections if t != "Parameters"]
        sections += _sections(inspect.cleandoc(shared_sections))[1]
        function = obj.__init__ if inspect.isclass(obj) else obj
        names = [n for n in inspect.signature(function).parameters if n not in ("self", "cls")]
        own_keys = {name: key for key in own for name in key.split(", ")}
        unknown = sorted(set(own_keys) - set(names))
        if unknown:
            raise ValueError(f"{obj.__qualname__}: documents {unknown}, not in its signature")
        keys = {name: key for key in shared for name in key.split(", ")}
        missing = [name for name in names if name not in own_keys and name not in keys]
        if missing:
            raise KeyError(f"{obj.__qualname__}: arguments {missing} are documented neither "
                           f"by its docstring nor by the shared text of {kind!r}")
        parameters, done = [], set()
        for name in names:  # "b_ih, b_hh" once, where b_ih is
            entry = own[own_keys[name]] if name in own_keys else shared[keys[name]]
            if entry not in done:
                done.add(entry)
                parameters.append(entry)
        sections.append(("Parameters", "\n".join(parameters)))
        sections.sort(key=lambda section: _ORDER.index(section[0]))
        obj.__doc__ = (summary + "".join(f"\n\n{t}\n{'-' * len(t)}\n{b}" for t, b in sections)
                       + "\n")
        return obj

    return complete
