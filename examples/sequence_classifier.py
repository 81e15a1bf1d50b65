"""Sequence classification: which token is in the majority? (GRU, variable lengths, pool="last")

Each example is a sequence of 5 to 20 tokens from {0, 1, 2}; its class is
the token that occurs most often (ties are redrawn). The GRU reads the
padded batch with ``lengths`` and a linear head classifies its final state.

    python examples/sequence_classifier.py [--steps 400]
"""

import argparse
import os
import time

# small matrices: one BLAS thread is as fast as several, and much faster on a busy machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import fastrnn

VOCAB, MIN_LEN, MAX_LEN = 3, 5, 20


def make_batch(rng, n):
    """Token ids (MAX_LEN, n) padded with 0, lengths (n,), labels (n,)."""
    x = np.zeros((MAX_LEN, n), dtype=np.int64)
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        while True:
            seq = rng.integers(0, VOCAB, size=lengths[i])
            counts = np.bincount(seq, minlength=VOCAB)
            if (counts == counts.max()).sum() == 1:
                break
        x[:lengths[i], i] = seq
        labels[i] = counts.argmax()
    return x, lengths, labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    model = fastrnn.SequenceClassifier(
        fastrnn.GRU(8, 32, dtype=np.float64, seed=args.seed),
        num_classes=VOCAB, pool="last",
        embedding=fastrnn.Embedding(VOCAB, 8, dtype=np.float64, seed=args.seed + 1),
        seed=args.seed + 2)
    opt = fastrnn.optim.Adam(model, lr=1e-2)
    x_test, len_test, y_test = make_batch(rng, 1000)

    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, lengths, y = make_batch(rng, args.batch)
        logits = model.forward(x, lengths=lengths)
        loss, dlogits = fastrnn.softmax_cross_entropy(logits, y)
        model.zero_grad()
        model.backward(dlogits)
        fastrnn.clip_grad_norm(model.grads, 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps:
            acc = (model.predict(x_test, lengths=len_test) == y_test).mean()
            print(f"step {step}: loss {loss:.3f}, test accuracy {acc:.3f} "
                  f"({1000 * (time.perf_counter() - t0) / step:.1f} ms/step)")
    return acc


if __name__ == "__main__":
    main()
