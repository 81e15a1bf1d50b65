"""examples/min_char_rnn.py is Karpathy's min-char-rnn with fastrnn doing the recurrence.

The reference is a NumPy transcription of the original written here: column
vectors, a loop over the steps forward and back, the loss and the gradients
summed, each gradient clipped to [-5, 5], Adagrad ``param += -lr * g /
sqrt(mem + 1e-8)``. The example must give the same losses, samples and
parameters in float64 to 1e-12 on both engines, over enough iterations for
the pointer to wrap and the clip to bind; each of the issue's deviations
(averaged gradients, PyTorch's Adagrad, two trained biases, no clip) moves the
parameters far past that tolerance.
"""

import importlib.util
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn.data import corpus

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("Wxh", "Whh", "bh", "Why", "by")
# 160 characters: the pointer wraps 4 times in 30 iterations and the clip binds twice. The
# original's lr = 0.1 on so small a text is chaotic (rounding differences of 1e-16 grow tenfold
# an iteration once the gradients explode); at 0.05 they stay below 1e-14 for 60 iterations.
TEXT = ("THE KEEPER OF THE NORTH LIGHT\n\nOn a rock at the end of the world there stood a "
        "lighthouse, and in the lighthouse there lived a keeper.\nEvery evening the keeper ")
HIDDEN, SEQ, LR, ITERS = 32, 25, 0.05, 30


def _example():
    spec = importlib.util.spec_from_file_location(
        "min_char_rnn", ROOT / "examples" / "min_char_rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = _example()


# --- the original, transcribed ----------------------------------------------------------

def reference_init(V, H, rng):
    """The original's initialization from a numpy Generator: Wxh, Whh, Why in that order."""
    Wxh = rng.standard_normal((H, V)) * 0.01
    Whh = rng.standard_normal((H, H)) * 0.01
    Why = rng.standard_normal((V, H)) * 0.01
    return {"Wxh": Wxh, "Whh": Whh, "bh": np.zeros((H, 1)), "Why": Why, "by": np.zeros((V, 1))}


def reference_loss_fun(P, inputs, targets, hprev, mean=False, clip=True):
    """lossFun: summed loss, summed (then clipped) gradients, last state, largest raw gradient."""
    Wxh, Whh, bh, Why, by = (P[k] for k in NAMES)
    V = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((V, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys[t] = Why @ hs[t] + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ hs[t - 1].T
        dhnext = Whh.T @ dhraw
    grads = {"Wxh": dWxh, "Whh": dWhh, "bh": dbh, "Why": dWhy, "by": dby}
    raw_max = max(np.abs(d).max() for d in grads.values())
    for d in grads.values():
        if mean:                       # deviation: gradients averaged over the steps
            d /= len(inputs)
        if clip:
            np.clip(d, -5, 5, out=d)
    return loss, grads, hs[len(inputs) - 1], raw_max


def reference_sample(P, h, seed_ix, n, rng):
    V = P["Wxh"].shape[1]
    x = np.zeros((V, 1))
    x[seed_ix] = 1
    ixes = []
    for _ in range(n):
        h = np.tanh(P["Wxh"] @ x + P["Whh"] @ h + P["bh"])
        y = P["Why"] @ h + P["by"]
        p = np.exp(y) / np.sum(np.exp(y))
        ix = int(rng.choice(V, p=p.ravel()))
        x = np.zeros((V, 1))
        x[ix] = 1
        ixes.append(ix)
    return ixes


def reference_train(text, iterations, seed=0, sample_every=0, sample_length=200,
                    mean=False, torch_adagrad=False, two_biases=False, clip=True,
                    hidden=HIDDEN, lr=LR):
    """The original's main loop; the keyword arguments switch on the issue's deviations."""
    chars = sorted(set(text))
    V = len(chars)
    ix = {ch: i for i, ch in enumerate(chars)}
    data = [ix[ch] for ch in text]
    rng = np.random.default_rng(seed)
    P = reference_init(V, hidden, rng)
    mem = {k: np.zeros_like(v) for k, v in P.items()}
    mem_bh2 = np.zeros_like(P["bh"])
    losses, samples, raw_maxes, wraps = [], [], [], 0
    p, n, hprev = 0, 0, None
    while n < iterations:
        if p + SEQ + 1 >= len(data) or n == 0:
            hprev, p = np.zeros((hidden, 1)), 0
            wraps += n > 0
        inputs, targets = data[p:p + SEQ], data[p + 1:p + SEQ + 1]
        if sample_every and n % sample_every == 0:
            samples.append("".join(chars[i] for i in
                                   reference_sample(P, hprev, inputs[0], sample_length, rng)))
        loss, grads, hprev, raw_max = reference_loss_fun(P, inputs, targets, hprev, mean, clip)
        losses.append(loss)
        raw_maxes.append(raw_max)
        for k in NAMES:
            mem[k] += grads[k] * grads[k]
            if torch_adagrad:          # deviation: PyTorch's g / (sqrt(s) + eps)
                P[k] += -lr * grads[k] / (np.sqrt(mem[k]) + 1e-8)
            else:
                P[k] += -lr * grads[k] / np.sqrt(mem[k] + 1e-8)
        if two_biases:                 # deviation: a second hidden bias trained alongside bh
            mem_bh2 += grads["bh"] * grads["bh"]
            P["bh"] += -lr * grads["bh"] / np.sqrt(mem_bh2 + 1e-8)
        p += SEQ
        n += 1
    return {"losses": losses, "params": P, "samples": samples, "raw_maxes": raw_maxes,
            "wraps": wraps}


@pytest.fixture(scope="module")
def reference():
    return reference_train(TEXT, ITERS, sample_every=10, sample_length=40)


def close(a, b, rtol=1e-12):
    """Normwise: the largest difference relative to the largest entry."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return a.shape == b.shape and np.abs(a - b).max() <= rtol * max(np.abs(b).max(), 1e-300)


# --- the reference run exercises what matters -------------------------------------------

def test_the_reference_wraps_and_clips(reference):
    assert reference["wraps"] >= 2                         # the pointer went back to 0
    assert max(reference["raw_maxes"]) > 5.5               # some gradient was clipped
    assert min(reference["losses"]) < reference["losses"][0] - 1   # and it learns


@pytest.mark.parametrize("deviation", ["mean", "torch_adagrad", "two_biases", "clip"])
def test_each_deviation_of_the_old_example_is_caught(reference, deviation):
    """Each of the issue's deviations moves the final parameters by far more than 1e-12."""
    kw = {deviation: deviation != "clip"}                  # clip=False, or the flag on
    other = reference_train(TEXT, ITERS, sample_every=10, sample_length=40, **kw)
    worst = max(np.abs(other["params"][k] - reference["params"][k]).max()
                / np.abs(reference["params"][k]).max() for k in NAMES)
    assert worst > 1e-7, f"{deviation}: {worst:.1e}"


# --- the example equals it ------------------------------------------------------------

def test_init_params_is_the_originals():
    got = ex.init_params(7, 5, np.random.default_rng(3))
    want = reference_init(7, 5, np.random.default_rng(3))
    for k in NAMES:
        np.testing.assert_array_equal(got[k].ravel(), want[k].ravel())


def test_losses_samples_and_parameters_equal_the_original(backend, reference):
    log, clipped = [], []

    def callback(n, loss, grads):
        clipped.append(max(np.abs(g).max() for g in grads.values()))

    result = ex.train(TEXT, ITERS, hidden_size=HIDDEN, seq_length=SEQ, learning_rate=LR,
                      seed=0, dtype=np.float64, sample_every=10, sample_length=40,
                      log=log.append, callback=callback)
    assert len(result.losses) == ITERS
    for n, (got, want) in enumerate(zip(result.losses, reference["losses"])):
        assert abs(got - want) <= 1e-12 * abs(want), f"iteration {n}: {got!r} != {want!r}"
    # the example clipped where the reference did: a gradient entry exactly at 5
    binding = [n for n, m in enumerate(reference["raw_maxes"]) if m > 5]
    assert binding and all(clipped[n] == 5.0 for n in binding)
    assert max(clipped) <= 5.0
    samples = [line[len("----\n "):-len(" \n----")] for line in log if line.startswith("----")]
    assert len(samples) == 3 and samples == reference["samples"]
    for k in NAMES:
        assert close(result.model.params[k], reference["params"][k]), k
    # bh trained once: bias_hh_l0 never moved from 0
    assert not result.model.rnn.params["bias_hh_l0"].any()


def test_the_originals_own_settings_agree_over_the_first_iterations(backend):
    """H = 100, lr = 0.1, the shipped corpus: the original exactly, for its first iterations
    (later ones drift apart at the rounding level in either program: see TEXT's comment)."""
    text = corpus()
    want = reference_train(text, 8, hidden=100, lr=0.1)["losses"]
    got = ex.train(text, 8, hidden_size=100, seq_length=SEQ, learning_rate=0.1, seed=0,
                   dtype=np.float64, sample_every=0, log=None).losses
    for n, (g, w) in enumerate(zip(got, want)):
        assert abs(g - w) <= 1e-12 * abs(w), f"iteration {n}: {g!r} != {w!r}"


def test_float32_follows_the_same_path(backend, reference):
    result = ex.train(TEXT, ITERS, hidden_size=HIDDEN, seq_length=SEQ, learning_rate=LR,
                      dtype=np.float32, sample_every=0, log=None)
    assert result.model.params["Wxh"].dtype == np.float32
    np.testing.assert_allclose(result.losses, reference["losses"], rtol=1e-5)   # 9e-7 seen


# --- a chunk at a time, never the whole text -------------------------------------------

def test_the_srn_sees_one_chunk_at_a_time(monkeypatch):
    shapes, forward = [], fastrnn.SRN.forward

    def recording(self, x, *args, **kw):
        shapes.append(np.shape(x))
        return forward(self, x, *args, **kw)

    monkeypatch.setattr(fastrnn.SRN, "forward", recording)
    V = len(set(TEXT))
    ex.train(TEXT, 7, hidden_size=HIDDEN, sample_every=5, sample_length=3, log=None)
    assert shapes.count((SEQ, 1, V)) == 7                  # one forward per iteration
    assert shapes.count((1, 1, V)) == 2 * 3                # two samples of 3 characters
    assert len(shapes) == 7 + 6


def test_memory_does_not_grow_with_a_one_hot_text():
    text = corpus() * 40                                    # 229k characters, 48 unique:
    whole_one_hot = len(text) * len(set(text)) * 8          # 88 MB as a float64 one-hot
    tracemalloc.start()
    try:
        ex.train(text, 2, sample_every=0, log=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole_one_hot / 6, f"peak {peak / 1e6:.1f} MB"
