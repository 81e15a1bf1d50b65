"""Seq2seq: reverse strings of digits with an LSTM encoder-decoder, then decode greedily.

Sources are 3 to 7 digits (padded, with ``src_lengths``); the target is the
reversed string followed by an end token. Training uses teacher forcing and
a masked cross-entropy; evaluation decodes greedily to the end token and
counts exact matches.

    python examples/seq2seq_reverse.py [--steps 1000]
"""

import argparse
import os
import time

# small matrices: one BLAS thread is as fast as several, and much faster on a busy machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import fastrnn

DIGITS, START, END = 10, 10, 11          # tokens 0-9, then start and end
MIN_LEN, MAX_LEN = 3, 7


def make_batch(rng, n):
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
    src = np.zeros((MAX_LEN, n), dtype=np.int64)
    tgt = np.full((MAX_LEN + 1, n), END, dtype=np.int64)
    for i, L in enumerate(lengths):
        digits = rng.integers(0, DIGITS, size=L)
        src[:L, i] = digits
        tgt[:L, i] = digits[::-1]               # then END at position L
    return src, lengths, tgt, lengths + 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    dt, H = np.float32, args.hidden

    model = fastrnn.Seq2Seq(
        encoder=fastrnn.LSTM(16, H, dtype=dt, seed=args.seed),
        decoder=fastrnn.LSTM(16, H, dtype=dt, seed=args.seed + 1),
        num_classes=DIGITS + 2, start_token=START, end_token=END,
        src_embedding=fastrnn.Embedding(DIGITS, 16, dtype=dt, seed=args.seed + 2),
        seed=args.seed + 3)
    opt = fastrnn.optim.Adam(model, lr=5e-3)
    src_test, len_test, tgt_test, _ = make_batch(rng, 500)

    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        src, src_len, tgt, tgt_len = make_batch(rng, args.batch)
        logits = model.forward(src, tgt, src_lengths=src_len, tgt_lengths=tgt_len)
        mask = fastrnn.length_mask(tgt_len, tgt.shape[0])
        loss, dlogits = fastrnn.softmax_cross_entropy(logits, tgt, mask=mask)
        model.zero_grad()
        model.backward(dlogits)
        fastrnn.clip_grad_norm(model.grads, 1.0)
        opt.step()
        if step % 200 == 0 or step == args.steps:
            out = model.generate(src_test, max_len=MAX_LEN + 1, src_lengths=len_test)
            pad = np.full((MAX_LEN + 1 - out.shape[0], out.shape[1]), END)
            exact = (np.concatenate([out, pad]) == tgt_test).all(axis=0).mean()
            print(f"step {step}: loss {loss:.3f}, exact-match accuracy {exact:.3f} "
                  f"({1000 * (time.perf_counter() - t0) / step:.1f} ms/step)")
    i = 0
    print("example:", "".join(map(str, src_test[:len_test[i], i])), "->",
          "".join(map(str, out[:len_test[i], i])))
    return exact


if __name__ == "__main__":
    main()
