"""Gradient flow, Jacobians, Lyapunov exponents, the non-finite finder and gate health."""

import numpy as np
import pytest

import fastrnn
from fastrnn import diagnostics as dg
from fastrnn import functional as F
from fastrnn import tasks
from fastrnn.experiments import make_cell
from fastrnn.lab.walk import walk_layer

from conftest import CELL_VARIANTS, make_layer, variant_id

ONE_CELL = [
    ("srn", dict(nonlinearity="tanh")),
    ("srn", dict(nonlinearity="sigmoid")),
    ("srn", dict(nonlinearity="tanh", residual=True)),
    ("lstm", {}),
    ("gru", dict(reset_after=True)),
    ("gru", dict(reset_after=False)),
]


def _weights(cell, I, H, rng, scale=0.6):
    G = F.GATES[cell]
    return [scale * rng.standard_normal(s) for s in ((G * H, I), (G * H, H), (G * H,), (G * H,))]


def _forward(cell, opts, x, h, c, ws):
    """Functional forward; returns (y, state) with state h or (h, c)."""
    if cell == "lstm":
        y, hT, cT, _ = F.lstm_forward(x, h, c, *ws, train=False)
        return y, (hT, cT)
    fwd = F.srn_forward if cell == "srn" else F.gru_forward
    y, hT, _ = fwd(x, h, *ws, train=False, **opts)
    return y, hT


# --- the toy: flow equals w^k --------------------------------------------------

@pytest.mark.parametrize("w", [1.01, 0.99, 1.2])
def test_toy_gradient_flow_is_w_to_the_lag(backend, w):
    T = 300
    layer = fastrnn.SRN(1, 1, nonlinearity="relu", bias=False, dtype=np.float64)
    layer.params["weight_ih_l0"][...] = 1.0
    layer.params["weight_hh_l0"][...] = w
    x = np.zeros((T, 1, 1))
    flow = dg.gradient_flow(layer, x, state=np.ones((1, 1, 1)))
    lags, norms = flow.by_lag()
    np.testing.assert_array_equal(lags, np.arange(T))
    np.testing.assert_allclose(norms, w ** lags.astype(float), rtol=1e-12)
    fit = dg.fit_decay(lags, norms)
    assert fit["gamma"] == pytest.approx(w, rel=1e-10)
    rate, gamma = flow.decay()
    assert rate == pytest.approx(np.log(w), rel=1e-8)
    # the Jacobian route gives the same factor
    J = dg.step_jacobians(layer, x, state=np.ones((1, 1, 1)))
    np.testing.assert_allclose(J[:, 0, 0, 0], w)
    np.testing.assert_allclose(dg.cumulative_jacobian_norms(J)[:, 0], np.arange(T + 1) * np.log(w),
                               rtol=1e-9, atol=1e-12)
    assert dg.lyapunov_exponents(J)[0, 0] == pytest.approx(np.log(w), rel=1e-10)


# --- flow equals independently computed deltas ---------------------------------

def _suffix_loss(cell, opts, x, k, state, ws, v):
    """L = <v, h_T> running steps k+1 .. T-1 from the state after step k."""
    if k == x.shape[0] - 1:
        h = state[0] if cell == "lstm" else state
        return float(np.sum(v * h))
    _, fin = _forward(cell, opts, x[k + 1:], *(state if cell == "lstm" else (state, None)), ws)
    return float(np.sum(v * (fin[0] if cell == "lstm" else fin)))


@pytest.mark.parametrize("cell,opts", ONE_CELL, ids=lambda v: str(v))
def test_flow_equals_finite_difference_deltas(backend, cell, opts):
    rng = np.random.default_rng(7)
    T, N, I, H = 6, 2, 3, 4
    x = rng.standard_normal((T, N, I))
    ws = _weights(cell, I, H, rng)
    h0 = 0.5 * rng.standard_normal((N, H))
    c0 = 0.5 * rng.standard_normal((N, H)) if cell == "lstm" else None
    v = rng.standard_normal((N, H))
    # the engine's trace
    if cell == "lstm":
        _, _, _, cache = F.lstm_forward(x, h0, c0, *ws)
        res = F.lstm_backward(None, v, None, cache, state_grads=True)
    else:
        fwd, bwd = (F.srn_forward, F.srn_backward) if cell == "srn" else (F.gru_forward, F.gru_backward)
        _, _, cache = fwd(x, h0, *ws, **opts)
        res = bwd(None, v, cache, state_grads=True)
    eps = 1e-6
    for k in range(T):
        # the state after step k, by running the prefix
        y, st = _forward(cell, opts, x[:k + 1], h0, c0, ws)
        fd_h = np.zeros((N, H))
        fd_c = np.zeros((N, H))
        for n in range(N):
            for j in range(H):
                for sign in (1, -1):
                    if cell == "lstm":
                        hp = st[0].copy(); hp[n, j] += sign * eps
                        fd_h[n, j] += sign * _suffix_loss(cell, opts, x, k, (hp, st[1]), ws, v)
                        cp = st[1].copy(); cp[n, j] += sign * eps
                        fd_c[n, j] += sign * _suffix_loss(cell, opts, x, k, (st[0], cp), ws, v)
                    else:
                        hp = st.copy(); hp[n, j] += sign * eps
                        fd_h[n, j] += sign * _suffix_loss(cell, opts, x, k, hp, ws, v)
        fd_h /= 2 * eps
        np.testing.assert_allclose(res["dh_seq"][k], fd_h, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{cell} {opts}: dL/dh at step {k}")
        if cell == "lstm":
            fd_c /= 2 * eps
            # the trace holds the total dL/dc_t, through h_t = o_t tanh(c_t) too
            tc = np.tanh(st[1])
            o = st[0] / tc
            total = fd_c + res["dh_seq"][k] * o * (1 - tc * tc)
            np.testing.assert_allclose(res["dc_seq"][k], total, rtol=1e-6, atol=1e-8,
                                       err_msg=f"lstm: dL/dc at step {k}")


def test_flow_norms_equal_textbook_delta_loop(backend):
    """delta_{t,k} = diag(f'(z_k)) U^T delta_{t,k+1}, written out for an SRN (tanh)."""
    rng = np.random.default_rng(3)
    T, N, I, H = 40, 3, 2, 6
    layer = fastrnn.SRN(I, H, dtype=np.float64, seed=4)
    x = rng.standard_normal((T, N, I))
    flow = dg.gradient_flow(layer, x, seed=11)
    U, W = layer.params["weight_hh_l0"], layer.params["weight_ih_l0"]
    b = layer.params["bias_ih_l0"] + layer.params["bias_hh_l0"]
    hs = [np.zeros((N, H))]
    for t in range(T):
        hs.append(np.tanh(x[t] @ W.T + hs[-1] @ U.T + b))
    v = dg.loss_at_steps(T, N, H, "last", seed=11)[T - 1]
    dh = v                                   # dL/dh_T
    expected = [None] * T
    for k in range(T - 1, -1, -1):
        expected[k] = np.linalg.norm(dh, axis=1)
        delta = dh * (1 - hs[k + 1] ** 2)    # dL/dz_k = diag(f'(z_k)) dL/dh_k
        dh = delta @ U                       # dL/dh_{k-1} = U^T delta
    np.testing.assert_allclose(flow.norms(), np.array(expected), rtol=1e-10, atol=1e-300)
    lags, norms = flow.by_lag(reduce="none")
    np.testing.assert_allclose(norms[:, 1], np.array(expected)[::-1, 1], rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("variant", CELL_VARIANTS, ids=variant_id)
def test_layer_flow_obeys_the_jacobian_recursion(backend, variant):
    """dL/ds_{t-1} = J_t^T dL/ds_t + dy_{t-1}: engine trace vs the NumPy Jacobians,
    top layer of a 2-layer bidirectional layer, with lengths."""
    rng = np.random.default_rng(1)
    T, N, I, H = 7, 4, 3, 5
    layer = make_layer(variant, input_size=I, hidden_size=H, num_layers=2, bidirectional=True,
                       dtype=np.float64, seed=2)
    x = rng.standard_normal((T, N, I))
    lengths = np.array([7, 3, 5, 1])
    flow = dg.gradient_flow(layer, x, lengths=lengths, seed=3)
    walks = walk_layer(layer, x, lengths=lengths, dtype=np.float64)[0]
    dy = dg.loss_at_steps(T, N, 2 * H, "last", lengths, seed=3)
    lstm = flow.dc is not None
    for d in (0, 1):
        k = 2 + d
        J = dg.step_jacobians(layer, x, lengths=lengths, layer_index=1, direction=d)
        ds = flow.dh[k]
        if lstm:   # state coordinates: the partial dL/dc_t (h_t held), not the total
            dc = flow.dc[k].copy()
            for t in range(T):
                step, act = walks[k].steps[t], (t < lengths)[:, None]
                tc = np.tanh(step.c)
                dc[t] -= np.where(act, flow.dh[k][t] * step.acts[:, 3 * H:] * (1 - tc * tc), 0)
            ds = np.concatenate([ds, dc], axis=2)
        for t in range(T):
            nxt = t + 1 if d == 0 else t - 1
            if not 0 <= nxt < T:
                continue
            rows = (t < lengths) if not (lstm and d == 1) else (t < lengths) & (nxt < lengths)
            pred = np.einsum("nsr,ns->nr", J[nxt], ds[nxt])
            pred[:, :H] += dy[t, :, d * H:(d + 1) * H] * (t < lengths)[:, None]
            np.testing.assert_allclose(pred[rows], ds[t][rows], rtol=1e-9, atol=1e-12,
                                       err_msg=f"direction {d}, step {t}")


def test_backward_with_flow_is_layer_backward(backend, rng):
    layer = fastrnn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                         dtype=np.float64, seed=0)
    x = rng.standard_normal((3, 6, 3))
    lengths = [6, 2, 4]
    dy = rng.standard_normal((3, 6, 8))
    ds = (rng.standard_normal((4, 3, 4)), rng.standard_normal((4, 3, 4)))
    layer.forward(x, lengths=lengths)
    dx_ref, (dh_ref, dc_ref) = layer.backward(dy, ds)
    grads_ref = layer.grads_flat.copy()
    layer.zero_grad()
    layer.forward(x, lengths=lengths)
    dx, (dh0, dc0), flow = dg.backward_with_flow(layer, dy, ds)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dh0, dh_ref)
    np.testing.assert_array_equal(dc0, dc_ref)
    np.testing.assert_array_equal(layer.grads_flat, grads_ref)
    assert len(flow.dh) == 4 and flow.dh[0].shape == (6, 3, 4) and len(flow.dc) == 4
    layer.zero_grad()
    dg.backward_with_flow(layer, dy, ds, accumulate=False)
    assert not layer.grads_flat.any()
    layer._cache = None
    with pytest.raises(RuntimeError, match="forward"):
        dg.backward_with_flow(layer, dy)


def test_loss_at_steps_and_by_lag_with_lengths():
    dy = dg.loss_at_steps(5, 3, 4, "last", lengths=[5, 2, 3])
    assert np.count_nonzero(np.linalg.norm(dy, axis=2)) == 3
    np.testing.assert_allclose(np.linalg.norm(dy[[4, 1, 2], [0, 1, 2]], axis=1), 1.0)
    dy2 = dg.loss_at_steps(5, 2, 3, [0, -1], seed=1)
    np.testing.assert_allclose(np.linalg.norm(dy2[[0, 4]], axis=2), 1.0)
    assert not dy2[1:4].any()
    with pytest.raises(ValueError, match="steps"):
        dg.loss_at_steps(5, 2, 3, [7])
    layer = fastrnn.GRU(2, 3, bidirectional=True, dtype=np.float64, seed=1)
    x = np.random.default_rng(0).standard_normal((6, 2, 2))
    flow = dg.gradient_flow(layer, x, lengths=[6, 4])
    lags, table = flow.by_lag(reduce="none")
    assert np.isnan(table[4:, 1]).all() and np.isfinite(table[:4, 1]).all()
    # the reverse direction reads forward in time: the loss at the last step reaches
    # only that step's reverse state (and the frozen ones after a shorter sequence's end)
    lags_r, rev = flow.by_lag(direction=1, reduce="none")
    assert np.isfinite(rev[0]).all() and np.isnan(rev[1:, 0]).all()


# --- Jacobians -----------------------------------------------------------------

@pytest.mark.parametrize("cell,opts", ONE_CELL + [("srn", dict(nonlinearity="relu"))],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("reverse", [False, True])
def test_step_jacobians_match_finite_differences(cell, opts, reverse):
    rng = np.random.default_rng(5)
    T, N, I, H = 4, 2, 3, 4
    x = rng.standard_normal((T, N, I))
    ws = _weights(cell, I, H, rng)
    h0 = 0.5 * rng.standard_normal((N, H))
    c0 = 0.5 * rng.standard_normal((N, H)) if cell == "lstm" else None
    J = dg.cell_jacobians(cell, x, h0, *ws, c0=c0, reverse=reverse, **opts)
    S = 2 * H if cell == "lstm" else H
    assert J.shape == (T, N, S, S)
    # states along the trajectory, in processing order
    order = range(T - 1, -1, -1) if reverse else range(T)
    state = np.concatenate([h0, c0], axis=1) if cell == "lstm" else h0
    eps = 1e-6

    def step(t, s):
        h, c = (s[:, :H], s[:, H:]) if cell == "lstm" else (s, None)
        _, new = _forward(cell, opts, x[t:t + 1], h, c, ws)
        return np.concatenate(new, axis=1) if cell == "lstm" else new

    for t in order:
        fd = np.zeros((N, S, S))
        for j in range(S):
            e = np.zeros(S); e[j] = eps
            fd[:, :, j] = (step(t, state + e) - step(t, state - e)) / (2 * eps)
        np.testing.assert_allclose(J[t], fd, rtol=1e-6, atol=1e-8, err_msg=f"step {t}")
        state = step(t, state)


def test_jacobians_identity_past_the_end_and_norms():
    rng = np.random.default_rng(0)
    ws = _weights("gru", 2, 3, rng)
    J = dg.cell_jacobians("gru", rng.standard_normal((5, 2, 2)), None, *ws, lengths=[5, 2])
    np.testing.assert_array_equal(J[2:, 1], np.broadcast_to(np.eye(3), (3, 3, 3)))
    norms = dg.jacobian_norms(J)
    assert norms.shape == (5, 2)
    np.testing.assert_allclose(norms[2:, 1], 1.0)
    np.testing.assert_allclose(norms[:, 0], [np.linalg.norm(J[t, 0], 2) for t in range(5)])


def test_cumulative_norms_and_lyapunov_on_known_maps():
    T = 50
    D = np.diag([2.0, 0.5, 0.1])
    J = np.broadcast_to(D, (T, 1, 3, 3)).copy()
    cum = dg.cumulative_jacobian_norms(J)
    np.testing.assert_allclose(cum[:, 0], np.arange(T + 1) * np.log(2.0), rtol=1e-12)
    np.testing.assert_allclose(dg.lyapunov_exponents(J)[0], np.log([2.0, 0.5, 0.1]), rtol=1e-10)
    np.testing.assert_allclose(dg.lyapunov_exponents(J, num=1)[0], [np.log(2.0)], rtol=1e-10)
    # a scaled rotation: norms r^lag, both exponents ln r
    th, r = 0.3, 0.9
    R = r * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    J = np.broadcast_to(R, (T, 2, 2, 2)).copy()
    np.testing.assert_allclose(dg.lyapunov_exponents(J), np.log(r), rtol=1e-10)
    np.testing.assert_allclose(dg.cumulative_jacobian_norms(J, step=19)[:, 1],
                               np.arange(21) * np.log(r), rtol=1e-10, atol=1e-14)
    # no overflow for a long exploding product
    big = np.broadcast_to(np.diag([10.0]), (2000, 1, 1, 1)).copy()
    assert dg.cumulative_jacobian_norms(big)[-1, 0] == pytest.approx(2000 * np.log(10.0))
    with pytest.raises(ValueError, match="num"):
        dg.lyapunov_exponents(J, num=3)


def test_spectral_radius():
    assert dg.spectral_radius(np.diag([0.5, -1.5])) == pytest.approx(1.5)
    R = 1.2 * np.array([[0.0, -1.0], [1.0, 0.0]])              # eigenvalues +-1.2i
    assert dg.spectral_radius(R) == pytest.approx(1.2)
    stacked = np.concatenate([np.eye(2) * k for k in (1.0, 2.0, 3.0, 4.0)])
    np.testing.assert_allclose(dg.spectral_radius(stacked), [1, 2, 3, 4])
    with pytest.raises(ValueError, match="W"):
        dg.spectral_radius(np.ones((3, 2)))


# --- the first non-finite value --------------------------------------------------

def test_first_nonfinite_points_at_a_planted_input_nan(backend):
    layer = fastrnn.SRN(3, 4, num_layers=2, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((9, 3, 3))
    assert dg.first_nonfinite(layer, x) is None
    x[5, 1, 2] = np.nan
    rep = dg.first_nonfinite(layer, x)
    assert (rep.stage, rep.layer, rep.direction, rep.step, rep.gate) == ("forward", 0, 0, 5, "input")
    assert (rep.sequence, rep.unit) == (1, 2) and np.isnan(rep.value)
    assert "step 5" in str(rep)
    # padding past a sequence's end is ignored, as the engines ignore it
    assert dg.first_nonfinite(layer, x, lengths=[9, 5, 9]) is None


def test_first_nonfinite_names_layer_direction_and_gate():
    H = 4
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 2, 3))
    lstm = fastrnn.LSTM(3, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    lstm.params["weight_hh_l1_reverse"][H + 2, 1] = np.nan     # forget gate, unit 2
    rep = dg.first_nonfinite(lstm, x)
    assert (rep.stage, rep.layer, rep.direction, rep.gate, rep.quantity) == \
        ("forward", 1, 1, "f", "pre-activation")
    assert rep.step == 7 and rep.unit == 2                      # the reverse direction starts at T-1
    gru = fastrnn.GRU(3, H, dtype=np.float64, seed=1)
    gru.params["bias_ih_l0"][2 * H + 3] = np.inf               # candidate n, unit 3
    rep = dg.first_nonfinite(gru, x)
    assert (rep.layer, rep.direction, rep.step, rep.gate, rep.unit) == (0, 0, 0, "n", 3)
    # an overflow that appears only later in the sequence, in the SRN's activation
    srn = fastrnn.SRN(1, 1, nonlinearity="relu", bias=False, dtype=np.float32)
    srn.params["weight_ih_l0"][...] = 1
    srn.params["weight_hh_l0"][...] = 1e10
    rep = dg.first_nonfinite(srn, np.ones((20, 1, 1), dtype=np.float32))
    assert rep.gate == "h" and rep.quantity == "pre-activation" and rep.step == 4
    assert np.isinf(rep.value)


def test_first_nonfinite_in_the_backward(backend):
    layer = fastrnn.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((9, 2, 3))
    dy = np.zeros((9, 2, 4))
    dy[-1] = 1.0
    assert dg.first_nonfinite(layer, x, dy=dy) is None
    dy[6, 1, 3] = np.inf
    rep = dg.first_nonfinite(layer, x, dy=dy)
    assert (rep.stage, rep.layer, rep.direction, rep.step, rep.gate) == ("backward", 1, 0, 6, "dy")
    dy[6, 1, 3] = 0.0
    dstate = (np.zeros((2, 2, 4)), np.zeros((2, 2, 4)))
    dstate[1][0, 0, 0] = np.nan
    rep = dg.first_nonfinite(layer, x, dy=dy, dstate=dstate)
    assert (rep.stage, rep.layer, rep.gate) == ("backward", 0, "dstate")


def test_first_nonfinite_backward_overflow_through_the_recurrence(backend):
    """float32: the forward stays tiny, the error grows x1e5 per step back and overflows."""
    srn = fastrnn.SRN(1, 1, nonlinearity="relu", bias=False, dtype=np.float32)
    srn.params["weight_ih_l0"][...] = 1
    srn.params["weight_hh_l0"][...] = 1e5
    x = np.zeros((5, 1, 1), dtype=np.float32)
    x[0] = 1e-35
    dy = np.zeros((5, 1, 1), dtype=np.float32)
    dy[-1] = 1e30
    assert dg.first_nonfinite(srn, x) is None
    rep = dg.first_nonfinite(srn, x, dy=dy)
    assert (rep.stage, rep.layer, rep.direction, rep.step, rep.gate) == ("backward", 0, 0, 2, "h")
    assert np.isinf(rep.value)


# --- gate health -----------------------------------------------------------------

def test_gate_health_saturation_and_forget_mean():
    H = 5
    x = np.random.default_rng(0).standard_normal((10, 4, 2))
    lstm = fastrnn.LSTM(2, H, num_layers=2, dtype=np.float64, seed=0)
    lstm.params["bias_hh_l0"][H:2 * H] = 30.0
    lstm.params["bias_hh_l1"][H:2 * H] = -30.0
    health = dg.gate_health(lstm, x)
    assert set(health) == {(0, 0), (1, 0)}
    assert health[(0, 0)]["forget_mean"] == pytest.approx(1.0)
    assert health[(0, 0)]["f"]["saturated"] == 1.0 and health[(0, 0)]["f"]["high"] == 1.0
    assert health[(1, 0)]["f"]["low"] == 1.0 and health[(1, 0)]["forget_mean"] < 1e-9
    assert 0 <= health[(0, 0)]["i"]["saturated"] < 1
    srn = fastrnn.SRN(2, H, dtype=np.float64, seed=0)
    srn.params["weight_ih_l0"][...] *= 1000
    assert dg.gate_health(srn, x)[(0, 0)]["h"]["saturated"] > 0.95
    calm = fastrnn.SRN(2, H, dtype=np.float64, seed=0)
    calm.params_flat[...] *= 1e-3
    assert dg.gate_health(calm, x)[(0, 0)]["h"]["saturated"] == 0.0
    gru = fastrnn.GRU(2, H, bidirectional=True, dtype=np.float64, seed=0)
    h = dg.gate_health(gru, x, lengths=[10, 3, 1, 7])
    assert set(h) == {(0, 0), (0, 1)} and 0 < h[(0, 1)]["update_mean"] < 1


# --- the textbook's qualitative claim ----------------------------------------------

def test_srn_gradient_vanishes_far_faster_than_lstm(backend):
    T, lag = 60, 50
    x = tasks.adding_problem(16, T, seed=0).x
    rel = {}
    for cell in ("srn", "lstm", "residual"):
        layer = make_cell(cell, 2, 16, seed=0, gate_bias=1.0)
        lags, norms = dg.gradient_flow(layer, x).by_lag(reduce="geomean")
        rel[cell] = norms[lag] / norms[0]
    assert rel["srn"] < 1e-3 * rel["lstm"]
    assert rel["srn"] < 1e-8
    assert rel["residual"] > 0.1        # the identity path keeps it
