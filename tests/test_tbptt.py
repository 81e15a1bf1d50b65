"""Truncated BPTT: windows, the carried state (a value, no gradient), stride < window, training."""

import numpy as np
import pytest

import fastrnn
from fastrnn import LSTM, Embedding, Linear, Sequential, TruncatedBPTT, softmax_cross_entropy


def char_model(seed=0, V=5, H=6):
    return Sequential(Embedding(V, 4, dtype=np.float64, seed=seed),
                      LSTM(4, H, dtype=np.float64, seed=seed + 1),
                      Linear(H, V, dtype=np.float64, seed=seed + 2))


def stream(T=23, N=3, V=5, seed=0):
    ids = np.random.default_rng(seed).integers(0, V, (T + 1, N))
    return ids[:-1], ids[1:]


def manual_window(model, x, y, state, b0, start, stop):
    """What one window must compute: forward [b0, stop) from `state`, loss on [start, stop)."""
    model.zero_grad()
    out, final = model.forward(x[b0:stop], state=state)
    loss, d_new = softmax_cross_entropy(out[start - b0:], y[start:stop])
    dy = np.zeros_like(out)
    dy[start - b0:] = d_new
    model.backward(dy)                     # dstate None: nothing flows into `state`
    return loss, {k: g.copy() for k, g in model.grads.items()}, final


def states_along(model, x, positions):
    """The exact state at each position, from no-gradient forwards from the start."""
    out = {0: None}
    for p in positions:
        if p > 0:
            _, out[p] = model.forward(x[:p], train=False)
    return out


@pytest.mark.parametrize("window,stride", [(5, None), (7, 3), (6, 6), (4, 1)])
def test_each_window_is_exactly_a_truncated_backward(window, stride):
    x, y = stream()
    model, ref = char_model(), char_model()
    tb = TruncatedBPTT(model, window=window, stride=stride)
    plan = tb.windows(len(x))
    exact = states_along(ref, x, sorted({b0 for b0, _, _ in plan}))
    seen = []
    for w in tb.run(x, y):
        loss, grads, final = manual_window(ref, x, y, exact[w.backprop_start], w.backprop_start,
                                           w.start, w.stop)
        assert w.loss == pytest.approx(loss, rel=1e-12)
        for k, g in grads.items():
            np.testing.assert_allclose(model.grads[k], g, rtol=1e-11, atol=1e-13, err_msg=k)
        for got, want in zip(tb.state[0], final[0]):          # LSTM (h, c) after the window
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        seen.append((w.start, w.stop))
        assert w.count == 3 * (w.stop - w.start)
        assert w.stop - w.backprop_start <= window
    covered = np.concatenate([np.arange(a, b) for a, b in seen])
    np.testing.assert_array_equal(covered, np.arange(len(x)))     # each target exactly once


def test_the_carried_state_is_the_full_sequence_state():
    x, y = stream(T=20)
    model = char_model()
    _, full = model.forward(x, train=False)
    tb = TruncatedBPTT(model, window=6)
    list(tb.run(x, y))                                  # no parameter updates in between
    h, c = tb.state[0]
    np.testing.assert_allclose(h, full[0][0], rtol=1e-12)
    np.testing.assert_allclose(c, full[0][1], rtol=1e-12)


def test_truncation_differs_from_full_bptt():
    x, y = stream(T=12)
    model = char_model()
    tb = TruncatedBPTT(model, window=6)
    windows = list(tb.run(x[:12], y[:12]))
    truncated = {k: g.copy() for k, g in model.grads.items()}       # window 2's gradient
    assert [w.start for w in windows] == [0, 6]
    model.zero_grad()
    out, _ = model.forward(x[:12])
    loss, d = softmax_cross_entropy(out[6:], y[6:12])
    dy = np.zeros_like(out)
    dy[6:] = d
    model.backward(dy)                                 # the same loss through all 12 steps
    assert loss == pytest.approx(windows[1].loss, rel=1e-12)
    diff = max(np.abs(model.grads[k] - truncated[k]).max() for k in truncated)
    assert diff > 1e-6


def test_updates_between_windows_take_effect_and_loss_drops():
    text = ("the lamp burned well. " * 30)
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    L = (len(ids) - 1) // 4
    data = ids[:4 * L + 1]
    x = np.stack([data[i * L:(i + 1) * L] for i in range(4)], axis=1)
    y = np.stack([data[i * L + 1:(i + 1) * L + 1] for i in range(4)], axis=1)
    model = char_model(V=len(vocab), H=24)
    opt = fastrnn.optim.Adam(model, lr=0.03)
    tb = TruncatedBPTT(model, window=16)
    losses = []
    for _ in range(6):
        for w in tb.run(x, y):
            fastrnn.clip_grad_norm(model.grads, 5.0)
            opt.step()
            losses.append(w.loss)
    assert np.mean(losses[-5:]) < 0.4 * np.mean(losses[:3])


def test_zero_grad_false_accumulates_and_batch_first():
    x, y = stream(T=10)
    a, b = char_model(), char_model()
    list(TruncatedBPTT(a, window=5, zero_grad=False).run(x, y))
    total = {k: np.zeros_like(g) for k, g in b.grads.items()}
    for w in TruncatedBPTT(b, window=5).run(x, y):
        for k in total:
            total[k] += b.grads[k]
    for k in total:
        np.testing.assert_allclose(a.grads[k], total[k], rtol=1e-12)

    rnn = LSTM(2, 3, batch_first=True, dtype=np.float64, seed=0)
    rnn_tm = LSTM(2, 3, dtype=np.float64, seed=0)
    xs = np.random.default_rng(1).standard_normal((2, 9, 2))
    ys = np.random.default_rng(2).standard_normal((2, 9, 3))
    w_bf = list(TruncatedBPTT(rnn, 4, loss=fastrnn.mse, time_axis=1).run(xs, ys))
    w_tm = list(TruncatedBPTT(rnn_tm, 4, loss=fastrnn.mse).run(xs.swapaxes(0, 1),
                                                                ys.swapaxes(0, 1)))
    assert [w.loss for w in w_bf] == pytest.approx([w.loss for w in w_tm], rel=1e-12)
    np.testing.assert_allclose(rnn.grads_flat, rnn_tm.grads_flat, rtol=1e-12)


def test_initial_state_is_used():
    x, y = stream(T=6)
    model = char_model()
    h0 = np.random.default_rng(3).standard_normal((1, 3, 6))
    state = [(h0, np.zeros_like(h0))]
    w = next(TruncatedBPTT(model, window=6).run(x, y, state=state))
    ref = char_model()
    loss, _, _ = manual_window(ref, x, y, state, 0, 0, 6)
    assert w.loss == pytest.approx(loss, rel=1e-12)
    assert w.loss != pytest.approx(next(TruncatedBPTT(ref, window=6).run(x, y)).loss, rel=1e-6)


def test_errors():
    model = char_model()
    with pytest.raises(ValueError, match="stride"):
        TruncatedBPTT(model, window=3, stride=4)
    with pytest.raises(ValueError, match="window"):
        TruncatedBPTT(model, window=0)
    with pytest.raises(TypeError, match="backward"):
        TruncatedBPTT(object(), window=3)
    with pytest.raises(ValueError, match="time_axis"):
        TruncatedBPTT(model, window=3, time_axis=2)
    with pytest.raises(ValueError, match="same number"):
        next(TruncatedBPTT(model, window=3).run(np.zeros((5, 2), int), np.zeros((4, 2), int)))
