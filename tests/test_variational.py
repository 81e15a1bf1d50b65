"""Variational input/recurrent dropout and zoneout inside the recurrence (issue 15, item 2).

Engine level (``fastrnn.functional`` with ``masks=Masks(...)``): finite
differences in float64 with the masks fixed, for every cell, each kind of
mask alone and all together, with lengths, in both directions, on both
engines; the C engine against the NumPy one (every instruction set, both
dtypes); bits independent of the thread count and of repeats; masks of ones
and zero zoneout change no forward bit; the checks of every mask.

Layer level (``SRN/LSTM/GRU(..., input_dropout=, recurrent_dropout=,
zoneout=)``): a seed gives the same masks and results on both engines;
``train=False`` never drops and uses zoneout's expectation; the masks'
statistics (inverted dropout: mean 1, one mask for all steps); streams match
``forward(train=False)``; the arguments' errors; ONNX export refuses zoneout.
"""

import zlib

import numpy as np
import pytest

import fastrnn
import fastrnn.functional as F
from conftest import (CELL_VARIANTS, assert_close_normwise as assert_close,
                      assert_grad_close, assert_stream_is_inference, cached_masks,
                      numeric_grad, with_backend, zone_weights)

Masks = F.Masks
MAX_REL_ERR = 1e-6

# (cell, functional keyword arguments): every cell and variant (the sigmoid SRN adds no path)
CELLS = [(name.lower(), kw) for name, kw in CELL_VARIANTS if kw.get("nonlinearity") != "sigmoid"]
# the mask kinds each cell has
KINDS = {"srn": ["x", "h", "all"], "lstm": ["x", "h", "zone_h", "zone_c", "all"],
         "gru": ["x", "h", "zone_h", "all"]}
CASES = [(cell, kw, kind) for cell, kw in CELLS for kind in KINDS[cell]]
GATES = F.GATES


def case_id(case):
    cell, kw, kind = case
    return cell + "".join(f"-{k}={v}" for k, v in kw.items()) + f"-{kind}"


def dropout_mask(rng, shape, p=0.4):
    """Inverted dropout: 0 or 1/(1-p)."""
    return (rng.random(shape) >= p) / (1 - p)


def make_masks(cell, kind, T, N, I, H, rng, dtype=np.float64):
    """The masks of ``kind`` ("x", "h", "zone_h", "zone_c" or "all" the cell has)."""
    want = set(KINDS[cell][:-1]) if kind == "all" else {kind}
    fields = {}
    if "x" in want:
        fields["x"] = dropout_mask(rng, (N, I))
    if "h" in want:
        fields["h"] = dropout_mask(rng, (N, H))
    for z in ("zone_h", "zone_c"):
        if z in want:
            fields[z] = zone_weights(rng, (T, N, H))
    return Masks(**{k: v.astype(dtype) for k, v in fields.items()})


def make_params(cell, T, N, I, H, rng, dtype=np.float64, scale=0.5):
    G = GATES[cell]
    p = dict(x=rng.standard_normal((T, N, I)), W_ih=rng.standard_normal((G * H, I)) * scale,
             W_hh=rng.standard_normal((G * H, H)) * scale, b_ih=rng.standard_normal(G * H) * scale,
             b_hh=rng.standard_normal(G * H) * scale, h0=rng.standard_normal((N, H)),
             c0=rng.standard_normal((N, H)), dy=rng.standard_normal((T, N, H)),
             dhT=rng.standard_normal((N, H)), dcT=rng.standard_normal((N, H)))
    return {k: v.astype(dtype) for k, v in p.items()}


def run_forward(cell, kw, p, masks, **options):
    """The functional forward: (outputs dict, cache)."""
    if cell == "lstm":
        y, hT, cT, cache = F.lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"],
                                          p["b_ih"], p["b_hh"], masks=masks, **options, **kw)
        return {"y": y, "hT": hT, "cT": cT}, cache
    fn = F.srn_forward if cell == "srn" else F.gru_forward
    y, hT, cache = fn(p["x"], p["h0"], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"],
                      masks=masks, **options, **kw)
    return {"y": y, "hT": hT}, cache


def run_backward(cell, p, cache, state_grads=False):
    if cell == "lstm":
        return F.lstm_backward(p["dy"], p["dhT"], p["dcT"], cache, state_grads=state_grads)
    fn = F.srn_backward if cell == "srn" else F.gru_backward
    return fn(p["dy"], p["dhT"], cache, state_grads=state_grads)


def all_results(cell, kw, p, masks, state_grads=True, **options):
    """Forward and backward outputs of one call, in one dict."""
    out, cache = run_forward(cell, kw, p, masks, **options)
    grads = run_backward(cell, p, cache, state_grads=state_grads)
    out.update({k: v for k, v in grads.items() if v is not None})
    return out


def assert_same_bits(label, got, want):
    assert got.keys() == want.keys(), f"{label}: {sorted(got)} != {sorted(want)}"
    for k in want:
        if not np.array_equal(got[k], want[k]):
            at = np.unravel_index(np.argmax(np.abs(got[k] - want[k])), want[k].shape)
            pytest.fail(f"{label}: {k} differs first at {at}: {got[k][at]!r} != {want[k][at]!r}")


# --- finite differences, the masks fixed ------------------------------------------------

@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_match_finite_differences_with_fixed_masks(backend, case, reverse):
    cell, kw, kind = case
    rng = np.random.default_rng(zlib.crc32(case_id(case).encode()))
    T, N, I, H = 3, 3, 3, 4
    p = make_params(cell, T, N, I, H, rng)
    masks = make_masks(cell, kind, T, N, I, H, rng)
    lengths = np.array([3, 2, 1])
    out, cache = run_forward(cell, kw, p, masks, lengths=lengths, reverse=reverse)
    weights = {k: rng.standard_normal(v.shape) for k, v in out.items()}

    def loss():
        res, _ = run_forward(cell, kw, p, masks, lengths=lengths, reverse=reverse, train=False)
        return float(sum((res[k] * weights[k]).sum() for k in res))

    p["dy"], p["dhT"], p["dcT"] = weights["y"], weights["hT"], weights.get("cT")
    g = run_backward(cell, p, cache)
    checks = [("dx", "x"), ("dW_ih", "W_ih"), ("dW_hh", "W_hh"), ("db_ih", "b_ih"),
              ("db_hh", "b_hh"), ("dh0", "h0")] + ([("dc0", "c0")] if cell == "lstm" else [])
    for gname, pname in checks:
        assert_grad_close(f"{case_id(case)} {gname}", g[gname], numeric_grad(loss, p[pname]),
                          MAX_REL_ERR)


def test_masks_reach_the_gradients(backend):
    """The masks really act: with them the gradients differ from the plain cell's."""
    rng = np.random.default_rng(1)
    T, N, I, H = 4, 2, 3, 5
    p = make_params("lstm", T, N, I, H, rng)
    plain = all_results("lstm", {}, p, None)
    for kind in KINDS["lstm"]:
        masked = all_results("lstm", {}, p, make_masks("lstm", kind, T, N, I, H, rng))
        for k in ("dW_ih", "dW_hh", "dh0") if kind != "x" else ("dW_ih", "dx"):
            assert not np.allclose(masked[k], plain[k]), f"{kind}: {k} unchanged by the masks"


def test_input_mask_zeroes_the_dropped_features(backend):
    """A dropped input feature gets no gradient and its weights' column none either."""
    rng = np.random.default_rng(2)
    T, N, I, H = 4, 2, 5, 3
    p = make_params("gru", T, N, I, H, rng)
    mx = np.ones((N, I))
    mx[:, 1] = 0.0
    mx[0, 3] = 0.0
    res = all_results("gru", {}, p, Masks(x=mx))
    assert (res["dx"][:, :, 1] == 0).all() and (res["dx"][:, 0, 3] == 0).all()
    assert (res["dW_ih"][:, 1] == 0).all()
    assert (res["dx"][:, 1, 3] != 0).all()


# --- the C engine against the NumPy one -------------------------------------------------

@pytest.fixture
def c_engine():
    if not fastrnn.c_engine_available():
        pytest.skip("the C engine is not built (test_build fails instead)")
    from fastrnn.core import _ext
    return _ext


def isas():
    if not fastrnn.c_engine_available():
        return ["generic"]
    from fastrnn.core import _ext
    return _ext.available_isas()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("isa", isas())
@pytest.mark.parametrize("case", [c for c in CASES if c[2] == "all"] + [
    ("lstm", {}, "zone_c"), ("gru", {"reset_after": False}, "h")], ids=case_id)
def test_c_engine_matches_numpy_with_masks(c_engine, case, isa, dtype):
    cell, kw, kind = case
    rng = np.random.default_rng(3)
    T, N, I, H = 9, 5, 4, 11
    # PyTorch's scale of weights: with larger ones the problem itself is ill-conditioned in
    # float32 (the NumPy engine's float32 and float64 differ by more than RTOL)
    p = make_params(cell, T, N, I, H, rng, dtype, scale=1 / np.sqrt(H))
    masks = make_masks(cell, kind, T, N, I, H, rng, dtype)
    lengths = np.array([9, 1, 4, 9, 6])
    previous = c_engine.isa_setting()
    c_engine.set_isa(isa)
    try:
        for reverse in (False, True):
            opts = dict(lengths=lengths, reverse=reverse)
            got = all_results(cell, kw, p, masks, backend="c", **opts)
            want = all_results(cell, kw, p, masks, backend="numpy", **opts)
            assert_close(f"{case_id(case)} {isa} reverse={reverse}", got, want, dtype)
            # inference (chunked, no cache) gives the training forward's bits
            inf, _ = run_forward(cell, kw, p, masks, backend="c", train=False, **opts)
            assert_same_bits("inference vs training", inf,
                             {k: got[k] for k in inf})
    finally:
        c_engine.set_isa(previous)


@pytest.mark.parametrize("cell,kw", CELLS, ids=[c + str(k) for c, k in CELLS])
def test_ones_masks_and_zero_zoneout_change_no_forward_bit(c_engine, backend, cell, kw):
    """The masked code paths with neutral masks: the forward's bits are the plain ones
    (the backward sums in another order in places, so it is only close)."""
    rng = np.random.default_rng(4)
    T, N, I, H = 40, 3, 4, 9     # T > FASTRNN_CHUNK_STEPS: the masked projection is chunked
    p = make_params(cell, T, N, I, H, rng)
    zeros = np.zeros((T, N, H))
    neutral = Masks(x=np.ones((N, I)), h=np.ones((N, H)),
                    zone_h=None if cell == "srn" else zeros,
                    zone_c=zeros if cell == "lstm" else None)
    lengths = np.array([40, 7, 33])
    for reverse in (False, True):
        opts = dict(lengths=lengths, reverse=reverse)
        plain = all_results(cell, kw, p, None, **opts)
        masked = all_results(cell, kw, p, neutral, **opts)
        fwd = ("y", "hT", "cT")
        assert_same_bits("forward", {k: masked[k] for k in fwd if k in masked},
                         {k: plain[k] for k in fwd if k in plain})
        assert_close("backward", masked, plain, np.float64)
        for train in (False,):
            inf, _ = run_forward(cell, kw, p, neutral, train=train, **opts)
            assert_same_bits("inference", inf, {k: plain[k] for k in inf})


def test_empty_masks_are_the_plain_call(backend):
    rng = np.random.default_rng(5)
    p = make_params("gru", 5, 2, 3, 4, rng)
    plain = all_results("gru", {}, p, None)
    assert_same_bits("Masks()", all_results("gru", {}, p, Masks()), plain)
    _, cache = run_forward("gru", {}, p, Masks())
    assert cached_masks(cache) == Masks()


# --- threads, instruction sets, repeats -------------------------------------------------

@pytest.mark.parametrize("isa", isas())
@pytest.mark.parametrize("case", [c for c in CASES if c[2] == "all"], ids=case_id)
def test_bits_do_not_depend_on_the_thread_count(c_engine, case, isa):
    cell, kw, kind = case
    rng = np.random.default_rng(6)
    T, N, I, H = 20, 8, 10, 72    # N*G*H*H >= FR_PAR_MIN_MACS: steps are shared
    p = make_params(cell, T, N, I, H, rng, scale=0.1)
    masks = make_masks(cell, kind, T, N, I, H, rng)
    lengths = rng.integers(1, T + 1, N)
    previous_isa, previous_threads = c_engine.isa_setting(), c_engine.get_num_threads()
    c_engine.set_isa(isa)
    try:
        results = {}
        for n in (1, 2, 3, 4, 1):
            c_engine.set_num_threads(n)
            for reverse in (False, True):
                got = all_results(cell, kw, p, masks, backend="c", lengths=lengths,
                                  reverse=reverse)
                inf, _ = run_forward(cell, kw, p, masks, backend="c", lengths=lengths,
                                     reverse=reverse, train=False)
                got.update({f"inference {k}": v for k, v in inf.items()})
                if reverse in results:
                    assert_same_bits(f"{isa} {n} threads reverse={reverse}", got,
                                     results[reverse])
                else:
                    results[reverse] = got
    finally:
        c_engine.set_isa(previous_isa)
        c_engine.set_num_threads(previous_threads)


def test_both_directions_at_once_give_each_directions_bits(c_engine):
    """``forward_directions``/``backward_directions`` with masks per direction."""
    from fastrnn.core import c_engine as CE
    rng = np.random.default_rng(7)
    T, N, I, H = 6, 3, 4, 5
    cell = F.Cell.of("lstm")
    ps = [make_params("lstm", T, N, I, H, rng) for _ in range(2)]
    ps[1]["x"] = ps[0]["x"]
    masks = [make_masks("lstm", "all", T, N, I, H, rng) for _ in range(2)]
    weights = [(p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]) for p in ps]
    states = [[p["h0"], p["c0"]] for p in ps]
    both = F.engine_forward_layer(CE, cell, ps[0]["x"], states, weights, None, True,
                                  masks=masks)
    for d in range(2):
        y, finals, cache = F.engine_forward(CE, cell, ps[0]["x"], states[d], weights[d], None,
                                            d == 1, True, masks=masks[d])
        assert np.array_equal(both[d][0], y) and np.array_equal(both[d][1][0], finals[0])
        assert both[d][2]["zone_c"] is masks[d].zone_c


# --- checks -------------------------------------------------------------------------------

def test_functional_checks_the_masks(backend):
    rng = np.random.default_rng(8)
    T, N, I, H = 4, 2, 3, 5
    p = make_params("lstm", T, N, I, H, rng)
    with pytest.raises(ValueError, match=r"masks.x: expected shape \(N, I\)"):
        run_forward("lstm", {}, p, Masks(x=np.ones((N, H))))
    with pytest.raises(ValueError, match=r"masks.zone_c: expected a 3-d array of shape \(T, N, H\)"):
        run_forward("lstm", {}, p, Masks(zone_c=np.ones((N, H))))
    with pytest.raises(TypeError, match="masks.h: expected a real floating-point"):
        run_forward("lstm", {}, p, Masks(h=np.ones((N, H), dtype=int)))
    with pytest.raises(TypeError, match="masks: expected a fastrnn.functional.Masks"):
        run_forward("lstm", {}, p, (None, None, None, None))
    q = make_params("gru", T, N, I, H, rng)
    with pytest.raises(ValueError, match="masks.zone_c: the cell-state zoneout is the LSTM's"):
        run_forward("gru", {}, q, Masks(zone_c=np.zeros((T, N, H))))
    s = make_params("srn", T, N, I, H, rng)
    with pytest.raises(ValueError, match="masks.zone_h: zoneout is for the LSTM and GRU"):
        run_forward("srn", {}, s, Masks(zone_h=np.zeros((T, N, H))))


def test_the_cache_keeps_private_read_only_masks(backend):
    rng = np.random.default_rng(9)
    T, N, I, H = 4, 2, 3, 5
    p = make_params("gru", T, N, I, H, rng)
    mh = dropout_mask(rng, (N, H))
    keep = mh.copy()
    _, cache = run_forward("gru", {}, p, Masks(h=mh))
    before = run_backward("gru", p, cache)
    mh[...] = 7.0           # the caller's array changes after the forward: no effect
    after = run_backward("gru", p, cache)
    for k in before:
        assert np.array_equal(before[k], after[k]), k
    kept = cached_masks(cache).h
    assert np.array_equal(kept, keep) and not kept.flags.writeable


def test_binding_checks_every_mask(c_engine):
    from fastrnn.core import c_engine as CE
    rng = np.random.default_rng(10)
    T, N, I, H = 4, 2, 3, 5
    p = make_params("lstm", T, N, I, H, rng)
    args = (p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
    bad = [Masks(x=np.ones((N, I + 1))), Masks(h=np.ones((N, H), np.float32)),
           Masks(zone_h=np.ones((T, H, N))), Masks(zone_c=np.ones((T, N, 2 * H))[:, :, ::2]),
           Masks(h=[[1.0] * H] * N)]
    for masks in bad:
        with pytest.raises(ValueError, match="lstm_forward: masks"):
            CE.lstm_forward(*args, masks=masks)
    with pytest.raises(TypeError, match="masks: expected"):
        CE.lstm_forward(*args, masks=np.ones((N, H)))
    s = make_params("srn", T, N, I, H, rng)
    with pytest.raises(ValueError, match="zoneout is for the LSTM and GRU"):
        CE.srn_forward(s["x"], s["h0"], s["W_ih"], s["W_hh"], s["b_ih"], s["b_hh"],
                       masks=Masks(zone_h=np.zeros((T, N, H))))
    # a cache edited between the passes is checked again
    masks = make_masks("lstm", "all", T, N, I, H, rng)
    y, hT, cT, cache = CE.lstm_forward(*args, masks=masks)
    grads = {k: np.zeros_like(p[w]) for k, w in (("dW_ih", "W_ih"), ("dW_hh", "W_hh"),
                                                 ("db_ih", "b_ih"), ("db_hh", "b_hh"))}
    for key, value in (("mask_x", np.ones((N, H))), ("zone_h", np.ones((T + 1, N, H))),
                       ("mask_h", np.ones((N, H), np.float32))):
        edited = dict(cache, **{key: value})
        with pytest.raises(ValueError, match=rf"cache\['{key}'\]"):
            CE.lstm_backward(p["dy"], p["dhT"], p["dcT"], edited, grads)
    assert not any(g.any() for g in grads.values())


# --- the layers ------------------------------------------------------------------------

LAYER_CASES = [
    ("SRN", {"nonlinearity": "tanh"}, {}),
    ("SRN", {"residual": True}, {}),
    ("LSTM", {}, {"zoneout": (0.3, 0.2)}),
    ("GRU", {"reset_after": True}, {"zoneout": 0.25}),
    ("GRU", {"reset_after": False}, {"zoneout": 0.25}),
]


def layer_id(case):
    name, kw, zone = case
    return name + "".join(f"-{k}={v}" for k, v in {**kw, **zone}.items())


def make_variational(case, p_in=0.3, p_rec=0.4, **kw):
    name, extra, zone = case
    return getattr(fastrnn, name)(input_dropout=p_in, recurrent_dropout=p_rec, **extra, **zone,
                                  **kw)


def layer_run(case, x, lengths, train=True, **kw):
    """A fresh seeded layer's forward (and backward when training): results and masks."""
    layer = make_variational(case, **kw)
    y, state = layer.forward(x, lengths=lengths, train=train)
    out = {"y": y}
    states = state if isinstance(state, tuple) else (state,)
    out.update({f"state{j}": s for j, s in enumerate(states)})
    masks = []
    if train:
        dx, _ = layer.backward(np.ones_like(y))
        out["dx"] = dx
        out.update({f"grad {k}": v.copy() for k, v in layer.grads.items()})
        masks = [cached_masks(c) for c in layer._cache[2]]
    return out, masks


@pytest.mark.parametrize("case", LAYER_CASES, ids=layer_id)
def test_a_seed_gives_the_same_masks_and_results_on_both_engines(c_engine, case):
    rng = np.random.default_rng(11)
    T, N = 7, 4
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, dropout=0.2,
              dtype=np.float64, seed=21)
    x = rng.standard_normal((T, N, 3))
    lengths = [7, 2, 5, 7]
    got, got_masks = with_backend("c", lambda: layer_run(case, x, lengths, **kw))
    want, want_masks = with_backend("numpy", lambda: layer_run(case, x, lengths, **kw))
    assert len(got_masks) == 4
    for k, (a, b) in enumerate(zip(got_masks, want_masks)):
        for field, ma, mb in zip(Masks._fields, a, b):
            assert (ma is None) == (mb is None) and (ma is None or np.array_equal(ma, mb)), \
                f"(layer, direction) {k}: masks.{field} differ between the engines"
        assert a.x is not None and a.h is not None
        assert (a.zone_h is not None) == (case[0] != "SRN")
        assert (a.zone_c is not None) == (case[0] == "LSTM")
    assert got_masks[0].x.shape == (N, 3) and got_masks[2].x.shape == (N, 10)
    assert not np.array_equal(got_masks[0].h, got_masks[1].h)   # each direction its own
    assert_close(layer_id(case), got, want, np.float64)


@pytest.mark.parametrize("case", LAYER_CASES, ids=layer_id)
def test_inference_never_drops_and_uses_zoneouts_expectation(backend, case):
    rng = np.random.default_rng(12)
    T, N = 6, 3
    kw = dict(input_size=3, hidden_size=4, num_layers=2, dtype=np.float64, seed=5)
    x = rng.standard_normal((T, N, 3))
    layer = make_variational(case, **kw)
    y1, s1 = layer.forward(x, train=False)
    y2, s2 = layer.forward(x, train=False)
    assert np.array_equal(y1, y2)                               # deterministic
    plain = make_variational((case[0], case[1], {}), p_in=0.0, p_rec=0.0, **kw)
    y_plain, _ = plain.forward(x, train=False)
    if case[0] == "SRN":                                        # no zoneout: the plain layer
        assert np.array_equal(y1, y_plain)
        return
    assert not np.allclose(y1, y_plain)                         # zoneout's expectation acts
    # the expectation by hand: layer by layer with zone weights p everywhere
    zh, zc = layer._zone
    h = x
    for k in range(2):
        W = plain._weights(k, 0)
        zone = Masks(zone_h=np.full((T, N, 4), zh),
                     zone_c=np.full((T, N, 4), zc) if case[0] == "LSTM" else None)
        if case[0] == "LSTM":
            h = F.lstm_forward(h, None, None, *W, train=False, masks=zone)[0]
        else:
            h = F.gru_forward(h, None, *W, train=False, masks=zone, **case[1])[0]
    assert np.array_equal(y1, h)
    # a training forward does drop: its output differs
    y_train, _ = layer.forward(x)
    assert not np.allclose(y_train, y1)


def test_the_masks_statistics_and_their_fixed_units(backend):
    N, I, H, T = 400, 30, 20, 5
    layer = fastrnn.LSTM(I, H, input_dropout=0.3, recurrent_dropout=0.6, zoneout=(0.2, 0.1),
                         dtype=np.float64, seed=3)
    x = np.random.default_rng(13).standard_normal((T, N, I))
    layer.forward(x)
    m = cached_masks(layer._cache[2][0])
    assert m.x.shape == (N, I) and m.h.shape == (N, H)            # one mask for all T steps
    assert set(np.unique(m.x)) == {0.0, 1 / 0.7} and set(np.unique(m.h)) == {0.0, 1 / 0.4}
    assert abs(m.x.mean() - 1) < 0.03 and abs(m.h.mean() - 1) < 0.05     # inverted dropout
    assert abs((m.x == 0).mean() - 0.3) < 0.02 and abs((m.h == 0).mean() - 0.6) < 0.03
    assert m.zone_h.shape == m.zone_c.shape == (T, N, H)
    assert abs(m.zone_h.mean() - 0.2) < 0.01 and abs(m.zone_c.mean() - 0.1) < 0.01
    assert not all(np.array_equal(m.zone_h[0], m.zone_h[t]) for t in range(1, T))  # per step
    layer.forward(x)                                               # a new draw every forward
    assert not np.array_equal(cached_masks(layer._cache[2][0]).x, m.x)


def test_the_same_units_are_dropped_at_every_step(backend):
    """One sequence: a dropped input feature gets no dx at any step; a dropped unit of
    h_{t-1} gives W_hh's column no gradient, summed over every step."""
    T, I, H = 12, 6, 8
    layer = fastrnn.GRU(I, H, input_dropout=0.5, recurrent_dropout=0.5, dtype=np.float64,
                        seed=4)
    x = np.random.default_rng(14).standard_normal((T, 1, I))
    y, _ = layer.forward(x)
    dx, _ = layer.backward(np.ones_like(y))
    m = cached_masks(layer._cache[2][0])
    dropped_x, dropped_h = m.x[0] == 0, m.h[0] == 0
    assert dropped_x.any() and (~dropped_x).any() and dropped_h.any() and (~dropped_h).any()
    assert (dx[:, 0, dropped_x] == 0).all() and (dx[:, 0, ~dropped_x] != 0).all()
    dW_hh = layer.grads["weight_hh_l0"]
    assert (dW_hh[:, dropped_h] == 0).all() and (dW_hh[:, ~dropped_h] != 0).any(axis=0).all()


def test_layer_gradients_with_fixed_masks_match_finite_differences(backend):
    """Every mask at once, two layers, both directions, lengths: the masks are fixed by
    reseeding ``dropout_rng`` before each forward."""
    rng = np.random.default_rng(15)
    T, N, I, H = 4, 3, 3, 3
    layer = fastrnn.LSTM(I, H, num_layers=2, bidirectional=True, dropout=0.3,
                         input_dropout=0.3, recurrent_dropout=0.3, zoneout=(0.4, 0.3),
                         dtype=np.float64, seed=6)
    x = rng.standard_normal((T, N, I))
    lengths = [4, 1, 3]
    wy = rng.standard_normal((T, N, 2 * H))

    def loss():
        layer.dropout_rng = np.random.default_rng(99)
        y, _ = layer.forward(x, lengths=lengths)
        return float((y * wy).sum())

    loss()
    layer.zero_grad()
    dx, _ = layer.backward(wy)
    for name, p in layer.params.items():
        assert_grad_close(name, layer.grads[name], numeric_grad(loss, p), MAX_REL_ERR)
    assert_grad_close("dx", dx, numeric_grad(loss, x), MAX_REL_ERR)


@pytest.mark.parametrize("case", [c for c in LAYER_CASES if c[2]], ids=layer_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_stream_with_zoneout_is_forward_without_training(backend, case, dtype):
    rng = np.random.default_rng(16)
    layer = make_variational(case, input_size=3, hidden_size=5, num_layers=2, dtype=dtype,
                             seed=8)
    assert_stream_is_inference(layer, rng.standard_normal((6, 2, 3)).astype(dtype), backend)


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="input_dropout"):
        fastrnn.LSTM(3, 4, input_dropout=1.0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        fastrnn.SRN(3, 4, recurrent_dropout=-0.1)
    with pytest.raises(TypeError, match="input_dropout"):
        fastrnn.GRU(3, 4, input_dropout="0.1")
    with pytest.raises(TypeError, match="recurrent_dropout"):
        fastrnn.GRU(3, 4, recurrent_dropout=True)
    with pytest.raises(ValueError, match="zoneout_c"):
        fastrnn.LSTM(3, 4, zoneout=(0.1, 1.0))
    with pytest.raises(ValueError, match="a float or a pair"):
        fastrnn.LSTM(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="zoneout"):
        fastrnn.GRU(3, 4, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match="zoneout"):
        fastrnn.GRU(3, 4, zoneout=float("nan"))
    with pytest.raises(TypeError):
        fastrnn.SRN(3, 4, zoneout=0.1)
    lstm = fastrnn.LSTM(3, 4, zoneout=0.2, input_dropout=0.1)
    assert lstm.zoneout == 0.2 and lstm._zone == (0.2, 0.2)
    assert "zoneout=0.2" in repr(lstm) and "input_dropout=0.1" in repr(lstm)
    assert "dropout" not in repr(fastrnn.GRU(3, 4))


def test_the_settings_survive_describe_and_build():
    from fastrnn.train.registry import build, describe
    layer = fastrnn.LSTM(3, 4, input_dropout=0.1, recurrent_dropout=0.2, zoneout=(0.3, 0.1))
    again = build(describe(layer))
    assert (again.input_dropout, again.recurrent_dropout, again.zoneout) == (0.1, 0.2,
                                                                             (0.3, 0.1))
    gru = build(describe(fastrnn.GRU(3, 4, zoneout=0.3)))
    assert gru.zoneout == 0.3 and gru._zone == (0.3, 0.0)


def test_onnx_export_refuses_zoneout_and_takes_dropout():
    fonnx = pytest.importorskip("fastrnn.onnx")
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="zoneout=0.2 cannot be exported exactly"):
        fonnx.to_onnx(fastrnn.GRU(3, 4, zoneout=0.2))
    with pytest.raises(ValueError, match="zoneout"):
        fonnx.to_onnx(fastrnn.LSTM(3, 4, zoneout=(0.0, 0.1)))
    assert fonnx.to_onnx(fastrnn.LSTM(3, 4, input_dropout=0.3, recurrent_dropout=0.3))
