/* The SRN (Elman) kernels (part of fr_impl.h: one element type, one ISA).
 *
 *   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  a_t = f(z_t),
 *   h_t = a_t (plain) or h_{t-1} + a_t (residual),  f = tanh, relu, sigmoid.
 * Masks (fastrnn.h): x_t * mask_x, W_hh (h_{t-1} * mask_h); the residual
 * path h_{t-1} is not masked; no zoneout.
 */

/* f(z) for the SRN's nonlinearity */
FR_INLINE VR FR_S(srn_f)(VR z, int nl)
{
    return nl == FASTRNN_TANH ? VTANH(z) : nl == FASTRNN_RELU ? VRELU(z) : VSIG(z);
}

/* f'(z) from a = f(z): 1 - a^2, (a > 0), a (1 - a) */
FR_INLINE VR FR_S(srn_df)(VR a, int nl)
{
    return nl == FASTRNN_TANH ? (REAL)1 - a * a
         : nl == FASTRNN_RELU ? VRELU_GRAD(a) : a * ((REAL)1 - a);
}

/* One forward step's fused pass over units [j0, j1) of every row.
 *   pre_t [N,H]  in: z_t = (x_t W_ih^T + b) + h_prev W_hh^T; out: y_t (same buffer)
 *   h_prev [N,H] in; h_out [N,H] out; acts_t [N,H] out or NULL (the residual
 *   cell's f(z)).  a = f(z); h = a, or h_prev + a (residual); active rows:
 *   h_out = y = h; inactive rows: h_out = h_prev, y = 0. */
static void FR_S(srn_fwd_pass)(REAL *pre_t, REAL *h_out, REAL *acts_t, const REAL *h_prev,
                               const int64_t *lengths, int t, int nl, int residual,
                               int N, int H, int j0, int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *z = pre_t + (size_t)n * H, *ho = h_out + (size_t)n * H;
        const REAL *hp = h_prev + (size_t)n * H;
        REAL *ac = acts_t ? acts_t + (size_t)n * H : NULL;
        FOR_RANGE(j, j0, j1) {
            VR a = FR_S(srn_f)(LD(z + j), nl);
            VR hpv = LD(hp + j);
            VR h = residual ? hpv + a : a;
            if (ac) ST(ac + j, a);
            if (act) { ST(ho + j, h); ST(z + j, h); }
            else { ST(ho + j, hpv); ST(z + j, (VR){0}); }
        }
    }
}

/* One forward step on the units of chunk c: their columns of the product,
 * then their pass. */
typedef struct {
    const REAL *P, *bias, *h_prev;
    REAL *y_t, *h_out, *acts_t;
    const int64_t *lengths;
    int t, nl, residual, N, H;
    FR_S(split) sp;
    const REAL *mask_h, *hm;  /* mask_h: hm = h_prev * mask_h, the product's operand */
    REAL *hm_out;             /* mask_h: h_out * mask_h, for the next step */
} FR_S(srn_fwd_step);

static void FR_S(srn_fwd_chunk)(void *p, int c)
{
    FR_S(srn_fwd_step) *s = p;
    UNIT_RANGE(s->sp, c, s->H, j0, j1)
    /* y_t[:, j0:j1] = (y_t + b) + h_prev W_hh[j0:j1]^T  (h_prev * mask_h with the mask) */
    FR_S(rgemm)(s->y_t + j0, s->H, s->mask_h ? s->hm : s->h_prev, s->H,
                PANEL_AT(s->P, j0, s->H), s->bias + j0, 1, s->N, j1 - j0, s->H);
    FR_S(srn_fwd_pass)(s->y_t, s->h_out, s->acts_t, s->h_prev, s->lengths, s->t, s->nl,
                       s->residual, s->N, s->H, j0, j1);
    if (s->mask_h) FR_S(mask_units)(s->hm_out, s->h_out, s->mask_h, 0, s->N, s->H, j0, j1);
}

static int FR_X(srn_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                         size_t *ws_needed)
{
    /* SRN forward:  z_t = (x_t W_ih^T + (b_ih + b_hh)) + h_{t-1} W_hh^T,  a_t = f(z_t),
     *               h_t = a_t, or h_{t-1} + a_t (residual); inactive rows keep h, y = 0.
     * in:  x [T,N,I], h0 [N,H], W_ih [H,I], W_hh [H,H], b_ih, b_hh [H], lengths [N] or NULL
     * out: y [T,N,H] (also the pre-activation buffer), hT [N,H];
     *      hs [T+1,N,H] or NULL, aux = f(z) [T,N,H] (residual training) or NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse, nl = a->nonlinearity, residual = a->residual;
    const int64_t *lengths = a->lengths;
    const REAL *x = a->x, *h0 = a->h0;
    REAL *y = a->y, *hT = a->hT, *hs = a->hs, *acts = a->aux;
    const size_t NH = (size_t)N * H;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    /* scratch: the packed weights (unless given); inference: the state's
     * second buffer (a step reads all of h_prev while writing h); mask_x: the
     * masked inputs of one chunk of steps; mask_h: two buffers of h * mask_h */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    FR_S(weights) w;
    if (!FR_S(weights_get)(&w, &c, a)) return FASTRNN_EINVAL;
    REAL *h_other = hs ? NULL : FR_S(carve)(&c, NH);
    REAL *xm = mask_x ? FR_S(carve)(&c, (size_t)CH * N * I) : NULL;
    REAL *hm[2] = {NULL, NULL};
    if (mask_h) { hm[0] = FR_S(carve)(&c, NH); hm[1] = FR_S(carve)(&c, NH); }
    CARVE_END(c);

    fr_team team = *team_in;
    if (!a->packed) FR_S(weights_fill)(&team, &w, a);
    const REAL *P = w.P, *bias = w.bias, *Pih = w.Pih;
    /* y = x W_ih^T for all T*N rows; the bias and h_prev W_hh^T join per step */
    FR_S(project_in)(&team, y, x, mask_x, xm, Pih, 0, T, N, I, H);
    REAL *h_cur = hs ? hs + (reverse ? (size_t)T * NH : 0) : hT;
    if (h_cur != h0) memcpy(h_cur, h0, NH * sizeof(REAL));
    if (mask_h) FR_S(mask_units)(hm[0], h_cur, mask_h, 0, N, H, 0, H);
    FR_S(srn_fwd_step) st = {P, bias, NULL, NULL, NULL, NULL, lengths, 0, nl, residual, N, H,
                             FR_S(split_units)(&team, N, 1, H), mask_h, NULL, NULL};
    for (int s = 0; s < T; s++) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        st.t = t;
        st.y_t = y + (size_t)t * NH;
        st.h_prev = hs ? hs + (size_t)rd * NH : h_cur;
        st.h_out = hs ? hs + (size_t)wr * NH : (h_cur == hT ? h_other : hT);
        st.acts_t = acts ? acts + (size_t)t * NH : NULL;
        st.hm = hm[s & 1];
        st.hm_out = hm[(s + 1) & 1];
        fr_run(&team, FR_S(srn_fwd_chunk), &st, st.sp.nchunks);
        h_cur = st.h_out;
    }
    if (h_cur != hT) memcpy(hT, h_cur, NH * sizeof(REAL));
    return FASTRNN_OK;
}

/* One backward step's pass over units [j0, j1) (BPTT of a = f(z), h = a [+ h_prev]):
 *   dh [N,H] in: dL/dh_t from later steps; out: dh_total = dh + dy_t (active rows)
 *   dz_t [N,H] out: dh_total f'(z) on active rows, 0 on the others
 *   dh_next [N,H] out: dh_total (residual: the identity path, before += dz W_hh)
 *   trace_t [N,H] out or NULL: dh_total */
static void FR_S(srn_bwd_pass)(REAL *dh, REAL *dz_t, REAL *dh_next, REAL *trace_t,
                               const REAL *dy_t, const REAL *a_t, const int64_t *lengths,
                               int t, int nl, int residual, int N, int H, int j0, int j1)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H;
        FOR_RANGE(j, j0, j1) {
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dz = act ? dht * FR_S(srn_df)(LD(a_t + o + j), nl) : (VR){0};
            ST(dz_t + o + j, dz);
            if (residual) ST(dh_next + o + j, dht);
        }
    }
}

/* Backward job k, on the units of chunk c: the product of step k (if k < T)
 * and then the pass of step k-1 (if k > 0), steps numbered in the forward's
 * processing order (STEP_INDICES); the backward runs jobs k = T, ..., 0.
 * Step s reads dh from buffer s & 1 and writes dh_{t-1} to the other. The
 * pass of a unit needs only the product's result at the same unit, so one
 * barrier per step separates a product from the pass it needs all of. */
typedef struct {
    const REAL *P, *dy, *hs, *acts;
    REAL *dpre, *trace_dh, *dh_buf[2];
    const int64_t *lengths;
    int T, N, H, nl, residual, reverse, k;
    FR_S(split) sp;
    const REAL *mask_h;  /* mask_h: the product goes to dhm [N,H], then through the mask */
    REAL *dhm;
} FR_S(srn_bwd_job);

static void FR_S(srn_bwd_chunk)(void *p, int c)
{
    FR_S(srn_bwd_job) *j = p;
    const int T = j->T, N = j->N, H = j->H, reverse = j->reverse, k = j->k;
    const size_t NH = (size_t)N * H;
    UNIT_RANGE(j->sp, c, H, j0, j1)
    if (k < T) {
        STEP_INDICES(k, t, rd, wr)
        REAL *dh = j->dh_buf[k & 1], *dhn = j->dh_buf[(k + 1) & 1];
        /* dh_{t-1}[:, j0:j1] = dz_t W_hh[:, j0:j1]  (+ dh_total for the residual cell);
         * mask_h: (dz_t W_hh) * mask_h [+ dh_total] */
        FR_S(recurrent_grad)(dhn, j->dhm, j->mask_h, j->residual, j->dpre + (size_t)t * NH, H,
                             PANEL_AT(j->P, j0, H), N, H, H, j0, j1);
        FR_S(pass_inactive)(dhn, dh, j->lengths, t, N, H, j0, j1);
    }
    if (k > 0) {
        STEP_INDICES(k - 1, t, rd, wr)
        size_t ot = (size_t)t * NH;
        const REAL *a_t = j->residual ? j->acts + ot : j->hs + (size_t)wr * NH;
        FR_S(srn_bwd_pass)(j->dh_buf[(k - 1) & 1], j->dpre + ot, j->dh_buf[k & 1],
                           j->trace_dh ? j->trace_dh + ot : NULL, j->dy + ot, a_t, j->lengths,
                           t, j->nl, j->residual, N, H, j0, j1);
    }
}

static int FR_X(srn_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team_in,
                         size_t *ws_needed)
{
    /* SRN BPTT, differentiating h_t = f(z_t) [+ h_{t-1}]:
     *   dh_total = dh_t + dy_t;  dz_t = dh_total f'(a_t);
     *   dh_{t-1} = dz_t W_hh [+ dh_total];  inactive rows: dz = 0, dh passes through.
     *   dW_ih += dz^T x,  dW_hh += dz^T h_prev,  db_ih, db_hh += sum(dz),  dx = dz W_ih.
     *   Masks: x, h_prev read as x * mask_x, h_prev * mask_h in dW_ih, dW_hh;
     *   dx *= mask_x; the product's part of dh_{t-1} is multiplied by mask_h.
     * in:  dy [T,N,H], dhT [N,H], x [T,N,I], W_ih [H,I], W_hh [H,H], hs [T+1,N,H],
     *      aux = f(z) [T,N,H] (residual) or NULL, lengths [N] or NULL
     * out: dx [T,N,I], dh0 [N,H], trace_dh [T,N,H] or NULL; dW_ih [H,I], dW_hh [H,H],
     *      db_ih, db_hh [H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const REAL *dy = a->dy, *dhT = a->dhT, *W_hh = a->W_hh;
    const REAL *mask_x = a->mask_x, *mask_h = a->mask_h;
    const REAL *hs = a->hs;
    REAL *dh0 = a->dh0;
    const size_t NH = (size_t)N * H, TN = (size_t)T * N;
    /* scratch: dz for all steps, W_hh packed, two dh buffers, a column-sum row,
     * the packed operand of the whole-sequence products */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dpre = FR_S(carve)(&c, TN * H);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
    REAL *dh_a = FR_S(carve)(&c, NH), *dh_b = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)H);
    size_t wg = FR_PACK_ELEMS(TN, I > H ? I : H), dxp = FR_PACK_ELEMS(H, I);
    REAL *Pw = FR_S(carve)(&c, wg > dxp ? wg : dxp);
    /* masks: x * mask_x [T,N,I]; h_prevs * mask_h [T,N,H] and the product's dhm [N,H] */
    REAL *xm = mask_x ? FR_S(carve)(&c, TN * I) : NULL;
    REAL *hpm = mask_h ? FR_S(carve)(&c, TN * H) : NULL;
    REAL *dhm = mask_h ? FR_S(carve)(&c, NH) : NULL;
    CARVE_END(c);

    fr_team team = *team_in;
    FR_S(pack_par)(&team, P, W_hh, (size_t)H, (size_t)H, H, 0);
    FR_S(srn_bwd_job) job = {P, dy, hs, a->aux, dpre, a->trace_dh, {dh_a, dh_b}, a->lengths, T,
                             N, H, a->nonlinearity, a->residual, reverse, T,
                             FR_S(split_units)(&team, N, 1, H), mask_h, dhm};
    memcpy(job.dh_buf[(T - 1) & 1], dhT, NH * sizeof(REAL));
    for (int k = T; k >= 0; k--) {
        CHECK_INTERRUPT(ctx);
        job.k = k;
        fr_run(&team, FR_S(srn_bwd_chunk), &job, job.sp.nchunks);
    }
    memcpy(dh0, job.dh_buf[1], NH * sizeof(REAL));
    /* dW_ih += dpre^T x;  dW_hh += dpre^T h_prevs;  db += sum(dpre);  dx = dpre W_ih
     * (h_prevs [T,N,H]: the state each step read) */
    FR_S(sequence_grads)(&team, a, dpre, H, hs + (reverse ? NH : 0), H, xm, hpm, Pw, tmp);
    return FASTRNN_OK;
}
