"""Where fastrnn keeps its compiled binding, per source layout, and how to call it.

The T=1 overhead benchmark (``overhead.py``) calls the binding directly, so it has
to know each layout's module and argument list:

=======  =========================  ==================================================
layout   binding module             which trees
=======  =========================  ==================================================
flat     ``fastrnn._ext``           up to commit 10b512f (``fastrnn._c_engine`` wraps it)
core     ``fastrnn.core._ext``      from the package restructure (issue 10) on
=======  =========================  ==================================================

The binding's argument list may change during the restructure: each layout has ONE
adapter function below (``_flat_forward``, ``_core_forward``) that turns prepared
arrays into a call. When the binding changes, edit only the ``core`` adapter (or add
a layout and teach ``detect`` to recognise it).
"""

import importlib
import importlib.util
from types import SimpleNamespace


def detect(fastrnn):
    """"core" (``fastrnn.core`` exists) or "flat" (the pre-restructure layout)."""
    if importlib.util.find_spec("fastrnn.core") is not None:
        return "core"
    return "flat"


def detect_src(src):
    """The layout of the fastrnn package under a ``src`` directory, without importing it
    (the rule of ``detect``: a ``fastrnn/core`` package is the "core" layout)."""
    import os
    return "core" if os.path.isdir(os.path.join(src, "fastrnn", "core")) else "flat"


def ext_module(fastrnn):
    """The compiled binding module of this fastrnn (ImportError if it is not built)."""
    return importlib.import_module(LAYOUTS[detect(fastrnn)].ext)


def prepared_arrays(cell, layer, x, state):
    """What the binding takes, from a one-layer fastrnn layer: C-contiguous arrays of the
    layer's dtype, the weights as the layer's own parameter views (no copies)."""
    p = layer.params
    names = [n for n in p if n.endswith("_l0")]
    get = {n.split("_l0")[0]: p[n] for n in names}
    h0 = state[0] if isinstance(state, tuple) else state
    return SimpleNamespace(cell=cell, x=x, h0=h0[0], c0=state[1][0] if cell == "lstm" else None,
                           W_ih=get["weight_ih"], W_hh=get["weight_hh"], b_ih=get["bias_ih"],
                           b_hh=get["bias_hh"], lengths=None)


def _flat_forward(ext, a, train):
    """fastrnn._ext at 10b512f: (x, h0[, c0], W_ih, W_hh, b_ih, b_hh, ...flags)."""
    if a.cell == "srn":
        nl = ext.NONLINEARITIES["tanh"]
        return lambda: ext.srn_forward(a.x, a.h0, a.W_ih, a.W_hh, a.b_ih, a.b_hh, nl,
                                       a.lengths, False, train, False)
    if a.cell == "lstm":
        return lambda: ext.lstm_forward(a.x, a.h0, a.c0, a.W_ih, a.W_hh, a.b_ih, a.b_hh,
                                        a.lengths, False, train)
    return lambda: ext.gru_forward(a.x, a.h0, a.W_ih, a.W_hh, a.b_ih, a.b_hh, a.lengths,
                                   False, True, train)


def _core_forward(ext, a, train):
    """fastrnn.core._ext: one ``forward(cell, x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths,
    reverse, train, ...)`` for every cell.

    THE place to update when the binding's arguments change."""
    return lambda: ext.forward(a.cell, a.x, a.h0, a.c0, a.W_ih, a.W_hh, a.b_ih, a.b_hh,
                               a.lengths, False, train)


Layout = SimpleNamespace
LAYOUTS = {
    "flat": Layout(ext="fastrnn._ext", binding_forward=_flat_forward),
    "core": Layout(ext="fastrnn.core._ext", binding_forward=_core_forward),
}


def binding_forward(fastrnn, cell, arrays, train):
    """A zero-argument call of this layout's ``<cell>_forward`` binding on ``arrays``."""
    layout = LAYOUTS[detect(fastrnn)]
    return layout.binding_forward(importlib.import_module(layout.ext), arrays, train)
