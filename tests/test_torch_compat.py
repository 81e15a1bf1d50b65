"""Agreement with PyTorch (skipped when torch is not installed; it is never a dependency).

Two oracles: torch.nn.RNN/LSTM/GRU with the same state_dict (for what PyTorch
has), and a step-by-step torch autograd loop (for the variants it lacks: the
sigmoid and residual SRN and the reset-before GRU).
"""

import numpy as np
import pytest

import fastrnn
from conftest import CELL_VARIANTS, make_layer, variant_id

torch = pytest.importorskip("torch")

TORCH_CLASSES = {"SRN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}


def has_torch_module(variant):
    name, kw = variant
    return not (kw.get("nonlinearity") == "sigmoid" or kw.get("residual")
                or kw.get("reset_after") is False)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("variant", [v for v in CELL_VARIANTS if has_torch_module(v)],
                         ids=variant_id)
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch_module_with_packed_lengths(backend, variant, batch_first, rng):
    T, N, I, H = 7, 4, 3, 5
    ours = make_layer(variant, input_size=I, hidden_size=H, num_layers=2, bidirectional=True,
                      batch_first=batch_first, dtype=np.float64, seed=11)
    kw = {"nonlinearity": variant[1]["nonlinearity"]} if variant[0] == "SRN" else {}
    theirs = TORCH_CLASSES[variant[0]](I, H, num_layers=2, bidirectional=True,
                                       batch_first=batch_first, dtype=torch.float64, **kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    lengths = np.array([7, 2, 5, 1])
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I))
    state0 = tuple(rng.standard_normal((4, N, H)) for _ in range(2 if variant[0] == "LSTM" else 1))
    y, state = ours.forward(x, state0 if len(state0) == 2 else state0[0], lengths=lengths)

    xt = torch.tensor(x, requires_grad=True)
    s0t = tuple(torch.tensor(s, requires_grad=True) for s in state0)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                     batch_first=batch_first,
                                                     enforce_sorted=False)
    out, st = theirs(packed, s0t if len(s0t) == 2 else s0t[0])
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                   total_length=T)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    for a, b in zip(as_tuple(state), as_tuple(st)):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-13)

    dy = rng.standard_normal(y.shape)
    dstate = tuple(rng.standard_normal(s.shape) for s in as_tuple(state))
    loss = (yt * torch.tensor(dy)).sum() + sum((s * torch.tensor(d)).sum()
                                               for s, d in zip(as_tuple(st), dstate))
    loss.backward()
    dx, dstate0 = ours.backward(dy, dstate if len(dstate) == 2 else dstate[0])
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(as_tuple(dstate0), s0t):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def torch_cell_loop(variant, x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """A plain autograd loop over one layer and direction: the textbook equations."""
    name, kw = variant
    H = h0.shape[1]
    h, c, ys = h0, c0, []
    for t in range(x.shape[0]):
        gx = x[t] @ W_ih.T + b_ih
        if name == "SRN":
            f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[kw["nonlinearity"]]
            a = f(gx + h @ W_hh.T + b_hh)
            h = h + a if kw.get("residual") else a
        elif name == "LSTM":
            g = gx + h @ W_hh.T + b_hh
            i, f, gg, o = (g[:, k * H:(k + 1) * H] for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            gh = h @ W_hh.T + b_hh
            r = torch.sigmoid(gx[:, :H] + gh[:, :H])
            z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            if kw["reset_after"]:
                n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
            else:
                n = torch.tanh(gx[:, 2 * H:] + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:])
            h = (1 - z) * n + z * h
        ys.append(h)
    return torch.stack(ys), h, c


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_matches_a_torch_autograd_loop(backend, variant, rng):
    T, N, I, H = 6, 3, 4, 5
    layer = make_layer(variant, input_size=I, hidden_size=H, dtype=np.float64, seed=2)
    x = rng.standard_normal((T, N, I))
    h0, c0 = rng.standard_normal((1, N, H)), rng.standard_normal((1, N, H))
    state0 = (h0, c0) if variant[0] == "LSTM" else h0
    y, state = layer.forward(x, state0)
    dy = rng.standard_normal(y.shape)
    dh = rng.standard_normal((1, N, H))
    dx, dstate0 = layer.backward(dy, (dh, np.zeros_like(dh)) if variant[0] == "LSTM" else dh)

    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[0], requires_grad=True)
    yt, hT, _ = torch_cell_loop(variant, xt, h0t, torch.tensor(c0[0]), tensors["weight_ih_l0"],
                                tensors["weight_hh_l0"], tensors["bias_ih_l0"],
                                tensors["bias_hh_l0"])
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    ((yt * torch.tensor(dy)).sum() + (hT * torch.tensor(dh[0])).sum()).backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(as_tuple(dstate0)[0][0], h0t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in tensors.items():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_weights_trained_here_load_into_torch_and_back(rng):
    ours = fastrnn.LSTM(3, 4, num_layers=2, seed=0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    back = fastrnn.LSTM(3, 4, num_layers=2, seed=1)
    back.load_state_dict(theirs.state_dict())  # tensors, requires_grad included
    assert np.array_equal(back.params_flat, ours.params_flat)
