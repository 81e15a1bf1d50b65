"""min-char-rnn with fastrnn: Karpathy's 112-line character model, the loop kept, the maths replaced.

Karpathy's recipe (gist "min-char-rnn.py", 2015): a tanh SRN with 100 hidden
units over one-hot characters, weights N(0, 0.01^2) and zero biases,
truncated BPTT over windows of 25 characters carrying ``hprev`` between them,
gradients clipped to [-5, 5], Adagrad with learning rate 0.1. Here the
forward/backward is ``fastrnn.SRN`` + ``fastrnn.Linear``, the windows and the
carried state are ``fastrnn.TruncatedBPTT``, the clipping
``fastrnn.clip_grad_value`` and the update ``fastrnn.optim.Adagrad``.

    python examples/min_char_rnn.py [--steps 15000] [--text FILE]
"""

import argparse
import os
import time

# small matrices: one BLAS thread is as fast as several, and much faster on a busy machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import fastrnn
from fastrnn.data import corpus


def sample(model, h, seed_ix, n, vocab_size, rng):
    """n character ids sampled from the model, starting at seed_ix with state h."""
    x = np.zeros((1, 1, vocab_size))
    ixes = []
    for _ in range(n):
        x[...] = 0
        x[0, 0, seed_ix] = 1
        logits, (h,) = model.forward(x, state=[h], train=False)
        p = fastrnn.softmax(logits[0, 0])
        seed_ix = int(rng.choice(vocab_size, p=p))
        ixes.append(seed_ix)
    return ixes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15000, help="windows to train on")
    ap.add_argument("--text", default=None, help="a text file (default: fastrnn's corpus)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data = open(args.text, encoding="utf-8").read() if args.text else corpus()
    chars = sorted(set(data))
    vocab_size = len(chars)
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    print(f"data has {len(data)} characters, {vocab_size} unique.")

    hidden_size, seq_length, learning_rate = 100, 25, 1e-1
    rnn = fastrnn.SRN(vocab_size, hidden_size, nonlinearity="tanh", dtype=np.float64,
                      init={"weight_ih": lambda b, rng: fastrnn.init.normal_(b, std=0.01, rng=rng),
                            "weight_hh": lambda b, rng: fastrnn.init.normal_(b, std=0.01, rng=rng),
                            "bias": 0.0},
                      seed=args.seed)
    head = fastrnn.Linear(hidden_size, vocab_size, dtype=np.float64, seed=args.seed + 1)
    fastrnn.init.normal_(head.params["weight"], std=0.01, rng=args.seed + 2)
    head.params["bias"][...] = 0
    model = fastrnn.Sequential(rnn, head)

    # the whole text as one stream of one-hot vectors (T, N=1, V) and next-character targets
    ids = np.array([char_to_ix[ch] for ch in data])
    inputs = np.eye(vocab_size)[ids[:-1]][:, None, :]
    targets = ids[1:, None]

    opt = fastrnn.optim.Adagrad(model, lr=learning_rate, eps=1e-8)
    tb = fastrnn.TruncatedBPTT(model, window=seq_length)
    rng = np.random.default_rng(args.seed)
    smooth_loss = -np.log(1.0 / vocab_size)          # per character, at iteration 0
    n, t0 = 0, time.perf_counter()
    while n < args.steps:
        for w in tb.run(inputs, targets):             # hprev carried between windows
            fastrnn.clip_grad_value(model.grads, 5)   # mitigate exploding gradients
            opt.step()
            smooth_loss = smooth_loss * 0.999 + w.loss * 0.001
            n += 1
            if n % 3000 == 0 or n == args.steps:
                (h,) = tb.state
                txt = "".join(chars[i] for i in sample(model, h, ids[w.stop], 120,
                                                       vocab_size, rng))
                print(f"----\n {txt} \n----")
                print(f"iter {n}, loss per character: {smooth_loss:.3f} "
                      f"({1000 * (time.perf_counter() - t0) / n:.2f} ms/iter)")
            if n >= args.steps:
                break
    return smooth_loss


if __name__ == "__main__":
    main()
