"""The compiled engine: the reference's engine contract, computed by the C kernels.

Same functions, signatures and semantics as ``fastrnn.core.reference`` (read
its module docstring for the contract); the callers (``fastrnn.functional``,
the layers) validate and prepare every argument. The work is in ``csrc/``
(see ``csrc/fastrnn.h``), reached through the Cython module
``fastrnn.core._ext``, which checks again everything the kernels rely on.

Training cache (``train=True``), per direction and layer, in bytes with
``b`` = 4 (float32) or 8 (float64); it also holds references (no copies) to
``x`` and the weights:

==========  ====================================================================
cell        cache bytes
==========  ====================================================================
SRN         ``b*(T+1)*N*H``            states ``hs``
SRN resid.  ``b*(2*T+1)*N*H``          ``hs`` + ``aux`` (f(z_t), T*N*H)
LSTM        ``b*(6*T+2)*N*H``          ``hs``, ``cs`` ((T+1)*N*H each) + gates i,f,g,o
GRU         ``b*(5*T+1)*N*H``          ``hs`` + gates r,z,n (3*T*N*H) + ``aux`` (T*N*H)
==========  ====================================================================

The backward allocates, for its duration, the pre-activation gradients
``b*T*N*G*H`` (GRU reset-after: ``+ b*T*N*H``) for the whole-sequence weight
products, plus O(N*H) scratch and packed copies of the weights
(``b*(G*H+64)*(H+I)`` at most). Inference (``train=False``) keeps no cache:
besides the output ``y`` it uses ``b*min(T, 32)*N*G*H`` for the input
projection (it runs 32 steps at a time) plus the packed weights and O(N*H),
whatever T is.
"""

from . import _ext

ENGINE_NAME = "c"


def srn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity="tanh", lengths=None,
                reverse=False, train=True, residual=False, packed=None):
    """h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh);  residual: h_t = h_{t-1} + f(...).

    ``packed`` (this engine only): the same weights as ``pack`` made them."""
    y, hT, _, cache = _ext.forward("srn", x, h0, None, W_ih, W_hh, b_ih, b_hh, lengths,
                                   reverse, train, nonlinearity, residual, packed=packed)
    return y, hT, cache


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                 train=True, packed=None):
    """LSTM, gates i, f, g, o: c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t)."""
    return _ext.forward("lstm", x, h0, c0, W_ih, W_hh, b_ih, b_hh, lengths, reverse, train,
                        packed=packed)


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh, lengths=None, reverse=False,
                reset_after=True, train=True, packed=None):
    """GRU, gates r, z, n: h_t = (1 - z)*n + z*h_{t-1} (both candidate forms)."""
    y, hT, _, cache = _ext.forward("gru", x, h0, None, W_ih, W_hh, b_ih, b_hh, lengths,
                                   reverse, train, reset_after=reset_after, packed=packed)
    return y, hT, cache


def isa():
    """The instruction set the kernels run with now (packed weights are made for it)."""
    return _ext.get_isa()


def pack(cell, W_ih, W_hh, b_ih, b_hh):
    """The forward weights of one recurrence packed once (reused while unchanged)."""
    return _ext.pack(cell, W_ih, W_hh, b_ih, b_hh)


def _backward(cache, dy, dhT, dcT, grads, trace):
    trace = trace or {}
    return _ext.backward(cache, dy, dhT, dcT, grads["dW_ih"], grads["dW_hh"], grads["db_ih"],
                         grads["db_hh"], trace.get("dh"), trace.get("dc"))


def srn_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the SRN; adds into ``grads``, returns fresh (dx, dh0)."""
    return _backward(cache, dy, dhT, None, grads, trace)[:2]


def lstm_backward(dy, dhT, dcT, cache, grads, trace=None):
    """BPTT for the LSTM; adds into ``grads``, returns fresh (dx, dh0, dc0)."""
    return _backward(cache, dy, dhT, dcT, grads, trace)


def gru_backward(dy, dhT, cache, grads, trace=None):
    """BPTT for the GRU in either form; adds into ``grads``, returns fresh (dx, dh0)."""
    return _backward(cache, dy, dhT, None, grads, trace)[:2]


# --- both directions of a bidirectional layer at once (an optional part of the engine
# contract: engines without it run the directions one after the other) ----------------

def _finals(cell, hT, cT):
    return [hT, cT] if cell.kind == "lstm" else [hT]


def forward_directions(cell, x, states, weights, lengths, train, packed=(None, None)):
    """The forward of both directions, concurrently on halves of the engine's threads.

    ``cell`` a ``functional.Cell``; ``states``, ``weights`` and ``packed`` per
    direction as ``functional.engine_forward`` takes them. Returns
    ``[(y, finals, cache)] * 2``.
    """
    outs = _ext.forward_directions(
        cell.kind, x, [(s[0], s[1] if len(s) > 1 else None) for s in states], weights,
        lengths, train, cell.nonlinearity, cell.residual, cell.reset_after, packed)
    return [(y, _finals(cell, hT, cT), cache) for y, hT, cT, cache in outs]


def backward_directions(cell, caches, dys, final_grads, grads, traces):
    """The backward of both directions, concurrently; returns ``[(dx, initial_grads)] * 2``."""
    traces = [t or {} for t in traces]
    outs = _ext.backward_directions(
        caches, dys, [(g[0], g[1] if len(g) > 1 else None) for g in final_grads],
        [(g["dW_ih"], g["dW_hh"], g["db_ih"], g["db_hh"]) for g in grads],
        [(t.get("dh"), t.get("dc")) for t in traces])
    return [(dx, _finals(cell, dh0, dc0)) for dx, dh0, dc0 in outs]
