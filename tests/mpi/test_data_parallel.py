"""DataParallel under mpiexec: equal to one process on the whole batch, bit-identical ranks.

Run by ``mpiexec -n K python -m pytest tests/mpi`` (K >= 1; CI uses 2 and 3).
Every rank builds the same global batch, trains its DataParallel replica on
its shard, and, in the same process, trains a reference replica alone on the
whole batch; after the steps the two agree within 1e-12 (float64) / 1e-6
(float32), and every rank's parameters and optimizer state have the same bytes.
"""

import hashlib

import numpy as np
import pytest

import fastrnn
from fastrnn import optim
from fastrnn.train.distributed import DataParallel

MPI = pytest.importorskip("mpi4py.MPI")
COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
TOL = {np.float32: 1e-6, np.float64: 1e-12}
STEPS = 3


def digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def opt_digest(opt):
    sd = opt.state_dict()
    return digest([a for k in sorted(sd["state"]) for _, a in sorted(sd["state"][k].items())]) \
        + f"/{sd['step_count']}"


def assert_same_on_every_rank(what, value):
    values = COMM.allgather(value)
    differ = [r for r, v in enumerate(values) if v != values[0]]
    assert not differ, f"{what}: ranks {differ} differ from rank 0"


# --- the cases: (build the model, make a global batch, shard it, one forward+backward) --------

def rng():
    return np.random.default_rng(7)


class LSTMRegression:
    """A bare 2-layer LSTM layer, MSE on its outputs."""
    weighted = False

    def build(self, seed, dtype):
        return fastrnn.LSTM(3, 5, num_layers=2, dtype=dtype, seed=seed)

    def batch(self, dtype, N):
        r = rng()
        return {"x": r.standard_normal((4, N, 3)).astype(dtype),
                "t": r.standard_normal((4, N, 5)).astype(dtype)}

    def shard(self, b, dp):
        return {"x": dp.shard(b["x"], axis=1), "t": dp.shard(b["t"], axis=1)}

    def backward(self, model, b):
        y, _ = model.forward(b["x"])
        loss, dy = fastrnn.mse(y, b["t"])
        model.backward(dy, None)
        return b["x"].shape[1]


class TaggerGRU:
    """SequenceTagger over a bidirectional batch-first GRU, padded: count = active tokens."""
    weighted = True

    def build(self, seed, dtype):
        return fastrnn.SequenceTagger(
            fastrnn.GRU(3, 4, bidirectional=True, batch_first=True, dtype=dtype, seed=seed),
            num_classes=3, seed=seed + 1)

    def batch(self, dtype, N):
        r = rng()
        return {"x": r.standard_normal((N, 5, 3)).astype(dtype),
                "lengths": r.integers(1, 6, N), "y": r.integers(0, 3, (N, 5))}

    def shard(self, b, dp):
        return {k: dp.shard(v, axis=0) for k, v in b.items()}

    def backward(self, model, b):
        mask = fastrnn.length_mask(b["lengths"], 5, batch_first=True)
        logits = model.forward(b["x"], lengths=b["lengths"])
        loss, d = fastrnn.softmax_cross_entropy(logits, b["y"], mask)
        model.backward(d)
        return int(mask.sum())


class ClassifierSRN:
    """SequenceClassifier (mean pool) over an SRN(relu) reading embedded token ids."""
    weighted = False

    def build(self, seed, dtype):
        return fastrnn.SequenceClassifier(
            fastrnn.SRN(3, 4, nonlinearity="relu", dtype=dtype, seed=seed), num_classes=3,
            pool="mean", embedding=fastrnn.Embedding(6, 3, dtype=dtype, seed=seed + 1),
            seed=seed + 2)

    def batch(self, dtype, N):
        r = rng()
        return {"x": r.integers(0, 6, (5, N)), "lengths": r.integers(1, 6, N),
                "y": r.integers(0, 3, N)}

    def shard(self, b, dp):
        return {"x": dp.shard(b["x"], axis=1), "lengths": dp.shard(b["lengths"], axis=0),
                "y": dp.shard(b["y"], axis=0)}

    def backward(self, model, b):
        logits = model.forward(b["x"], lengths=b["lengths"])
        loss, d = fastrnn.softmax_cross_entropy(logits, b["y"])
        model.backward(d)
        return len(b["y"])


class Seq2SeqLSTM:
    """Seq2Seq of two LSTMs with a source embedding, teacher forcing."""
    weighted = False

    def build(self, seed, dtype):
        return fastrnn.Seq2Seq(fastrnn.LSTM(3, 4, dtype=dtype, seed=seed),
                               fastrnn.LSTM(3, 4, dtype=dtype, seed=seed + 1), num_classes=5,
                               start_token=0, end_token=1,
                               src_embedding=fastrnn.Embedding(5, 3, dtype=dtype, seed=seed + 2),
                               seed=seed + 3)

    def batch(self, dtype, N):
        r = rng()
        return {"src": r.integers(0, 5, (4, N)), "tgt": r.integers(0, 5, (3, N))}

    def shard(self, b, dp):
        return {k: dp.shard(v, axis=1) for k, v in b.items()}

    def backward(self, model, b):
        logits = model.forward(b["src"], b["tgt"])
        loss, d = fastrnn.softmax_cross_entropy(logits, b["tgt"])
        model.backward(d)
        return b["tgt"].size


CASES = {"lstm": LSTMRegression(), "tagger": TaggerGRU(), "classifier": ClassifierSRN(),
         "seq2seq": Seq2SeqLSTM()}

OPTIMIZERS = {
    "sgd": lambda m: optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda m: optim.Adam(m, lr=1e-2, amsgrad=True),
    "adamw": lambda m: optim.AdamW(m, lr=1e-2, decay="weights"),
    "adagrad": lambda m: optim.Adagrad(m, lr=0.1, initial_accumulator_value=0.1),
    "rmsprop": lambda m: optim.RMSprop(m, lr=1e-2, momentum=0.5, centered=True),
}


def train(case, model, opt, batch, dp=None, count=None):
    for _ in range(STEPS):
        model.zero_grad()
        n = case.backward(model, batch)
        if dp is not None:
            dp.allreduce_grads(count=n if count else None)
        fastrnn.clip_grad_norm(model.grads, 1.0)
        opt.step()


def dp_and_reference(case, opt_name, dtype, N, count=None):
    """(DataParallel replica, optimizer, reference model, reference optimizer) after training."""
    batch = case.batch(dtype, N)
    ref = case.build(0, dtype)
    ref_opt = OPTIMIZERS[opt_name](ref)
    train(case, ref, ref_opt, batch)
    model = case.build(100 * RANK, dtype)        # differs off rank 0 until the broadcast
    opt = OPTIMIZERS[opt_name](model)
    dp = DataParallel(model, optimizer=opt)
    train(case, model, opt, case.shard(batch, dp), dp, count=count)
    return model, opt, ref


def assert_equal_to_reference(model, ref, dtype):
    tol = TOL[dtype]
    for k, p in ref.params.items():
        np.testing.assert_allclose(model.params[k], p, rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case_name", sorted(CASES))
def test_equals_one_process_on_the_whole_batch(case_name, opt_name, dtype):
    case = CASES[case_name]
    model, opt, ref = dp_and_reference(case, opt_name, dtype, N=4 * SIZE,
                                       count=case.weighted)
    assert_equal_to_reference(model, ref, dtype)
    assert_same_on_every_rank("parameters", digest(model.params.values()))
    assert_same_on_every_rank("optimizer state", opt_digest(opt))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_truncated_bptt_over_sharded_streams(dtype):
    """Each rank carries the state of its own streams; the updates equal one process's."""
    V = 5

    def build(seed):
        return fastrnn.Sequential(fastrnn.Embedding(V, 4, dtype=dtype, seed=seed),
                                  fastrnn.LSTM(4, 6, dtype=dtype, seed=seed + 1),
                                  fastrnn.Linear(6, V, dtype=dtype, seed=seed + 2))

    ids = rng().integers(0, V, (10, 3 * SIZE))
    x, y = ids[:-1], ids[1:]

    def run(model, opt, x, y, dp=None):
        tb = fastrnn.TruncatedBPTT(model, window=4, stride=2)
        for w in tb.run(x, y):
            if dp is not None:
                dp.allreduce_grads(count=w.count)
            fastrnn.clip_grad_norm(model.grads, 1.0)
            opt.step()

    ref = build(0)
    run(ref, optim.Adam(ref, lr=1e-2), x, y)
    model = build(10 * RANK)
    opt = optim.Adam(model, lr=1e-2)
    dp = DataParallel(model, optimizer=opt)
    run(model, opt, dp.shard(x, axis=1), dp.shard(y, axis=1), dp)
    assert_equal_to_reference(model, ref, dtype)
    assert_same_on_every_rank("parameters", digest(model.params.values()))


def test_unequal_shards_need_the_count():
    """N = 2*SIZE + 1: weights count_r / N give the global mean; a plain average does not."""
    case, dtype = CASES["classifier"], np.float64
    model, _, ref = dp_and_reference(case, "sgd", dtype, N=2 * SIZE + 1, count=True)
    assert_equal_to_reference(model, ref, dtype)
    assert_same_on_every_rank("parameters", digest(model.params.values()))
    if SIZE > 1:
        plain, _, ref = dp_and_reference(case, "sgd", dtype, N=2 * SIZE + 1, count=False)
        assert not np.allclose(plain.params_flat if hasattr(plain, "params_flat")
                               else np.concatenate([p.ravel() for p in plain.params.values()]),
                               np.concatenate([p.ravel() for p in ref.params.values()]),
                               rtol=1e-9, atol=1e-9)


def test_rerun_is_bit_identical():
    runs = [dp_and_reference(CASES["tagger"], "adam", np.float32, N=3 * SIZE, count=True)[0]
            for _ in range(2)]
    assert digest(runs[0].params.values()) == digest(runs[1].params.values())


def test_broadcast_copies_rank0_parameters_and_optimizer_state():
    model = fastrnn.GRU(3, 4, dtype=np.float64, seed=RANK)
    opt = optim.Adam(model, lr=1e-2)
    if RANK == 0:                                  # rank 0 alone has trained one step
        model.grads_flat[...] = 1.0
        opt.step()
        model.zero_grad()
    expected = COMM.bcast((digest([model.params_flat]), opt_digest(opt)), root=0)
    DataParallel(model, optimizer=opt)
    assert (digest([model.params_flat]), opt_digest(opt)) == expected
    assert opt.step_count == 1


def test_grads_averaged_in_rank_order():
    """Rank r holds g_r = (r + 1) * base: every rank gets ((g_0 + g_1) + ...) / SIZE exactly.

    Buffers of 20, 6 and 1 values: with 3 ranks, a chunked body and a tail, a
    body alone, a tail alone (fewer values than ranks).
    """
    model = fastrnn.Sequential(fastrnn.Linear(3, 5, seed=0), fastrnn.Linear(5, 1, seed=1),
                               fastrnn.Linear(1, 1, bias=False, seed=2))
    dp = DataParallel(model)
    base = [np.linspace(-1, 1, m.grads_flat.size, dtype=np.float32) / 3 for m in model.layers]
    for m, b in zip(model.layers, base):
        m.grads_flat[...] = (RANK + 1) * b
    dp.allreduce_grads()
    for m, b in zip(model.layers, base):
        expected = (1 * b).copy()
        for r in range(1, SIZE):
            expected += (r + 1) * b
        expected /= np.float32(SIZE)
        assert m.grads_flat.tobytes() == expected.tobytes()


def test_count_on_some_ranks_only_raises_everywhere():
    model = fastrnn.Linear(2, 2, dtype=np.float64, seed=0)
    dp = DataParallel(model)
    if SIZE == 1:
        pytest.skip("needs two ranks")   # every rank skips alike: SIZE is global
    with pytest.raises(ValueError, match="on every rank or on none"):
        dp.allreduce_grads(count=1 if RANK == 0 else None)


def test_different_models_raise_on_every_rank():
    if SIZE == 1:
        pytest.skip("needs two ranks")
    model = fastrnn.LSTM(3, 4 + (RANK == SIZE - 1))
    with pytest.raises(ValueError, match="same parameter names, shapes and dtypes"):
        DataParallel(model)


def test_save_writes_on_root_and_failure_raises_everywhere(tmp_path):
    model = fastrnn.LSTM(2, 3, seed=RANK)
    dp = DataParallel(model)
    path = dp.broadcast(str(tmp_path / "m.npz"))
    assert dp.save(model, path) == path
    COMM.Barrier()
    loaded = fastrnn.load(path)
    np.testing.assert_array_equal(loaded.params_flat, model.params_flat)
    bad = dp.broadcast(str(tmp_path / "no-such-dir" / "m.npz"))
    with pytest.raises(FileNotFoundError if RANK == 0 else RuntimeError):
        dp.save(model, bad)


def test_progress_bar_shows_on_root_only():
    dp = DataParallel(fastrnn.Linear(1, 1))
    bar = dp.progress(total=2, desc="x")
    bar.update(2)
    shown = not bar.disable                        # (close() disables every bar)
    bar.close()
    assert shown == (RANK == 0)


def test_shards_cover_the_batch_in_rank_order():
    dp = DataParallel(fastrnn.Linear(1, 1))
    x = np.arange(3 * (2 * SIZE + 1)).reshape(3, 2 * SIZE + 1)
    parts = dp.gather(dp.shard(x, axis=1).tolist())
    np.testing.assert_array_equal(np.concatenate([np.array(p) for p in parts], axis=1), x)
    idx = dp.gather(dp.shard_indices(11, seed=3).tolist())
    assert sorted(i for part in idx for i in part) == list(range(11))


def test_modules_without_flat_buffers_are_staged():
    """A hand-written module: dicts of arrays, one non-contiguous, two dtypes."""

    class Custom:
        def __init__(self):
            w = np.zeros((4, 3))
            self.params = {"w": w.T, "b": np.zeros(5), "s": np.zeros(2, dtype=np.float32)}
            self.grads = {k: np.zeros_like(v) if k != "w" else np.zeros((4, 3)).T
                          for k, v in self.params.items()}

        def zero_grad(self):
            for g in self.grads.values():
                g[...] = 0

    model = Custom()
    assert not model.grads["w"].flags.c_contiguous
    dp = DataParallel(model)
    for i, g in enumerate(model.grads.values()):
        g[...] = (RANK + 1) * (i + 1) * np.arange(g.size).reshape(g.shape)
    dp.allreduce_grads()
    mean = sum(r + 1 for r in range(SIZE)) / SIZE
    for i, g in enumerate(model.grads.values()):
        np.testing.assert_allclose(g, mean * (i + 1) * np.arange(g.size).reshape(g.shape),
                                   rtol=1e-6)
    assert_same_on_every_rank("gradients", digest(model.grads.values()))
