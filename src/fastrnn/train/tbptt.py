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
Window.__doc__ = """One window of ``TruncatedBPTT.run``.

Attributes
----------
loss : float
    The mean loss of the window's new steps.
start, stop : int
    The new steps ``[start, stop)`` whose loss was backpropagated.
backprop_start : int
    The first step the gradient reached.
count : int
    The number of loss items (steps times the other target dimensions).
"""


def _take(a, start, stop, axis):
    index = [slice(None)] * np.ndim(a)
    index[axis] = slice(start, stop)
    return a[tuple(index)]


class TruncatedBPTT:
    """Train ``model`` over a long stream in windows of truncated BPTT (module doc).

    Parameters
    ----------
    model : layer, Sequential or model
        Anything with ``forward(x, state=None, train=True) -> (y, state)``,
        ``backward(dy, dstate=None)`` and ``zero_grad()``.
    window : int
        k2, the steps backpropagated through per update (>= 1).
    stride : int, optional
        k1, the new steps per update, 1 <= stride <= window (default: window).
    loss : callable, default softmax_cross_entropy
        ``loss(y, targets) -> (loss, dy)`` on the window's new steps.
    time_axis : {0, 1}, default 0
        0 for time-major inputs (T, N, ...), 1 for batch-first ones.
    zero_grad : bool, default True
        Zero the model's gradients before each window's backward (False:
        accumulate over windows yourself).

    Attributes
    ----------
    state
        The model's state after the last window processed (None before).

    Raises
    ------
    TypeError
        For a model without forward/backward/zero_grad, a non-callable loss, or
        non-int/non-bool arguments.
    ValueError
        For ``window`` or ``stride`` < 1, ``stride > window``, or another
        ``time_axis``.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> model = fastrnn.Sequential(fastrnn.Embedding(5, 4, seed=0), fastrnn.GRU(4, 8, seed=1),
    ...                            fastrnn.Linear(8, 5, seed=2))
    >>> opt = fastrnn.optim.SGD(model, lr=0.1)
    >>> stream = np.arange(41).reshape(41, 1) % 5               # (T, N) token ids, N = 1
    >>> x, y = stream[:-1], stream[1:]                          # predict the next token
    >>> tb = fastrnn.TruncatedBPTT(model, window=16, stride=8)
    >>> spans = []
    >>> for w in tb.run(x, y):                                  # 40 steps, 5 windows
    ...     _ = fastrnn.clip_grad_norm(model.grads, 5.0)
    ...     opt.step()
    ...     spans.append((w.backprop_start, w.start, w.stop))
    >>> spans == tb.windows(40)
    True
    >>> spans[-1], w.count, tb.state[0].shape                   # the GRU's state (1, N, 8)
    ((24, 32, 40), 8, (1, 1, 8))
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
        """The windows ``run`` visits for a stream of T steps.

        Parameters
        ----------
        T : int
            The stream's length (>= 1).

        Returns
        -------
        list of (int, int, int)
            ``(backprop_start, loss_start, stop)`` per window: the loss covers steps
            ``[loss_start, stop)`` and the gradient reaches back to ``backprop_start``.

        Raises
        ------
        TypeError, ValueError
            For ``T`` that is not a positive int.
        """
        T = V.check_positive_int("T", T)
        out = []
        for start in range(0, T, self.stride):
            stop = min(start + self.stride, T)
            out.append((max(0, stop - self.window), start, stop))
        return out

    def run(self, inputs, targets, state=None):
        """Process the stream, one forward/backward per window; a generator.

        After each window's backward the window is yielded with the gradients in
        ``model.grads``: step the optimizer (and clip) in the loop body, and the
        next window runs with the updated parameters. ``self.state`` is the state
        after the window just processed.

        Parameters
        ----------
        inputs : array-like
            The stream, T steps along ``time_axis`` (e.g. (T, N) token ids or
            (T, N, input_size) floats).
        targets : array-like
            What ``loss`` compares the outputs with, T steps along ``time_axis``
            (e.g. (T, N) class ids).
        state : optional
            The model's initial state (None: zeros).

        Yields
        ------
        Window
            ``(loss, start, stop, backprop_start, count)``: the mean loss of the
            steps ``[start, stop)``, backpropagated from ``stop`` to
            ``backprop_start``, over ``count`` loss items (for ``DataParallel``'s
            ``allreduce_grads(count=...)``).

        Raises
        ------
        ValueError
            When inputs and targets do not have the same number T >= 1 of steps.
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
