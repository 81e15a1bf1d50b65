"""Train in fastrnn, export to ONNX, run in ONNX Runtime: a GRU classifier with variable lengths.

The task: which token of {0, 1, 2} occurs most in a sequence of 5 to 20
tokens. The model is trained with fastrnn, exported with the lengths as a
graph input, loaded into ONNX Runtime, and both are run on the same held-out
batch: the logits agree to float32 rounding and the predictions are equal.
The file is then loaded back into fastrnn with bit-identical parameters.

    pip install ".[onnx]" onnxruntime
    python examples/onnx_deploy.py [--steps 300] [--out classifier.onnx]
"""

import argparse
import os
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: one BLAS thread is best
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import fastrnn  # noqa: E402

VOCAB, MIN_LEN, MAX_LEN = 3, 5, 20


def make_batch(rng, n):
    """Token ids (n, MAX_LEN) padded with 0, lengths (n,), labels (n,): batch-first."""
    x = np.zeros((n, MAX_LEN), dtype=np.int64)
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        while True:
            seq = rng.integers(0, VOCAB, size=lengths[i])
            counts = np.bincount(seq, minlength=VOCAB)
            if (counts == counts.max()).sum() == 1:
                break
        x[i, :lengths[i]] = seq
        labels[i] = counts.argmax()
    return x, lengths, labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="where to write the .onnx (default: a temp dir)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    # 1. train in fastrnn (float32, batch-first, padded batches with lengths)
    model = fastrnn.SequenceClassifier(
        fastrnn.GRU(8, 32, batch_first=True, seed=args.seed), num_classes=VOCAB,
        embedding=fastrnn.Embedding(VOCAB, 8, seed=args.seed + 1), seed=args.seed + 2)
    opt = fastrnn.optim.Adam(model, lr=1e-2)
    for step in range(1, args.steps + 1):
        x, lengths, y = make_batch(rng, 64)
        loss, dlogits = fastrnn.softmax_cross_entropy(model.forward(x, lengths=lengths), y)
        model.zero_grad()
        model.backward(dlogits)
        fastrnn.clip_grad_norm(model.grads, 1.0)
        opt.step()
    x, lengths, y = make_batch(rng, 500)
    ours = model.forward(x, lengths=lengths, train=False)
    print(f"fastrnn: loss {loss:.3f}, held-out accuracy {(ours.argmax(1) == y).mean():.3f}")

    # 2. export: inputs x (N, T) int64 and lengths (N,) int64, output logits (N, 3)
    path = args.out or os.path.join(tempfile.mkdtemp(), "classifier.onnx")
    fastrnn.onnx.export(model, path, lengths=True)
    print(f"exported {path} ({os.path.getsize(path)} bytes)")

    # 3. run in ONNX Runtime
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"x": x, "lengths": lengths})
    diff = np.abs(theirs - ours).max()
    same = (theirs.argmax(1) == ours.argmax(1)).mean()
    print(f"ONNX Runtime: max |logits difference| {diff:.1e}, same predictions {same:.3f}")

    # 4. and back into fastrnn
    again = fastrnn.onnx.load(path)
    identical = all(np.array_equal(a, b) for a, b in zip(again.state_dict().values(),
                                                         model.state_dict().values()))
    print(f"loaded back: {type(again).__name__}, parameters bit-identical: {identical}")
    return diff, same, identical


if __name__ == "__main__":
    main()
