"""Streams (issue 12): step-by-step and chunked forward with the weights packed once.

A stream must give what one ``layer.forward`` of the whole sequence gives (the
same bits on the C engine: its steps run the same kernels), keep its state,
re-pack its weights whenever the parameters change (never use them stale),
and allocate nothing per step but the array it returns.
"""

import copy
import tracemalloc

import numpy as np
import pytest

import fastrnn
from fastrnn import optim
from conftest import CELL_VARIANTS, make_layer, state_like, variant_id


def _layer(variant, dtype=np.float32, **kw):
    kw = {"input_size": 5, "hidden_size": 7, "dtype": dtype, "seed": 3, **kw}
    return make_layer(variant, **kw)


def _x(T, N, I, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal((T, N, I)).astype(dtype)


def _equal(a, b, backend, dtype):
    if backend == "c":
        np.testing.assert_array_equal(a, b)  # the same kernels: the same bits
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12 if dtype == np.float64 else 1e-5,
                                   atol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_steps_and_chunks_equal_one_forward(backend, variant, num_layers, dtype):
    layer = _layer(variant, dtype, num_layers=num_layers)
    rng = np.random.default_rng(1)
    N = 3
    x = _x(9, N, 5, dtype)
    state = state_like(layer, N, rng, dtype)
    y, final = layer.forward(x, state=state, train=False)

    stream = layer.stream(batch_size=N, state=state)
    ys = [stream.step(x_t) for x_t in x]
    _equal(np.stack(ys), y, backend, dtype)
    kept = stream.state
    for got, want in zip(kept if isinstance(kept, tuple) else (kept,),
                         final if isinstance(final, tuple) else (final,)):
        _equal(got, want, backend, dtype)

    chunked = layer.stream(batch_size=N, state=state)
    pieces = [chunked.run(x[a:b]) for a, b in ((0, 4), (4, 5), (5, 9))]
    _equal(np.concatenate(pieces), y, backend, dtype)
    assert all(p.dtype == dtype for p in pieces) and ys[0].dtype == dtype


def test_the_state_resets_and_reads_in_the_layers_form(backend):
    lstm = fastrnn.LSTM(4, 6, num_layers=2, seed=0)
    stream = lstm.stream(batch_size=2)
    h, c = stream.state
    assert h.shape == c.shape == (2, 2, 6) and not h.any() and not c.any()
    x = _x(3, 2, 4, np.float32)
    for x_t in x:
        stream.step(x_t)
    moved = stream.state
    stream.reset()
    assert not stream.state[0].any()
    stream.reset(moved)
    y_next = stream.step(x[0])
    want, _ = lstm.forward(x[:1], state=moved, train=False)
    _equal(y_next, want[0], backend, np.float32)
    moved[0][...] = 9.0  # the stream keeps its own copy
    assert not np.any(stream.state[0] == 9.0)


def test_batch_first_run_and_bidirectional_rules(backend):
    gru = fastrnn.GRU(3, 4, bidirectional=True, batch_first=True, seed=0)
    x = _x(5, 2, 3, np.float32).swapaxes(0, 1).copy()                    # (N, T, I)
    stream = gru.stream(batch_size=2)
    with pytest.raises(ValueError, match="bidirectional"):
        stream.step(x[:, 0])
    y = stream.run(x)
    want, h = gru.forward(x, train=False)
    _equal(y, want, backend, np.float32)
    _equal(stream.state, h, backend, np.float32)


@pytest.mark.parametrize("change", [
    "setitem", "augmented", "held_reference", "copyto", "params_flat", "optimizer",
    "load_state_dict", "slice_write", "ufunc_out"])
def test_changed_parameters_are_never_used_stale(backend, change):
    layer = fastrnn.LSTM(4, 6, seed=0, dtype=np.float64)
    x = _x(6, 2, 4, np.float64)
    stream = layer.stream(batch_size=2)
    for x_t in x[:3]:
        stream.step(x_t)
    state = stream.state
    y_old, _ = layer.forward(x[3:], state=state, train=False)  # also fills the inference cache
    name = "weight_hh_l0"
    if change == "setitem":
        layer.params[name] = layer.params[name] * 0.5
    elif change == "augmented":
        layer.params[name] -= 0.25
    elif change == "held_reference":
        for p in layer.params.values():
            p *= 0.5
    elif change == "copyto":
        np.copyto(layer.params[name], 0.1)
    elif change == "params_flat":
        layer.params_flat[:] = layer.params_flat * 0.9
    elif change == "optimizer":
        y, _ = layer.forward(x)
        layer.backward(np.ones_like(y))
        optim.SGD(layer, lr=0.5).step()
    elif change == "load_state_dict":
        layer.load_state_dict({k: v * 1.5 for k, v in layer.state_dict().items()})
    elif change == "slice_write":
        layer.params[name][0, :3] = 2.0
    elif change == "ufunc_out":
        np.multiply(layer.params[name], 3.0, out=layer.params[name])
    fresh = copy.deepcopy(layer)  # packs nothing: the reference for the new weights
    want, _ = fresh.forward(x[3:], state=state, train=False)
    assert not np.allclose(want, y_old)
    got = np.stack([stream.step(x_t) for x_t in x[3:]])
    _equal(got, want, backend, np.float64)
    again, _ = layer.forward(x[3:], state=state, train=False)
    _equal(again, want, backend, np.float64)


def test_inference_reuses_the_packed_weights_while_unchanged():
    fastrnn.set_backend("c")
    try:
        layer = fastrnn.GRU(8, 16, num_layers=2, bidirectional=True, seed=0)
        x = _x(5, 3, 8, np.float32)
        layer.forward(x, train=False)
        first = layer._packed[1]
        layer.forward(x, train=False)
        assert layer._packed[1] is first and len(first) == 4
        layer.params["bias_hh_l1_reverse"] += 1.0
        layer.forward(x, train=False)
        assert layer._packed[1] is not first
        layer.forward(x, train=True)  # training packs per call, keeps no copy for it
        assert layer._packed[1] is not first
    finally:
        fastrnn.set_backend("c")


def test_a_step_allocates_only_its_output():
    fastrnn.set_backend("c")
    layer = fastrnn.LSTM(64, 64, num_layers=2, seed=0)
    stream = layer.stream(batch_size=4)
    x_t = np.ones((4, 64), np.float32)
    for _ in range(20):
        stream.step(x_t)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            y = stream.step(x_t)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 2 * y.nbytes + 2048, f"a step allocated {peak} bytes (output {y.nbytes})"


@pytest.mark.parametrize("bad, error, match", [
    (np.ones((3, 4), np.float32), ValueError, r"x_t: expected shape"),
    (np.ones((2, 5), np.float32), ValueError, r"x_t: expected shape"),
    (np.ones((2, 4), np.int64), TypeError, r"x_t: expected a real floating-point"),
    (np.ones(4, np.float32), ValueError, r"x_t: expected shape"),
])
def test_bad_steps_raise(backend, bad, error, match):
    stream = fastrnn.SRN(4, 3, seed=0).stream(batch_size=2)
    with pytest.raises(error, match=match):
        stream.step(bad)


def test_bad_streams_raise():
    layer = fastrnn.GRU(4, 3, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        layer.stream(batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        layer.stream(batch_size=1.5)
    with pytest.raises(ValueError, match="state"):
        layer.stream(batch_size=2, state=np.zeros((1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="batch_size = 2"):
        layer.stream(batch_size=2).run(np.zeros((4, 3, 4), np.float32))


def test_a_packed_buffer_for_other_weights_is_refused():
    from fastrnn.core import _ext
    rng = np.random.default_rng(0)
    W = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    packed = _ext.pack("lstm", W(16, 3), W(16, 4), W(16), W(16))
    x, h0 = np.ones((2, 1, 3), np.float32), np.zeros((1, 4), np.float32)
    W_ih, W_hh, b = W(12, 3), W(12, 4), W(12)
    with pytest.raises(ValueError, match="refused"):  # packed for an LSTM, used by a GRU
        _ext.forward("gru", x, h0, None, W_ih, W_hh, b, b, None, False, False, packed=packed)
    with pytest.raises(ValueError, match="packed"):  # another dtype
        _ext.forward("lstm", x.astype(np.float64), h0.astype(np.float64), h0.astype(np.float64),
                     W(16, 3).astype(np.float64), W(16, 4).astype(np.float64),
                     W(16).astype(np.float64), W(16).astype(np.float64), None, False, False,
                     packed=packed)


def test_generate_and_the_sampler_use_streams_and_agree_with_forward(backend, monkeypatch):
    from fastrnn import __main__ as cli
    model = cli._char_model(vocab_size=11, cell="gru", hidden=16, embed=8, dtype=np.float64,
                            seed=0)
    vocab = list("abcdefghijk")
    text = cli.generate(model, vocab, "abc", 12, temperature=0.8, rng=0)
    # the same sampling with whole-model forwards (the path before streams)
    rng = np.random.default_rng(0)
    ids = np.array([[0], [1], [2]], dtype=np.int64)
    logits, state = model.forward(ids, train=False)
    out = []
    for _ in range(12):
        z = logits[-1, 0] / 0.8
        p = np.exp(z - z.max())
        k = int(rng.choice(11, p=p / p.sum()))
        out.append(vocab[k])
        logits, state = model.forward(np.array([[k]]), state=state, train=False)
    assert text == "abc" + "".join(out)

    calls = []
    real = fastrnn.core.stream.Stream.step
    monkeypatch.setattr(fastrnn.core.stream.Stream, "step",
                        lambda self, x_t: calls.append(1) or real(self, x_t))
    enc = fastrnn.LSTM(5, 8, num_layers=2, seed=1, dtype=np.float64)
    dec = fastrnn.LSTM(6, 8, num_layers=2, seed=2, dtype=np.float64)
    s2s = fastrnn.Seq2Seq(enc, dec, num_classes=7, start_token=0, end_token=6, seed=3)
    tokens = s2s.generate(_x(4, 3, 5, np.float64), max_len=5)
    assert calls and tokens.shape[1] == 3 and tokens.shape[0] <= 5
