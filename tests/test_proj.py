"""The LSTM's projection, ``proj_size`` (issue 15, item 3): PyTorch's semantics on both engines.

With 0 < P < H every layer and direction computes h_t = W_hr (o*tanh(c_t)), W_hr
(P, H) named ``weight_hr_l{k}`` after the four other parameters; h and the output
have P features, c keeps H. What is held here:

* PyTorch: ``torch.nn.LSTM(proj_size=P)`` loaded with our ``state_dict`` gives the
  same outputs, final states and gradients (every parameter, x, h0, c0), stacked,
  bidirectional, ``batch_first``, with ``lengths`` (``pack_padded_sequence``,
  unsorted), float64 to 1e-12 and float32 to 1e-5, on both engines;
* finite differences in float64 on both engines (the conftest helpers);
* the C engine against the NumPy engine on every instruction set, the state-gradient
  trace (dL/dh_t (T, N, P)) included;
* the same bits on 1..4 threads and from call to call, at sizes where steps and
  products are split over threads;
* streams (steps and chunks) and ``forward(train=False)``: the same bits;
* proj_size=0 is the plain LSTM; the errors (sizes, types, state shapes, the
  binding's checks of every new array, packed buffers of the other kind), ONNX and
  Keras refusing a projection, the lab refusing it, save/load and state_dict
  round trips, the patterns' heads reading D*P features.
"""

import os
import tempfile

import numpy as np
import pytest

import fastrnn
from conftest import assert_grad_close, isa, numeric_grad

_ext = pytest.importorskip("fastrnn.core._ext")

ISAS = _ext.available_isas()
THREAD_COUNTS = (1, 2, 3, 4)
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


# --- helpers ------------------------------------------------------------------------

def proj_state(layer, N, rng, dtype=np.float64):
    """A random (h, c): h (L*D, N, P), c (L*D, N, H)."""
    LD = layer.num_layers * layer.num_directions
    return (rng.standard_normal((LD, N, layer.proj_size)).astype(dtype),
            rng.standard_normal((LD, N, layer.hidden_size)).astype(dtype))


def run_layer(layer, x, state0, lengths, dy, dstate, trace=False):
    """Everything a layer computes in one forward and backward, as a dict of arrays."""
    out = {}
    y, (h, c) = layer.forward(x, state0, lengths=lengths, train=False)
    out.update(y_inference=y, h_inference=h, c_inference=c)
    y, (h, c) = layer.forward(x, state0, lengths=lengths)
    out.update(y=y, h=h, c=c)
    layer.zero_grad()
    dx, (dh0, dc0), traces = layer._backward(dy, dstate, trace=trace)
    out.update(dx=dx, dh0=dh0, dc0=dc0)
    out.update({f"grad {k}": g.copy() for k, g in layer.grads.items()})
    for k, t in enumerate(traces or []):
        out.update({f"trace {k} {key}": v for key, v in t.items()})
    return out


def setup(T, N, I, H, P, dtype, seed=3, lengths=True, **opts):
    """A layer, its inputs and its output gradients (fixed seeds)."""
    rng = np.random.default_rng(seed)
    layer = fastrnn.LSTM(I, H, proj_size=P, dtype=dtype, seed=seed, **opts)
    bf = layer.batch_first
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    lens = None
    if lengths:
        lens = np.concatenate([[T, 1], rng.integers(1, T + 1, N - 3), [T]])[:N]
    state0 = proj_state(layer, N, rng, dtype)
    D = layer.num_directions
    dy = rng.standard_normal((N, T, D * P) if bf else (T, N, D * P)).astype(dtype)
    dstate = proj_state(layer, N, rng, dtype)
    return layer, x, state0, lens, dy, dstate


def assert_same_bits(label, got, want):
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), label
    if got.tobytes() != want.tobytes():
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        raise AssertionError(f"{label}: {bad.size} of {got.size} elements differ")


def assert_close(label, got, want, dtype):
    np.testing.assert_allclose(got, want, err_msg=label, **TOL[dtype])


# the conftest's engine fixture, on the C engine only
c_engine_only = pytest.mark.parametrize("backend", ["c"], indirect=True)


# --- PyTorch ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4, 1]])
def test_matches_torch_lstm_with_proj_size(backend, dtype, batch_first, lengths):
    torch = pytest.importorskip("torch")
    T, N, I, H, P = 5, 4, 3, 6, 4
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    layer, x, (h0, c0), _, dy, (dh, dc) = setup(T, N, I, H, P, dtype, num_layers=2,
                                                bidirectional=True, batch_first=batch_first)
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=batch_first,
                           proj_size=P, dtype=tdtype)
    assert list(theirs.state_dict()) == list(layer.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    if lengths is not None:  # padding the layer never reads, nor must torch
        lengths = np.array(lengths)
        for n, L in enumerate(lengths):
            (x[n, L:] if batch_first else x[L:, n])[...] = 0
            (dy[n, L:] if batch_first else dy[L:, n])[...] = 0
    y, (h, c) = layer.forward(x, (h0, c0), lengths=lengths)
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(dy, (dh, dc))

    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                      batch_first=batch_first,
                                                      enforce_sorted=False)
    out, (ht, ct) = theirs(inp, (h0t, c0t))
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                        total_length=T)
    loss = ((out * torch.tensor(dy)).sum() + (ht * torch.tensor(dh)).sum()
            + (ct * torch.tensor(dc)).sum())
    loss.backward()
    assert y.dtype == dtype and y.shape == tuple(out.shape) == ((N, T, 2 * P) if batch_first
                                                              else (T, N, 2 * P))
    assert h.shape == (4, N, P) and c.shape == (4, N, H)
    for name, ours, want in [("y", y, out), ("h", h, ht), ("c", c, ct), ("dx", dx, xt.grad),
                             ("dh0", dh0, h0t.grad), ("dc0", dc0, c0t.grad)]:
        assert_close(name, ours, want.detach().numpy(), dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"grad {name}", layer.grads[name], p.grad.numpy(), dtype)


# --- finite differences -------------------------------------------------------------

@pytest.mark.parametrize("opts,lengths", [
    (dict(num_layers=1), None),
    (dict(num_layers=2, bidirectional=True), [4, 2, 3]),
    (dict(num_layers=1, bidirectional=True, batch_first=True, bias=False), [1, 4, 4]),
], ids=["plain", "2layers-bidir-lengths", "bidir-batchfirst-nobias-lengths"])
def test_gradients_match_finite_differences(backend, opts, lengths):
    T, N, I, H, P = 4, 3, 3, 4, 2
    layer, x, state0, _, wy, w_state = setup(T, N, I, H, P, np.float64, seed=7, **opts)
    lengths = None if lengths is None else np.array(lengths)

    def loss():
        y, state = layer.forward(x, state0, lengths=lengths)
        return float((y * wy).sum() + sum((s * w).sum() for s, w in zip(state, w_state)))

    loss()
    layer.zero_grad()
    dx, dstate0 = layer.backward(wy, w_state)
    assert any(k.startswith("weight_hr") for k in layer.params)
    for name, p in layer.params.items():
        assert_grad_close(name, layer.grads[name], numeric_grad(loss, p), 1e-6)
    assert_grad_close("dx", dx, numeric_grad(loss, x), 1e-6)
    for k, (s0, ds0) in enumerate(zip(state0, dstate0)):
        assert_grad_close(f"dstate0[{k}]", ds0, numeric_grad(loss, s0), 1e-6)


# --- the C engine against the NumPy engine ---------------------------------------------

@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_c_engine_matches_numpy_engine(isa_name, dtype):
    T, N, I, H, P = 6, 5, 4, 9, 3
    args = setup(T, N, I, H, P, dtype, num_layers=2, bidirectional=True)
    previous = fastrnn.get_backend()
    try:
        fastrnn.set_backend("numpy")
        want = run_layer(*args, trace=True)
        fastrnn.set_backend("c")
        with isa(isa_name):
            got = run_layer(*args, trace=True)
    finally:
        fastrnn.set_backend(previous)
    assert got.keys() == want.keys()
    assert want["trace 0 dh"].shape == (T, N, P) and want["trace 0 dc"].shape == (T, N, H)
    tol = dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for key in want:
        assert got[key].dtype == dtype, key
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **tol)


@c_engine_only
def test_float32_agrees_with_float64(backend):
    T, N, I, H, P = 5, 3, 4, 7, 3
    r64 = run_layer(*setup(T, N, I, H, P, np.float64, num_layers=2, bidirectional=True))
    r32 = run_layer(*setup(T, N, I, H, P, np.float32, num_layers=2, bidirectional=True))
    for key in r64:
        assert r32[key].dtype == np.float32
        np.testing.assert_allclose(r32[key], r64[key], rtol=1e-3, atol=1e-4, err_msg=key)


# --- threads and repeat calls ---------------------------------------------------------

@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("size", ["split", "tiny"])
@c_engine_only
def test_same_bits_on_every_thread_count(backend, isa_name, size):
    # "split": a step (N*4*H*P multiply-adds) and H, P over one panel of the widest
    # kernel, T*N over one 64-row block: steps and products are shared among threads
    dims = {"split": (11, 7, 13, 115, 71), "tiny": (4, 3, 3, 5, 2)}[size]
    for dtype, opts in ((np.float64, dict(num_layers=2, bidirectional=True)),
                        (np.float32, dict(batch_first=True, bias=False))):
        args = setup(*dims, dtype, lengths="num_layers" in opts, **opts)
        runs = {}
        with isa(isa_name):
            for n in THREAD_COUNTS:
                previous = fastrnn.set_num_threads(n)
                try:
                    runs[n] = run_layer(*args, trace=True)
                    if n == 2:
                        runs["again"] = run_layer(*args, trace=True)
                finally:
                    fastrnn.set_num_threads(previous)
        for n, got in runs.items():
            for key, want in runs[1].items():
                assert_same_bits(f"{dtype.__name__} {n} threads: {key}", got[key], want)


# --- streams and inference --------------------------------------------------------------

@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@c_engine_only
def test_stream_steps_and_chunks_match_inference_bitwise(backend, isa_name, dtype):
    T, N, I, H, P = 9, 3, 4, 10, 3
    rng = np.random.default_rng(0)
    with isa(isa_name):
        layer = fastrnn.LSTM(I, H, num_layers=2, proj_size=P, dtype=dtype, seed=1)
        x = rng.standard_normal((T, N, I)).astype(dtype)
        state0 = proj_state(layer, N, rng, dtype)
        y, (h, c) = layer.forward(x, state0, train=False)
        s = layer.stream(batch_size=N, state=state0)
        ys = np.stack([s.step(x_t) for x_t in x])
        assert ys.shape == (T, N, P)
        assert_same_bits("steps", ys, y)
        assert_same_bits("h", s.state[0], h)
        assert_same_bits("c", s.state[1], c)
        s.reset(state0)
        chunks = np.concatenate([s.run(x[:4]), s.run(x[4:])])
        assert_same_bits("chunks", chunks, y)
        # the training forward computes the same bits as inference
        y_train, _ = layer.forward(x, state0)
        assert_same_bits("train", y_train, y)
        bi = fastrnn.LSTM(I, H, bidirectional=True, proj_size=P, dtype=dtype, seed=2)
        y_bi, _ = bi.forward(x, train=False)
        assert_same_bits("bidirectional run", bi.stream(batch_size=N).run(x), y_bi)


def test_stream_on_the_numpy_engine_matches_forward():
    previous = fastrnn.get_backend()
    fastrnn.set_backend("numpy")
    try:
        layer = fastrnn.LSTM(3, 6, num_layers=2, proj_size=2, dtype=np.float64, seed=0)
        x = np.random.default_rng(0).standard_normal((5, 2, 3))
        y, (h, c) = layer.forward(x, train=False)
        s = layer.stream(batch_size=2)
        np.testing.assert_array_equal(np.stack([s.step(x_t) for x_t in x]), y)
        np.testing.assert_array_equal(s.state[0], h)
    finally:
        fastrnn.set_backend(previous)


@c_engine_only
def test_packed_weights_follow_the_parameters(backend):
    layer = fastrnn.LSTM(3, 6, proj_size=2, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    y1, _ = layer.forward(x, train=False)
    layer.params["weight_hr_l0"][...] *= 2      # bumps param_version: packed again
    y2, _ = layer.forward(x, train=False)
    y_train, _ = layer.forward(x)
    assert not np.allclose(y1, y2)
    assert_same_bits("repacked", y2, y_train)


# --- proj_size = 0 and the parameters ----------------------------------------------------

def test_proj_size_zero_is_the_plain_lstm(backend):
    plain = fastrnn.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
    zero = fastrnn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=0, seed=0)
    assert zero.proj_size == 0 and "proj_size" not in repr(zero)
    assert list(zero.state_dict()) == list(plain.state_dict())
    assert not any("weight_hr" in k for k in zero.params)
    per_direction = [20 * 3 + 20 * 5 + 40, 20 * 10 + 20 * 5 + 40]    # layers 0 and 1
    assert zero.num_parameters == plain.num_parameters == 2 * sum(per_direction)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    (y0, s0), (y1, s1) = zero.forward(x), plain.forward(x)
    assert_same_bits("y", y0, y1)
    assert_same_bits("c", s0[1], s1[1])
    assert y0.shape == (4, 2, 10) and s0[0].shape == (4, 2, 5)


def test_parameters_names_shapes_init_and_repr():
    H, P = 9, 4
    layer = fastrnn.LSTM(3, H, num_layers=2, bidirectional=True, proj_size=P, seed=0)
    names = list(layer.params)
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_hr_l0"]
    assert names[5] == "weight_ih_l0_reverse" and names[9] == "weight_hr_l0_reverse"
    assert layer.params["weight_ih_l1"].shape == (4 * H, 2 * P)
    assert layer.params["weight_hh_l1_reverse"].shape == (4 * H, P)
    assert layer.params["weight_hr_l1"].shape == (P, H)
    bound = 1 / np.sqrt(H)
    assert np.abs(layer.params_flat).max() <= bound
    assert np.abs(layer.params["weight_hr_l1"]).max() > bound / 2    # drawn, not zero
    assert "proj_size=4" in repr(layer)
    assert fastrnn.LSTM(3, H, proj_size=P, bias=False, seed=0).num_parameters == \
        4 * H * 3 + 4 * H * P + P * H


def test_state_dict_and_save_load_round_trip(backend):
    layer = fastrnn.LSTM(3, 6, num_layers=2, proj_size=2, dtype=np.float64, seed=0)
    other = fastrnn.LSTM(3, 6, num_layers=2, proj_size=2, dtype=np.float64, seed=1)
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other.params["weight_hr_l1"], layer.params["weight_hr_l1"])
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    with tempfile.TemporaryDirectory() as tmp:
        path = fastrnn.save(layer, os.path.join(tmp, "lstmp.npz"))
        loaded = fastrnn.load(path)
    assert loaded.proj_size == 2 and loaded.params["weight_hr_l0"].shape == (2, 6)
    np.testing.assert_array_equal(loaded.params_flat, layer.params_flat)
    assert_same_bits("loaded", loaded.forward(x)[0], layer.forward(x)[0])
    with pytest.raises((KeyError, ValueError)):
        fastrnn.LSTM(3, 6, num_layers=2, dtype=np.float64).load_state_dict(layer.state_dict())


def test_sequence_classifier_reads_d_times_p_features(backend):
    rnn = fastrnn.LSTM(3, 6, bidirectional=True, proj_size=2, dtype=np.float64, seed=0)
    model = fastrnn.SequenceClassifier(rnn, 4, seed=0)
    assert model.head.in_features == 4 if hasattr(model.head, "in_features") else True
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    logits = model.forward(x)
    assert logits.shape == (2, 4)
    dx = model.backward(np.ones_like(logits))
    assert np.asarray(dx).shape == x.shape


# --- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad,error", [(5, ValueError), (9, ValueError), (-1, ValueError),
                                       (2.0, TypeError), (True, TypeError), ("2", TypeError)])
def test_bad_proj_size(bad, error):
    with pytest.raises(error, match="proj_size"):
        fastrnn.LSTM(3, 5, proj_size=bad)


def test_state_and_dy_shapes_name_proj_size(backend):
    layer = fastrnn.LSTM(3, 5, proj_size=2, seed=0)
    x = np.zeros((4, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"proj_size\) = \(1, 2, 2\)"):
        layer.forward(x, (np.zeros((1, 2, 5)), np.zeros((1, 2, 5))))
    with pytest.raises(ValueError, match=r"hidden_size\) = \(1, 2, 5\)"):
        layer.forward(x, (np.zeros((1, 2, 2)), np.zeros((1, 2, 2))))
    y, _ = layer.forward(x)
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros((4, 2, 5)))


@c_engine_only
def test_binding_checks_every_new_array(backend):
    from fastrnn.core import c_engine as C
    rng = np.random.default_rng(0)
    T, N, I, H, P = 3, 2, 3, 5, 2
    x, h0, c0 = rng.standard_normal((T, N, I)), np.zeros((N, P)), np.zeros((N, H))
    W_ih, W_hh = rng.standard_normal((4 * H, I)), rng.standard_normal((4 * H, P))
    b, W_hr = np.zeros(4 * H), rng.standard_normal((P, H))
    for bad in (W_hr.astype(np.float32), rng.standard_normal((P, H + 1))[:, :H],
                np.asfortranarray(W_hr), np.zeros((H, H)), np.zeros(P * H)):
        with pytest.raises(ValueError, match="W_hr"):
            C.lstm_forward(x, h0, c0, W_ih, W_hh, b, b, W_hr=bad)
    with pytest.raises(ValueError, match="W_hh"):
        C.lstm_forward(x, h0, c0, W_ih, rng.standard_normal((4 * H, H)), b, b, W_hr=W_hr)
    with pytest.raises(ValueError, match="h0"):
        C.lstm_forward(x, np.zeros((N, H)), c0, W_ih, W_hh, b, b, W_hr=W_hr)
    with pytest.raises(ValueError, match="W_hr: a projection"):    # the LSTM's only
        _ext.forward("gru", x, np.zeros((N, H)), None, rng.standard_normal((3 * H, I)),
                     rng.standard_normal((3 * H, H)), np.zeros(3 * H), np.zeros(3 * H),
                     W_hr=W_hr)
    y, hT, cT, cache = C.lstm_forward(x, h0, c0, W_ih, W_hh, b, b, W_hr=W_hr)
    assert y.shape == (T, N, P) and cache["aux"].shape == (T, N, H)
    grads = {"dW_ih": np.zeros_like(W_ih), "dW_hh": np.zeros_like(W_hh), "db_ih": np.zeros(4 * H),
             "db_hh": np.zeros(4 * H)}
    dy, dhT, dcT = np.ones_like(y), np.zeros_like(hT), np.zeros_like(cT)
    with pytest.raises(ValueError, match="dW_hr"):
        C.lstm_backward(dy, dhT, dcT, cache, grads)
    with pytest.raises(ValueError, match="dW_hr"):
        C.lstm_backward(dy, dhT, dcT, cache, dict(grads, dW_hr=np.zeros((H, P))))
    with pytest.raises(ValueError, match="dy"):
        C.lstm_backward(np.ones((T, N, H)), dhT, dcT, cache,
                        dict(grads, dW_hr=np.zeros((P, H))))
    bad_cache = dict(cache, aux=np.zeros((T, N, P)))
    with pytest.raises(ValueError, match="aux"):
        C.lstm_backward(dy, dhT, dcT, bad_cache, dict(grads, dW_hr=np.zeros((P, H))))
    assert not any(g.any() for g in grads.values())      # nothing was added on refusal
    dW_hr = np.zeros((P, H))
    C.lstm_backward(dy, dhT, dcT, cache, dict(grads, dW_hr=dW_hr))
    assert dW_hr.any()
    # a buffer packed without the projection is refused by a forward with it, and back
    plain = C.pack("lstm", W_ih, rng.standard_normal((4 * H, H)), b, b)
    with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
        C.lstm_forward(x, h0, c0, W_ih, W_hh, b, b, W_hr=W_hr, packed=plain, train=False)
    proj = C.pack("lstm", W_ih, W_hh, b, b, W_hr)
    with pytest.raises(ValueError):
        C.lstm_forward(x, np.zeros((N, H)), c0, W_ih, rng.standard_normal((4 * H, H)), b, b,
                       packed=proj, train=False)
    y_packed, _, _, _ = C.lstm_forward(x, h0, c0, W_ih, W_hh, b, b, W_hr=W_hr, packed=proj,
                                       train=False)
    assert_same_bits("packed", y_packed, y)


@c_engine_only
def test_workspace_size_is_exact(backend):
    layer, x, state0, lengths, dy, dstate = setup(4, 3, 3, 7, 3, np.float64, bidirectional=True)
    layer.forward(x, state0, lengths=lengths)
    try:
        _ext._set_workspace_shortfall(1)
        with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
            layer.forward(x, state0, lengths=lengths)
        with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
            layer.forward(x, state0, lengths=lengths, train=False)
    finally:
        _ext._set_workspace_shortfall(0)
    layer.forward(x, state0, lengths=lengths)
    layer.backward(dy, dstate)


def test_onnx_keras_and_the_lab_refuse_a_projection():
    from fastrnn.interop import keras as K
    from fastrnn.interop import onnx_export
    from fastrnn.lab.flow import backward_with_flow
    from fastrnn.lab.rtrl import RTRL
    layer = fastrnn.LSTM(3, 5, proj_size=2, seed=0)
    with pytest.raises(ValueError, match="proj_size=2"):
        onnx_export._check_recurrent("model", layer)
    with pytest.raises(ValueError, match="proj_size=2"):
        K.to_keras_weights(layer)
    with pytest.raises(ValueError, match="proj_size=2"):
        K.load_keras_weights(layer, [[np.zeros((3, 20)), np.zeros((2, 20)), np.zeros(20)]])
    layer.forward(np.zeros((4, 1, 3), np.float32))
    with pytest.raises(ValueError, match="proj_size=2"):
        backward_with_flow(layer, np.ones((4, 1, 2), np.float32))
    with pytest.raises(ValueError, match="proj_size=2"):
        RTRL(layer)
    # the plain LSTM still converts and runs RTRL
    assert len(K.to_keras_weights(fastrnn.LSTM(3, 5, seed=0))[0]) == 3
    RTRL(fastrnn.LSTM(3, 5, seed=0))


def test_onnx_export_raises_naming_proj_size():
    pytest.importorskip("onnx")
    import fastrnn.onnx as fonnx
    with pytest.raises(ValueError, match="proj_size"):
        fonnx.to_onnx(fastrnn.LSTM(3, 5, proj_size=2, seed=0))
