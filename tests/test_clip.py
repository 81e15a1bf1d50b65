"""Gradient clipping: PyTorch's numbers to 1e-9 in float64, the non-finite rule, argument errors."""

import math

import numpy as np
import pytest

import fastrnn
from fastrnn import clip_grad_norm, clip_grad_value

SHAPES = {"w": (4, 3), "b": (4,), "u": (2, 3, 2)}


def grads_dict(rng, scale=1.0):
    return {k: scale * rng.standard_normal(s) for k, s in SHAPES.items()}


def test_clip_grad_norm_scales_by_pytorch_rule():
    rng = np.random.default_rng(0)
    g = grads_dict(rng)
    total = math.sqrt(sum(float((a * a).sum()) for a in g.values()))
    before = {k: v.copy() for k, v in g.items()}
    out = clip_grad_norm(g, 0.5)
    assert out == pytest.approx(total, rel=1e-14)
    coef = 0.5 / (total + 1e-6)
    for k in g:
        np.testing.assert_allclose(g[k], before[k] * coef, rtol=1e-15)
    assert fastrnn.grad_norm(g) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone():
    rng = np.random.default_rng(1)
    g = grads_dict(rng, 1e-3)
    before = {k: v.copy() for k, v in g.items()}
    total = clip_grad_norm(g, 10.0)
    assert total < 10.0
    for k in g:
        assert np.array_equal(g[k], before[k])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.3, 1e3])
def test_clip_grad_norm_matches_torch_over_several_steps(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    tparams = {k: torch.zeros(s, dtype=torch.float64, requires_grad=True)
               for k, s in SHAPES.items()}
    tnorm = math.inf if norm_type == "inf" else norm_type
    for step in range(4):
        g = grads_dict(rng, scale=1.0 + step)
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k])
        expected = torch.nn.utils.clip_grad_norm_(list(tparams.values()), max_norm,
                                                  norm_type=tnorm)
        got = clip_grad_norm(g, max_norm, norm_type=norm_type)
        assert abs(got - float(expected)) <= 1e-9 * max(1.0, abs(float(expected)))
        for k, p in tparams.items():
            np.testing.assert_allclose(g[k], p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{k} at step {step}")


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for step in range(3):
        g = grads_dict(rng, scale=3.0)
        tp = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES.values()]
        for p, a in zip(tp, g.values()):
            p.grad = torch.tensor(a)
        torch.nn.utils.clip_grad_value_(tp, 1.5)
        clip_grad_value(g, 1.5)
        for p, a in zip(tp, g.values()):
            np.testing.assert_allclose(a, p.grad.numpy(), rtol=0, atol=1e-15)
        assert max(np.abs(a).max() for a in g.values()) <= 1.5


def test_clip_grad_value_like_min_char_rnn():
    g = np.array([-7.0, -5.0, 0.5, 5.0, 9.0])
    clip_grad_value(g, 5)
    assert g.tolist() == [-5.0, -5.0, 0.5, 5.0, 5.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_if_nonfinite_raises_and_scales_nothing(bad):
    rng = np.random.default_rng(4)
    g = grads_dict(rng, 10.0)
    g["b"][1] = bad
    before = {k: v.copy() for k, v in g.items()}
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm(g, 1.0, error_if_nonfinite=True)
    for k in g:
        np.testing.assert_array_equal(g[k], before[k])


def test_nonfinite_without_error_behaves_like_torch():
    torch = pytest.importorskip("torch")
    g = {"a": np.array([1.0, np.nan, 2.0]), "b": np.array([3.0, 4.0])}
    tp = [torch.zeros(3, dtype=torch.float64, requires_grad=True),
          torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    for p, a in zip(tp, g.values()):
        p.grad = torch.tensor(a)
    expected = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    got = clip_grad_norm(g, 1.0)
    assert math.isnan(got) and math.isnan(float(expected))
    for p, a in zip(tp, g.values()):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(p.grad.numpy()))


def test_accepts_a_list_an_array_and_a_model():
    a = np.full(4, 3.0)
    assert clip_grad_norm(a, 1.0) == pytest.approx(6.0)
    assert np.linalg.norm(a) == pytest.approx(1.0, rel=1e-5)
    b = [np.full(2, 4.0), np.full(2, 3.0)]
    clip_grad_norm(b, 1.0, norm_type=1)
    assert sum(np.abs(x).sum() for x in b) == pytest.approx(1.0, rel=1e-5)
    layer = fastrnn.Linear(3, 2, dtype=np.float64, seed=0)
    layer.grads_flat[...] = 10.0
    total = clip_grad_norm(layer, 2.0)
    assert total == pytest.approx(10.0 * math.sqrt(layer.grads_flat.size))
    assert np.linalg.norm(layer.grads_flat) == pytest.approx(2.0, rel=1e-5)


def test_float32_gradients_stay_float32():
    g = {"a": np.full(5, 2.0, dtype=np.float32)}
    clip_grad_norm(g, 1.0)
    clip_grad_value(g, 0.1)
    assert g["a"].dtype == np.float32
    np.testing.assert_allclose(g["a"], 0.1, rtol=1e-6)


def test_bad_arguments_raise_and_touch_nothing():
    good = np.full(3, 5.0)
    with pytest.raises(TypeError, match=r"grads\[1\].*floating"):
        clip_grad_norm([good, np.arange(3)], 1.0)
    assert np.all(good == 5.0)
    ro = np.full(3, 5.0)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        clip_grad_norm({"x": good, "y": ro}, 1.0)
    assert np.all(good == 5.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(good, -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm(good, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="max_norm"):
        clip_grad_norm(good, "big")
    with pytest.raises(TypeError, match="grads"):
        clip_grad_norm(3.0, 1.0)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value(good, -1)
    with pytest.raises(TypeError, match="error_if_nonfinite"):
        clip_grad_norm(good, 1.0, error_if_nonfinite="yes")
    assert np.all(good == 5.0)


def test_empty_gradients():
    assert clip_grad_norm({}, 1.0) == 0.0
    assert clip_grad_norm([np.zeros(0)], 1.0) == 0.0


# --- large finite gradients (issue 9): clipped to max_norm, never zeroed --------------------

LARGE = [(np.float32, 1e20), (np.float32, 3e38), (np.float64, 1e200), (np.float64, 1e308),
         (np.float64, 1.7976931348623157e308)]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("dtype, value", LARGE)
def test_large_finite_gradients_are_clipped_to_max_norm(dtype, value, norm_type):
    n = 1000
    g = {"a": np.full(600, value, dtype=dtype), "b": np.full(400, -value, dtype=dtype)}
    root = n ** (1.0 / norm_type) if norm_type != math.inf else 1.0
    expected = float(dtype(value)) * root          # inf when beyond the float64 range
    rtol = 1e-6 if dtype == np.float32 else 1e-12  # sums that fit are in the dtype, as torch's
    assert fastrnn.grad_norm(g, norm_type) == pytest.approx(expected, rel=rtol)
    total = clip_grad_norm(g, 2.0, norm_type=norm_type, error_if_nonfinite=True)
    assert total == pytest.approx(expected, rel=rtol)
    np.testing.assert_allclose(g["a"], 2.0 / root, rtol=rtol)
    np.testing.assert_allclose(g["b"], -2.0 / root, rtol=rtol)
    assert g["a"].dtype == dtype
    assert fastrnn.grad_norm(g, norm_type) == pytest.approx(2.0, rel=rtol)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("dtype, exponents", [(np.float32, [0, 30, 64, 100, 110]),
                                              (np.float64, [0, 100, 500, 1000, 1005])])
def test_clipping_is_the_same_at_every_magnitude(dtype, exponents, norm_type):
    """Scaling the gradients by 2**k changes nothing in the clipped result (up to rounding)."""
    rng = np.random.default_rng(5)
    # norm ~5e4: PyTorch's eps (1e-6 in max_norm / (norm + eps)) is below the tolerance
    base = {k: (1e4 * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}
    reference = {k: v.copy() for k, v in base.items()}
    clip_grad_norm(reference, 0.5, norm_type=norm_type)
    rtol = 1e-6 if dtype == np.float32 else 1e-9
    for e in exponents:
        g = {k: np.ldexp(v, e) for k, v in base.items()}
        assert all(np.isfinite(v).all() for v in g.values())
        clip_grad_norm(g, 0.5, norm_type=norm_type, error_if_nonfinite=True)
        for k in g:
            np.testing.assert_allclose(g[k], reference[k], rtol=rtol, err_msg=f"2**{e}: {k}")


def test_large_float32_gradients_agree_with_torch_in_float64():
    """torch accumulates float32 norms in float32 (inf above ~1.8e19 per element); in float64 it
    does not overflow, and fastrnn on the float32 arrays agrees with it."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    g = {k: (1e20 * rng.standard_normal(s)).astype(np.float32) for k, s in SHAPES.items()}
    for norm_type in (2.0, 1.0, math.inf, 3.0):
        ours = {k: v.copy() for k, v in g.items()}
        tp = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
        for p, v in zip(tp, g.values()):
            p.grad = torch.tensor(v.astype(np.float64))
        expected = float(torch.nn.utils.clip_grad_norm_(tp, 1.0, norm_type=norm_type))
        got = clip_grad_norm(ours, 1.0, norm_type=norm_type)
        assert got == pytest.approx(expected, rel=1e-6)
        for p, v in zip(tp, ours.values()):
            np.testing.assert_allclose(v, p.grad.numpy(), rtol=1e-6, atol=0)


def test_an_exploding_relu_srn_is_clipped_not_zeroed(backend):
    """W_hh = 2I, T = 60: BPTT gradients are finite but ~1e20; clipping keeps their direction."""
    H, T = 8, 60
    layer = fastrnn.SRN(1, H, nonlinearity="relu", seed=0)
    layer.load_state_dict({"weight_ih_l0": np.ones((H, 1)), "weight_hh_l0": 2 * np.eye(H),
                           "bias_ih_l0": np.zeros(H), "bias_hh_l0": np.zeros(H)})
    y, _ = layer.forward(np.ones((T, 2, 1), np.float32))
    layer.backward(np.ones_like(y))
    before = layer.grads_flat.astype(np.float64)
    assert np.isfinite(before).all() and np.abs(before).max() > 1e19
    total = clip_grad_norm(layer, 1.0, error_if_nonfinite=True)
    assert total == pytest.approx(np.linalg.norm(before), rel=1e-6)
    after = layer.grads_flat
    assert np.isfinite(after).all() and np.count_nonzero(after) == np.count_nonzero(before)
    assert fastrnn.grad_norm(layer) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(after, before / np.linalg.norm(before), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiny_gradients_keep_their_norm(dtype):
    """Squares of 1e-30 (float32) or 1e-200 (float64) underflow; the norm must not."""
    value = 1e-30 if dtype == np.float32 else 1e-200
    g = {"zeros": np.zeros(5, dtype=dtype), "tiny": np.full(400, value, dtype=dtype)}
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for norm_type, root in ((2.0, 20.0), (1.0, 400.0), (3.0, 400 ** (1 / 3))):
        assert fastrnn.grad_norm(g, norm_type) == pytest.approx(float(dtype(value)) * root,
                                                                rel=rtol)
    assert clip_grad_norm(g, 1.0) == pytest.approx(float(dtype(value)) * 20, rel=rtol)
    np.testing.assert_array_equal(g["tiny"], dtype(value))      # far below max_norm: untouched
