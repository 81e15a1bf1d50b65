/* The GRU kernels (part of fr_impl.h: one element type, one ISA).
 *
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   reset_after (PyTorch/cuDNN): n = tanh(W_in x + b_in + r (W_hn h + b_hn))
 *   reset_before (Cho 2014):     n = tanh(W_in x + b_in + W_hn (r h) + b_hn)
 *   h_t = (1 - z) n + z h_{t-1};  blocks r, z, n in PyTorch's order.
 * Masks (fastrnn.h): x_t * mask_x; h_{t-1} * mask_h in place of h in every
 * recurrent product (W_h{r,z} h, W_hn h or W_hn (r h)); z h_{t-1} unmasked;
 * zoneout h_t = d h_{t-1} + (1 - d) ((1 - z) n + z h_{t-1}).
 */

/* Reset-after forward pass over units [j0, j1) of every row:
 *   xg_t [N,3H] in: x W_ih^T (no bias); out: r, z, n (the cache when
 *     training, else scratch)
 *   hg [N,3H] in: h_prev W_hh^T + b_hh;  aux_t [N,H] out or NULL: W_hn h + b_hn
 *   r = sig(xr + b_ir + hr), z = sig(xz + b_iz + hz), n = tanh(xn + b_in + r hn),
 *   h = (1 - z) n + z h_prev. First sweep: r and z. */
static void FR_S(gru_after_fwd_pass)(REAL *xg_t, REAL *h_out, REAL *y_t, REAL *aux_t,
                                     const REAL *hg, const REAL *h_prev, const REAL *b_ih,
                                     const REAL *zh_t, const int64_t *lengths, int t, int N,
                                     int H, int j0, int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *xg = xg_t + (size_t)n * 3 * H;
        const REAL *hgn = hg + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        for (int g = 0; g < 2; g++) {
            const int b = g * H;
            FOR_RANGE(j, j0 + b, j1 + b) {
                ST(xg + j, VSIG((LD(xg + j) + LD(b_ih + j)) + LD(hgn + j)));
            }
        }
        FOR_RANGE(j, j0, j1) {
            VR r = LD(xg + j), z = LD(xg + H + j);
            VR xn = LD(xg + 2 * H + j) + LD(b_ih + 2 * H + j);
            VR hn = LD(hgn + 2 * H + j);
            VR nn = VTANH(xn + r * hn);
            VR hp = LD(h_prev + o + j);
            VR h = ((REAL)1 - z) * nn + z * hp;
            if (zh_t) h = FR_S(zone)(LD(zh_t + o + j), hp, h);
            ST(xg + 2 * H + j, nn);
            if (aux_t) ST(aux_t + o + j, hn);
            if (act) { ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else { ST(h_out + o + j, hp); ST(y_t + o + j, (VR){0}); }
        }
    }
}

/* Reset-before forward, first pass over units [j0, j1): r, z from gates_t
 * (already (xg + b) + h W_hr,z^T), written back in place; aux_t = r h_prev
 * (the input of W_hn; h_prev is h_{t-1} * mask_h with the mask). */
static void FR_S(gru_before_fwd_pass1)(REAL *gates_t, REAL *aux_t, const REAL *h_prev,
                                       int N, int H, int j0, int j1)
{
    for (int n = 0; n < N; n++) {
        REAL *g = gates_t + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        FR_S(act_sweep)(g + j0, j1 - j0, 0);      /* r */
        FR_S(act_sweep)(g + H + j0, j1 - j0, 0);  /* z */
        FOR_RANGE(j, j0, j1) { ST(aux_t + o + j, LD(g + j) * LD(h_prev + o + j)); }
    }
}

/* Reset-before forward, second pass over units [j0, j1): n = tanh(gates_t n
 * block, now (xn + b) + (r h) W_hn^T), h = (1 - z) n + z h_prev. */
static void FR_S(gru_before_fwd_pass2)(REAL *gates_t, REAL *h_out, REAL *y_t,
                                       const REAL *h_prev, const REAL *zh_t,
                                       const int64_t *lengths, int t, int N, int H, int j0,
                                       int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *g = gates_t + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        FOR_RANGE(j, j0, j1) {
            VR nn = VTANH(LD(g + 2 * H + j));
            VR z = LD(g + H + j);
            VR hp = LD(h_prev + o + j);
            VR h = ((REAL)1 - z) * nn + z * hp;
            if (zh_t) h = FR_S(zone)(LD(zh_t + o + j), hp, h);
            ST(g + 2 * H + j, nn);
            if (act) { ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else { ST(h_out + o + j, hp); ST(y_t + o + j, (VR){0}); }
        }
    }
}

/* One forward step on the units of chunk c. reset_after: their columns of
 * hg = h_prev W_hh^T + b_hh (three gates), then their pass (one job per
 * step). reset_before: phase 0 their r, z columns and r h_prev, phase 1
 * (after all of r h_prev exists) their n column and the update. */
typedef struct {
    const REAL *P, *bias, *b_ih, *h_prev;
    REAL *g_t, *hg, *aux_t, *h_out, *y_t;
    const int64_t *lengths;
    int t, N, H, reset_after, phase;
    FR_S(split) sp;
    const REAL *mask_h, *hm, *zh_t;  /* masks: see srn_fwd_step */
    REAL *hm_out;
} FR_S(gru_fwd_step);

static void FR_S(gru_fwd_chunk)(void *p, int c)
{
    FR_S(gru_fwd_step) *s = p;
    const int H = s->H, GH = 3 * H, N = s->N;
    UNIT_RANGE(s->sp, c, H, j0, j1)
    const REAL *hr = s->mask_h ? s->hm : s->h_prev;  /* what the recurrent products read */
    if (s->reset_after) {
        /* hg[:, g*H + j0:j1] = h_prev W_hh[g*H + j0:j1]^T + b_hh */
        FR_S(rgemm_gates)(s->hg + j0, GH, hr, H,
                          PANEL_AT(GATE_PANELS(s->P, 0, H), j0, H), GATE_STRIDE(H), H,
                          s->bias + j0, 0, N, j1 - j0, H, 3);
        FR_S(gru_after_fwd_pass)(s->g_t, s->h_out, s->y_t, s->aux_t, s->hg, s->h_prev, s->b_ih,
                                 s->zh_t, s->lengths, s->t, N, H, j0, j1);
    } else if (s->phase == 0) {
        /* r, z blocks: (xg + b) + h_prev W_hr,hz^T */
        FR_S(rgemm_gates)(s->g_t + j0, GH, hr, H,
                          PANEL_AT(GATE_PANELS(s->P, 0, H), j0, H), GATE_STRIDE(H), H,
                          s->bias + j0, 1, N, j1 - j0, H, 2);
        FR_S(gru_before_fwd_pass1)(s->g_t, s->aux_t, hr, N, H, j0, j1);
        return;
    } else {
        /* n block: (xg + b) + (r h_prev) W_hn^T */
        FR_S(rgemm)(s->g_t + 2 * H + j0, GH, s->aux_t, H,
                    PANEL_AT(GATE_PANELS(s->P, 2, H), j0, H), s->bias + 2 * H + j0, 1, N,
                    j1 - j0, H);
        FR_S(gru_before_fwd_pass2)(s->g_t, s->h_out, s->y_t, s->h_prev, s->zh_t, s->lengths,
                                   s->t, N, H, j0, j1);
    }
    if (s->mask_h) FR_S(mask_units)(s->hm_out, s->h_out, s->mask_h, 0, N, H, j0, j1);
}

static int FR_X(gru_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                         size_t *ws_needed)
{
    /* GRU forward, blocks r, z, n:  r, z = sigmoid(x W_i{r,z}^T + b + h_{t-1} W_h{r,z}^T + b),
     *   reset_after:  n = tanh(x W_in^T + b_in + r (h_{t-1} W_hn^T + b_hn))
     *   reset_before: n = tanh(x W_in^T + b_in + (r h_{t-1}) W_hn^T + b_hn)
     *   h_t = (1 - z) n + z h_{t-1}.
     * in:  x [T,N,I], h0 [N,H], W_ih [3H,I], W_hh [3H,H], b_ih, b_hh [3H], lengths
     * out: y [T,N,H], hT [N,H]; hs [T+1,N,H], gates [T,N,3H], aux [T,N,H] or all NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse, reset_after = a->reset_after;
    const REAL *x = a->x, *h0 = a->h0;
    REAL *y = a->y, *hT = a->hT, *hs = a->hs, *gates = a->gates, *aux = a->aux;
    const int train = hs != NULL, GH = 3 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    /* scratch: the packed weights (unless given); reset_after: hg [N,3H];
     * inference: the gate pre-activations of one chunk of steps, the state's
     * second buffer and, reset_before, aux [N,H]; masks as the SRN's */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    FR_S(weights) w;
    if (!FR_S(weights_get)(&w, &c, a)) return FASTRNN_EINVAL;
    REAL *hg = reset_after ? FR_S(carve)(&c, NG) : NULL;
    REAL *chunk = train ? NULL : FR_S(carve)(&c, (size_t)CH * NG);
    REAL *h_other = train ? NULL : FR_S(carve)(&c, NH);
    REAL *aux_ws = train || reset_after ? NULL : FR_S(carve)(&c, NH);
    REAL *xm = mask_x ? FR_S(carve)(&c, (size_t)CH * N * I) : NULL;
    REAL *hm[2] = {NULL, NULL};
    if (mask_h) { hm[0] = FR_S(carve)(&c, NH); hm[1] = FR_S(carve)(&c, NH); }
    CARVE_END(c);

    fr_team team = *team_in;
    if (!a->packed) FR_S(weights_fill)(&team, &w, a);
    const REAL *Pih = w.Pih;
    /* reset_after adds b_hh inside the product, b_ih in the pass; reset_before
     * adds their sum before the products (the reference's order) */
    FR_S(gru_fwd_step) st = {w.P, reset_after ? w.b_hh : w.bias, w.b_ih, NULL, NULL, hg, NULL,
                             NULL, NULL, a->lengths, 0, N, H, reset_after, 0,
                             FR_S(split_units)(&team, N, 3, H), mask_h, NULL, NULL, NULL};
    REAL *h_cur = train ? hs + (reverse ? (size_t)T * NH : 0) : hT;
    if (h_cur != h0) memcpy(h_cur, h0, NH * sizeof(REAL));
    if (mask_h) FR_S(mask_units)(hm[0], h_cur, mask_h, 0, N, H, 0, H);
    if (train) FR_S(project_in)(&team, gates, x, mask_x, xm, Pih, 0, T, N, I, GH);
    int chunk_steps = train ? T : CH;
    for (int s0 = 0; s0 < T; s0 += chunk_steps) {
        int ns = T - s0 < chunk_steps ? T - s0 : chunk_steps;
        int tlo = train ? 0 : CHUNK_TLO(s0, ns);
        REAL *buf = train ? gates : chunk;
        if (!train) FR_S(project_in)(&team, chunk, x, mask_x, xm, Pih, tlo, ns, N, I, GH);
        for (int s = s0; s < s0 + ns; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            st.t = t;
            st.zh_t = ZONE_AT(a->zone_h, t, NH);
            st.hm = hm[s & 1];
            st.hm_out = hm[(s + 1) & 1];
            st.g_t = buf + (size_t)(t - tlo) * NG;
            st.h_prev = train ? hs + (size_t)rd * NH : h_cur;
            st.h_out = train ? hs + (size_t)wr * NH : (h_cur == hT ? h_other : hT);
            st.aux_t = train ? aux + (size_t)t * NH : aux_ws;
            st.y_t = y + (size_t)t * NH;
            for (st.phase = 0; st.phase < (reset_after ? 1 : 2); st.phase++)
                fr_run(&team, FR_S(gru_fwd_chunk), &st, st.sp.nchunks);
            h_cur = st.h_out;
        }
    }
    if (h_cur != hT) memcpy(hT, h_cur, NH * sizeof(REAL));
    return FASTRNN_OK;
}

/* Reset-after backward pass over units [j0, j1) (BPTT through
 * h = (1-z) n + z h_prev, n = tanh(xn + r hn), r, z = sigmoid(...)):
 *   dh [N,H] in/out: -> dh_total;  dhn [N,H] out: dh_total z (the direct path)
 *   dg_t [N,3H] out: d(r, z, n) pre-activations seen by W_ih (0 on inactive rows)
 *   dzhh [N,3H] out: the same seen by W_hh: (dr, dz, dn r)
 *   dnr_t [N,H] out: dn r (the n block of dzhh, kept for dW_hh, db_hh)
 *   zh_t [N,H] or NULL: zoneout: the cell's h~ receives dh_total (1 - d) and
 *     the direct path adds dh_total d to dhn */
static void FR_S(gru_after_bwd_pass)(REAL *dh, REAL *dhn, REAL *dg_t, REAL *dzhh, REAL *dnr_t,
                                     REAL *trace_t, const REAL *dy_t, const REAL *gates_t,
                                     const REAL *aux_t, const REAL *h_prev, const REAL *zh_t,
                                     const int64_t *lengths, int t, int N, int H, int j0,
                                     int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        const REAL *gt = gates_t + og;
        FOR_RANGE(j, j0, j1) {
            VR r = LD(gt + j), z = LD(gt + H + j), nn = LD(gt + 2 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dhz = zh_t ? dht * ((REAL)1 - LD(zh_t + o + j)) : dht;
            VR dn = dhz * ((REAL)1 - z) * ((REAL)1 - nn * nn);
            VR dz = dhz * (LD(h_prev + o + j) - nn) * z * ((REAL)1 - z);
            VR dr = dn * LD(aux_t + o + j) * r * ((REAL)1 - r);
            VR dnr = dn * r;
            ST(dhn + o + j, zh_t ? dhz * z + dht * LD(zh_t + o + j) : dhz * z);
            if (!act) { VR zero = {0}; dn = zero; dz = zero; dr = zero; dnr = zero; }
            ST(dg_t + og + j, dr); ST(dg_t + og + H + j, dz); ST(dg_t + og + 2 * H + j, dn);
            ST(dzhh + og + j, dr); ST(dzhh + og + H + j, dz); ST(dzhh + og + 2 * H + j, dnr);
            ST(dnr_t + o + j, dnr);
        }
    }
}

/* Reset-before backward, first pass over units [j0, j1)
 * (n = tanh(xn + (r h_prev) W_hn^T + b)):
 *   dh in/out -> dh_total; dhn out: dh_total z; dg_t z and n blocks out;
 *   zh_t: zoneout as gru_after_bwd_pass. */
static void FR_S(gru_before_bwd_pass1)(REAL *dh, REAL *dhn, REAL *dg_t, REAL *trace_t,
                                       const REAL *dy_t, const REAL *gates_t,
                                       const REAL *h_prev, const REAL *zh_t,
                                       const int64_t *lengths, int t, int N, int H, int j0,
                                       int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        const REAL *gt = gates_t + og;
        FOR_RANGE(j, j0, j1) {
            VR z = LD(gt + H + j), nn = LD(gt + 2 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dhz = zh_t ? dht * ((REAL)1 - LD(zh_t + o + j)) : dht;
            VR dn = dhz * ((REAL)1 - z) * ((REAL)1 - nn * nn);
            VR dz = dhz * (LD(h_prev + o + j) - nn) * z * ((REAL)1 - z);
            ST(dhn + o + j, zh_t ? dhz * z + dht * LD(zh_t + o + j) : dhz * z);
            if (!act) { VR zero = {0}; dn = zero; dz = zero; }
            ST(dg_t + og + H + j, dz); ST(dg_t + og + 2 * H + j, dn);
        }
    }
}

/* Reset-before backward, second pass over units [j0, j1), after
 * d_rh = dn W_hn (the gradient of r h_prev):
 *   dr = d_rh h_prev r (1 - r) -> dg_t r block;  dhn += d_rh r.
 * With mask_h, h_prev is h_{t-1} * mask_h and d_rh r goes to dhn = dhm
 * (overwritten; the recurrent part, multiplied by the mask later). */
static void FR_S(gru_before_bwd_pass2)(REAL *dhn, REAL *dg_t, const REAL *drh,
                                       const REAL *gates_t, const REAL *h_prev, int masked,
                                       const int64_t *lengths, int t, int N, int H, int j0,
                                       int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        FOR_RANGE(j, j0, j1) {
            VR r = LD(gates_t + og + j);
            VR d = LD(drh + o + j);
            VR dr = d * LD(h_prev + o + j) * r * ((REAL)1 - r);
            ST(dhn + o + j, masked ? d * r : LD(dhn + o + j) + d * r);
            ST(dg_t + og + j, act ? dr : (VR){0});
        }
    }
}

/* Backward jobs on the units of chunk c, steps numbered as in srn_bwd_chunk.
 * reset_after: job k = the product of step k (dh_{t-1} += (dr, dz, dn r) W_hh),
 * then the pass of step k-1; its (dr, dz, dn r) [N,3H] alternate between two
 * buffers so that the pass of step k-1 never overwrites what the product of
 * step k reads. reset_before: phase 0 of job k is d_rh = dn W_hn and the
 * second pass of step k; phase 1 the product (dr, dz) W_h{r,z} of step k and
 * then the first pass of step k-1. */
typedef struct {
    const REAL *P, *Pn, *dy, *gates, *aux, *h_prevs;
    REAL *dg, *dnr, *dzhh[2], *drh, *trace_dh, *dh_buf[2];
    const int64_t *lengths;
    int T, N, H, reverse, reset_after, k, phase;
    FR_S(split) sp;
    const REAL *mask_h, *zone_h, *hpm;  /* masks: see srn_bwd_job; hpm = h_prevs * mask_h */
    REAL *dhm;
} FR_S(gru_bwd_job);

static void FR_S(gru_bwd_chunk)(void *p, int c)
{
    FR_S(gru_bwd_job) *j = p;
    const int T = j->T, N = j->N, H = j->H, GH = 3 * H, reverse = j->reverse, k = j->k;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    UNIT_RANGE(j->sp, c, H, j0, j1)
    if (k < T) {
        STEP_INDICES(k, t, rd, wr)
        REAL *dh = j->dh_buf[k & 1], *dhn = j->dh_buf[(k + 1) & 1];
        REAL *dg_t = j->dg + (size_t)t * NG;
        if (j->reset_after) {
            /* dh_{t-1} = dh_total z + (dr, dz, dn r) W_hh  (the product * mask_h) */
            FR_S(recurrent_grad)(dhn, j->dhm, j->mask_h, 1, j->dzhh[k & 1], GH,
                                 PANEL_AT(j->P, j0, GH), N, H, GH, j0, j1);
            FR_S(pass_inactive)(dhn, dh, j->lengths, t, N, H, j0, j1);
        } else if (j->phase == 0) {
            /* d(r h_prev) = dn W_hn; then dr and the d_rh r path */
            FR_S(rgemm)(j->drh + j0, H, dg_t + 2 * H, GH, PANEL_AT(j->Pn, j0, H), NULL, 0, N,
                        j1 - j0, H);
            FR_S(gru_before_bwd_pass2)(j->mask_h ? j->dhm : dhn, dg_t, j->drh,
                                       j->gates + (size_t)t * NG,
                                       (j->mask_h ? j->hpm : j->h_prevs) + (size_t)t * NH,
                                       j->mask_h != NULL, j->lengths, t, N, H, j0, j1);
            return;
        } else {
            /* dh_{t-1} = (dh_total z + d_rh r) + (dr, dz) W_hr,hz;
             * mask_h: dh_total z + (d_rh r + (dr, dz) W_hr,hz) * mask_h */
            if (j->mask_h) {
                FR_S(rgemm)(j->dhm + j0, H, dg_t, GH, PANEL_AT(j->P, j0, 2 * H), NULL, 1, N,
                            j1 - j0, 2 * H);
                FR_S(mask_units)(dhn, j->dhm, j->mask_h, 1, N, H, j0, j1);
            } else {
                FR_S(rgemm)(dhn + j0, H, dg_t, GH, PANEL_AT(j->P, j0, 2 * H), NULL, 1, N,
                            j1 - j0, 2 * H);
            }
            FR_S(pass_inactive)(dhn, dh, j->lengths, t, N, H, j0, j1);
        }
    }
    if (k > 0) {
        STEP_INDICES(k - 1, t, rd, wr)
        size_t ot = (size_t)t * NH;
        REAL *dh = j->dh_buf[(k - 1) & 1], *dhn = j->dh_buf[k & 1];
        REAL *tr = j->trace_dh ? j->trace_dh + ot : NULL;
        const REAL *g_t = j->gates + (size_t)t * NG, *h_prev = j->h_prevs + ot;
        const REAL *zh_t = ZONE_AT(j->zone_h, t, NH);
        if (j->reset_after)
            FR_S(gru_after_bwd_pass)(dh, dhn, j->dg + (size_t)t * NG, j->dzhh[(k - 1) & 1],
                                     j->dnr + ot, tr, j->dy + ot, g_t, j->aux + ot, h_prev,
                                     zh_t, j->lengths, t, N, H, j0, j1);
        else
            FR_S(gru_before_bwd_pass1)(dh, dhn, j->dg + (size_t)t * NG, tr, j->dy + ot, g_t,
                                       h_prev, zh_t, j->lengths, t, N, H, j0, j1);
    }
}

static int FR_X(gru_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                         size_t *ws_needed)
{
    /* GRU BPTT:  dh_total = dh + dy_t;  dn = dh_total (1-z)(1-n^2);
     *   dz = dh_total (h_{t-1} - n) z(1-z);
     *   reset_after:  dr = dn aux r(1-r);  dh_{t-1} = dh_total z + (dr, dz, dn r) W_hh
     *   reset_before: d(r h) = dn W_hn;  dr = d(r h) h_{t-1} r(1-r);
     *                 dh_{t-1} = dh_total z + d(r h) r + (dr, dz) W_h{r,z}
     *   inactive rows: zero gate gradients, dh passes through.
     *   Zoneout: dh_total (1 - d) replaces dh_total above but in dh_total z, and
     *   dh_{t-1} += dh_total d. mask_h: the products' part of dh_{t-1} (with d_rh r)
     *   is multiplied by it, dW_hh reads h_{t-1} * mask_h. mask_x as the SRN's.
     * in:  dy [T,N,H], dhT [N,H], x [T,N,I], W_ih [3H,I], W_hh [3H,H], hs [T+1,N,H],
     *      gates [T,N,3H], aux [T,N,H], lengths
     * out: dx [T,N,I], dh0 [N,H], trace_dh [T,N,H] or NULL; dW_ih [3H,I], dW_hh [3H,H],
     *      db_ih, db_hh [3H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse, reset_after = a->reset_after, GH = 3 * H;
    const REAL *x = a->x, *W_ih = a->W_ih, *W_hh = a->W_hh, *hs = a->hs, *aux = a->aux;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    REAL *dW_ih = a->dW_ih, *dW_hh = a->dW_hh, *db_ih = a->db_ih, *db_hh = a->db_hh;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH, TN = (size_t)T * N;
    /* scratch: d(pre-activations) seen by W_ih for all steps [T,N,3H];
     *   reset_after:  dn r for all steps [T,N,H], W_hh packed, two (dr, dz, dn r) [N,3H];
     *   reset_before: W_h{r,z} packed, W_hn packed, d(r h) [N,H];
     * both: two dh buffers, a column-sum row, the packed operand of the
     * whole-sequence products */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dg = FR_S(carve)(&c, TN * GH);
    REAL *dnr = NULL, *P = NULL, *Pn = NULL, *dzhh_a = NULL, *dzhh_b = NULL, *drh = NULL;
    if (reset_after) {
        dnr = FR_S(carve)(&c, TN * H);
        P = FR_S(carve)(&c, FR_PACK_ELEMS(GH, H));
        dzhh_a = FR_S(carve)(&c, NG);
        dzhh_b = FR_S(carve)(&c, NG);
    } else {
        P = FR_S(carve)(&c, FR_PACK_ELEMS(2 * H, H));
        Pn = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
        drh = FR_S(carve)(&c, NH);
    }
    REAL *dh_a = FR_S(carve)(&c, NH), *dh_b = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)GH);
    size_t wg = FR_PACK_ELEMS(TN, I > H ? I : H), dxp = FR_PACK_ELEMS(GH, I);
    REAL *Pw = FR_S(carve)(&c, wg > dxp ? wg : dxp);
    REAL *xm = mask_x ? FR_S(carve)(&c, TN * I) : NULL;
    REAL *hpm = mask_h ? FR_S(carve)(&c, TN * H) : NULL;
    REAL *dhm = mask_h ? FR_S(carve)(&c, NH) : NULL;
    CARVE_END(c);

    fr_team team = *team_in;
    if (reset_after) {
        FR_S(pack_par)(&team, P, W_hh, (size_t)H, (size_t)GH, H, 0);
    } else {
        FR_S(pack_par)(&team, P, W_hh, (size_t)H, (size_t)(2 * H), H, 0);
        FR_S(pack_par)(&team, Pn, W_hh + (size_t)2 * H * H, (size_t)H, (size_t)H, H, 0);
    }
    const REAL *h_prevs = hs + (reverse ? NH : 0);  /* [T,N,H] */
    if (mask_h) FR_S(mask_states)(hpm, h_prevs, mask_h, T, N, H);
    FR_S(gru_bwd_job) job = {P, Pn, a->dy, a->gates, aux, h_prevs, dg, dnr, {dzhh_a, dzhh_b},
                             drh, a->trace_dh, {dh_a, dh_b}, a->lengths, T, N, H, reverse,
                             reset_after, T, 0, FR_S(split_units)(&team, N, 3, H), mask_h,
                             a->zone_h, hpm, dhm};
    memcpy(job.dh_buf[(T - 1) & 1], a->dhT, NH * sizeof(REAL));
    for (int k = T; k >= 0; k--) {
        CHECK_INTERRUPT(ctx);
        job.k = k;
        /* reset_before: phase 0 only has work once step k exists */
        for (job.phase = reset_after || k == T ? 1 : 0; job.phase < 2; job.phase++)
            fr_run(&team, FR_S(gru_bwd_chunk), &job, job.sp.nchunks);
    }
    memcpy(a->dh0, job.dh_buf[1], NH * sizeof(REAL));
    if (mask_h) h_prevs = hpm;  /* what W_hh multiplied */
    if (mask_x) { FR_S(mask_inputs)(xm, x, mask_x, 0, T, N, I); x = xm; }
    FR_S(weight_grad)(&team, dW_ih, I, dg, GH, x, I, Pw, GH, I, TN);
    FR_S(colsum_add)(&team, db_ih, tmp, dg, TN, GH, GH);
    /* the r, z rows of dW_hh and db_hh see the same gradients as W_ih's */
    FR_S(weight_grad)(&team, dW_hh, H, dg, GH, h_prevs, H, Pw, 2 * H, H, TN);
    FR_S(colsum_add)(&team, db_hh, tmp, dg, TN, 2 * H, GH);
    if (reset_after) {
        /* n rows: W_hn h + b_hn received dn r */
        FR_S(weight_grad)(&team, dW_hh + (size_t)2 * H * H, H, dnr, H, h_prevs, H, Pw, H, H,
                          TN);
        FR_S(colsum_add)(&team, db_hh + 2 * H, tmp, dnr, TN, H, H);
    } else {
        /* n rows: W_hn multiplies r h_prev (aux) */
        FR_S(weight_grad)(&team, dW_hh + (size_t)2 * H * H, H, dg + 2 * H, GH, aux, H, Pw, H, H,
                          TN);
        FR_S(colsum_add)(&team, db_hh + 2 * H, tmp, dg + 2 * H, TN, H, GH);
    }
    FR_S(input_grad)(&team, a->dx, dg, W_ih, Pw, TN, I, GH);
    if (mask_x) FR_S(mask_inputs)(a->dx, a->dx, mask_x, 0, T, N, I);
    return FASTRNN_OK;
}
