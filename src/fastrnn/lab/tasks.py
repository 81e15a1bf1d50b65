"""The classic long-lag problems, generated from a seed, and the textbook's one-unit toy.

Every generator returns a :class:`Task` with time-major inputs ``x`` (T, N, I)
(``fastrnn``'s layers default to time-major), the targets, where the loss
goes, and the loss of the best input-blind predictor (``baseline``): a model
beats the baseline only if it carried information across the lag.

* :func:`adding_problem` (Hochreiter & Schmidhuber 1997): add the two marked
  numbers of a long sequence.
* :func:`copy_problem` (copy/memory; Hochreiter & Schmidhuber 1997, Arjovsky et
  al. 2016): read ``length`` symbols, wait ``delay`` steps, write them back.
  ``length=1`` is the plain memory task.
* :func:`latching_problem` and :func:`parity_problem` (Bengio, Simard & Frasconi
  1994): the class is set by the first few inputs and must be latched across
  ``T`` steps of noise; parity needs a nonlinear memory (XOR for 2 bits).
* :func:`linear_toy`: ``h_t = w h_{t-1}`` from ``h_0 = 1``, so ``h_T = w^T``
  and ``dh_T/dh_k = w^(T-k)``: ``1.01^1000 ~ 2.1e4`` (the cliff),
  ``0.99^1000 ~ 4.3e-5`` (the plateau).
"""

from dataclasses import dataclass, field

import numpy as np

from ..core import validation as V
from ..core import functional as F

__all__ = ["Task", "adding_problem", "copy_problem", "latching_problem", "parity_problem",
           "LinearToy", "linear_toy"]


@dataclass
class Task:
    """A generated batch of a long-lag problem.

    Parameters
    ----------
    name : str
    x : ndarray, shape (T, N, I)
        Inputs, time-major.
    y : ndarray, shape (N, O) or (T, N)
        Targets: (N, O) for a loss at the last step (``loss="last"``), (T, N)
        class indices for a loss at every step (``loss="every"``).
    kind : {"regression", "binary", "classification"}
        Mean squared error, logistic loss on 0/1 targets, or cross-entropy.
    loss : {"last", "every"}
    baseline : float
        The expected loss of the best predictor that ignores the inputs.
    info : dict
        Generator-specific arrays (marker positions, the symbols to copy, ...).
    """
    name: str
    x: np.ndarray
    y: np.ndarray
    kind: str
    loss: str
    baseline: float
    info: dict = field(default_factory=dict)

    @property
    def T(self):
        """Sequence length."""
        return self.x.shape[0]

    @property
    def N(self):
        """Number of sequences."""
        return self.x.shape[1]

    def batch_first(self):
        """``x`` as (N, T, I) (a copy), for a layer built with ``batch_first=True``."""
        return np.ascontiguousarray(self.x.swapaxes(0, 1))


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _float_dtype(dtype):
    return V.check_dtype(dtype)


def adding_problem(N, T, seed=None, dtype=np.float64):
    """The adding problem: ``x`` (T, N, 2), target (N, 1) the sum of the two marked values.

    Channel 0 holds values uniform in [0, 1); channel 1 marks two steps with 1.
    The first mark is uniform in the first half ``[0, T//2)`` and the second
    in the second half ``[T//2, T)``, so the first marked value must be kept
    for more than ``T/2`` steps (the lag is ``T - first``). Predicting the
    mean (1.0) gives the baseline mean squared error ``1/6 ~ 0.167``.

    Parameters
    ----------
    N : int
        Sequences.
    T : int
        Sequence length, at least 2.
    seed : int, sequence of int, numpy.random.Generator or None
        The random source (a Generator is drawn from and advanced).
    dtype : {float32, float64}, default float64

    Returns
    -------
    Task
        ``x`` (T, N, 2), ``y`` (N, 1); ``info``: ``first``, ``second`` (N,) the
        marked steps and ``lag`` (N,) = ``T - first``.

    Raises
    ------
    ValueError
        If ``T < 2`` or ``N < 1``.
    TypeError
        For a dtype other than float32/float64.

    Examples
    --------
    >>> task = adding_problem(4, 10, seed=0)
    >>> task.x.shape, task.y.shape, task.baseline == 1 / 6
    ((10, 4, 2), (4, 1), True)
    """
    N, T = V.check_positive_int("N", N), V.check_positive_int("T", T)
    if T < 2:
        raise ValueError(f"T: expected T >= 2 (two marks), got {T}")
    dtype, rng = _float_dtype(dtype), _rng(seed)
    values = rng.uniform(0.0, 1.0, size=(T, N))
    first = rng.integers(0, T // 2, size=N)
    second = rng.integers(T // 2, T, size=N)
    marks = np.zeros((T, N))
    cols = np.arange(N)
    marks[first, cols] = 1.0
    marks[second, cols] = 1.0
    x = np.stack([values, marks], axis=2).astype(dtype)
    y = (values[first, cols] + values[second, cols])[:, None].astype(dtype)
    return Task("adding", x, y, "regression", "last", 1.0 / 6.0,
                dict(first=first, second=second, lag=T - first))


def copy_problem(N, delay, length=10, n_symbols=8, seed=None, dtype=np.float64):
    """The copy (memory) problem: remember ``length`` symbols for ``delay`` steps.

    Sequence length ``T = delay + 2*length``. Inputs are one-hot over
    ``n_symbols + 2`` classes: 0 blank, ``1..n_symbols`` the symbols,
    ``n_symbols + 1`` the "now write" marker. Steps ``[0, length)`` show the
    symbols, then blanks, the marker at step ``delay + length - 1``, and blanks
    while the network must output the symbols at the last ``length`` steps.
    ``y`` (T, N) holds the target class at every step (blank except the last
    ``length``); the loss is cross-entropy at every step. Baseline (blanks,
    then a uniform guess): ``length * ln(n_symbols) / T``.

    Parameters
    ----------
    N : int
        Sequences.
    delay : int
        Steps between the last symbol shown and the first to write back.
    length : int, default 10
        Symbols to remember.
    n_symbols : int, default 8
    seed : int, sequence of int, numpy.random.Generator or None
        The random source (a Generator is drawn from and advanced).
    dtype : {float32, float64}, default float64

    Returns
    -------
    Task
        ``x`` (T, N, n_symbols + 2) one-hot, ``y`` (T, N) int classes; ``info``:
        ``symbols`` (length, N), ``inputs`` (T, N), ``recall_steps``, ``n_classes``.

    Raises
    ------
    ValueError
        If a size is not a positive int.
    """
    N = V.check_positive_int("N", N)
    delay = V.check_positive_int("delay", delay)
    length = V.check_positive_int("length", length)
    n_symbols = V.check_positive_int("n_symbols", n_symbols)
    dtype, rng = _float_dtype(dtype), _rng(seed)
    T = delay + 2 * length
    symbols = rng.integers(1, n_symbols + 1, size=(length, N))
    inputs = np.zeros((T, N), dtype=np.int64)
    inputs[:length] = symbols
    inputs[delay + length - 1] = n_symbols + 1
    x = np.eye(n_symbols + 2, dtype=dtype)[inputs]
    y = np.zeros((T, N), dtype=np.int64)
    y[T - length:] = symbols
    return Task("copy", x, y, "classification", "every", length * np.log(n_symbols) / T,
                dict(symbols=symbols, inputs=inputs, recall_steps=np.arange(T - length, T),
                     n_classes=n_symbols + 2))


def latching_problem(N, T, L=3, noise=0.2, seed=None, dtype=np.float64):
    """Bengio et al.'s latching problem: ``x`` (T, N, 1), binary target (N, 1).

    The class c in {0, 1} sets the first ``L`` inputs to ``2c - 1`` (+ noise);
    the other ``T - L`` inputs are Gaussian noise with std ``noise``. The
    network must latch the class for ``T - L`` steps. Baseline: ``ln 2``.

    Parameters
    ----------
    N, T : int
        Sequences and sequence length.
    L : int, default 3
        Steps carrying the class, ``L <= T``.
    noise : float, default 0.2
    seed : int, sequence of int, numpy.random.Generator or None
        The random source (a Generator is drawn from and advanced).
    dtype : {float32, float64}, default float64

    Returns
    -------
    Task
        ``x`` (T, N, 1), ``y`` (N, 1) in {0, 1}.

    Raises
    ------
    ValueError
        If ``L > T`` or a size is not a positive int.
    """
    N, T, L = (V.check_positive_int(n, v) for n, v in (("N", N), ("T", T), ("L", L)))
    if L > T:
        raise ValueError(f"L: expected L <= T = {T}, got {L}")
    dtype, rng = _float_dtype(dtype), _rng(seed)
    c = rng.integers(0, 2, size=N)
    x = noise * rng.standard_normal((T, N, 1))
    x[:L, :, 0] += (2 * c - 1)[None, :]
    return Task("latching", x.astype(dtype), c[:, None].astype(dtype), "binary", "last",
                float(np.log(2)), dict(L=L))


def parity_problem(N, T, n_bits=2, noise=0.2, seed=None, dtype=np.float64):
    """Parity across a lag: ``x`` (T, N, 1), binary target (N, 1).

    The first ``n_bits`` inputs are bits coded as -1/+1 (+ noise); the class is
    their parity (1 when the number of +1 is odd; XOR for two bits); the
    other ``T - n_bits`` inputs are Gaussian noise with std ``noise``.
    ``n_bits = T`` with ``noise=0`` is the parity of the whole sequence.
    Baseline: ``ln 2``.

    Parameters
    ----------
    N, T : int
        Sequences and sequence length.
    n_bits : int, default 2
        Bits whose parity is the class, ``n_bits <= T``.
    noise : float, default 0.2
    seed : int, sequence of int, numpy.random.Generator or None
        The random source (a Generator is drawn from and advanced).
    dtype : {float32, float64}, default float64

    Returns
    -------
    Task
        ``x`` (T, N, 1), ``y`` (N, 1) in {0, 1}; ``info``: ``bits`` (n_bits, N).

    Raises
    ------
    ValueError
        If ``n_bits > T`` or a size is not a positive int.
    """
    N, T = V.check_positive_int("N", N), V.check_positive_int("T", T)
    n_bits = V.check_positive_int("n_bits", n_bits)
    if n_bits > T:
        raise ValueError(f"n_bits: expected n_bits <= T = {T}, got {n_bits}")
    dtype, rng = _float_dtype(dtype), _rng(seed)
    bits = rng.integers(0, 2, size=(n_bits, N))
    x = noise * rng.standard_normal((T, N, 1))
    x[:n_bits, :, 0] += 2 * bits - 1
    y = bits.sum(axis=0) % 2
    return Task("parity", x.astype(dtype), y[:, None].astype(dtype), "binary", "last",
                float(np.log(2)), dict(bits=bits))


@dataclass
class LinearToy:
    """The one-unit linear recurrence ``h_t = w h_{t-1}`` from ``h_0 = 1``, as an SRN.

    The unit is an ``fastrnn`` SRN with ``relu`` (the identity on the positive
    states this toy visits), ``W_hh = [[w]]``, ``W_ih = [[1]]``, zero input and
    no bias, so any engine computes it. ``L = h_T`` gives ``dL/dh_k = w^(T-k)``
    for the state after step k-1 (time index k-1 of the trace), and
    ``dL/dh_0 = w^T``.

    Parameters
    ----------
    w : float
        The recurrent weight (> 0).
    T : int
        Steps.
    dtype : numpy dtype
    """
    w: float
    T: int
    dtype: np.dtype

    @property
    def x(self):
        """The (T, 1, 1) zero input."""
        return np.zeros((self.T, 1, 1), dtype=self.dtype)

    @property
    def h0(self):
        """The (1, 1) initial state, 1."""
        return np.ones((1, 1), dtype=self.dtype)

    @property
    def weights(self):
        """(W_ih, W_hh) for ``fastrnn.functional.srn_forward``."""
        return np.ones((1, 1), dtype=self.dtype), np.full((1, 1), self.w, dtype=self.dtype)

    def expected_final(self):
        """``h_T = w^T``."""
        return float(self.w) ** self.T

    def expected_flow(self):
        """(T,) ``dL/dh`` of the state written at step t: ``w^(T-1-t)``, indexed by time."""
        return float(self.w) ** (self.T - 1 - np.arange(self.T, dtype=np.float64))

    def run(self, backend=None):
        """Forward and backward of ``L = h_T`` on an engine.

        Parameters
        ----------
        backend : {"c", "numpy"}, optional
            The engine (default: the current one).

        Returns
        -------
        h_T : float
        flow : ndarray, shape (T,)
            ``dL/dh`` of the state written at each step, indexed by time.
        dL_dh0 : float
        """
        W_ih, W_hh = self.weights
        _, hT, cache = F.srn_forward(self.x, self.h0, W_ih, W_hh, nonlinearity="relu",
                                     backend=backend)
        res = F.srn_backward(None, np.ones((1, 1), dtype=self.dtype), cache, state_grads=True)
        return float(hT[0, 0]), res["dh_seq"][:, 0, 0].copy(), float(res["dh0"][0, 0])


def linear_toy(w, T=1000, dtype=np.float64):
    """The textbook's one-unit toy ``h_t = w h_{t-1}``, ``h_0 = 1``.

    Parameters
    ----------
    w : float
        The recurrent weight, positive and finite.
    T : int, default 1000
    dtype : {float32, float64}, default float64

    Returns
    -------
    LinearToy

    Raises
    ------
    ValueError
        If ``w`` is not positive and finite, or ``T`` not a positive int.

    Examples
    --------
    >>> round(linear_toy(1.01).expected_final(), 1), f"{linear_toy(0.99).expected_final():.3g}"
    (20959.2, '4.32e-05')
    """
    if not np.isfinite(w) or w <= 0:
        raise ValueError(f"w: expected a positive finite weight, got {w}")
    return LinearToy(float(w), V.check_positive_int("T", T), _float_dtype(dtype))
