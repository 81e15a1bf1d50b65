"""min-char-rnn with fastrnn: Karpathy's character model, same algorithm, recurrence in fastrnn.

The original (the gist "min-char-rnn.py") trains a tanh SRN with 100 hidden
units on one-hot characters: weights N(0, 0.01^2) and zero biases, chunks of
25 characters carrying ``hprev`` from one to the next, the loss and the
gradients SUMMED over the 25 steps, each gradient clipped to [-5, 5], and
Adagrad ``param += -lr * g / sqrt(mem + 1e-8)`` with lr = 0.1; every 100
iterations it prints 200 sampled characters and the smoothed loss.

This file is that algorithm step for step. Only the recurrence changes hands:
``fastrnn.SRN`` runs the 25 steps forward and backpropagates through them;
the output layer, the softmax, the loss, the clipping and Adagrad stay in
NumPy as in the original. Each chunk is one-hot encoded on its own, a
(25, 1, V) array: the text is held as character ids. In float64 its losses
and parameters equal a plain NumPy transcription of the original to 1e-12 on
both engines (tests/test_min_char_rnn.py); docs/from_numpy.md shows the lines
that change.

    python examples/min_char_rnn.py [--steps 15000] [--text FILE] [--dtype float32]
                                    [--backend c|numpy] [--sample-every 100]
"""

import argparse
import os
import time
from collections import namedtuple

# small matrices: one BLAS thread is as fast as several, and much faster on a busy machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import fastrnn
from fastrnn.data import corpus

HIDDEN_SIZE, SEQ_LENGTH, LEARNING_RATE, CLIP = 100, 25, 1e-1, 5.0
NAMES = ("Wxh", "Whh", "bh", "Why", "by")       # the original's parameters, in its order


def init_params(vocab_size, hidden_size=HIDDEN_SIZE, rng=0):
    """The original's initial parameters ``{name: float64 array}``: Wxh, Whh, Why drawn in
    that order from ``numpy.random.default_rng(rng)`` times 0.01, bh and by zero (1-D here,
    (H, 1) and (V, 1) columns in the original)."""
    rng = np.random.default_rng(rng)            # a Generator is used as it is
    Wxh = rng.standard_normal((hidden_size, vocab_size)) * 0.01   # input to hidden
    Whh = rng.standard_normal((hidden_size, hidden_size)) * 0.01  # hidden to hidden
    Why = rng.standard_normal((vocab_size, hidden_size)) * 0.01   # hidden to output
    return {"Wxh": Wxh, "Whh": Whh, "bh": np.zeros(hidden_size),
            "Why": Why, "by": np.zeros(vocab_size)}


def one_hot(ids, vocab_size, dtype=np.float64):
    """The chunk ``ids`` (T,) one-hot encoded as fastrnn's input: shape (T, N=1, vocab_size)."""
    x = np.zeros((len(ids), 1, vocab_size), dtype=dtype)
    x[np.arange(len(ids)), 0, ids] = 1
    return x


class CharRNN:
    """The original's model: the recurrence a ``fastrnn.SRN``, the output layer NumPy arrays.

    Built from (copies of) the original's five arrays by its names, as ``init_params``
    gives them (the biases 1-D or the original's columns). The attribute ``params`` maps
    those names to the live arrays, views into the SRN's parameters for Wxh, Whh and bh,
    so an update in place trains the SRN.
    """

    def __init__(self, params, dtype=np.float64):
        self.hidden_size, self.vocab_size = params["Wxh"].shape
        self.dtype = np.dtype(dtype)
        # fastrnn's SRN is PyTorch's: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), two
        # biases where the original has one, bh. bh is bias_ih_l0; bias_hh_l0 is set to 0 here
        # and left out of the update (its gradient, always equal to bias_ih_l0's, is ignored),
        # so the pre-activation is exactly Wxh x + Whh h + bh (adding 0.0 changes nothing).
        # Training both would move the hidden bias twice as fast; bias=False would have no bh.
        self.rnn = fastrnn.SRN(self.vocab_size, self.hidden_size, nonlinearity="tanh",
                               dtype=self.dtype, seed=0)
        self.rnn.params["weight_ih_l0"] = params["Wxh"]
        self.rnn.params["weight_hh_l0"] = params["Whh"]
        self.rnn.params["bias_ih_l0"] = np.ravel(params["bh"])    # (H,) or the original's (H, 1)
        self.rnn.params["bias_hh_l0"] = np.zeros(self.hidden_size)
        self.Why = np.array(params["Why"], dtype=self.dtype)
        self.by = np.array(params["by"], dtype=self.dtype).ravel()
        p = self.rnn.params
        self.params = {"Wxh": p["weight_ih_l0"], "Whh": p["weight_hh_l0"], "bh": p["bias_ih_l0"],
                       "Why": self.Why, "by": self.by}

    def loss_fun(self, inputs, targets, hprev):
        """The original's lossFun over one chunk: ``(loss, grads, h)``.

        ``inputs``, ``targets``: (T,) character ids; ``hprev``: (1, 1, H).
        The loss is the SUM of the T steps' cross-entropies, ``grads`` the
        SUMMED gradients by the original's names, each clipped to [-5, 5] in
        place; ``h`` the last hidden state, (1, 1, H).
        """
        steps = np.arange(len(inputs))
        rnn = self.rnn
        rnn.zero_grad()                                   # backward adds into rnn.grads
        hs, h = rnn.forward(one_hot(inputs, self.vocab_size, self.dtype), state=hprev)
        hs = hs[:, 0]                                     # (T, H): the hidden states
        ys = hs @ self.Why.T + self.by                    # (T, V): unnormalized log probabilities
        ps = np.exp(ys - ys.max(axis=1, keepdims=True))   # softmax (shifted: the same numbers)
        ps /= ps.sum(axis=1, keepdims=True)
        loss = -np.log(ps[steps, targets]).sum()          # a sum over the steps, not a mean
        dy = ps.copy()
        dy[steps, targets] -= 1                           # d loss / d ys
        dWhy, dby = dy.T @ hs, dy.sum(axis=0)
        rnn.backward((dy @ self.Why)[:, None, :])         # BPTT through the chunk (no dhnext in)
        g = rnn.grads
        grads = {"Wxh": g["weight_ih_l0"], "Whh": g["weight_hh_l0"], "bh": g["bias_ih_l0"],
                 "Why": dWhy, "by": dby}
        for dparam in grads.values():
            np.clip(dparam, -CLIP, CLIP, out=dparam)      # mitigate exploding gradients
        return float(loss), grads, h

    def sample(self, h, seed_ix, n, rng):
        """``n`` character ids drawn from the model, from state ``h`` (1, 1, H) and first input
        ``seed_ix``; ``rng`` (a numpy Generator) draws them, as the original's np.random.choice."""
        x = np.zeros((1, 1, self.vocab_size), dtype=self.dtype)
        ixes = []
        for _ in range(n):
            x[...] = 0
            x[0, 0, seed_ix] = 1
            hs, h = self.rnn.forward(x, state=h, train=False)
            y = (self.Why @ hs[0, 0] + self.by).astype(np.float64)
            p = np.exp(y - y.max())
            seed_ix = int(rng.choice(self.vocab_size, p=p / p.sum()))
            ixes.append(seed_ix)
        return ixes


def adagrad(params, grads, mems, learning_rate=LEARNING_RATE):
    """The original's Adagrad, in place: ``mem += g*g; param += -lr * g / sqrt(mem + 1e-8)``."""
    for name in NAMES:
        param, dparam, mem = params[name], grads[name], mems[name]
        mem += dparam * dparam
        param += -learning_rate * dparam / np.sqrt(mem + 1e-8)


Result = namedtuple("Result", "losses smooth_loss model chars")


def train(text, iterations, hidden_size=HIDDEN_SIZE, seq_length=SEQ_LENGTH,
          learning_rate=LEARNING_RATE, seed=0, dtype=np.float64, sample_every=100,
          sample_length=200, log=print, callback=None):
    """The original's main loop for ``iterations`` iterations: a ``Result``.

    ``Result.losses`` holds each iteration's (summed) chunk loss,
    ``smooth_loss`` the original's smoothed loss, ``model`` the ``CharRNN``,
    ``chars`` the vocabulary (the text's characters, sorted). One numpy
    Generator seeded ``seed`` draws the initial parameters and then the
    samples, as the original's one global stream does. Every
    ``sample_every`` iterations (0: never) a sample of ``sample_length``
    characters and the smoothed loss go to ``log`` (None: nowhere);
    ``callback(n, loss, grads)`` (optional) sees each iteration's clipped
    gradients before the update.
    """
    chars = sorted(set(text))
    vocab_size = len(chars)
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    ids = np.fromiter((char_to_ix[ch] for ch in text), dtype=np.intp, count=len(text))
    log = log or (lambda *a: None)
    log(f"data has {len(text)} characters, {vocab_size} unique.")

    rng = np.random.default_rng(seed)
    model = CharRNN(init_params(vocab_size, hidden_size, rng), dtype)
    mems = {name: np.zeros_like(model.params[name]) for name in NAMES}  # Adagrad's memory
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length   # the loss at iteration 0
    losses, p, hprev = [], 0, None
    for n in range(iterations):
        if p + seq_length + 1 >= len(ids) or n == 0:
            hprev = np.zeros((1, 1, hidden_size), dtype=model.dtype)   # reset the memory
            p = 0                                                        # from the start
        inputs, targets = ids[p:p + seq_length], ids[p + 1:p + seq_length + 1]
        report = bool(sample_every) and n % sample_every == 0
        if report:
            txt = "".join(chars[ix] for ix in model.sample(hprev, inputs[0], sample_length, rng))
            log(f"----\n {txt} \n----")
        loss, grads, hprev = model.loss_fun(inputs, targets, hprev)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        losses.append(loss)
        if report:
            log(f"iter {n}, loss: {smooth_loss:f}")
        if callback is not None:
            callback(n, loss, grads)
        adagrad(model.params, grads, mems, learning_rate)
        p += seq_length
    return Result(losses, smooth_loss, model, chars)


def main(argv=None):
    """Train on a text (fastrnn's corpus by default); returns the smoothed loss per character."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15000, help="iterations (chunks) to train on")
    ap.add_argument("--text", default=None, help="a text file (default: fastrnn's corpus)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--backend", choices=["c", "numpy"], default=None,
                    help="fastrnn's engine (default: the current one)")
    ap.add_argument("--sample-every", type=int, default=100,
                    help="print a sample and the loss every N iterations (0: never)")
    args = ap.parse_args(argv)
    if args.backend:
        fastrnn.set_backend(args.backend)
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    else:
        text = corpus()
    t0 = time.perf_counter()
    result = train(text, args.steps, seed=args.seed, dtype=np.dtype(args.dtype),
                   sample_every=args.sample_every)
    ms = 1000 * (time.perf_counter() - t0) / max(args.steps, 1)
    per_char = result.smooth_loss / SEQ_LENGTH
    print(f"done, {args.steps} iterations: loss {result.smooth_loss:f} "
          f"({per_char:.3f} per character, "
          f"{ms:.2f} ms/iter, {fastrnn.get_backend()} engine, {args.dtype})")
    return per_char


if __name__ == "__main__":
    main()
