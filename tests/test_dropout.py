"""Dropout between stacked layers (PyTorch's ``dropout=``), and the training cache that
inference forwards leave alone."""

import numpy as np
import pytest

import fastrnn
from conftest import (CELL_VARIANTS, assert_grad_close, make_layer, numeric_grad, state_like,
                      variant_id)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def single_layers(layer):
    """One-layer copies of each layer of ``layer`` (same parameters, no dropout)."""
    name = type(layer).__name__
    extra = {"SRN": {"nonlinearity": getattr(layer, "nonlinearity", "tanh"),
                     "residual": getattr(layer, "residual", False)},
             "GRU": {"reset_after": getattr(layer, "reset_after", True)}}.get(name, {})
    H, D = layer.hidden_size, layer.num_directions
    out = []
    for k in range(layer.num_layers):
        one = getattr(fastrnn, name)(layer.input_size if k == 0 else D * H, H,
                                     bidirectional=layer.bidirectional, dtype=layer.dtype, **extra)
        for key in one.params:
            one.params[key] = layer.params[key.replace("_l0", f"_l{k}")]
        out.append(one)
    return out


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_a_training_forward_drops_every_layer_output_but_the_last(backend, variant, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=3, dropout=0.4,
                       bidirectional=True, dtype=np.float64, seed=1)
    x = rng.standard_normal((6, 5, 3))
    y, _ = layer.forward(x)
    # the same masks, drawn in the same order from a generator seeded alike
    masks_rng = fastrnn.core.masks.dropout_generator(1)
    h = x
    for k, one in enumerate(single_layers(layer)):
        h, _ = one.forward(h)
        if k < layer.num_layers - 1:
            keep = masks_rng.random(h.shape) >= 0.4
            assert 0.3 < 1 - keep.mean() < 0.5
            h = h * (keep / 0.6)
    assert np.array_equal(y, h)


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_inference_never_drops(backend, variant, rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, dropout=0.5,
                       dtype=np.float64, seed=2)
    plain = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, dtype=np.float64)
    plain.load_state_dict(layer.state_dict())
    x = rng.standard_normal((5, 2, 3))
    y_inf, s_inf = layer.forward(x, train=False)
    y_plain, s_plain = plain.forward(x)
    assert np.array_equal(y_inf, y_plain)
    y_train, _ = layer.forward(x)
    assert not np.array_equal(y_train, y_plain)   # a training forward does drop


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
@pytest.mark.parametrize("config", [dict(bidirectional=False, lengths=None),
                                    dict(bidirectional=True, lengths=[4, 2, 3])],
                         ids=["plain", "bidir-lengths"])
def test_gradients_through_dropout_match_finite_differences(backend, variant, config, rng):
    lengths = config["lengths"]
    layer = make_layer(variant, input_size=3, hidden_size=3, num_layers=3, dropout=0.3,
                       bidirectional=config["bidirectional"], dtype=np.float64, seed=3)
    if variant[1].get("nonlinearity") == "relu":
        layer.params_flat[...] += 0.05   # away from relu's kink
    x = rng.standard_normal((4, 3, 3))
    state0 = state_like(layer, 3, rng)

    def run():
        layer.dropout_rng = np.random.default_rng(9)   # the masks fixed: the same every call
        return layer.forward(x, state0, lengths=lengths)

    y, state = run()
    wy = rng.standard_normal(y.shape)
    w_state = tuple(rng.standard_normal(s.shape) for s in as_tuple(state))

    def loss():
        y, state = run()
        return float((y * wy).sum() + sum((s * w).sum() for s, w in zip(as_tuple(state), w_state)))

    loss()
    layer.zero_grad()
    dx, dstate0 = layer.backward(wy, w_state if isinstance(state, tuple) else w_state[0])
    for name, p in layer.params.items():
        assert_grad_close(name, layer.grads[name], numeric_grad(loss, p), 1e-6)
    assert_grad_close("dx", dx, numeric_grad(loss, x), 1e-6)
    for k, (s0, ds0) in enumerate(zip(as_tuple(state0), as_tuple(dstate0))):
        assert_grad_close(f"dstate0[{k}]", ds0, numeric_grad(loss, s0), 1e-6)


def test_the_same_seed_gives_the_same_masks_on_both_engines(rng):
    if not fastrnn.c_engine_available():
        pytest.skip("the C engine is not built")
    x = rng.standard_normal((7, 4, 3))
    results = {}
    previous = fastrnn.get_backend()
    try:
        for engine in ("numpy", "c"):
            fastrnn.set_backend(engine)
            layer = fastrnn.GRU(3, 5, num_layers=3, dropout=0.5, dtype=np.float64, seed=4)
            runs = [layer.forward(x)[0] for _ in range(2)]
            again = fastrnn.GRU(3, 5, num_layers=3, dropout=0.5, dtype=np.float64, seed=4)
            assert np.array_equal(again.forward(x)[0], runs[0])    # bit-identical on repeat
            assert not np.array_equal(runs[0], runs[1])            # fresh masks every forward
            results[engine] = runs
    finally:
        fastrnn.set_backend(previous)
    for a, b in zip(results["numpy"], results["c"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_dropout_does_not_change_the_initial_parameters():
    a = fastrnn.LSTM(3, 4, num_layers=2, dropout=0.5, seed=5)
    b = fastrnn.LSTM(3, 4, num_layers=2, seed=5)
    assert np.array_equal(a.params_flat, b.params_flat)


def test_dropout_argument_is_checked_and_kept():
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\), got 1"):
        fastrnn.LSTM(3, 4, num_layers=2, dropout=1)
    with pytest.raises(ValueError, match="got -0.1"):
        fastrnn.GRU(3, 4, dropout=-0.1)
    with pytest.raises(TypeError, match="dropout: expected a float in"):
        fastrnn.SRN(3, 4, dropout="0.5")
    with pytest.warns(UserWarning, match="num_layers=1"):
        fastrnn.SRN(3, 4, dropout=0.2)
    layer = fastrnn.LSTM(3, 4, num_layers=2, dropout=0.25)
    assert "dropout=0.25" in repr(layer)
    assert fastrnn.LSTM(3, 4, 2, True, False, 0.25).dropout == 0.25   # PyTorch's position
    with pytest.raises(TypeError, match=r"^LSTM\.__init__\(\) got an unexpected"):
        fastrnn.LSTM(3, 4, drop=0.5)


def test_save_and_load_keep_dropout(tmp_path):
    layer = fastrnn.GRU(3, 4, num_layers=2, dropout=0.3, seed=0)
    fastrnn.save(layer, tmp_path / "gru.npz")
    back = fastrnn.load(tmp_path / "gru.npz")
    assert back.dropout == 0.3 and np.array_equal(back.params_flat, layer.params_flat)


# --- the training cache survives inference forwards ------------------------------------

@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_an_inference_forward_between_forward_and_backward_changes_nothing(backend, variant,
                                                                          rng):
    layer = make_layer(variant, input_size=3, hidden_size=4, num_layers=2, dropout=0.3,
                       bidirectional=True, dtype=np.float64, seed=6)
    x, other = rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 4, 3))
    dy = rng.standard_normal((5, 2, 8))
    y, _ = layer.forward(x)
    dx, ds = layer.backward(dy)
    expected = layer.grads_flat.copy()
    layer.zero_grad()
    layer.dropout_rng = fastrnn.core.masks.dropout_generator(6)
    layer.forward(x)
    layer.forward(other, train=False)          # a predict() in the middle of a step
    dx2, ds2 = layer.backward(dy)
    assert np.array_equal(layer.grads_flat, expected)
    assert np.array_equal(dx2, dx)
    for a, b in zip(as_tuple(ds), as_tuple(ds2)):
        assert np.array_equal(a, b)


def test_backward_before_any_training_forward_still_raises():
    layer = fastrnn.GRU(3, 4)
    layer.forward(np.zeros((2, 1, 3), np.float32), train=False)
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.zeros((2, 1, 4), np.float32))


def test_models_keep_their_training_cache_across_inference(rng):
    model = fastrnn.SequenceClassifier(fastrnn.LSTM(3, 4, dtype=np.float64, seed=0),
                                       num_classes=2, seed=0)
    x, other = rng.standard_normal((5, 3, 3)), rng.standard_normal((2, 6, 3))
    targets = np.array([0, 1, 1])

    def step(between):
        model.zero_grad()
        _, dlogits = fastrnn.softmax_cross_entropy(model.forward(x), targets)
        between()
        dx = model.backward(dlogits)
        return dx, {k: np.array(g) for k, g in model.grads.items()}

    dx, grads = step(lambda: None)
    dx2, grads2 = step(lambda: model.predict(other))   # inference through rnn and head
    assert np.array_equal(dx, dx2) and grads.keys() == grads2.keys() and len(grads) > 4
    for k in grads:
        assert np.array_equal(grads[k], grads2[k]), k

    emb = fastrnn.Embedding(5, 3, seed=0)
    emb.forward(np.array([[1, 2]]))
    emb.forward(np.array([[4]]), train=False)
    emb.zero_grad()
    emb.backward(np.ones((1, 2, 3), np.float32))
    assert emb.grads["weight"][[1, 2]].sum() == 6 and emb.grads["weight"][4].sum() == 0
