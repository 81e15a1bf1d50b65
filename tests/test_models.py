"""The container and the three sequence-model patterns.

Finite differences in float64 for every pattern (every cell, both poolings,
lengths, bidirectional, batch_first), on each engine; lengths awareness (a
padded sequence gives what it gives alone); short training runs whose loss
drops clearly; container semantics; argument errors.
"""

import numpy as np
import pytest

import fastrnn
from fastrnn import (GRU, LSTM, SRN, Embedding, Linear, Seq2Seq, SequenceClassifier,
                     SequenceTagger, Sequential, length_mask, softmax_cross_entropy)

EPS = 1e-6
MAX_REL_ERR = 1e-6
CELLS = {"srn": SRN, "lstm": LSTM, "gru": GRU}


def check_gradients(model, loss_fn, backward_fn, inputs=(), coords=12, seed=0):
    """Analytic gradients (model.grads, and the returned input gradients) vs central differences.

    ``loss_fn()`` runs a forward with train=False and returns the scalar;
    ``backward_fn()`` runs forward+backward and returns the input gradients
    for ``inputs`` (a list). At most ``coords`` coordinates per array are checked.
    """
    rng = np.random.default_rng(seed)
    model.zero_grad()
    dinputs = backward_fn()
    arrays = [(f"param {k}", p, model.grads[k]) for k, p in model.params.items()]
    arrays += [(f"input {i}", x, dx) for i, (x, dx) in enumerate(zip(inputs, dinputs))]
    for name, arr, analytic in arrays:
        flat, an = arr.reshape(-1), np.asarray(analytic).reshape(-1)
        idx = rng.choice(flat.size, size=min(coords, flat.size), replace=False)
        num = np.empty(len(idx))
        for j, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + EPS
            up = loss_fn()
            flat[i] = old - EPS
            down = loss_fn()
            flat[i] = old
            num[j] = (up - down) / (2 * EPS)
        scale = max(np.abs(num).max(), np.abs(an[idx]).max(), 1e-8)
        err = np.abs(an[idx] - num).max() / scale
        assert err <= MAX_REL_ERR, f"{name}: relative error {err:.2e}"


def as_layout(a, batch_first):
    return np.ascontiguousarray(np.swapaxes(a, 0, 1)) if batch_first else a


# --- finite differences ----------------------------------------------------------------

@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("pool", ["last", "mean"])
def test_classifier_gradients(backend, cell, pool):
    rng = np.random.default_rng(1)
    T, N, I, H, C = 4, 3, 3, 4, 3
    bidir = cell != "srn"
    model = SequenceClassifier(CELLS[cell](I, H, num_layers=2, bidirectional=bidir,
                                           dtype=np.float64, seed=0), C, pool=pool, seed=1)
    x = rng.standard_normal((T, N, I))
    lengths = np.array([4, 2, 3])
    R = rng.standard_normal((N, C))

    def loss():
        return float((model.forward(x, lengths=lengths, train=False) * R).sum())

    def backward():
        model.forward(x, lengths=lengths)
        return [model.backward(R)]

    check_gradients(model, loss, backward, [x])


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_tagger_gradients_with_embedding(backend, cell, batch_first):
    rng = np.random.default_rng(2)
    T, N, V, E, H, C = 4, 3, 5, 3, 4, 3
    model = SequenceTagger(CELLS[cell](E, H, batch_first=batch_first, bidirectional=True,
                                       dtype=np.float64, seed=0), C,
                           embedding=Embedding(V, E, dtype=np.float64, seed=1), seed=2)
    ids = as_layout(rng.integers(0, V, (T, N)), batch_first)
    lengths = np.array([3, 4, 1])
    R = as_layout(rng.standard_normal((T, N, C)) * length_mask(lengths, T)[:, :, None],
                  batch_first)

    def loss():
        return float((model.forward(ids, lengths=lengths, train=False) * R).sum())

    def backward():
        model.forward(ids, lengths=lengths)
        assert model.backward(R) is None
        return []

    check_gradients(model, loss, backward)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_seq2seq_gradients(backend, cell):
    rng = np.random.default_rng(3)
    Ts, Tt, N, I, E, H, C = 4, 3, 2, 3, 3, 4, 5
    model = Seq2Seq(CELLS[cell](I, H, num_layers=2, dtype=np.float64, seed=0),
                    CELLS[cell](E, H, num_layers=2, dtype=np.float64, seed=1),
                    C, start_token=3, end_token=4, seed=2)
    src = rng.standard_normal((Ts, N, I))
    tgt = rng.integers(0, C, (Tt, N))
    src_len, tgt_len = np.array([4, 2]), np.array([3, 2])
    R = rng.standard_normal((Tt, N, C)) * length_mask(tgt_len, Tt)[:, :, None]

    def loss():
        return float((model.forward(src, tgt, src_len, tgt_len, train=False) * R).sum())

    def backward():
        model.forward(src, tgt, src_len, tgt_len)
        return [model.backward(R)]

    check_gradients(model, loss, backward, [src])


def test_seq2seq_gradients_with_source_embedding(backend):
    rng = np.random.default_rng(4)
    model = Seq2Seq(GRU(3, 4, batch_first=True, dtype=np.float64, seed=0),
                    GRU(2, 4, batch_first=True, dtype=np.float64, seed=1), 4,
                    start_token=0, end_token=1,
                    src_embedding=Embedding(6, 3, dtype=np.float64, seed=2), seed=3)
    src, tgt = rng.integers(0, 6, (2, 5)), rng.integers(0, 4, (2, 3))
    R = rng.standard_normal((2, 3, 4))

    def loss():
        return float((model.forward(src, tgt, train=False) * R).sum())

    def backward():
        model.forward(src, tgt)
        assert model.backward(R) is None
        return []

    check_gradients(model, loss, backward)


def test_sequential_gradients_with_state(backend):
    rng = np.random.default_rng(5)
    T, N, V, E, H = 4, 2, 6, 3, 4
    model = Sequential(Embedding(V, E, dtype=np.float64, seed=0),
                       LSTM(E, H, dtype=np.float64, seed=1),
                       GRU(H, H, dtype=np.float64, seed=2),
                       Linear(H, V, dtype=np.float64, seed=3))
    ids = rng.integers(0, V, (T, N))
    h0 = rng.standard_normal((1, N, H))
    state = [(rng.standard_normal((1, N, H)), rng.standard_normal((1, N, H))), h0]
    R = rng.standard_normal((T, N, V))
    Rh = rng.standard_normal((1, N, H))

    def loss():
        y, finals = model.forward(ids, state=state, train=False)
        return float((y * R).sum() + (finals[1] * Rh).sum())

    def backward():
        model.forward(ids, state=state)
        dx, d0 = model.backward(R, [None, Rh])
        assert dx is None and len(d0) == 2 and isinstance(d0[0], tuple)
        return [d0[1]]

    check_gradients(model, loss, backward, [h0])


# --- lengths awareness -------------------------------------------------------------------

def test_patterns_treat_padding_as_absent():
    rng = np.random.default_rng(6)
    T, I, H = 6, 3, 5
    x = rng.standard_normal((T, 2, I))
    x[4:, 1] = 1e3                                   # garbage past the end of sequence 1
    lengths = np.array([6, 4])
    for pool in ("last", "mean"):
        clf = SequenceClassifier(LSTM(I, H, bidirectional=True, dtype=np.float64, seed=0), 3,
                                 pool=pool, seed=1)
        both = clf.forward(x, lengths=lengths, train=False)
        alone = clf.forward(x[:4, 1:], train=False)
        np.testing.assert_allclose(both[1], alone[0], rtol=1e-12, atol=1e-13)
    tagger = SequenceTagger(GRU(I, H, dtype=np.float64, seed=0), 3, seed=1)
    np.testing.assert_allclose(tagger.forward(x, lengths=lengths, train=False)[:4, 1],
                               tagger.forward(x[:4, 1:], train=False)[:, 0], rtol=1e-12)
    s2s = Seq2Seq(LSTM(I, H, dtype=np.float64, seed=0), LSTM(2, H, dtype=np.float64, seed=1), 4,
                  start_token=2, end_token=3, seed=2)
    tgt = np.array([[0, 1], [1, 1], [3, 3]])
    np.testing.assert_allclose(s2s.forward(x, tgt, src_lengths=lengths, train=False)[:, 1],
                               s2s.forward(x[:4, 1:], tgt[:, 1:], train=False)[:, 0],
                               rtol=1e-12)


def test_last_pool_uses_h_n_of_both_directions():
    rng = np.random.default_rng(7)
    rnn = GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    clf = SequenceClassifier(rnn, 2, pool="last", seed=1)
    x = rng.standard_normal((5, 3, 3))
    logits = clf.forward(x, train=False)
    _, h = rnn.forward(x, train=False)
    feat = np.concatenate([h[-2], h[-1]], axis=1)
    np.testing.assert_allclose(logits, clf.head.forward(feat, train=False), rtol=1e-13)
    assert np.array_equal(clf.predict(x), logits.argmax(-1))


# --- training runs: the loss drops clearly ---------------------------------------------

def test_classifier_learns():
    rng = np.random.default_rng(8)
    model = SequenceClassifier(GRU(4, 16, dtype=np.float64, seed=0), 2, pool="mean", seed=1)
    opt = fastrnn.optim.Adam(model, lr=0.02)
    losses = []
    for _ in range(60):
        lengths = rng.integers(3, 9, 32)
        x = rng.standard_normal((8, 32, 4))
        y = (np.array([x[:L, n, 0].sum() for n, L in enumerate(lengths)]) > 0).astype(int)
        loss, d = softmax_cross_entropy(model.forward(x, lengths=lengths), y)
        model.zero_grad()
        model.backward(d)
        opt.step()
        losses.append(loss)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


def test_tagger_learns():
    """Tag each step with the previous token (needs the recurrence)."""
    rng = np.random.default_rng(9)
    model = SequenceTagger(LSTM(4, 16, dtype=np.float64, seed=0), 4,
                           embedding=Embedding(4, 4, dtype=np.float64, seed=1), seed=2)
    opt = fastrnn.optim.Adam(model, lr=0.03)
    losses = []
    for _ in range(60):
        ids = rng.integers(0, 4, (6, 16))
        y = np.vstack([np.zeros((1, 16), int), ids[:-1]])
        lengths = rng.integers(2, 7, 16)
        loss, d = softmax_cross_entropy(model.forward(ids, lengths=lengths), y,
                                        mask=length_mask(lengths, 6))
        model.zero_grad()
        model.backward(d)
        fastrnn.clip_grad_norm(model.grads, 5.0)
        opt.step()
        losses.append(loss)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])


def test_seq2seq_learns_to_copy_and_decodes_greedily():
    rng = np.random.default_rng(10)
    model = Seq2Seq(LSTM(4, 24, dtype=np.float64, seed=0), LSTM(4, 24, dtype=np.float64, seed=1),
                    5, start_token=3, end_token=4,
                    src_embedding=Embedding(3, 4, dtype=np.float64, seed=2), seed=3)
    opt = fastrnn.optim.Adam(model, lr=0.02)
    losses = []
    for _ in range(120):
        src = rng.integers(0, 3, (3, 16))
        tgt = np.vstack([src, np.full((1, 16), 4)])
        loss, d = softmax_cross_entropy(model.forward(src, tgt), tgt)
        model.zero_grad()
        model.backward(d)
        fastrnn.clip_grad_norm(model.grads, 5.0)
        opt.step()
        losses.append(loss)
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:5])
    src = rng.integers(0, 3, (3, 50))
    out = model.generate(src, max_len=6)
    assert out.dtype.kind == "i" and out.shape[1] == 50 and out.shape[0] <= 6
    ended = out[3] == 4
    assert ended.mean() > 0.5 and (out[:3, ended] == src[:, ended]).mean() > 0.6


def test_generate_fills_after_the_end_token_and_stops():
    model = Seq2Seq(SRN(2, 3, dtype=np.float64, seed=0), SRN(2, 3, dtype=np.float64, seed=1), 3,
                    start_token=0, end_token=2, seed=0)
    model.head.params["weight"][...] = 0
    model.head.params["bias"][...] = [0.0, 0.0, 5.0]    # always predicts the end token
    out = model.generate(np.zeros((4, 2, 2)), max_len=10)
    assert out.shape == (1, 2) and np.all(out == 2)
    model.head.params["bias"][...] = [0.0, 5.0, 0.0]    # never ends: max_len steps
    assert model.generate(np.zeros((4, 2, 2)), max_len=7).shape == (7, 2)
    np.testing.assert_array_equal(model.decoder_inputs(np.array([[1, 1], [2, 2]])),
                                  [[0, 0], [1, 1]])


# --- the container ---------------------------------------------------------------------

def test_container_prefixes_names_and_shares_memory():
    model = Sequential(Embedding(5, 3, seed=0), LSTM(3, 4, seed=1), Linear(4, 5, seed=2))
    assert list(model.params) == ["0.weight", "1.weight_ih_l0", "1.weight_hh_l0",
                                  "1.bias_ih_l0", "1.bias_hh_l0", "2.weight", "2.bias"]
    assert list(model.grads) == list(model.params)
    model.params["1.weight_hh_l0"][0, 0] = 42.0
    assert model[1].params["weight_hh_l0"][0, 0] == 42.0
    assert model.num_parameters == sum(m.params_flat.size for m in model.layers)
    y, _ = model.forward(np.array([[0, 1], [2, 3], [4, 0]]))
    model.backward(np.ones_like(y))
    assert all(np.any(g) for g in model.grads.values())
    model.zero_grad()
    assert not any(np.any(g) for g in model.grads.values())


def test_custom_model_subclass():
    class TwoHeads(fastrnn.Model):
        def __init__(self):
            super().__init__()
            self.rnn = SRN(2, 3, seed=0)
            self.a = Linear(3, 1, seed=1)
            self.scale = 2.0                           # not a module: not registered

    m = TwoHeads()
    assert [n for n, _ in m.named_modules()] == ["rnn", "a"]
    assert set(k.split(".")[0] for k in m.params) == {"rnn", "a"}


def test_load_state_dict_is_all_or_nothing():
    model = Sequential(LSTM(3, 4, dtype=np.float64, seed=0), Linear(4, 2, dtype=np.float64,
                                                                      seed=1))
    before = model.state_dict()
    bad = {k: np.zeros_like(v) for k, v in before.items()}
    bad["1.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"1\.weight"):
        model.load_state_dict(bad)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(KeyError, match="missing"):
        model.load_state_dict({})


def test_container_and_pattern_errors():
    with pytest.raises(ValueError, match="at least one"):
        Sequential()
    with pytest.raises(TypeError, match="module 1"):
        Sequential(Linear(2, 2), "relu")
    seq = Sequential(LSTM(2, 3), Linear(3, 2))
    with pytest.raises(ValueError, match="list of 1 states"):
        seq.forward(np.zeros((2, 1, 2), np.float32), state=(np.zeros((1, 1, 3)),) * 2)
    class NoInputGrad(Linear):
        def backward(self, dy):
            super().backward(dy)
            return None
    bad = Sequential(Linear(2, 2), NoInputGrad(2, 2))
    bad.forward(np.zeros((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="module 0 .* no output gradient"):
        bad.backward(np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match="recurrent layer"):
        SequenceClassifier(Linear(2, 2), 3)
    with pytest.raises(ValueError, match="pool"):
        SequenceClassifier(GRU(2, 3), 3, pool="max")
    with pytest.raises(ValueError, match="embedding_dim"):
        SequenceTagger(GRU(2, 3), 3, embedding=Embedding(4, 5))
    with pytest.raises(TypeError, match="GRU like the encoder"):
        Seq2Seq(GRU(2, 3), LSTM(2, 3), 4, start_token=0, end_token=1)
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq(GRU(2, 3), GRU(2, 4), 4, start_token=0, end_token=1)
    with pytest.raises(ValueError, match="unidirectional"):
        Seq2Seq(GRU(2, 3, bidirectional=True), GRU(2, 3, bidirectional=True), 4, 0, 1)
    with pytest.raises(ValueError, match="end_token"):
        Seq2Seq(GRU(2, 3), GRU(2, 3), 4, start_token=0, end_token=4)
    s2s = Seq2Seq(GRU(2, 3), GRU(2, 3), 4, start_token=0, end_token=1)
    with pytest.raises(TypeError, match="tgt"):
        s2s.forward(np.zeros((3, 2, 2), np.float32), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2 sequences"):
        s2s.forward(np.zeros((3, 2, 2), np.float32), np.zeros((2, 3), int))
    with pytest.raises(RuntimeError):
        SequenceClassifier(GRU(2, 3), 2).backward(np.zeros((1, 2)))
