/* The matrix products of the kernels (part of fr_impl.h: one element type,
 * one instruction set).
 *
 * rgemm: C [M, Nc] (+)= A [M, K] . B with B packed once into panels of NR
 * columns and an MR x NR block of C kept in registers; every element of C is
 * a sum over k = 0..K-1 in order, so it comes out the same whichever block,
 * panel, chunk or thread computes it. On top of it, the whole-sequence
 * products of a kernel (input projection, dx, the weight gradients, the bias
 * column sums) split their output in blocks over the kernel's team.
 */

/* =========================================================================
 * rgemm: the per-step product C [M, Nc] (+)= A [M, K] . B, B packed.
 *
 * B is packed once per sequence into panels of NR = FR_NRV * VL columns:
 * P[p][k][jj] = B[k][p*NR + jj] (zero past Nc), contiguous, so the kernel
 * streams it. The microkernel keeps an MR x NR block of C in registers and
 * adds a rank-1 update per k (acc += A[m][k] * P[k][:], FMA where available).
 * Loop order: panels outer, row blocks inner, so a panel is read from memory
 * once per step and reused from cache by every row block.
 * ========================================================================= */

#define NR (FR_NRV * VL)
#define MR FR_MR

/* elements of a panel buffer for B [K, Nc]: enough for any NR <= 64 */
#define FR_PACK_ELEMS(K, Nc) ((size_t)((Nc) + 64) * (size_t)(K))

/* Panel p of B^T, where Bt [Nc, K] (row stride ldb) is stored transposed (the
 * forward's W_hh [GH, H], for h_prev . W_hh^T): P[p][k][jj] = Bt[p*NR + jj][k].
 * Blocked by 16 k's so that both the row reads and the panel writes stay in L1. */
static void FR_S(pack_bt_panel)(REAL *P, const REAL *Bt, int ldb, int Nc, int K, int p)
{
    REAL *Pp = P + (size_t)p * K * NR;
    int nc = Nc - p * NR < NR ? Nc - p * NR : NR;
    for (int k0 = 0; k0 < K; k0 += 16) {
        int kb = K - k0 < 16 ? K - k0 : 16;
        for (int jj = 0; jj < nc; jj++) {
            const REAL *row = Bt + (size_t)(p * NR + jj) * ldb + k0;
            REAL *dst = Pp + (size_t)k0 * NR + jj;
            for (int kk = 0; kk < kb; kk++) dst[(size_t)kk * NR] = row[kk];
        }
        for (int jj = nc; jj < NR; jj++)
            for (int kk = 0; kk < kb; kk++) Pp[(size_t)(k0 + kk) * NR + jj] = 0;
    }
}

/* Panel p of B [K, Nc] (row stride ldb): the backward's W_hh, for dz . W_hh. */
static void FR_S(pack_b_panel)(REAL *P, const REAL *B, size_t ldb, size_t K, int Nc, int p)
{
    REAL *Pp = P + (size_t)p * K * NR;
    int nc = Nc - p * NR < NR ? Nc - p * NR : NR;
    for (size_t k = 0; k < K; k++) {
        const REAL *row = B + k * ldb + (size_t)p * NR;
        REAL *dst = Pp + k * NR;
        memcpy(dst, row, (size_t)nc * sizeof(REAL));
        for (int jj = nc; jj < NR; jj++) dst[jj] = 0;
    }
}

static void FR_S(pack_bt)(REAL *P, const REAL *Bt, int ldb, int Nc, int K)
{
    for (int p = 0; p * NR < Nc; p++) FR_S(pack_bt_panel)(P, Bt, ldb, Nc, K, p);
}

static void FR_S(pack_b)(REAL *P, const REAL *B, int ldb, int K, int Nc)
{
    for (int p = 0; p * NR < Nc; p++) FR_S(pack_b_panel)(P, B, (size_t)ldb, (size_t)K, Nc, p);
}

/* Store one register row of nv vectors: C[0:nc] = acc | acc + bias | C + acc |
 * (C + bias) + acc (by beta and bias). The last form is the reference's
 * (x W_ih^T + b) + h W_hh^T, rounding included. */
FR_INLINE void FR_S(rgemm_store)(REAL *c, const VR *acc, int nv, int nc, int beta,
                                 const REAL *bias)
{
    for (int v = 0; v < nv; v++) {
        int j = v * VL;
        if (j >= nc) break;
        int cnt = nc - j < VL ? nc - j : VL;
        VR r = acc[v];
        if (beta && bias) r = (LD(c + j) + LD(bias + j)) + r;
        else if (beta) r = LD(c + j) + r;
        else if (bias) r = r + LD(bias + j);
        ST(c + j, r);
    }
}

/* One block of mr <= MR rows and the first nv <= FR_NRV vectors of one panel
 * (nc <= nv * VL valid columns): acc = A[0:mr, :] . P, k = 0..K-1 in order,
 * then rgemm_store. With ta, A is given transposed: At [K, M] (row stride
 * lda), so A[m][k] = At[k*lda + m] (the weight gradients' dz^T, read in place). */
FR_INLINE void FR_S(rgemm_block)(const int mr, const int nv, const int ta, int K, const REAL *A,
                                 int lda, const REAL *P, REAL *C, int ldc, int nc, int beta,
                                 const REAL *bias)
{
    VR acc[MR][FR_NRV];
    for (int m = 0; m < mr; m++)
        for (int v = 0; v < nv; v++) acc[m][v] = (VR){0};
    for (int k = 0; k < K; k++) {
        VR b[FR_NRV];
        for (int v = 0; v < nv; v++) b[v] = vld(P + (size_t)k * NR + v * VL);
        for (int m = 0; m < mr; m++) {
            VR a = vset1(ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]);
            for (int v = 0; v < nv; v++) acc[m][v] = VFMA(a, b[v], acc[m][v]);
        }
    }
    for (int m = 0; m < mr; m++)
        FR_S(rgemm_store)(C + (size_t)m * ldc, acc[m], nv, nc, beta, bias);
}

/* The one- and two-row product (a matrix-vector product, the N = 1 and 2
 * cases): one panel gives too few independent accumulators to hide the FMA
 * latency, so this takes nv (<= 3 NRV) vectors of columns from consecutive
 * panels at once, exactly as many as hold the nc valid columns (no FMAs on the
 * zero padding of a last, partial panel). The sums, and so the results, are
 * those of rgemm_block. */
FR_INLINE void FR_S(rgemm_narrow)(const int mr, const int nv, int K, const REAL *A, int lda,
                                  const REAL *P, size_t pstride, REAL *C, int ldc, int nc,
                                  int beta, const REAL *bias)
{
    VR acc[2][3 * FR_NRV];
    for (int m = 0; m < mr; m++)
        for (int v = 0; v < nv; v++) acc[m][v] = (VR){0};
    for (int k = 0; k < K; k++) {
        VR b[3 * FR_NRV];
        for (int v = 0; v < nv; v++)
            b[v] = vld(P + (v / FR_NRV) * pstride + (size_t)k * NR + (v % FR_NRV) * VL);
        for (int m = 0; m < mr; m++) {
            VR a = vset1(A[(size_t)m * lda + k]);
            for (int v = 0; v < nv; v++) acc[m][v] = VFMA(a, b[v], acc[m][v]);
        }
    }
    for (int m = 0; m < mr; m++)
        for (int v = 0; v < nv; v++) {
            int col = (v / FR_NRV) * NR + (v % FR_NRV) * VL;  /* within the group */
            int left = nc - col;
            FR_S(rgemm_store)(C + (size_t)m * ldc + col, &acc[m][v], 1, left < VL ? left : VL,
                              beta, bias ? bias + col : NULL);
        }
}

/* The full-height blocks, out of line: the hot paths stay compact functions
 * instead of sharing rgemm's body with the partial-height variants. */
static __attribute__((noinline)) void FR_S(rgemm_full)(int K, const REAL *A, int lda,
                                                        const REAL *P, REAL *C, int ldc, int nc,
                                                        int beta, const REAL *bias)
{
    FR_S(rgemm_block)(MR, FR_NRV, 0, K, A, lda, P, C, ldc, nc, beta, bias);
}

static __attribute__((noinline)) void FR_S(rgemm_full_at)(int K, const REAL *At, int lda,
                                                           const REAL *P, REAL *C, int ldc,
                                                           int nc)
{
    FR_S(rgemm_block)(MR, FR_NRV, 1, K, At, lda, P, C, ldc, nc, 1, NULL);
}

/* A last panel at most half full (H = 32 in panels of 64, or the 36 of
 * H = 100): the FMAs of its zero half skipped, the sums unchanged. */
#define FR_HALF_NRV (FR_NRV / 2)
#define FR_HALF_FITS(nc) ((nc) <= FR_HALF_NRV * VL)
static __attribute__((noinline)) void FR_S(rgemm_half)(int ta, int K, const REAL *A, int lda,
                                                        const REAL *P, REAL *C, int ldc, int nc,
                                                        int beta, const REAL *bias)
{
    FR_S(rgemm_block)(MR, FR_HALF_NRV, ta, K, A, lda, P, C, ldc, nc, beta, bias);
}

/* The partial row block: mr = M - m0 < MR rows (a runtime count, dispatched to
 * the compile-time block sizes). */
static __attribute__((noinline)) void FR_S(rgemm_tail)(int mr, int ta, int K, const REAL *A,
                                                        int lda, const REAL *P, REAL *C,
                                                        int ldc, int nc, int beta,
                                                        const REAL *bias)
{
    switch (mr) {
#define FR_TAIL_CASE(R) \
        case R: FR_S(rgemm_block)(R, FR_NRV, ta, K, A, lda, P, C, ldc, nc, beta, bias); break;
        FR_TAIL_CASE(1)
#if FR_MR > 2
        FR_TAIL_CASE(2)
#endif
#if FR_MR > 3
        FR_TAIL_CASE(3)
#endif
#if FR_MR > 4
        FR_TAIL_CASE(4)
#endif
#if FR_MR > 5
        FR_TAIL_CASE(5)
#endif
#if FR_MR > 6
        FR_TAIL_CASE(6)
#endif
#if FR_MR > 7
        FR_TAIL_CASE(7)
#endif
#undef FR_TAIL_CASE
        /* a row count without its compile-time case: the same sums, not unrolled */
        default: FR_S(rgemm_block)(mr, FR_NRV, ta, K, A, lda, P, C, ldc, nc, beta, bias); break;
    }
}

#define FR_NARROW_CASE(R, V)                                                             \
    case V:                                                                              \
        FR_S(rgemm_narrow)(R, V, K, A, lda, Pp, pstride, Cp, ldc, nc, beta, bp);         \
        break;
/* a vector count without its compile-time case (a register block wider than
 * the cases above): the same sums, not unrolled */
#define FR_NARROW_ANY(R) \
    FR_S(rgemm_narrow)(R, nv, K, A, lda, Pp, pstride, Cp, ldc, nc, beta, bp)

/* C [M, Nc] (row stride ldc) (+)= A [M, K] (row stride lda) . B, B packed in P;
 * bias [Nc] or NULL, see rgemm_store. */
static void FR_S(rgemm)(REAL *C, int ldc, const REAL *A, int lda, const REAL *P,
                        const REAL *bias, int beta, int M, int Nc, int K)
{
    const int np = (Nc + NR - 1) / NR;
    const size_t pstride = (size_t)K * NR;
    if (M <= 2) {
        /* up to 3 (M = 1) or 2 (M = 2) panels per pass */
        const int pmax = M == 1 ? 3 : 2;
        for (int p = 0; p < np; p += pmax) {
            int nc = Nc - p * NR < pmax * NR ? Nc - p * NR : pmax * NR;
            int nv = (nc + VL - 1) / VL;
            const REAL *Pp = P + (size_t)p * pstride;
            REAL *Cp = C + (size_t)p * NR;
            const REAL *bp = bias ? bias + (size_t)p * NR : NULL;
            if (M == 1) {
                switch (nv) {
                    FR_NARROW_CASE(1, 1) FR_NARROW_CASE(1, 2) FR_NARROW_CASE(1, 3)
#if FR_NRV >= 2
                    FR_NARROW_CASE(1, 4) FR_NARROW_CASE(1, 5) FR_NARROW_CASE(1, 6)
#endif
#if FR_NRV >= 3
                    FR_NARROW_CASE(1, 7) FR_NARROW_CASE(1, 8) FR_NARROW_CASE(1, 9)
#endif
#if FR_NRV >= 4
                    FR_NARROW_CASE(1, 10) FR_NARROW_CASE(1, 11) FR_NARROW_CASE(1, 12)
#endif
                    default: FR_NARROW_ANY(1); break;
                }
            } else {
                switch (nv) {
                    FR_NARROW_CASE(2, 1) FR_NARROW_CASE(2, 2)
#if FR_NRV >= 2
                    FR_NARROW_CASE(2, 3) FR_NARROW_CASE(2, 4)
#endif
#if FR_NRV >= 3
                    FR_NARROW_CASE(2, 5) FR_NARROW_CASE(2, 6)
#endif
#if FR_NRV >= 4
                    FR_NARROW_CASE(2, 7) FR_NARROW_CASE(2, 8)
#endif
                    default: FR_NARROW_ANY(2); break;
                }
            }
        }
        return;
    }
    for (int p = 0; p < np; p++) {
        int nc = Nc - p * NR < NR ? Nc - p * NR : NR;
        const REAL *Pp = P + (size_t)p * pstride;
        REAL *Cp = C + (size_t)p * NR;
        const REAL *bp = bias ? bias + (size_t)p * NR : NULL;
        int m0 = 0;
        if (FR_HALF_FITS(nc))
            for (; m0 + MR <= M; m0 += MR)
                FR_S(rgemm_half)(0, K, A + (size_t)m0 * lda, lda, Pp, Cp + (size_t)m0 * ldc,
                                 ldc, nc, beta, bp);
        for (; m0 + MR <= M; m0 += MR)
            FR_S(rgemm_full)(K, A + (size_t)m0 * lda, lda, Pp, Cp + (size_t)m0 * ldc, ldc, nc,
                             beta, bp);
        if (m0 < M)
            FR_S(rgemm_tail)(M - m0, 0, K, A + (size_t)m0 * lda, lda, Pp, Cp + (size_t)m0 * ldc,
                             ldc, nc, beta, bp);
    }
}


/* The one- and two-row product of G gate blocks at once (G <= 4, vg <= 4
 * vectors of each): C[m, g*gcs + 0:ncg] (+)= A[m, :] . P_g, P_g = P + g*gstride
 * gate g's panel (ncg <= vg * VL valid columns of it), bias likewise at
 * g*gcs. One pass over k feeds all G*vg accumulators, where a call per gate
 * would run G short passes; the sums (k = 0..K-1 in order) are rgemm's, so the
 * results are too. */
FR_INLINE void FR_S(rgemm_gates_block)(const int mr, const int G, const int vg, int K,
                                       const REAL *A, int lda, const REAL *P, size_t gstride,
                                       REAL *C, int ldc, int gcs, int ncg, int beta,
                                       const REAL *bias)
{
    VR acc[2][16];
    for (int m = 0; m < mr; m++)
        for (int v = 0; v < G * vg; v++) acc[m][v] = (VR){0};
    for (int k = 0; k < K; k++) {
        VR b[16];
        for (int g = 0; g < G; g++)
            for (int w = 0; w < vg; w++)
                b[g * vg + w] = vld(P + (size_t)g * gstride + (size_t)k * NR + w * VL);
        for (int m = 0; m < mr; m++) {
            VR a = vset1(A[(size_t)m * lda + k]);
            for (int v = 0; v < G * vg; v++) acc[m][v] = VFMA(a, b[v], acc[m][v]);
        }
    }
    for (int m = 0; m < mr; m++)
        for (int g = 0; g < G; g++)
            FR_S(rgemm_store)(C + (size_t)m * ldc + (size_t)g * gcs, &acc[m][g * vg], vg, ncg,
                              beta, bias ? bias + (size_t)g * gcs : NULL);
}

/* The per-step product of a unit range [j0, j0 + ncg) of G gate blocks (the
 * forward's h_prev . W_hh^T, packed a gate block at a time so a step splits by
 * units): C + g*gcs (+)= A . (P0 + g*gstride) for g < G, P0 gate 0's panels
 * for the range, bias + g*gcs likewise. With one or two rows and the range in
 * one panel of every gate, as many gates per pass (rgemm_gates_block) as
 * rgemm_narrow keeps accumulators for; else rgemm per gate. */
static void FR_S(rgemm_gates)(REAL *C, int ldc, const REAL *A, int lda, const REAL *P0,
                              size_t gstride, int gcs, const REAL *bias, int beta, int M,
                              int ncg, int K, int G)
{
    const int vg = (ncg + VL - 1) / VL;
    const int per = M <= 2 && vg <= FR_NRV ? (M == 1 ? 3 : 2) * FR_NRV / vg : 1;
    for (int g0 = 0; g0 < G; g0 += per) {
        const int gp = G - g0 < per ? G - g0 : per;
        const REAL *P = P0 + (size_t)g0 * gstride, *b = bias ? bias + (size_t)g0 * gcs : NULL;
        REAL *Cg = C + (size_t)g0 * gcs;
        switch (gp > 1 && gp <= 4 ? (M - 1) * 64 + gp * 8 + vg : 0) {
#define FR_GATES_CASE(R, G_, VG)                                                          \
        case (R - 1) * 64 + G_ * 8 + VG:                                                  \
            FR_S(rgemm_gates_block)(R, G_, VG, K, A, lda, P, gstride, Cg, ldc, gcs, ncg,  \
                                    beta, b);                                             \
            continue;
#define FR_GATES_CASES(R)                                                                 \
        FR_GATES_CASE(R, 2, 1) FR_GATES_CASE(R, 2, 2) FR_GATES_CASE(R, 2, 3)              \
        FR_GATES_CASE(R, 2, 4) FR_GATES_CASE(R, 3, 1) FR_GATES_CASE(R, 3, 2)              \
        FR_GATES_CASE(R, 3, 3) FR_GATES_CASE(R, 3, 4) FR_GATES_CASE(R, 4, 1)              \
        FR_GATES_CASE(R, 4, 2) FR_GATES_CASE(R, 4, 3)
            FR_GATES_CASES(1)
            FR_GATES_CASES(2)
#undef FR_GATES_CASES
#undef FR_GATES_CASE
            default: break;  /* one gate, or a shape without its case: a call per gate */
        }
        for (int g = 0; g < gp; g++)
            FR_S(rgemm)(Cg + (size_t)g * gcs, ldc, A, lda, P + (size_t)g * gstride,
                        b ? b + (size_t)g * gcs : NULL, beta, M, ncg, K);
    }
}


/* C [M, Nc] (row stride ldc) += At^T . B, At [K, M] (row stride lda), B packed
 * in P (pack_b: K rows): every element a sum over k = 0..K-1 in order, added to
 * C once. The weight gradients' kernel (see weight_grad). */
static void FR_S(rgemm_at)(REAL *C, int ldc, const REAL *At, int lda, const REAL *P,
                           size_t pstride, int M, int Nc, int K)
{
    const int np = (Nc + NR - 1) / NR;
    for (int p = 0; p < np; p++) {
        int nc = Nc - p * NR < NR ? Nc - p * NR : NR;
        const REAL *Pp = P + (size_t)p * pstride;
        REAL *Cp = C + (size_t)p * NR;
        int m0 = 0;
        if (FR_HALF_FITS(nc))
            for (; m0 + MR <= M; m0 += MR)
                FR_S(rgemm_half)(1, K, At + m0, lda, Pp, Cp + (size_t)m0 * ldc, ldc, nc, 1, NULL);
        for (; m0 + MR <= M; m0 += MR)
            FR_S(rgemm_full_at)(K, At + m0, lda, Pp, Cp + (size_t)m0 * ldc, ldc, nc);
        if (m0 < M)
            FR_S(rgemm_tail)(M - m0, 1, K, At + m0, lda, Pp, Cp + (size_t)m0 * ldc, ldc, nc,
                             1, NULL);
    }
}

/* =========================================================================
 * The whole-sequence products, split over a team by output blocks
 * ========================================================================= */

/* Pack all panels of Bt (trans) or B into P, a panel per chunk. */
typedef struct {
    REAL *P;
    const REAL *B;
    size_t ldb, K;
    int Nc, trans;
} FR_S(pack_job);

static void FR_S(pack_chunk)(void *p, int panel)
{
    FR_S(pack_job) *j = p;
    if (j->trans) FR_S(pack_bt_panel)(j->P, j->B, (int)j->ldb, j->Nc, (int)j->K, panel);
    else FR_S(pack_b_panel)(j->P, j->B, j->ldb, j->K, j->Nc, panel);
}

static void FR_S(pack_par)(fr_team *team, REAL *P, const REAL *B, size_t ldb, size_t K, int Nc,
                           int trans)
{
    FR_S(pack_job) j = {P, B, ldb, K, Nc, trans};
    fr_run_once(team, FR_S(pack_chunk), &j, (Nc + NR - 1) / NR, (double)K * Nc);
}

/* Work below this many multiply-adds stays on one thread: sharing it costs
 * more than it saves (a job is a few hundred nanoseconds of handshakes). */
#define FR_PAR_MIN_MACS 32768.0

/* C [M, Nc] (+)= A [M, K] . P in blocks of 64 rows (a block of A stays in L2
 * while the panels stream), a block per chunk; with fewer row blocks than
 * threads (a few steps, or one: a stream) in blocks of panels instead. */
typedef struct {
    REAL *C;
    const REAL *A, *P;
    size_t M;
    int ldc, lda, beta, Nc, K, panels;  /* panels per chunk when split by columns */
} FR_S(rows_job);

static void FR_S(rows_chunk)(void *p, int c)
{
    FR_S(rows_job) *j = p;
    size_t m0 = (size_t)c * 64;
    int mc = j->M - m0 < 64 ? (int)(j->M - m0) : 64;
    FR_S(rgemm)(j->C + m0 * (size_t)j->ldc, j->ldc, j->A + m0 * (size_t)j->lda, j->lda, j->P,
                NULL, j->beta, mc, j->Nc, j->K);
}

static void FR_S(cols_chunk)(void *p, int c)
{
    FR_S(rows_job) *j = p;
    int j0 = c * j->panels * NR;
    int nc = j->Nc - j0 < j->panels * NR ? j->Nc - j0 : j->panels * NR;
    FR_S(rgemm)(j->C + j0, j->ldc, j->A, j->lda, j->P + (size_t)j0 * j->K, NULL, j->beta,
                (int)j->M, nc, j->K);
}

static void FR_S(gemm_rows)(fr_team *team, REAL *C, int ldc, const REAL *A, int lda,
                            const REAL *P, int beta, size_t M, int Nc, int K)
{
    FR_S(rows_job) j = {C, A, P, M, ldc, lda, beta, Nc, K, 0};
    int row_blocks = (int)((M + 63) / 64), threads = team->nworkers + 1;
    if (row_blocks >= threads || (double)M * Nc * K < FR_PAR_MIN_MACS) {
        fr_run_once(team, FR_S(rows_chunk), &j, row_blocks, (double)M * Nc * K);
        return;
    }
    int np = (Nc + NR - 1) / NR, want = 4 * threads < np ? 4 * threads : np;
    j.panels = (np + want - 1) / want;
    fr_run_once(team, FR_S(cols_chunk), &j, (np + j.panels - 1) / j.panels,
                (double)M * Nc * K);
}

/* Weight gradients: C [M, Nc] (ldc) += At^T . B over K = T*N rows, with At
 * [K, M] (lda; the gate gradients dz, read in place) and B [K, Nc] (ldb; x or
 * the previous states) packed into Pb (FR_PACK_ELEMS(K, Nc) elements). Each
 * chunk owns a block of rows of C and sums k in blocks of WG_KC (the block of
 * At and the panel rows it multiplies stay in cache): every element is
 * ((C + s_0) + s_1) + ..., s_b the sum over block b in order, whatever the
 * chunking. */
#define WG_KC 256

typedef struct {
    REAL *C;
    const REAL *At, *P;
    size_t K;
    int ldc, lda, M, Nc, rows;
} FR_S(wgrad_job);

static void FR_S(wgrad_chunk)(void *p, int c)
{
    FR_S(wgrad_job) *j = p;
    int m0 = c * j->rows, mc = j->M - m0 < j->rows ? j->M - m0 : j->rows;
    for (size_t k0 = 0; k0 < j->K; k0 += WG_KC) {
        int kc = j->K - k0 < WG_KC ? (int)(j->K - k0) : WG_KC;
        FR_S(rgemm_at)(j->C + (size_t)m0 * j->ldc, j->ldc, j->At + k0 * (size_t)j->lda + m0,
                       j->lda, j->P + k0 * NR, j->K * NR, mc, j->Nc, kc);
    }
}

static void FR_S(weight_grad)(fr_team *team, REAL *C, int ldc, const REAL *At, int lda,
                              const REAL *B, int ldb, REAL *Pb, int M, int Nc, size_t K)
{
    FR_S(pack_par)(team, Pb, B, (size_t)ldb, K, Nc, 0);
    /* about 4 blocks of rows per thread, whole register blocks each */
    int threads = team->nworkers + 1;
    int rows = (M + 4 * threads - 1) / (4 * threads);
    rows = (rows + MR - 1) / MR * MR;
    FR_S(wgrad_job) j = {C, At, Pb, K, ldc, lda, M, Nc, rows};
    fr_run_once(team, FR_S(wgrad_chunk), &j, (M + rows - 1) / rows, (double)M * Nc * K);
}

/* db [cols] += sum over rows of A [rows, cols] (row stride lda), rows added in
 * order as NumPy's A.sum(axis=0) does; tmp [cols] scratch. A chunk per block
 * of 256 columns. */
typedef struct {
    REAL *db, *tmp;
    const REAL *A;
    size_t rows;
    int cols, lda;
} FR_S(colsum_job);

static void FR_S(colsum_chunk)(void *p, int c)
{
    FR_S(colsum_job) *j = p;
    int j0 = c * 256, j1 = j->cols - j0 < 256 ? j->cols : j0 + 256;
    REAL *tmp = j->tmp, *db = j->db;
    memcpy(tmp + j0, j->A + j0, (size_t)(j1 - j0) * sizeof(REAL));
    for (size_t r = 1; r < j->rows; r++) {
        const REAL *a = j->A + r * (size_t)j->lda;
        FOR_RANGE(k, j0, j1) { ST(tmp + k, LD(tmp + k) + LD(a + k)); }
    }
    FOR_RANGE(k, j0, j1) { ST(db + k, LD(db + k) + LD(tmp + k)); }
}

static void FR_S(colsum_add)(fr_team *team, REAL *db, REAL *tmp, const REAL *A, size_t rows,
                             int cols, int lda)
{
    FR_S(colsum_job) j = {db, tmp, A, rows, cols, lda};
    fr_run_once(team, FR_S(colsum_chunk), &j, (cols + 255) / 256, (double)rows * cols);
}
