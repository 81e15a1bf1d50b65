/* The LSTM kernels (part of fr_impl.h: one element type, one ISA).
 *
 *   z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, blocks i, f, g, o (PyTorch's order):
 *   i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g),
 *   c_t = f c_{t-1} + i g,             h_t = o tanh(c_t).
 * Masks (fastrnn.h): x_t * mask_x; W_hh (h_{t-1} * mask_h) for all four
 * gates; zoneout (Krueger et al. 2016): with c~ = f c_{t-1} + i g unzoned,
 *   c_t = d_c c_{t-1} + (1 - d_c) c~,  h_t = d_h h_{t-1} + (1 - d_h) o tanh(c~).
 */

/* One forward step's fused pass over units [j0, j1) of every row.
 *   gates_t [N,4H] in: z = (x W_ih^T + b) + h_prev W_hh^T; out: i, f, g, o
 *     after their nonlinearities (the cache when training, else scratch)
 *   c_prev, h_prev [N,H] in; c_out, h_out [N,H] out (c_out may alias c_prev:
 *     a unit reads its own c only)
 *   y_t [N,H] out
 *   zh_t, zc_t [N,H] or NULL: the step's zoneout keep weights
 *   c = f c_prev + i g, h = o tanh(c), then zoneout of each (h reads the
 *   unzoned c); inactive rows keep c, h and output 0.
 * Two sweeps per row: the four gate nonlinearities, then the state update
 * with its one tanh. */
FR_INLINE void FR_S(lstm_fwd_pass_body)(REAL *gates_t, REAL *c_out, REAL *h_out, REAL *y_t,
                                        const REAL *c_prev, const REAL *h_prev,
                                        const REAL *zh_t, const REAL *zc_t,
                                        const int64_t *lengths, int t, int N, int H, int j0,
                                        int j1)
{
    const int w = j1 - j0;
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *z = gates_t + (size_t)n * 4 * H;
        size_t o = (size_t)n * H;
        FR_S(act_sweep)(z + j0, w, 0);          /* i */
        FR_S(act_sweep)(z + H + j0, w, 0);      /* f */
        FR_S(act_sweep)(z + 2 * H + j0, w, 1);  /* g */
        FR_S(act_sweep)(z + 3 * H + j0, w, 0);  /* o */
        FOR_RANGE(j, j0, j1) {
            VR i = LD(z + j), f = LD(z + H + j), g = LD(z + 2 * H + j);
            VR og = LD(z + 3 * H + j);
            VR cp = LD(c_prev + o + j);
            VR c = f * cp + i * g;
            VR h = og * VTANH(c);
            if (zc_t) c = FR_S(zone)(LD(zc_t + o + j), cp, c);
            if (zh_t) h = FR_S(zone)(LD(zh_t + o + j), LD(h_prev + o + j), h);
            if (act) { ST(c_out + o + j, c); ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else {
                ST(c_out + o + j, cp); ST(h_out + o + j, LD(h_prev + o + j));
                ST(y_t + o + j, (VR){0});
            }
        }
    }
}

/* The pass without zoneout is its own copy (zh_t, zc_t NULL constants): the
 * plain cell pays nothing for the masks. */
static void FR_S(lstm_fwd_pass)(REAL *gates_t, REAL *c_out, REAL *h_out, REAL *y_t,
                                const REAL *c_prev, const REAL *h_prev, const REAL *zh_t,
                                const REAL *zc_t, const int64_t *lengths, int t, int N, int H,
                                int j0, int j1)
{
    if (zh_t || zc_t)
        FR_S(lstm_fwd_pass_body)(gates_t, c_out, h_out, y_t, c_prev, h_prev, zh_t, zc_t,
                                 lengths, t, N, H, j0, j1);
    else
        FR_S(lstm_fwd_pass_body)(gates_t, c_out, h_out, y_t, c_prev, h_prev, NULL, NULL,
                                 lengths, t, N, H, j0, j1);
}

/* One forward step on the units of chunk c: their four gates' columns of
 * the product, then their pass. */
typedef struct {
    const REAL *P, *bias, *h_prev, *c_prev;
    REAL *gates_t, *h_out, *c_out, *y_t;
    const int64_t *lengths;
    int t, N, H;
    FR_S(split) sp;
    const REAL *mask_h, *hm, *zh_t, *zc_t;  /* masks: see srn_fwd_step */
    REAL *hm_out;
} FR_S(lstm_fwd_step);

static void FR_S(lstm_fwd_chunk)(void *p, int c)
{
    FR_S(lstm_fwd_step) *s = p;
    const int H = s->H, GH = 4 * H;
    UNIT_RANGE(s->sp, c, H, j0, j1)
    /* gates_t[:, g*H + j0:j1] = (gates_t + b) + h_prev W_hh[g*H + j0:j1]^T  (h_prev * mask_h) */
    FR_S(rgemm_gates)(s->gates_t + j0, GH, s->mask_h ? s->hm : s->h_prev, H,
                      PANEL_AT(GATE_PANELS(s->P, 0, H), j0, H), GATE_STRIDE(H), H,
                      s->bias + j0, 1, s->N, j1 - j0, H, 4);
    FR_S(lstm_fwd_pass)(s->gates_t, s->c_out, s->h_out, s->y_t, s->c_prev, s->h_prev, s->zh_t,
                        s->zc_t, s->lengths, s->t, s->N, H, j0, j1);
    if (s->mask_h) FR_S(mask_units)(s->hm_out, s->h_out, s->mask_h, 0, s->N, H, j0, j1);
}

static int FR_X(lstm_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                          size_t *ws_needed)
{
    /* LSTM forward:  z = (x_t W_ih^T + (b_ih + b_hh)) + h_{t-1} W_hh^T, blocks i, f, g, o;
     *   i, f, o = sigmoid, g = tanh;  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t).
     * in:  x [T,N,I], h0, c0 [N,H], W_ih [4H,I], W_hh [4H,H], b_ih, b_hh [4H], lengths
     * out: y [T,N,H], hT, cT [N,H]; hs, cs [T+1,N,H], gates [T,N,4H] or all NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const REAL *x = a->x, *h0 = a->h0, *c0 = a->c0;
    REAL *y = a->y, *hT = a->hT, *cT = a->cT, *hs = a->hs, *cs = a->cs, *gates = a->gates;
    const int train = hs != NULL, GH = 4 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    /* scratch: the packed weights (unless given); inference: the gate
     * pre-activations of one chunk of steps, and the state's second buffer
     * (a step reads all of h_prev while writing h); masks as the SRN's */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    FR_S(weights) w;
    if (!FR_S(weights_get)(&w, &c, a)) return FASTRNN_EINVAL;
    REAL *chunk = train ? NULL : FR_S(carve)(&c, (size_t)CH * NG);
    REAL *h_other = train ? NULL : FR_S(carve)(&c, NH);
    REAL *xm = mask_x ? FR_S(carve)(&c, (size_t)CH * N * I) : NULL;
    REAL *hm[2] = {NULL, NULL};
    if (mask_h) { hm[0] = FR_S(carve)(&c, NH); hm[1] = FR_S(carve)(&c, NH); }
    CARVE_END(c);

    fr_team team = *team_in;
    if (!a->packed) FR_S(weights_fill)(&team, &w, a);
    const REAL *Pih = w.Pih;
    FR_S(lstm_fwd_step) st = {w.P, w.bias, NULL, NULL, NULL, NULL, NULL, NULL, a->lengths, 0, N, H,
                              FR_S(split_units)(&team, N, 4, H), mask_h, NULL, NULL, NULL,
                              NULL};
    if (mask_h) FR_S(mask_units)(hm[0], h0, mask_h, 0, N, H, 0, H);
    if (train) {
        size_t s0 = reverse ? (size_t)T * NH : 0;
        memcpy(hs + s0, h0, NH * sizeof(REAL));
        memcpy(cs + s0, c0, NH * sizeof(REAL));
        FR_S(project_in)(&team, gates, x, mask_x, xm, Pih, 0, T, N, I, GH);
        for (int s = 0; s < T; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            st.t = t;
            st.zh_t = ZONE_AT(a->zone_h, t, NH);
            st.zc_t = ZONE_AT(a->zone_c, t, NH);
            st.hm = hm[s & 1];
            st.hm_out = hm[(s + 1) & 1];
            st.gates_t = gates + (size_t)t * NG;
            st.h_prev = hs + (size_t)rd * NH;
            st.c_prev = cs + (size_t)rd * NH;
            st.h_out = hs + (size_t)wr * NH;
            st.c_out = cs + (size_t)wr * NH;
            st.y_t = y + (size_t)t * NH;
            fr_run(&team, FR_S(lstm_fwd_chunk), &st, st.sp.nchunks);
        }
        size_t sT = reverse ? 0 : (size_t)T * NH;
        memcpy(hT, hs + sT, NH * sizeof(REAL));
        memcpy(cT, cs + sT, NH * sizeof(REAL));
        return FASTRNN_OK;
    }
    REAL *h_cur = hT;
    if (hT != h0) memcpy(hT, h0, NH * sizeof(REAL));
    if (cT != c0) memcpy(cT, c0, NH * sizeof(REAL));
    for (int s0 = 0; s0 < T; s0 += CH) {
        int ns = T - s0 < CH ? T - s0 : CH;
        int tlo = CHUNK_TLO(s0, ns);
        FR_S(project_in)(&team, chunk, x, mask_x, xm, Pih, tlo, ns, N, I, GH);
        for (int s = s0; s < s0 + ns; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            st.t = t;
            st.zh_t = ZONE_AT(a->zone_h, t, NH);
            st.zc_t = ZONE_AT(a->zone_c, t, NH);
            st.hm = hm[s & 1];
            st.hm_out = hm[(s + 1) & 1];
            st.gates_t = chunk + (size_t)(t - tlo) * NG;
            st.h_prev = h_cur;
            st.h_out = h_cur == hT ? h_other : hT;
            st.c_prev = st.c_out = cT;
            st.y_t = y + (size_t)t * NH;
            fr_run(&team, FR_S(lstm_fwd_chunk), &st, st.sp.nchunks);
            h_cur = st.h_out;
        }
    }
    if (h_cur != hT) memcpy(hT, h_cur, NH * sizeof(REAL));
    return FASTRNN_OK;
}

/* One backward step's pass over units [j0, j1) (BPTT through c = f c_prev + i g,
 * h = o tanh(c)):
 *   dh, dc [N,H] in: gradients from later steps; out: dh <- dh_total,
 *     dc <- dc_total f (active rows; inactive rows keep dc)
 *   dz_t [N,4H] out: gradients of the four pre-activations, 0 on inactive rows
 *   trace_dh_t, trace_dc_t [N,H] out or NULL: dh_total, and dc_total (active
 *     rows) or dc (inactive rows, whose c is frozen)
 *   gates_t [N,4H], c_t (the state written), c_prev [N,H] from the forward
 *   zh_t, zc_t [N,H] or NULL: zoneout. Then h~ receives dh_total (1 - d_h),
 *     c~ = f c_prev + i g (recomputed: the same operations as the forward)
 *     receives dc (1 - d_c) + ..., and the direct paths add dh_total d_h to
 *     dh_next [N,H] (out, before += the product) and dc d_c to dc. */
FR_INLINE void FR_S(lstm_bwd_pass_body)(REAL *dh, REAL *dc, REAL *dz_t, REAL *trace_dh_t,
                                        REAL *trace_dc_t, REAL *dh_next, const REAL *dy_t,
                                        const REAL *gates_t, const REAL *c_t,
                                        const REAL *c_prev, const REAL *zh_t, const REAL *zc_t,
                                        const int64_t *lengths, int t, int N, int H, int j0,
                                        int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H;
        const REAL *gt = gates_t + (size_t)n * 4 * H;
        REAL *dz = dz_t + (size_t)n * 4 * H;
        FOR_RANGE(j, j0, j1) {
            VR i = LD(gt + j), f = LD(gt + H + j), g = LD(gt + 2 * H + j);
            VR og = LD(gt + 3 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            VR dhz = dht, dcz, dhd = {0}, dcd = {0};  /* to h~, c~; zoneout's direct paths */
            VR dcv = LD(dc + o + j);
            VR tc;
            dcz = dcv;
            if (zh_t) {
                VR d = LD(zh_t + o + j);
                dhz = dht * ((REAL)1 - d);
                dhd = dht * d;
                ST(dh_next + o + j, dhd);
            }
            if (zc_t) {
                VR d = LD(zc_t + o + j);
                tc = VTANH(f * LD(c_prev + o + j) + i * g);
                dcz = dcv * ((REAL)1 - d);
                dcd = dcv * d;
            } else {
                tc = VTANH(LD(c_t + o + j));
            }
            VR dct = dcz + dhz * og * ((REAL)1 - tc * tc);
            if (trace_dh_t) ST(trace_dh_t + o + j, dht);
            /* inactive: the frozen c passes its gradient through unchanged */
            if (trace_dc_t) ST(trace_dc_t + o + j, act ? dct : dcv);
            ST(dh + o + j, dht);
            if (act) {
                ST(dz + j, dct * g * i * ((REAL)1 - i));
                ST(dz + H + j, dct * LD(c_prev + o + j) * f * ((REAL)1 - f));
                ST(dz + 2 * H + j, dct * i * ((REAL)1 - g * g));
                ST(dz + 3 * H + j, dhz * tc * og * ((REAL)1 - og));
                ST(dc + o + j, zc_t ? dct * f + dcd : dct * f);
            } else {
                VR zero = {0};
                ST(dz + j, zero); ST(dz + H + j, zero); ST(dz + 2 * H + j, zero);
                ST(dz + 3 * H + j, zero);
            }
        }
    }
}

/* Without zoneout, its own copy (as lstm_fwd_pass). */
static void FR_S(lstm_bwd_pass)(REAL *dh, REAL *dc, REAL *dz_t, REAL *trace_dh_t,
                                REAL *trace_dc_t, REAL *dh_next, const REAL *dy_t,
                                const REAL *gates_t, const REAL *c_t, const REAL *c_prev,
                                const REAL *zh_t, const REAL *zc_t,
                                const int64_t *lengths, int t, int N, int H, int j0, int j1)
{
    if (zh_t || zc_t)
        FR_S(lstm_bwd_pass_body)(dh, dc, dz_t, trace_dh_t, trace_dc_t, dh_next, dy_t, gates_t,
                                 c_t, c_prev, zh_t, zc_t, lengths, t, N, H, j0, j1);
    else
        FR_S(lstm_bwd_pass_body)(dh, dc, dz_t, trace_dh_t, trace_dc_t, dh_next, dy_t, gates_t,
                                 c_t, c_prev, NULL, NULL, lengths, t, N, H, j0, j1);
}

/* Backward job k on the units of chunk c: the product of step k, then the
 * pass of step k-1 (see srn_bwd_chunk for the numbering and the buffers). */
typedef struct {
    const REAL *P, *dy, *cs, *gates;
    REAL *dpre, *dc, *trace_dh, *trace_dc, *dh_buf[2];
    const int64_t *lengths;
    int T, N, H, reverse, k;
    FR_S(split) sp;
    const REAL *mask_h, *zone_h, *zone_c;  /* masks: see srn_bwd_job */
    REAL *dhm;
} FR_S(lstm_bwd_job);

static void FR_S(lstm_bwd_chunk)(void *p, int c)
{
    FR_S(lstm_bwd_job) *j = p;
    const int T = j->T, N = j->N, H = j->H, GH = 4 * H, reverse = j->reverse, k = j->k;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    UNIT_RANGE(j->sp, c, H, j0, j1)
    if (k < T) {
        STEP_INDICES(k, t, rd, wr)
        REAL *dh = j->dh_buf[k & 1], *dhn = j->dh_buf[(k + 1) & 1];
        /* dh_{t-1}[:, j0:j1] = dz_t W_hh[:, j0:j1]; mask_h: (dz_t W_hh) * mask_h;
         * zone_h: added to the direct path dh_total d_h the pass of step t wrote */
        const int add = j->zone_h != NULL;
        FR_S(recurrent_grad)(dhn, j->dhm, j->mask_h, add, j->dpre + (size_t)t * NG, GH,
                             PANEL_AT(j->P, j0, GH), N, H, GH, j0, j1);
        FR_S(pass_inactive)(dhn, dh, j->lengths, t, N, H, j0, j1);
    }
    if (k > 0) {
        STEP_INDICES(k - 1, t, rd, wr)
        size_t ot = (size_t)t * NH;
        FR_S(lstm_bwd_pass)(j->dh_buf[(k - 1) & 1], j->dc, j->dpre + (size_t)t * NG,
                            j->trace_dh ? j->trace_dh + ot : NULL,
                            j->trace_dc ? j->trace_dc + ot : NULL, j->dh_buf[k & 1],
                            j->dy + ot, j->gates + (size_t)t * NG, j->cs + (size_t)wr * NH,
                            j->cs + (size_t)rd * NH, ZONE_AT(j->zone_h, t, NH),
                            ZONE_AT(j->zone_c, t, NH), j->lengths, t, N, H, j0, j1);
    }
}

static int FR_X(lstm_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                          size_t *ws_needed)
{
    /* LSTM BPTT:  dh_total = dh + dy_t;  dc_total = dc + dh_total o (1 - tanh(c_t)^2);
     *   dz = (dc_total g i(1-i), dc_total c_{t-1} f(1-f), dc_total i (1-g^2),
     *         dh_total tanh(c_t) o(1-o));  dh_{t-1} = dz W_hh;  dc_{t-1} = dc_total f;
     *   inactive rows: dz = 0, dh and dc pass through. Then as the SRN's.
     *   Zoneout (lstm_bwd_pass): h~, c~ receive dh_total (1 - d_h), dc (1 - d_c), and
     *   dh_{t-1} += dh_total d_h, dc_{t-1} += dc d_c. Masks as the SRN's.
     * in:  dy [T,N,H], dhT, dcT [N,H], x [T,N,I], W_ih [4H,I], W_hh [4H,H],
     *      hs, cs [T+1,N,H], gates [T,N,4H], lengths
     * out: dx [T,N,I], dh0, dc0 [N,H], trace_dh, trace_dc [T,N,H] or NULL;
     *      dW_ih [4H,I], dW_hh [4H,H], db_ih, db_hh [4H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse, GH = 4 * H;
    const REAL *W_hh = a->W_hh, *hs = a->hs;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    const size_t NH = (size_t)N * H, TN = (size_t)T * N;
    /* scratch: dz for all steps, W_hh packed, two dh buffers, dc, a column-sum
     * row, the packed operand of the whole-sequence products */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dpre = FR_S(carve)(&c, TN * GH);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(GH, H));
    REAL *dh_a = FR_S(carve)(&c, NH), *dh_b = FR_S(carve)(&c, NH);
    REAL *dc = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)GH);
    size_t wg = FR_PACK_ELEMS(TN, I > H ? I : H), dxp = FR_PACK_ELEMS(GH, I);
    REAL *Pw = FR_S(carve)(&c, wg > dxp ? wg : dxp);
    REAL *xm = mask_x ? FR_S(carve)(&c, TN * I) : NULL;
    REAL *hpm = mask_h ? FR_S(carve)(&c, TN * H) : NULL;
    REAL *dhm = mask_h ? FR_S(carve)(&c, NH) : NULL;
    CARVE_END(c);

    fr_team team = *team_in;
    FR_S(pack_par)(&team, P, W_hh, (size_t)H, (size_t)GH, H, 0);
    FR_S(lstm_bwd_job) job = {P, a->dy, a->cs, a->gates, dpre, dc, a->trace_dh, a->trace_dc,
                              {dh_a, dh_b}, a->lengths, T, N, H, reverse, T,
                              FR_S(split_units)(&team, N, 4, H), mask_h, a->zone_h, a->zone_c,
                              dhm};
    memcpy(job.dh_buf[(T - 1) & 1], a->dhT, NH * sizeof(REAL));
    memcpy(dc, a->dcT, NH * sizeof(REAL));
    for (int k = T; k >= 0; k--) {
        CHECK_INTERRUPT(ctx);
        job.k = k;
        fr_run(&team, FR_S(lstm_bwd_chunk), &job, job.sp.nchunks);
    }
    memcpy(a->dh0, job.dh_buf[1], NH * sizeof(REAL));
    memcpy(a->dc0, dc, NH * sizeof(REAL));
    FR_S(sequence_grads)(&team, a, dpre, GH, hs + (reverse ? NH : 0), H, xm, hpm, Pw, tmp);
    return FASTRNN_OK;
}
