"""Linear, Embedding and the losses: finite differences in float64, PyTorch agreement, errors."""

import numpy as np
import pytest

import fastrnn
from conftest import assert_grad_close as assert_close
from conftest import numeric_grad
from fastrnn import Embedding, Linear, mse, softmax_cross_entropy


# --- Linear -----------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_linear_finite_differences(bias):
    rng = np.random.default_rng(0)
    lin = Linear(4, 3, bias=bias, dtype=np.float64, seed=1)
    x = rng.standard_normal((2, 5, 4))
    R = rng.standard_normal((2, 5, 3))

    def loss():
        return float((lin.forward(x, train=False) * R).sum())

    lin.forward(x)
    dx = lin.backward(R)
    assert_close("dx", dx, numeric_grad(loss, x))
    for k, p in lin.params.items():
        assert_close(k, lin.grads[k], numeric_grad(loss, p))


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    tl = torch.nn.Linear(5, 3).double()
    lin = Linear(5, 3, dtype=np.float64)
    lin.load_state_dict(tl.state_dict())
    x = rng.standard_normal((7, 5))
    tx = torch.tensor(x, requires_grad=True)
    ty = tl(tx)
    y = lin.forward(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    dx = lin.backward(dy)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lin.grads["weight"], tl.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.grads["bias"], tl.bias.grad.numpy(), rtol=1e-12)


def test_linear_grads_accumulate_views_and_defaults():
    lin = Linear(3, 2, dtype=np.float64, seed=0)
    assert lin.params["weight"].base is lin.params_flat or \
        np.shares_memory(lin.params["weight"], lin.params_flat)
    assert np.abs(lin.params_flat).max() <= 1 / np.sqrt(3)
    x = np.ones((4, 3))
    lin.forward(x)
    lin.backward(np.ones((4, 2)))
    once = lin.grads_flat.copy()
    lin.forward(x)
    lin.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.grads_flat, 2 * once)
    lin.zero_grad()
    assert not lin.grads_flat.any()
    y32 = Linear(3, 2, seed=0).forward(np.ones((2, 3)))
    assert y32.dtype == np.float32


def test_linear_errors():
    lin = Linear(3, 2, dtype=np.float64)
    with pytest.raises(RuntimeError, match="forward"):
        lin.backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 3\), got \(2, 4\)"):
        lin.forward(np.ones((2, 4)))
    with pytest.raises(TypeError, match="floating"):
        lin.forward(np.ones((2, 3), dtype=int))
    lin.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dy"):
        lin.backward(np.ones((3, 2)))
    lin.forward(np.ones((5, 3)), train=False)     # inference keeps the training cache
    with pytest.raises(ValueError, match=r"dy: expected the shape of y \(2, 2\)"):
        lin.backward(np.ones((5, 2)))
    before = lin.params_flat.copy()
    with pytest.raises(ValueError, match="bias"):
        lin.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})
    with pytest.raises(KeyError, match="bias"):
        lin.load_state_dict({"weight": np.zeros((2, 3))})
    np.testing.assert_array_equal(lin.params_flat, before)
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 2)


# --- Embedding ----------------------------------------------------------------------

def test_embedding_finite_differences_with_repeated_ids():
    rng = np.random.default_rng(2)
    emb = Embedding(6, 3, dtype=np.float64, seed=0)
    ids = np.array([[1, 4, 1], [0, 1, 5]])
    R = rng.standard_normal((2, 3, 3))

    def loss():
        return float((emb.forward(ids, train=False) * R).sum())

    emb.forward(ids)
    assert emb.backward(R) is None
    assert_close("weight", emb.grads["weight"], numeric_grad(loss, emb.params["weight"]))
    np.testing.assert_array_equal(emb.grads["weight"][[2, 3]], 0)


def test_embedding_matches_torch_with_padding_idx():
    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(7, 4, padding_idx=2).double()
    emb = Embedding(7, 4, padding_idx=2, dtype=np.float64)
    np.testing.assert_array_equal(emb.params["weight"][2], 0)
    emb.load_state_dict(te.state_dict())
    ids = np.array([[2, 3, 3], [6, 2, 0]])
    y = emb.forward(ids)
    ty = te(torch.tensor(ids))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = np.random.default_rng(3).standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    emb.backward(dy)
    np.testing.assert_allclose(emb.grads["weight"], te.weight.grad.numpy(), rtol=1e-13)


def test_embedding_errors():
    emb = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"\[0, 5\).*ids\[1\] = 7"):
        emb.forward(np.array([1, 7]))
    with pytest.raises(ValueError, match="-1"):
        emb.forward(np.array([[0, -1]]))
    with pytest.raises(TypeError, match="integer"):
        emb.forward(np.array([1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 2, padding_idx=5)
    emb.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="dy"):
        emb.backward(np.ones((2, 3)))


# --- losses -------------------------------------------------------------------------

def test_cross_entropy_finite_differences_with_mask():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 4, 5))
    targets = rng.integers(0, 5, (3, 4))
    mask = rng.random((3, 4)) > 0.3
    loss, d = softmax_cross_entropy(logits, targets, mask=mask)
    num = numeric_grad(lambda: softmax_cross_entropy(logits, targets, mask=mask)[0], logits)
    assert_close("dlogits", d, num)
    assert np.all(d[~mask] == 0)
    rows = logits[mask]
    logp = rows - np.log(np.exp(rows).sum(-1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(len(rows)), targets[mask]].mean(), rel=1e-12)


def test_cross_entropy_matches_torch_with_ignore_index():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((8, 6)) * 3
    targets = rng.integers(0, 6, 8)
    targets[[1, 5]] = -100
    tl = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tl, torch.tensor(targets), ignore_index=-100)
    tloss.backward()
    loss, d = softmax_cross_entropy(logits, targets, ignore_index=-100)
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(d, tl.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cross_entropy_is_stable_and_masks_garbage():
    logits = np.array([[1e4, 0.0, -1e4], [np.nan, np.inf, 0.0]])
    loss, d = softmax_cross_entropy(logits, np.array([1, -7]), mask=np.array([True, False]))
    assert np.isfinite(loss) and loss == pytest.approx(1e4)
    assert np.all(np.isfinite(d)) and np.all(d[1] == 0)
    loss32, d32 = softmax_cross_entropy(np.full((2, 3), 50.0, dtype=np.float32), np.array([0, 2]))
    assert d32.dtype == np.float32 and loss32 == pytest.approx(np.log(3), rel=1e-6)
    loss0, d0 = softmax_cross_entropy(np.ones((2, 3)), np.array([0, 1]), mask=np.zeros(2))
    assert loss0 == 0.0 and not d0.any()


def test_cross_entropy_weighted_mask():
    rng = np.random.default_rng(6)
    logits, targets = rng.standard_normal((4, 3)), np.array([0, 1, 2, 1])
    w = np.array([1.0, 2.0, 0.0, 0.5])
    loss, _ = softmax_cross_entropy(logits, targets, mask=w)
    per = [softmax_cross_entropy(logits[i:i + 1], targets[i:i + 1])[0] for i in range(4)]
    assert loss == pytest.approx(np.dot(w, per) / w.sum(), rel=1e-12)


def test_cross_entropy_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\[0, 3\).*targets\[1\] = 3"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"logits.shape\[:-1\] = \(2,\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="floating"):
        softmax_cross_entropy(np.zeros((2, 3), dtype=int), np.array([0, 1]))
    with pytest.raises(ValueError, match="mask"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), mask=np.ones(3))
    with pytest.raises(ValueError, match="weights >= 0"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1]), mask=np.array([1.0, -1.0]))


def test_mse_finite_differences_and_leading_mask():
    rng = np.random.default_rng(7)
    pred, target = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    mask = rng.random((4, 3)) > 0.4
    loss, d = mse(pred, target, mask=mask)
    assert_close("dpred", d, numeric_grad(lambda: mse(pred, target, mask=mask)[0], pred))
    diff = (pred - target)[mask]
    assert loss == pytest.approx((diff ** 2).mean(), rel=1e-12)
    target[~mask] = np.nan                   # masked-out targets never leak in
    loss2, d2 = mse(pred, target, mask=mask)
    assert loss2 == pytest.approx(loss) and np.all(np.isfinite(d2))


def test_mse_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    tp = torch.tensor(pred, requires_grad=True)
    tloss = torch.nn.functional.mse_loss(tp, torch.tensor(target))
    tloss.backward()
    loss, d = mse(pred, target)
    assert loss == pytest.approx(tloss.item(), rel=1e-13)
    np.testing.assert_allclose(d, tp.grad.numpy(), rtol=1e-13)


def test_mse_errors():
    with pytest.raises(ValueError, match="shape of pred"):
        mse(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="leading part"):
        mse(np.zeros((2, 3)), np.zeros((2, 3)), mask=np.ones(3))
    with pytest.raises(TypeError, match="floating"):
        mse(np.zeros(3, dtype=int), np.zeros(3))


def test_softmax_helpers():
    z = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])
    np.testing.assert_allclose(fastrnn.softmax(z), [[0.5, 0.5], [0.25, 0.75]])
    np.testing.assert_allclose(np.exp(fastrnn.log_softmax(z)).sum(-1), 1.0)
