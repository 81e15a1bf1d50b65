"""Truncated backpropagation through time over a long stream.

Full BPTT over a stream of millions of steps needs the whole history in
memory; truncated BPTT (Williams & Peng 1990; Sutskever 2013's TBPTT(k1, k2))
trains it in windows instead. Every ``stride`` (k1) new steps, the model runs
forward over the last ``window`` (k2 >= k1) steps, the loss of the ``stride``
new steps is backpropagated through the whole window, and the caller updates
the parameters. The recurrent state is CARRIED from one window to the next as
a plain value: it starts the next window's forward, but no gradient flows
back through it (min-char-rnn's ``hprev``). With ``stride == window`` (the
default) the windows tile the stream, each step is run forward once, and the
state carried is the previous window's final state. With ``stride < window``
each window re-reads ``window - stride`` steps of context before its new
steps, so every gradient reaches ``window`` steps back; the state carried to
the next window start is then computed by a no-gradient forward
(``train=False``) over the ``stride`` steps that slide out of the window.

The model is anything with ``forward(x, state=None, train=True) -> (y,
state)``, ``backward(dy, dstate=None)`` and ``zero_grad()``: a layer, or a
``Sequential`` such as ``Sequential(Embedding(V, E), LSTM(E, H), Linear(H, V))``.
Typical use, min-char-rnn style (x, y: (T, N) token ids, y = x shifted by one)::

    tb = fastrnn.TruncatedBPTT(model, window=25)
    for w in tb.run(x, y):                  # one window per iteration
        fastrnn.clip_grad_norm(model.grads, 5.0)
        opt.step()                          # the next window sees the update
    state = tb.state                        # the state after the last window

``run`` zeroes the model's gradients before each window's backward
(``zero_grad=False`` to accumulate over windows yourself) and yields a
``Window(loss, start, stop, backprop_start, count)``: the mean loss of the
steps ``[start, stop)``, whose gradients are in ``model.grads``, backpropagated
from ``stop`` to ``backprop_start``, over ``count`` loss items.
"""

from collections import namedtuple

import numpy as np

from ..core import validation as V
from .losses import softmax_cross_entropy

__all__ = ["TruncatedBPTT", "Window"]

Window = namedtuple("Window", "loss start stop backprop_start count")


def _take(a, start, stop, axis):
    index = [slice(None)] * np.ndim(a)
    index[axis] = slice(start, stop)
    return a[tuple(index)]


class TruncatedBPTT:
    """Train ``model`` over a stream in windows (module doc).

    ``window`` (k2): steps backpropagated through per update; ``stride`` (k1,
    default ``window``, 1 <= stride <= window): new steps per update;
    ``loss``: ``loss(y, targets) -> (loss, dy)`` on the window's new steps
    (default ``softmax_cross_entropy``); ``time_axis``: 0 for time-major
    inputs (T, N, ...), 1 for batch-first ones.
    """

    def __init__(self, model, window, stride=None, loss=softmax_cross_entropy, time_axis=0,
                 zero_grad=True):
        for attr in ("forward", "backward", "zero_grad"):
            if not callable(getattr(model, attr, None)):
                raise TypeError(f"model: expected an object with forward, backward and "
                                f"zero_grad, got {type(model).__name__} (no {attr})")
        self.model = model
        self.window = V.check_positive_int("window", window)
        self.stride = self.window if stride is None else V.check_positive_int("stride", stride)
        if self.stride > self.window:
            raise ValueError(f"stride: expected 1 <= stride <= window = {self.window}, "
                             f"got {self.stride}")
        if not callable(loss):
            raise TypeError(f"loss: expected a callable loss(y, targets) -> (loss, dy), "
                            f"got {type(loss).__name__}")
        self.loss = loss
        if time_axis not in (0, 1):
            raise ValueError(f"time_axis: expected 0 (time-major) or 1 (batch-first), "
                             f"got {time_axis!r}")
        self.time_axis = time_axis
        self.zero_grad = V.check_bool("zero_grad", zero_grad)
        self.state = None

    def windows(self, T):
        """The (backprop_start, loss_start, stop) triples ``run`` visits for a stream of T steps."""
        T = V.check_positive_int("T", T)
        out = []
        for start in range(0, T, self.stride):
            stop = min(start + self.stride, T)
            out.append((max(0, stop - self.window), start, stop))
        return out

    def run(self, inputs, targets, state=None):
        """Generator: one forward/backward per window, yielding a ``Window`` after each.

        ``inputs`` and ``targets`` share the time axis (length T); ``state`` is
        the initial state (None = zeros). ``self.state`` is the state after
        the last processed window once each window is yielded.
        """
        ax = self.time_axis
        T = np.shape(inputs)[ax] if np.ndim(inputs) > ax else 0
        if np.ndim(targets) <= ax or np.shape(targets)[ax] != T or T < 1:
            raise ValueError(f"inputs, targets: expected the same number T >= 1 of steps along "
                             f"axis {ax}, got shapes {V.fmt_shape(np.shape(inputs))} and "
                             f"{V.fmt_shape(np.shape(targets))}")
        model = self.model
        carry, carry_at = state, 0           # the state at step carry_at, no gradient
        self.state = state
        plan = self.windows(T)
        for k, (b0, start, stop) in enumerate(plan):
            if b0 > carry_at:                 # slide the carry to this window's start
                _, carry = model.forward(_take(inputs, carry_at, b0, ax), state=carry,
                                         train=False)
                carry_at = b0
            y, final = model.forward(_take(inputs, b0, stop, ax), state=carry, train=True)
            n_new = stop - start
            y_new = _take(y, stop - b0 - n_new, stop - b0, ax)
            loss, dy_new = self.loss(y_new, _take(targets, start, stop, ax))
            if n_new == stop - b0:
                dy = dy_new
            else:
                dy = np.zeros_like(y)
                _take(dy, stop - b0 - n_new, stop - b0, ax)[...] = dy_new
            if self.zero_grad:
                model.zero_grad()
            model.backward(dy, None)          # no gradient into the carried state
            self.state = final
            next_b0 = plan[k + 1][0] if k + 1 < len(plan) else None
            if next_b0 == stop:
                carry, carry_at = final, stop
            elif next_b0 is not None and next_b0 > carry_at:
                # the next window starts inside this one: run its head again, without gradient,
                # with the same parameters this window used (before the caller's update)
                _, carry = model.forward(_take(inputs, carry_at, next_b0, ax), state=carry,
                                         train=False)
                carry_at = next_b0
            shape = np.shape(targets)
            count = int(np.prod(shape[:ax] + shape[ax + 1:])) * n_new
            yield Window(loss, start, stop, b0, count)

    __call__ = run
