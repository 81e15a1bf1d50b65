/* The LSTM with a projection, PyTorch's proj_size (part of fr_impl.h: one
 * element type, one ISA). P = proj_size, 0 < P < H:
 *
 *   z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  W_hh [4H,P], h_{t-1} [N,P];
 *   i, f, g, o and c_t [N,H] as the LSTM's (fr_lstm.h);
 *   m_t = o tanh(c_t) [N,H];  h_t = m_t W_hr^T [N,P], W_hr [P,H] (no bias);
 *   y_t = h_t; inactive rows keep h (P) and c, output 0, as the LSTM's.
 * Masks (fastrnn.h), h-shaped ones P wide: x_t * mask_x [N,I]; W_hh (h_{t-1} *
 * mask_h [N,P]) for all four gates; zoneout, with c~ = f c_{t-1} + i g unzoned:
 *   c_t = d_c c_{t-1} + (1 - d_c) c~ (zone_c [T,N,H]),
 *   h_t = d_h h_{t-1} + (1 - d_h) h~,  h~ = (o tanh(c~)) W_hr^T (zone_h [T,N,P]),
 * so m_t = o tanh(c~) and the projection read the unzoned cell, as the LSTM's h~.
 *
 * A step is two products that depend on each other: the gates need all of
 * h_{t-1}, and every column of h_t needs all units of m_t. So a step is two
 * jobs: the gates' product and the LSTM's own fused pass (lstm_fwd_pass,
 * writing m_t where the LSTM writes h_t and y_t, and zoning c) split by hidden
 * units, then the projection split by columns of h_t (whole panels: each
 * element is computed by one thread, summed over k in order, whatever the
 * split), which zones h and masks it for the next step's product. The
 * backward mirrors it: dm = dh~ W_hr (dh~ = dh_total (1 - d_h)) and the
 * LSTM's pass (lstm_bwd_pass with dm as its dh) by hidden units, then
 * dh_{t-1} = (dz W_hh) * mask_h + dh_total d_h by columns.
 *
 * Training cache: hs [T+1,N,P], cs [T+1,N,H], gates [T,N,4H] as the LSTM's,
 * and aux [T,N,H] = m_t (0 at inactive rows), which dW_hr reads.
 * The weights plan (fr_impl.h) packs W_hh per gate block with K = P and W_hr
 * (pack_bt: Nc = P, K = H) after the LSTM's pieces.
 */

/* The panels of W_hh's gate blocks packed with K = P (weights_plan), and of W_hr. */
#define PGATE_STRIDE(P, H) FR_PACK_ELEMS(P, H)

/* One forward step of the projected LSTM (the chunks of both jobs read it). */
typedef struct {
    const REAL *P, *Phr, *bias, *h_prev, *c_prev;
    REAL *gates_t, *m_t, *h_out, *c_out, *y_t;
    const int64_t *lengths;
    int t, N, H, Pj;
    FR_S(split) sp, spp;   /* by hidden units; by columns of h */
    const REAL *mask_h, *zh_t, *zc_t;  /* masks, NULL when off */
    REAL *hm;              /* with mask_h: h_prev * mask_h [N,P], the gates' operand */
} FR_S(lstmp_fwd_step);

/* Job 1, chunk c (units [j0, j1)): gates_t[:, g*H + j0:j1] = (gates_t + b) +
 * (h_prev * mask_h) W_hh[g*H + j0:j1]^T for the four gates, then the LSTM's
 * pass writing m_t = o tanh(c~) (0 at inactive rows: m_t is given as its y_t
 * too) and c (zoned with zc_t). */
static void FR_S(lstmp_gates_chunk)(void *p, int c)
{
    FR_S(lstmp_fwd_step) *s = p;
    const int H = s->H, P = s->Pj, GH = 4 * H;
    UNIT_RANGE(s->sp, c, H, j0, j1)
    FR_S(rgemm_gates)(s->gates_t + j0, GH, s->mask_h ? s->hm : s->h_prev, P,
                      PANEL_AT(s->P, j0, P), PGATE_STRIDE(P, H), H, s->bias + j0, 1, s->N,
                      j1 - j0, P, 4);
    /* h's zoneout is the projection's (job 2): the pass zones c only */
    FR_S(lstm_fwd_pass)(s->gates_t, s->c_out, s->m_t, s->m_t, s->c_prev, s->m_t, NULL, s->zc_t,
                        s->lengths, s->t, s->N, H, j0, j1);
}

/* Job 2, chunk c (columns [p0, p1) of h): h_out[:, p0:p1] = m_t W_hr[p0:p1]^T,
 * zoned with zh_t: d_h h_prev + (1 - d_h) h_out; active rows: y_t = h_out;
 * inactive rows: h_out = h_prev, y_t = 0. Then hm = h_out * mask_h, the next
 * step's operand (job 1 of this step has read hm already). */
static void FR_S(lstmp_proj_chunk)(void *p, int c)
{
    FR_S(lstmp_fwd_step) *s = p;
    const int H = s->H, P = s->Pj;
    UNIT_RANGE(s->spp, c, P, p0, p1)
    FR_S(rgemm)(s->h_out + p0, P, s->m_t, H, PANEL_AT(s->Phr, p0, H), NULL, 0, s->N, p1 - p0,
                H);
    for (int n = 0; n < s->N; n++) {
        size_t o = (size_t)n * P;
        if (ACTIVE(s->lengths, s->t, n)) {
            if (s->zh_t) {
                FOR_RANGE(j, p0, p1) {
                    ST(s->h_out + o + j, FR_S(zone)(LD(s->zh_t + o + j), LD(s->h_prev + o + j),
                                                    LD(s->h_out + o + j)));
                }
            }
            memcpy(s->y_t + o + p0, s->h_out + o + p0, (size_t)(p1 - p0) * sizeof(REAL));
        } else {
            memcpy(s->h_out + o + p0, s->h_prev + o + p0, (size_t)(p1 - p0) * sizeof(REAL));
            memset(s->y_t + o + p0, 0, (size_t)(p1 - p0) * sizeof(REAL));
        }
    }
    if (s->mask_h) FR_S(mask_units)(s->hm, s->h_out, s->mask_h, 0, s->N, P, p0, p1);
}

static int FR_X(lstmp_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx,
                           const fr_team *team_in, size_t *ws_needed)
{
    /* projected LSTM forward:  z = (x_t W_ih^T + (b_ih + b_hh)) + h_{t-1} W_hh^T;
     *   c_t = f c_{t-1} + i g;  m_t = o tanh(c_t);  h_t = m_t W_hr^T.
     *   Masks: x_t * mask_x, h_{t-1} * mask_h in the product; zoneout of c (in
     *   the pass) and of h (after the projection), m_t reading the unzoned c~.
     * in:  x [T,N,I], h0 [N,P], c0 [N,H], W_ih [4H,I], W_hh [4H,P], b_ih, b_hh [4H],
     *      W_hr [P,H], lengths; mask_x [N,I], mask_h [N,P], zone_h [T,N,P],
     *      zone_c [T,N,H] or NULL
     * out: y [T,N,P], hT [N,P], cT [N,H]; hs [T+1,N,P], cs [T+1,N,H], gates [T,N,4H],
     *      aux [T,N,H] (m_t), or all NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int P = a->proj_size, reverse = a->reverse;
    const REAL *x = a->x, *h0 = a->h0, *c0 = a->c0;
    REAL *y = a->y, *hT = a->hT, *cT = a->cT, *hs = a->hs, *cs = a->cs, *gates = a->gates;
    REAL *ms = a->aux;
    const int train = hs != NULL, GH = 4 * H;
    const size_t NH = (size_t)N * H, NP = (size_t)N * P, NG = (size_t)N * GH;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    /* scratch: the packed weights (unless given); inference: the gate
     * pre-activations of one chunk of steps, m_t, and the state's second buffer;
     * masks: the masked inputs of one chunk of steps (project_in), h_prev * mask_h
     * (one buffer: a step's jobs read it, then write it) */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    FR_S(weights) w;
    if (!FR_S(weights_get)(&w, &c, a)) return FASTRNN_EINVAL;
    REAL *chunk = train ? NULL : FR_S(carve)(&c, (size_t)CH * NG);
    REAL *m_one = train ? NULL : FR_S(carve)(&c, NH);
    REAL *h_other = train ? NULL : FR_S(carve)(&c, NP);
    REAL *xm = mask_x ? FR_S(carve)(&c, (size_t)CH * N * I) : NULL;
    REAL *hm = mask_h ? FR_S(carve)(&c, NP) : NULL;
    CARVE_END(c);

    fr_team team = *team_in;
    if (!a->packed) FR_S(weights_fill)(&team, &w, a);
    FR_S(lstmp_fwd_step) st = {w.P, w.Phr, w.bias, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                               a->lengths, 0, N, H, P, FR_S(split_units)(&team, N, 4, H),
                               FR_S(split_units)(&team, N, 1, P), mask_h, NULL, NULL, hm};
    if (mask_h) FR_S(mask_units)(hm, h0, mask_h, 0, N, P, 0, P);
    if (train) {
        size_t s0 = reverse ? (size_t)T : 0;
        memcpy(hs + s0 * NP, h0, NP * sizeof(REAL));
        memcpy(cs + s0 * NH, c0, NH * sizeof(REAL));
        FR_S(project_in)(&team, gates, x, mask_x, xm, w.Pih, 0, T, N, I, GH);
        for (int s = 0; s < T; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            st.t = t;
            st.zh_t = ZONE_AT(a->zone_h, t, NP);
            st.zc_t = ZONE_AT(a->zone_c, t, NH);
            st.gates_t = gates + (size_t)t * NG;
            st.m_t = ms + (size_t)t * NH;
            st.h_prev = hs + (size_t)rd * NP;
            st.c_prev = cs + (size_t)rd * NH;
            st.h_out = hs + (size_t)wr * NP;
            st.c_out = cs + (size_t)wr * NH;
            st.y_t = y + (size_t)t * NP;
            fr_run(&team, FR_S(lstmp_gates_chunk), &st, st.sp.nchunks);
            fr_run(&team, FR_S(lstmp_proj_chunk), &st, st.spp.nchunks);
        }
        size_t sT = reverse ? 0 : (size_t)T;
        memcpy(hT, hs + sT * NP, NP * sizeof(REAL));
        memcpy(cT, cs + sT * NH, NH * sizeof(REAL));
        return FASTRNN_OK;
    }
    REAL *h_cur = hT;
    if (hT != h0) memcpy(hT, h0, NP * sizeof(REAL));
    if (cT != c0) memcpy(cT, c0, NH * sizeof(REAL));
    st.m_t = m_one;
    for (int s0 = 0; s0 < T; s0 += CH) {
        int ns = T - s0 < CH ? T - s0 : CH;
        int tlo = CHUNK_TLO(s0, ns);
        FR_S(project_in)(&team, chunk, x, mask_x, xm, w.Pih, tlo, ns, N, I, GH);
        for (int s = s0; s < s0 + ns; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            st.t = t;
            st.zh_t = ZONE_AT(a->zone_h, t, NP);
            st.zc_t = ZONE_AT(a->zone_c, t, NH);
            st.gates_t = chunk + (size_t)(t - tlo) * NG;
            st.h_prev = h_cur;
            st.h_out = h_cur == hT ? h_other : hT;
            st.c_prev = st.c_out = cT;
            st.y_t = y + (size_t)t * NP;
            fr_run(&team, FR_S(lstmp_gates_chunk), &st, st.sp.nchunks);
            fr_run(&team, FR_S(lstmp_proj_chunk), &st, st.spp.nchunks);
            h_cur = st.h_out;
        }
    }
    if (h_cur != hT) memcpy(hT, h_cur, NP * sizeof(REAL));
    return FASTRNN_OK;
}

/* The gradient reaching h_t, columns [p0, p1) of step t:
 *   dht = dh_next + dy_t (active rows) or dh_next (inactive); trace_dh_t = dht
 *   (or NULL); dhp_t = the gradient reaching the projected h~: dht, or
 *   dht (1 - d_h) with zoneout (zh_t [N,P]), on active rows, 0 on inactive
 *   ones (the rows dW_hr sums, and the operand of dm = dhp_t W_hr). */
static void FR_S(lstmp_dh_total)(REAL *dht, REAL *dhp_t, REAL *trace_dh_t, const REAL *dh_next,
                                 const REAL *dy_t, const REAL *zh_t, const int64_t *lengths,
                                 int t, int N, int P, int p0, int p1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * P;
        FOR_RANGE(j, p0, p1) {
            VR v = LD(dh_next + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            VR vz = zh_t ? v * ((REAL)1 - LD(zh_t + o + j)) : v;
            ST(dht + o + j, v);
            ST(dhp_t + o + j, act ? vz : (VR){0});
            if (trace_dh_t) ST(trace_dh_t + o + j, v);
        }
    }
}

/* The backward of one step t (both jobs read it); `next`: the time index of
 * the step processed after t, or -1. */
typedef struct {
    const REAL *Pb, *Pr, *dy, *cs, *gates, *zeros;
    REAL *dpre, *dhp, *dht, *dhn, *dm, *dc, *trace_dh, *trace_dc;
    const int64_t *lengths;
    int t, rd, wr, next, N, H, Pj;
    FR_S(split) sp, spp;
    const REAL *mask_h, *zone_h, *zone_c;  /* masks, NULL when off */
    REAL *dhm;             /* with mask_h: the product dz W_hh [N,P] before the mask */
} FR_S(lstmp_bwd_step);

/* Job 1, chunk c (units [j0, j1)): dm[:, j0:j1] = dhp_t W_hr[:, j0:j1] (dhp_t:
 * what reaches h~, 0 at inactive rows, whose dm the pass does not read), then
 * the LSTM's pass with dm as its dh (and zeros as its dy: dy_t is in dht),
 * zone_c's part in it. */
static void FR_S(lstmp_bwd_cell_chunk)(void *p, int c)
{
    FR_S(lstmp_bwd_step) *s = p;
    const int N = s->N, H = s->H, P = s->Pj, t = s->t;
    const size_t NH = (size_t)N * H, NG = NH * 4;
    UNIT_RANGE(s->sp, c, H, j0, j1)
    FR_S(rgemm)(s->dm + j0, H, s->dhp + (size_t)t * N * P, P, PANEL_AT(s->Pr, j0, P), NULL, 0,
                N, j1 - j0, P);
    FR_S(lstm_bwd_pass)(s->dm, s->dc, s->dpre + (size_t)t * NG, NULL,
                        s->trace_dc ? s->trace_dc + (size_t)t * NH : NULL, NULL, s->zeros,
                        s->gates + (size_t)t * NG, s->cs + (size_t)s->wr * NH,
                        s->cs + (size_t)s->rd * NH, NULL, ZONE_AT(s->zone_c, t, NH), s->lengths,
                        t, N, H, j0, j1);
}

/* Job 2, chunk c (columns [p0, p1)): dhn = dh_{t-1} = (dz_t W_hh) * mask_h
 * + dht d_h (zoneout's direct path) (inactive rows: dht), then the next step's
 * dht from it. */
static void FR_S(lstmp_bwd_state_chunk)(void *p, int c)
{
    FR_S(lstmp_bwd_step) *s = p;
    const int N = s->N, H = s->H, P = s->Pj, GH = 4 * H;
    const size_t NP = (size_t)N * P;
    UNIT_RANGE(s->spp, c, P, p0, p1)
    const REAL *zh_t = ZONE_AT(s->zone_h, s->t, NP);
    if (zh_t) FR_S(mask_units)(s->dhn, s->dht, zh_t, 0, N, P, p0, p1);  /* dht d_h */
    FR_S(recurrent_grad)(s->dhn, s->dhm, s->mask_h, zh_t != NULL,
                         s->dpre + (size_t)s->t * N * GH, GH, PANEL_AT(s->Pb, p0, GH), N, P, GH,
                         p0, p1);
    FR_S(pass_inactive)(s->dhn, s->dht, s->lengths, s->t, N, P, p0, p1);
    if (s->next >= 0) {
        size_t on = (size_t)s->next * NP;
        FR_S(lstmp_dh_total)(s->dht, s->dhp + on, s->trace_dh ? s->trace_dh + on : NULL,
                             s->dhn, s->dy + on, ZONE_AT(s->zone_h, s->next, NP), s->lengths,
                             s->next, N, P, p0, p1);
    }
}

static int FR_X(lstmp_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx,
                           const fr_team *team_in, size_t *ws_needed)
{
    /* projected LSTM BPTT (the forward: h_t = m_t W_hr^T, m_t = o tanh(c_t)):
     *   dh_total = dh + dy_t [N,P];  dh~ = dh_total (1 - d_h) (dh_total without
     *   zone_h);  dm = dh~ W_hr [N,H], the LSTM's "dh":
     *   dc_total = dc + dm o (1 - tanh(c_t)^2);  dz as the LSTM's (dm for the o gate);
     *   dh_{t-1} = (dz W_hh) * mask_h + dh_total d_h [N,P];  dc_{t-1} = dc_total f;
     *   dW_hr += dh~^T m_t; zone_c as the LSTM's (lstm_bwd_pass);
     *   inactive rows: dz = 0, no dW_hr term, dh and dc pass through.
     *   dW_ih, dW_hh, dx through mask_x, mask_h as the LSTM's (sequence_grads).
     * in:  dy [T,N,P], dhT [N,P], dcT [N,H], x [T,N,I], W_ih [4H,I], W_hh [4H,P],
     *      W_hr [P,H], hs [T+1,N,P], cs [T+1,N,H], gates [T,N,4H], aux [T,N,H], lengths,
     *      the forward's masks (mask_x [N,I], mask_h [N,P], zone_h [T,N,P], zone_c
     *      [T,N,H] or NULL)
     * out: dx [T,N,I], dh0 [N,P], dc0 [N,H], trace_dh [T,N,P], trace_dc [T,N,H] or NULL;
     *      dW_ih [4H,I], dW_hh [4H,P], db_ih, db_hh [4H], dW_hr [P,H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int P = a->proj_size, reverse = a->reverse, GH = 4 * H;
    const REAL *W_hh = a->W_hh, *W_hr = a->W_hr, *hs = a->hs;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    const size_t NH = (size_t)N * H, NP = (size_t)N * P, TN = (size_t)T * N;
    /* scratch: dz and dh_total (active rows) of all steps, W_hh and W_hr packed,
     * dht, dhn, dm, dc, zeros, a column-sum row, the whole-sequence operand */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dpre = FR_S(carve)(&c, TN * GH);
    REAL *dhp = FR_S(carve)(&c, TN * P);
    REAL *Pb = FR_S(carve)(&c, FR_PACK_ELEMS(GH, P));
    REAL *Pr = FR_S(carve)(&c, FR_PACK_ELEMS(P, H));
    REAL *dht = FR_S(carve)(&c, NP), *dhn = FR_S(carve)(&c, NP);
    REAL *dm = FR_S(carve)(&c, NH), *dc = FR_S(carve)(&c, NH), *zeros = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)GH);
    int widest = I > H ? I : H;
    size_t wg = FR_PACK_ELEMS(TN, widest), dxp = FR_PACK_ELEMS(GH, I);
    REAL *Pw = FR_S(carve)(&c, wg > dxp ? wg : dxp);
    /* masks: x * mask_x [T,N,I]; h_prevs * mask_h [T,N,P] and the product's dhm [N,P] */
    REAL *xm = mask_x ? FR_S(carve)(&c, TN * I) : NULL;
    REAL *hpm = mask_h ? FR_S(carve)(&c, TN * P) : NULL;
    REAL *dhm = mask_h ? FR_S(carve)(&c, NP) : NULL;
    CARVE_END(c);

    fr_team team = *team_in;
    FR_S(pack_par)(&team, Pb, W_hh, (size_t)P, (size_t)GH, P, 0);   /* B = W_hh [4H,P] */
    FR_S(pack_par)(&team, Pr, W_hr, (size_t)H, (size_t)P, H, 0);    /* B = W_hr [P,H] */
    memset(zeros, 0, NH * sizeof(REAL));
    memcpy(dc, a->dcT, NH * sizeof(REAL));
    FR_S(lstmp_bwd_step) st = {Pb, Pr, a->dy, a->cs, a->gates, zeros, dpre, dhp, dht, dhn, dm,
                               dc, a->trace_dh, a->trace_dc, a->lengths, 0, 0, 0, -1, N, H, P,
                               FR_S(split_units)(&team, N, 4, H),
                               FR_S(split_units)(&team, N, 1, P), mask_h, a->zone_h,
                               a->zone_c, dhm};
    {
        STEP_INDICES(T - 1, t, rd, wr)
        FR_S(lstmp_dh_total)(dht, dhp + (size_t)t * NP, a->trace_dh ? st.trace_dh + t * NP : NULL,
                             a->dhT, st.dy + (size_t)t * NP, ZONE_AT(a->zone_h, t, NP),
                             a->lengths, t, N, P, 0, P);
    }
    for (int s = T - 1; s >= 0; s--) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        st.t = t, st.rd = rd, st.wr = wr;
        if (s > 0) {
            STEP_INDICES(s - 1, tn, rdn, wrn)
            st.next = tn;
        } else {
            st.next = -1;
        }
        fr_run(&team, FR_S(lstmp_bwd_cell_chunk), &st, st.sp.nchunks);
        fr_run(&team, FR_S(lstmp_bwd_state_chunk), &st, st.spp.nchunks);
    }
    memcpy(a->dh0, dhn, NP * sizeof(REAL));
    memcpy(a->dc0, dc, NH * sizeof(REAL));
    /* dW_hr += dhp^T m (dhp: what reached h~ at active rows); then the LSTM's */
    FR_S(weight_grad)(&team, a->dW_hr, H, dhp, P, a->aux, H, Pw, P, H, TN);
    FR_S(sequence_grads)(&team, a, dpre, GH, hs + (reverse ? NP : 0), P, xm, hpm, Pw, tmp);
    return FASTRNN_OK;
}

#undef PGATE_STRIDE
