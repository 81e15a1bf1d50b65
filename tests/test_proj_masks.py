"""Variational dropout and zoneout for the projected LSTM (``proj_size`` P > 0), both engines.

With ``h_t = W_hr (o*tanh(c_t))`` the h-shaped masks are P wide: ``masks.h`` (N, P)
multiplies h_{t-1} in ``W_hh (h_{t-1} * mask_h)``; ``zone_h`` (T, N, P) zones the
projected ``h~_t = W_hr (o*tanh(c~_t))`` (c~ unzoned); ``zone_c`` (T, N, H) and
``masks.x`` (N, I) are the plain LSTM's. What is held here:

* finite differences in float64 with fixed masks, each kind alone and all together,
  forward and reverse, with lengths, on both engines' ``lstm_forward``/``lstm_backward``;
  and at the layer level (two layers, both directions, every dropout, ``dropout_rng``
  reseeded before each forward so the masks are fixed);
* the C engine against the NumPy engine on every instruction set (1e-12 float64,
  1e-5 float32 at PyTorch-scale weights), inference chunks included;
* the same bits on 1..4 threads; masks of ones and zero zoneout give the bits of no
  masks; rows past their end keep their state and output 0 whatever the masks;
* a seed gives the same P-wide masks and results on both engines; inference is
  zoneout's expectation; streams equal ``forward(train=False)``;
* the binding's shape checks of the P-wide masks (forward, cached, stream) and an
  exact workspace with masks.
"""

import numpy as np
import pytest

import fastrnn
from conftest import (assert_close_normwise as assert_close, assert_grad_close,
                      assert_stream_is_inference, cached_masks, isa, numeric_grad,
                      with_backend, zone_weights)
from fastrnn.core import reference as R
from fastrnn.core.masks import Masks

_ext = pytest.importorskip("fastrnn.core._ext")
from fastrnn.core import c_engine as CE  # noqa: E402  (needs the built extension)

ISAS = _ext.available_isas()
ENGINES = {"numpy": R, "c": CE}
KINDS = ["x", "h", "zone_h", "zone_c", "all"]
MAX_REL_ERR = 1e-6


# --- helpers ------------------------------------------------------------------------

def make_masks(kind, T, N, I, H, P, rng, dtype=np.float64):
    """The masks of ``kind`` ("x", "h", "zone_h", "zone_c" or "all"), h-shaped ones P wide."""
    want = set(KINDS[:-1]) if kind == "all" else {kind}
    fields = {}
    if "x" in want:
        fields["x"] = (rng.random((N, I)) >= 0.4) / 0.6
    if "h" in want:
        fields["h"] = (rng.random((N, P)) >= 0.4) / 0.6
    if "zone_h" in want:
        fields["zone_h"] = zone_weights(rng, (T, N, P))
    if "zone_c" in want:
        fields["zone_c"] = zone_weights(rng, (T, N, H))
    return Masks(**{k: v.astype(dtype) for k, v in fields.items()})


def make_params(T, N, I, H, P, rng, dtype=np.float64, scale=None, lengths=None):
    """Inputs, weights and output gradients of one projected recurrence; ``scale`` None:
    PyTorch's init scale 1/sqrt(H)."""
    s = 1 / np.sqrt(H) if scale is None else scale
    p = dict(x=rng.standard_normal((T, N, I)), h0=rng.standard_normal((N, P)),
             c0=rng.standard_normal((N, H)), W_ih=rng.uniform(-s, s, (4 * H, I)),
             W_hh=rng.uniform(-s, s, (4 * H, P)), b_ih=rng.uniform(-s, s, 4 * H),
             b_hh=rng.uniform(-s, s, 4 * H), W_hr=rng.uniform(-s, s, (P, H)),
             dy=rng.standard_normal((T, N, P)), dhT=rng.standard_normal((N, P)),
             dcT=rng.standard_normal((N, H)))
    p = {k: v.astype(dtype) for k, v in p.items()}
    if lengths is not None:
        for n, length in enumerate(lengths):
            p["x"][length:, n] = 0
    return p


WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh")


def forward(engine, p, masks, lengths=None, reverse=False, train=True):
    return engine.lstm_forward(p["x"], p["h0"], p["c0"], *(p[k] for k in WEIGHTS), lengths,
                               reverse, train, W_hr=p["W_hr"], masks=masks)


def run(engine, p, masks, lengths=None, reverse=False, trace=True):
    """Everything one forward (training and inference) and backward compute, as a dict."""
    y, hT, cT, cache = forward(engine, p, masks, lengths, reverse)
    yi, hi, ci, _ = forward(engine, p, masks, lengths, reverse, train=False)
    grads = {f"d{k}": np.zeros_like(p[k]) for k in WEIGHTS + ("W_hr",)}
    T, N, H = y.shape[0], y.shape[1], p["c0"].shape[1]
    traces = {"dh": np.zeros_like(y), "dc": np.zeros((T, N, H), y.dtype)} if trace else None
    dx, dh0, dc0 = engine.lstm_backward(p["dy"], p["dhT"], p["dcT"], cache, grads, traces)
    out = dict(y=y, hT=hT, cT=cT, y_inference=yi, hT_inference=hi, cT_inference=ci, dx=dx,
               dh0=dh0, dc0=dc0, **grads)
    out.update({f"trace_{k}": v for k, v in (traces or {}).items()})
    return out


def assert_same_bits(label, got, want):
    assert got.keys() == want.keys(), f"{label}: {sorted(got)} != {sorted(want)}"
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        assert g.dtype == w.dtype and g.shape == w.shape, f"{label}: {k}"
        if g.tobytes() != w.tobytes():
            bad = np.flatnonzero(g.reshape(-1) != w.reshape(-1))
            pytest.fail(f"{label}: {k}: {bad.size} of {g.size} elements differ, first at "
                        f"flat index {bad[0] if bad.size else '(a NaN or -0)'}")


# --- the semantics, written out ---------------------------------------------------------

@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_the_masks_act_as_stated(engine_name):
    """The recurrence by hand, from the formulas (not from the engines' shared code):
    z = W_ih (x_t*m_x) + b + W_hh (h_{t-1}*m_h); c~ = f c_{t-1} + i g; c_t = d_c c_{t-1} +
    (1-d_c) c~; h_t = d_h h_{t-1} + (1-d_h) W_hr (o tanh(c~)); y_t = h_t."""
    rng = np.random.default_rng(5)
    T, N, I, H, P = 3, 2, 3, 5, 2
    p = make_params(T, N, I, H, P, rng, scale=0.8)
    m = make_masks("all", T, N, I, H, P, rng)
    h, c, ys = p["h0"], p["c0"], []
    for t in range(T):
        z = ((p["x"][t] * m.x) @ p["W_ih"].T + p["b_ih"] + (h * m.h) @ p["W_hh"].T
             + p["b_hh"])
        i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        i, f, o, g = 1 / (1 + np.exp(-i)), 1 / (1 + np.exp(-f)), 1 / (1 + np.exp(-o)), np.tanh(g)
        c_new = f * c + i * g
        h_new = (o * np.tanh(c_new)) @ p["W_hr"].T
        h = m.zone_h[t] * h + (1 - m.zone_h[t]) * h_new
        c = m.zone_c[t] * c + (1 - m.zone_c[t]) * c_new
        ys.append(h)
    y, hT, cT, _ = forward(ENGINES[engine_name], p, m, train=False)
    np.testing.assert_allclose(y, np.stack(ys), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hT, h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cT, c, rtol=1e-12, atol=1e-12)


# --- finite differences, the engines ---------------------------------------------------

@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_engine_gradients_match_finite_differences(engine_name, kind, reverse):
    engine, rng = ENGINES[engine_name], np.random.default_rng(KINDS.index(kind) + 10 * reverse)
    T, N, I, H, P = 4, 3, 3, 4, 2
    lengths = np.array([4, 1, 3])
    p = make_params(T, N, I, H, P, rng, scale=0.5, lengths=lengths)
    masks = make_masks(kind, T, N, I, H, P, rng)

    def loss():
        y, hT, cT, _ = forward(engine, p, masks, lengths, reverse, train=False)
        return float((y * p["dy"]).sum() + (hT * p["dhT"]).sum() + (cT * p["dcT"]).sum())

    got = run(engine, p, masks, lengths, reverse, trace=False)
    for k in WEIGHTS + ("W_hr",):
        assert_grad_close(f"d{k}", got[f"d{k}"], numeric_grad(loss, p[k]), MAX_REL_ERR)
    for k in ("x", "h0", "c0"):
        assert_grad_close(f"d{k}", got[f"d{k}"], numeric_grad(loss, p[k]), MAX_REL_ERR)
    assert got["dW_hr"].any() and got["dh0"].any()


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_inactive_rows_keep_their_state_and_output_zero_whatever_the_masks(engine_name):
    engine, rng = ENGINES[engine_name], np.random.default_rng(3)
    T, N, I, H, P = 5, 3, 3, 6, 2
    lengths = np.array([5, 1, 3])
    p = make_params(T, N, I, H, P, rng, lengths=lengths)
    masks = make_masks("all", T, N, I, H, P, rng)
    for reverse in (False, True):
        y, hT, cT, cache = forward(engine, p, masks, lengths, reverse)
        for n, length in enumerate(lengths):
            assert (y[length:, n] == 0).all(), (reverse, n)
            if not reverse:          # the forward direction's last step is the row's own
                assert np.array_equal(hT[n], y[length - 1, n]), n
        if not reverse:
            continue
        # reverse: rows are inactive until their own last step, keeping h0 and c0
        hs, cs = cache["hs"], cache["cs"]
        for n, length in enumerate(lengths):
            assert np.array_equal(hs[length:, n], np.broadcast_to(p["h0"][n], hs[length:, n].shape))
            assert np.array_equal(cs[length:, n], np.broadcast_to(p["c0"][n], cs[length:, n].shape))
            assert not np.array_equal(hs[0, n], p["h0"][n])   # the active steps moved on


# --- the C engine against the NumPy engine ----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_c_engine_matches_numpy_with_every_mask(isa_name, dtype, reverse):
    # T > FASTRNN_CHUNK_STEPS: inference projects (and masks) its inputs in chunks
    rng = np.random.default_rng(20 + reverse)
    T, N, I, H, P = 35, 5, 6, 20, 7
    lengths = np.array([35, 1, 17, 33, 35])
    p = make_params(T, N, I, H, P, rng, dtype, lengths=lengths)
    masks = make_masks("all", T, N, I, H, P, rng, dtype)
    want = run(R, p, masks, lengths, reverse)
    with isa(isa_name):
        got = run(CE, p, masks, lengths, reverse)
    assert want["trace_dh"].shape == (T, N, P) and want["trace_dc"].shape == (T, N, H)
    assert_close(f"{isa_name} reverse={reverse}", got, want, dtype)


# --- bits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("isa_name", ISAS)
@pytest.mark.parametrize("size", ["split", "tiny"])
def test_bits_do_not_depend_on_the_thread_count(isa_name, size):
    # "split": steps and whole-sequence products are shared among the threads
    T, N, I, H, P = {"split": (11, 7, 13, 115, 71), "tiny": (4, 3, 3, 5, 2)}[size]
    for dtype, reverse in ((np.float64, False), (np.float32, True)):
        rng = np.random.default_rng(30)
        lengths = np.concatenate([[T, 1], rng.integers(1, T + 1, N - 2)])
        p = make_params(T, N, I, H, P, rng, dtype, lengths=lengths)
        masks = make_masks("all", T, N, I, H, P, rng, dtype)
        runs = {}
        with isa(isa_name):
            for n in (1, 2, 3, 4):
                previous = fastrnn.set_num_threads(n)
                try:
                    runs[n] = run(CE, p, masks, lengths, reverse)
                finally:
                    fastrnn.set_num_threads(previous)
        for n in (2, 3, 4):
            assert_same_bits(f"{dtype.__name__} {n} threads", runs[n], runs[1])


@pytest.mark.parametrize("engine_name", list(ENGINES))
def test_ones_masks_and_zero_zoneout_give_the_bits_of_no_masks(engine_name):
    """x * 1 and 0*prev + 1*new are exact, so masks that change nothing must give the
    bits of the call without masks, on each engine."""
    engine, rng = ENGINES[engine_name], np.random.default_rng(4)
    T, N, I, H, P = 6, 4, 5, 9, 3
    lengths = np.array([6, 2, 5, 1])
    p = make_params(T, N, I, H, P, rng, lengths=lengths)
    neutral = Masks(x=np.ones((N, I)), h=np.ones((N, P)), zone_h=np.zeros((T, N, P)),
                    zone_c=np.zeros((T, N, H)))
    for reverse in (False, True):
        want = run(engine, p, None, lengths, reverse)
        assert_same_bits(f"reverse={reverse} Masks()", run(engine, p, Masks(), lengths, reverse),
                         want)
        assert_same_bits(f"reverse={reverse} neutral", run(engine, p, neutral, lengths, reverse),
                         want)
        # and each kind does act
        for kind in KINDS[:-1]:
            got = run(engine, p, make_masks(kind, T, N, I, H, P, rng), lengths, reverse)
            assert not np.array_equal(got["dx"], want["dx"]), kind


# --- layers ----------------------------------------------------------------------------------

def variational(dtype=np.float64, **kw):
    opts = dict(num_layers=2, bidirectional=True, proj_size=2, dropout=0.3, input_dropout=0.3,
                recurrent_dropout=0.4, zoneout=(0.4, 0.3), dtype=dtype, seed=6)
    opts.update(kw)
    return fastrnn.LSTM(opts.pop("input_size", 3), opts.pop("hidden_size", 4), **opts)


def test_layer_gradients_with_fixed_masks_match_finite_differences(backend):
    rng = np.random.default_rng(15)
    T, N, I, H, P = 4, 3, 3, 4, 2
    layer = variational()
    x = rng.standard_normal((T, N, I))
    lengths = [4, 1, 3]
    h0, c0 = rng.standard_normal((4, N, P)), rng.standard_normal((4, N, H))
    wy, wh, wc = (rng.standard_normal(s) for s in ((T, N, 2 * P), (4, N, P), (4, N, H)))

    def loss():
        layer.dropout_rng = np.random.default_rng(99)
        y, (h, c) = layer.forward(x, (h0, c0), lengths=lengths)
        return float((y * wy).sum() + (h * wh).sum() + (c * wc).sum())

    loss()
    masks = [cached_masks(c) for c in layer._cache[2]]
    assert [m.h.shape for m in masks] == [(N, P)] * 4
    assert [m.x.shape for m in masks] == [(N, I)] * 2 + [(N, 2 * P)] * 2
    assert [(m.zone_h.shape, m.zone_c.shape) for m in masks] == [((T, N, P), (T, N, H))] * 4
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(wy, (wh, wc))
    assert any(k.startswith("weight_hr") for k in layer.params)
    for name, p in layer.params.items():
        assert_grad_close(name, layer.grads[name], numeric_grad(loss, p), MAX_REL_ERR)
    assert_grad_close("dx", dx, numeric_grad(loss, x), MAX_REL_ERR)
    assert_grad_close("dh0", dh0, numeric_grad(loss, h0), MAX_REL_ERR)
    assert_grad_close("dc0", dc0, numeric_grad(loss, c0), MAX_REL_ERR)


def test_a_seed_gives_the_same_masks_and_results_on_both_engines():
    rng = np.random.default_rng(11)
    T, N = 7, 4
    x = rng.standard_normal((T, N, 3))
    lengths = [7, 2, 5, 7]

    def layer_run():
        layer = variational(hidden_size=5, proj_size=3, seed=21)
        y, (h, c) = layer.forward(x, lengths=lengths)
        dx, _ = layer.backward(np.ones_like(y))
        out = dict(y=y, h=h, c=c, dx=dx, **{k: v.copy() for k, v in layer.grads.items()})
        return out, [cached_masks(cache) for cache in layer._cache[2]]

    got, got_masks = with_backend("c", layer_run)
    want, want_masks = with_backend("numpy", layer_run)
    for k, (a, b) in enumerate(zip(got_masks, want_masks)):
        for field, ma, mb in zip(Masks._fields, a, b):
            assert ma is not None and np.array_equal(ma, mb), f"{k}: masks.{field}"
        assert a.h.shape == (N, 3) and a.zone_h.shape == (T, N, 3)
        assert a.zone_c.shape == (T, N, 5)
    assert_close("layer", got, want, np.float64)


def test_inference_is_zoneouts_expectation(backend):
    rng = np.random.default_rng(12)
    T, N, I, H, P = 6, 3, 3, 5, 2
    x = rng.standard_normal((T, N, I))
    layer = variational(num_layers=2, bidirectional=False, hidden_size=H, proj_size=P, seed=5)
    y1, (h1, c1) = layer.forward(x, train=False)
    assert np.array_equal(layer.forward(x, train=False)[0], y1)      # deterministic
    plain = variational(num_layers=2, bidirectional=False, hidden_size=H, proj_size=P, seed=5,
                        dropout=0.0, input_dropout=0.0, recurrent_dropout=0.0, zoneout=0.0)
    assert not np.allclose(y1, plain.forward(x, train=False)[0])      # zoneout's expectation acts
    # by hand: layer by layer on the engine, zone weights p everywhere (zone_h P wide)
    engine = ENGINES[backend]
    zh, zc = layer._zone
    zone = Masks(zone_h=np.full((T, N, P), zh), zone_c=np.full((T, N, H), zc))
    out = x
    for k in range(2):
        W_ih, W_hh, b_ih, b_hh, W_hr = layer._weights(k, 0)
        out, hT, cT, _ = engine.lstm_forward(out, np.zeros((N, P)), np.zeros((N, H)), W_ih, W_hh,
                                             b_ih, b_hh, train=False, W_hr=W_hr, masks=zone)
        assert np.array_equal(h1[k], hT) and np.array_equal(c1[k], cT)
    assert np.array_equal(y1, out)
    assert not np.allclose(layer.forward(x)[0], y1)                   # training drops


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_stream_is_forward_without_training(backend, dtype):
    rng = np.random.default_rng(16)
    layer = variational(dtype, bidirectional=False, hidden_size=5, proj_size=3, seed=8)
    x = rng.standard_normal((6, 2, 3)).astype(dtype)
    assert layer.forward(x, train=False)[0].shape == (6, 2, 3)
    assert_stream_is_inference(layer, x, backend)


# --- the binding -------------------------------------------------------------------------------

def test_binding_checks_the_p_wide_masks():
    rng = np.random.default_rng(0)
    T, N, I, H, P = 3, 2, 3, 5, 2
    p = make_params(T, N, I, H, P, rng)
    good = make_masks("all", T, N, I, H, P, rng)
    for field, bad, shape in (("h", np.ones((N, H)), (N, P)),
                              ("zone_h", np.zeros((T, N, H)), (T, N, P)),
                              ("zone_c", np.zeros((T, N, P)), (T, N, H))):
        with pytest.raises(ValueError, match=rf"masks\.{field}: .*{shape}"):
            forward(CE, p, good._replace(**{field: bad}))
    y, hT, cT, cache = forward(CE, p, good)
    grads = {f"d{k}": np.zeros_like(p[k]) for k in WEIGHTS + ("W_hr",)}
    with pytest.raises(ValueError, match=r"cache\['mask_h'\]"):
        CE.lstm_backward(p["dy"], p["dhT"], p["dcT"], dict(cache, mask_h=np.ones((N, H))), grads)
    with pytest.raises(ValueError, match=r"cache\['zone_h'\]"):
        CE.lstm_backward(p["dy"], p["dhT"], p["dcT"], dict(cache, zone_h=np.ones((T, N, H))),
                         grads)
    assert not any(g.any() for g in grads.values())        # nothing added on refusal
    packed = CE.pack("lstm", *(p[k] for k in WEIGHTS), p["W_hr"])
    h, c = np.zeros((1, N, P)), np.zeros((1, N, H))
    with pytest.raises(ValueError, match=r"zone_h: .*\(1, 2, 2\)"):
        _ext.Stepper("lstm", [packed], [I], h, c, proj_size=P, zone_h=np.zeros((1, N, H)))
    _ext.Stepper("lstm", [packed], [I], h, c, proj_size=P, zone_h=np.zeros((1, N, P)),
                 zone_c=np.zeros((1, N, H)))


def test_workspace_is_exact_with_masks():
    rng = np.random.default_rng(1)
    T, N, I, H, P = 4, 3, 3, 7, 3
    p = make_params(T, N, I, H, P, rng)
    masks = make_masks("all", T, N, I, H, P, rng)
    _, _, _, cache = forward(CE, p, masks)
    grads = {f"d{k}": np.zeros_like(p[k]) for k in WEIGHTS + ("W_hr",)}
    try:
        _ext._set_workspace_shortfall(1)
        for train in (True, False):
            with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
                forward(CE, p, masks, train=train)
        with pytest.raises(ValueError, match="FASTRNN_EINVAL"):
            CE.lstm_backward(p["dy"], p["dhT"], p["dcT"], cache, grads)
    finally:
        _ext._set_workspace_shortfall(0)
    run(CE, p, masks)
