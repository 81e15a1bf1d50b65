/* The kernels, written once for one element type and one instruction set.
 *
 * Included by fr_kernels.h twice per isa_*.c file, with
 *   REAL      float or double,
 *   SUF       f32 or f64 (the name suffix),
 *   FR_VI     the matching integer vector type (fr_vi32 or fr_vi64),
 *   FR_GEMM   the matching fastrnn_ctx member (sgemm or dgemm),
 *   FR_ISA    the instruction-set suffix (generic, avx2, avx512).
 *
 * Dimensions: T time, N batch, I input, H hidden, G gates, GH = G*H.
 * Every function that works on a step takes row pointers named after what
 * they were advanced by (x_t, h_prev, gates_t, ...).
 *
 * Work per sequence (what makes the engine fast):
 *   forward:  one GEMM projects the inputs of all T*N rows (in chunks of
 *             FASTRNN_CHUNK_STEPS steps when no cache is kept); each step then
 *             does one register-blocked product h_prev . W_hh^T against a
 *             copy of W_hh packed once per call (rgemm below: it beats a BLAS
 *             call, which repacks W_hh on every call, at every batch size
 *             measured), and one fused pass over the rows: biases,
 *             nonlinearities, state update, cache and output writes.
 *   backward: per step one fused pass for the gate gradients and one rgemm for
 *             dh_{t-1} (two for the reset-before GRU); after the loop dW_ih,
 *             dW_hh and dx are whole-sequence GEMMs and the bias gradients a
 *             column sum. The whole-sequence products run on the BLAS, or on
 *             rgemm where that is faster and the BLAS is single-threaded
 *             (FR_OWN_PROJECTION, FR_OWN_DX).
 * Reference-exact: the same formulas in the same order as core/reference.py, no
 * fast-math; single-threaded except inside the BLAS; deterministic.
 * No allocation, no I/O; the only calls out are to the BLAS in ctx.
 */

#define FR_CAT_(a, b) a##b
#define FR_CAT(a, b) FR_CAT_(a, b)
/* file-local names, one per element type */
#define FR_S(name) FR_CAT(name##_, SUF)
/* exported names, one per element type and instruction set */
#define FR_X(name) FR_CAT(FR_CAT(fr_##name##_, SUF), FR_CAT(_, FR_ISA))

#define VR FR_CAT(fr_v, SUF)
#define VI FR_VI
#define VL FR_CAT(FR_VL_, SUF)
#define vld FR_CAT(fr_ld_, SUF)
#define vst FR_CAT(fr_st_, SUF)
#define vldn FR_CAT(fr_ldn_, SUF)
#define vstn FR_CAT(fr_stn_, SUF)
#define vset1 FR_CAT(fr_set1_, SUF)
#define vsel FR_CAT(fr_sel_, SUF)
#define VEXP FR_CAT(fr_exp_, SUF)
#define VTANH FR_CAT(fr_tanh_, SUF)
#define VSIG FR_CAT(fr_sigmoid_, SUF)
#define VRELU FR_CAT(fr_relu_, SUF)
#define VRELU_GRAD FR_CAT(fr_relu_grad_, SUF)
#define VFMA FR_CAT(FR_FMA_, SUF)

/* A chunk of a row: cnt = min(VL, H - j) elements at offset j. */
#define LD(p) (cnt == VL ? vld(p) : vldn((p), cnt))
#define ST(p, v) do { if (cnt == VL) vst((p), (v)); else vstn((p), (v), cnt); } while (0)
#define FOR_CHUNKS(j, H_) for (int j = 0, cnt = ((H_) < VL ? (H_) : VL); j < (H_); \
                               j += VL, cnt = ((H_) - j < VL ? (H_) - j : VL))

#define ACTIVE(lengths, t, n) ((lengths) == NULL || (int64_t)(t) < (lengths)[n])

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

/* P <- panels of B^T, where Bt [Nc, K] (row stride ldb) is stored transposed:
 * the forward's W_hh [GH, H], for h_prev . W_hh^T. Blocked by 16 k's so that
 * both the row reads and the panel writes stay in L1. */
static void FR_S(pack_bt)(REAL *P, const REAL *Bt, int ldb, int Nc, int K)
{
    for (int p = 0; p * NR < Nc; p++) {
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
}

/* P <- panels of B [K, Nc] (row stride ldb): the backward's W_hh, for dz . W_hh. */
static void FR_S(pack_b)(REAL *P, const REAL *B, int ldb, int K, int Nc)
{
    for (int p = 0; p * NR < Nc; p++) {
        REAL *Pp = P + (size_t)p * K * NR;
        int nc = Nc - p * NR < NR ? Nc - p * NR : NR;
        for (int k = 0; k < K; k++) {
            const REAL *row = B + (size_t)k * ldb + (size_t)p * NR;
            REAL *dst = Pp + (size_t)k * NR;
            memcpy(dst, row, (size_t)nc * sizeof(REAL));
            for (int jj = nc; jj < NR; jj++) dst[jj] = 0;
        }
    }
}

/* Store one register row of a panel: C[0:nc] = acc | acc + bias | C + acc |
 * (C + bias) + acc (by beta and bias). The last form is the reference's
 * (x W_ih^T + b) + h W_hh^T, rounding included. */
FR_INLINE void FR_S(rgemm_store)(REAL *c, const VR *acc, int nc, int beta, const REAL *bias)
{
    for (int v = 0; v < FR_NRV; v++) {
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

/* One block of mr <= MR rows and one panel (nc <= NR valid columns):
 * acc = A[0:mr, :] . P, k = 0..K-1 in order, then rgemm_store. */
FR_INLINE void FR_S(rgemm_block)(const int mr, int K, const REAL *A, int lda, const REAL *P,
                                 REAL *C, int ldc, int nc, int beta, const REAL *bias)
{
    VR acc[MR][FR_NRV];
    for (int m = 0; m < mr; m++)
        for (int v = 0; v < FR_NRV; v++) acc[m][v] = (VR){0};
    for (int k = 0; k < K; k++) {
        VR b[FR_NRV];
        for (int v = 0; v < FR_NRV; v++) b[v] = vld(P + (size_t)k * NR + v * VL);
        for (int m = 0; m < mr; m++) {
            VR a = vset1(A[(size_t)m * lda + k]);
            for (int v = 0; v < FR_NRV; v++) acc[m][v] = VFMA(a, b[v], acc[m][v]);
        }
    }
    for (int m = 0; m < mr; m++)
        FR_S(rgemm_store)(C + (size_t)m * ldc, acc[m], nc, beta, bias);
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
            FR_S(rgemm_store)(C + (size_t)m * ldc + col, &acc[m][v], left < VL ? left : VL,
                              beta, bias ? bias + col : NULL);
        }
}

/* The full-height block, out of line: the hot path stays one compact function
 * instead of sharing rgemm's body with the partial-height variants. */
static __attribute__((noinline)) void FR_S(rgemm_full)(int K, const REAL *A, int lda,
                                                        const REAL *P, REAL *C, int ldc, int nc,
                                                        int beta, const REAL *bias)
{
    FR_S(rgemm_block)(MR, K, A, lda, P, C, ldc, nc, beta, bias);
}

#define FR_RGEMM_CASE(R)                                                                 \
    case R:                                                                              \
        FR_S(rgemm_block)(R, K, A + (size_t)m0 * lda, lda, Pp, Cp + (size_t)m0 * ldc, ldc, \
                          nc, beta, bp);                                                 \
        break;

#define FR_NARROW_CASE(R, V)                                                             \
    case V:                                                                              \
        FR_S(rgemm_narrow)(R, V, K, A, lda, Pp, pstride, Cp, ldc, nc, beta, bp);         \
        break;

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
                    default: break;
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
                    default: break;
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
        for (; m0 + MR <= M; m0 += MR)
            FR_S(rgemm_full)(K, A + (size_t)m0 * lda, lda, Pp, Cp + (size_t)m0 * ldc, ldc, nc,
                             beta, bp);
        if (m0 < M) {
            int mr = M - m0;
            switch (mr) {
                FR_RGEMM_CASE(1)
#if FR_MR > 2
                FR_RGEMM_CASE(2)
#endif
#if FR_MR > 3
                FR_RGEMM_CASE(3)
#endif
#if FR_MR > 4
                FR_RGEMM_CASE(4)
#endif
#if FR_MR > 5
                FR_RGEMM_CASE(5)
#endif
#if FR_MR > 6
                FR_RGEMM_CASE(6)
#endif
#if FR_MR > 7
                FR_RGEMM_CASE(7)
#endif
                default: break;
            }
        }
    }
}

/* =========================================================================
 * Small helpers: BLAS in row-major terms, a 64-byte-aligned workspace carver,
 * column sums.
 * ========================================================================= */

/* Row-major C [M, Nn] = alpha op(A) op(B) + beta C with the column-major BLAS:
 * C^T = op(B)^T op(A)^T, i.e. the operands swapped, no copies. ta: A is
 * stored [K, M] (row stride lda); tb: B is stored [Nn, K]. */
static void FR_S(gemm_rm)(const fastrnn_ctx *ctx, int ta, int tb, int M, int Nn, int K,
                          REAL alpha, const REAL *A, int lda, const REAL *B, int ldb,
                          REAL beta, REAL *C, int ldc)
{
    char opb = tb ? 'T' : 'N', opa = ta ? 'T' : 'N';
    ctx->FR_GEMM(&opb, &opa, &Nn, &M, &K, &alpha, (REAL *)B, &ldb, (REAL *)A, &lda,
                 &beta, C, &ldc);
}

/* The workspace plan. Each kernel carves its scratch from the workspace in
 * one place, at its top, before touching anything; the same code, run with
 * `measure` set, is how fastrnn_workspace_size() counts (the base pointer
 * stays NULL and only `used` grows), so the size and the carve order cannot
 * disagree. Each piece starts on a 64-byte boundary (16 elements >= 64 bytes);
 * 16 spare elements let the first one be aligned. */
typedef struct {
    REAL *base;     /* the workspace aligned to 64 bytes, or NULL when measuring */
    size_t used;    /* elements carved so far */
} FR_S(carver);

static FR_S(carver) FR_S(carve_begin)(void *ws, int measure)
{
    FR_S(carver) c = {NULL, 0};
    if (!measure) {
        uintptr_t a = (uintptr_t)ws;
        c.base = (REAL *)((a + 63) & ~(uintptr_t)63);
    }
    return c;
}

static REAL *FR_S(carve)(FR_S(carver) *c, size_t count)
{
    REAL *p = c->base ? c->base + c->used : NULL;
    c->used += (count + 15) & ~(size_t)15;
    return p;
}

/* After the last carve: 1 if the kernel must return now with *status, i.e.
 * when measuring (*ws_needed is set, status OK) or when the caller's
 * workspace is too small (status EINVAL); 0 to go on and compute. */
static int FR_S(carve_end)(const FR_S(carver) *c, const fastrnn_rnn *a, size_t *ws_needed,
                           int *status)
{
    size_t need = c->used + 16;
    *status = FASTRNN_OK;
    if (ws_needed) { *ws_needed = need; return 1; }
    if (a->ws == NULL || a->ws_size < need) { *status = FASTRNN_EINVAL; return 1; }
    return 0;
}

#define CARVE_END(c)                                                  \
    do {                                                              \
        int carve_status_;                                            \
        if (FR_S(carve_end)(&(c), a, ws_needed, &carve_status_))      \
            return carve_status_;                                     \
    } while (0)

/* Stop at a step boundary when the caller raised the interrupt flag. */
#define CHECK_INTERRUPT(ctx) \
    do { if ((ctx)->interrupt && *(ctx)->interrupt) return FASTRNN_EINTR; } while (0)

/* db [cols] += sum over rows of A [rows, cols] (row stride lda), rows added in
 * order as NumPy's A.sum(axis=0) does; tmp [cols] scratch. */
static void FR_S(colsum_add)(REAL *db, REAL *tmp, const REAL *A, size_t rows, int cols,
                             int lda)
{
    memcpy(tmp, A, (size_t)cols * sizeof(REAL));
    for (size_t r = 1; r < rows; r++) {
        const REAL *a = A + r * (size_t)lda;
        FOR_CHUNKS(j, cols) { ST(tmp + j, LD(tmp + j) + LD(a + j)); }
    }
    FOR_CHUNKS(j, cols) { ST(db + j, LD(db + j) + LD(tmp + j)); }
}

/* The whole-sequence products that have a constant weight operand (the input
 * projection x W_ih^T and the backward's dx = dz W_ih) run on rgemm too when
 * it beats the BLAS: the weights are packed once, then rows go through in
 * chunks of 64 so that a chunk of the row operand stays in L2 while the
 * panels stream. Measured on AVX-512 (Zen 4): rgemm 105-110 GFLOP/s against
 * OpenBLAS's 91-99 for inner sizes >= 128, the BLAS ahead for inner size 32
 * and for narrow outputs (mostly padding in a panel). With more than one BLAS
 * thread the BLAS takes them all: the kernels' own products use one thread. */
#define FR_OWN_PROJECTION(ctx, I, GH) ((ctx)->blas_threads <= 1 && (I) >= 64)
#define FR_OWN_DX(ctx, I, GH) ((ctx)->blas_threads <= 1 && (I) >= 32 && (GH) >= 64)

/* C [M, Nc] (ldc) (+)= A [M, K] (lda) . B (packed in P), 64 rows at a time */
static void FR_S(rgemm_rows)(REAL *C, int ldc, const REAL *A, int lda, const REAL *P,
                             int beta, size_t M, int Nc, int K)
{
    for (size_t m0 = 0; m0 < M; m0 += 64) {
        int mc = M - m0 < 64 ? (int)(M - m0) : 64;
        FR_S(rgemm)(C + m0 * (size_t)ldc, ldc, A + m0 * (size_t)lda, lda, P, NULL, beta, mc,
                    Nc, K);
    }
}

/* the input projection of steps [t0, t0 + nt): out = x_t . W_ih^T  (no bias);
 * Pih: W_ih packed (pack_bt) when FR_OWN_PROJECTION, else NULL for the BLAS */
static void FR_S(project)(const fastrnn_ctx *ctx, REAL *out, const REAL *x, const REAL *W_ih,
                          const REAL *Pih, int t0, int nt, int N, int I, int GH)
{
    const REAL *x_t = x + (size_t)t0 * N * I;
    if (Pih) FR_S(rgemm_rows)(out, GH, x_t, I, Pih, 0, (size_t)nt * N, GH, I);
    else FR_S(gemm_rm)(ctx, 0, 1, nt * N, GH, I, (REAL)1, x_t, I, W_ih, I, (REAL)0, out, GH);
}

/* the backward's dx [T*N, I] = dz [T*N, GH] . W_ih [GH, I]; ws_pack: room for
 * FR_PACK_ELEMS(GH, I) elements when FR_OWN_DX, else unused (may be NULL) */
static void FR_S(input_grad)(const fastrnn_ctx *ctx, REAL *dx, const REAL *dz,
                             const REAL *W_ih, REAL *ws_pack, size_t TN, int I, int GH)
{
    if (FR_OWN_DX(ctx, I, GH)) {
        FR_S(pack_b)(ws_pack, W_ih, I, GH, I);
        FR_S(rgemm_rows)(dx, I, dz, GH, ws_pack, 0, TN, I, GH);
    } else {
        FR_S(gemm_rm)(ctx, 0, 0, (int)TN, I, GH, (REAL)1, dz, GH, W_ih, I, (REAL)0, dx, I);
    }
}

/* for each step of the forward: (time index, slot read, slot written) */
#define STEP_INDICES(s, t, rd, wr)                  \
    int t = reverse ? T - 1 - (s) : (s);            \
    int rd = reverse ? t + 1 : t;                   \
    int wr = reverse ? t : t + 1;                   \
    (void)rd; (void)wr;

/* the chunk of inference steps [s0, s0 + ns) covers times [tlo, tlo + ns) */
#define CHUNK_TLO(s0, ns) (reverse ? T - (s0) - (ns) : (s0))

/* =========================================================================
 * SRN
 * ========================================================================= */

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

/* One forward step's fused pass over the rows.
 *   pre_t [N,H]  in: z_t = (x_t W_ih^T + b) + h_prev W_hh^T; out: y_t (same buffer)
 *   h_prev [N,H] in; h_out [N,H] out (may equal h_prev: each element is read
 *   before it is written); acts_t [N,H] out or NULL (the residual cell's f(z)).
 *   a = f(z); h = a, or h_prev + a (residual); active rows: h_out = y = h;
 *   inactive rows: h_out = h_prev, y = 0. */
static void FR_S(srn_fwd_pass)(REAL *pre_t, REAL *h_out, REAL *acts_t, const REAL *h_prev,
                               const int64_t *lengths, int t, int nl, int residual,
                               int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *z = pre_t + (size_t)n * H, *ho = h_out + (size_t)n * H;
        const REAL *hp = h_prev + (size_t)n * H;
        REAL *ac = acts_t ? acts_t + (size_t)n * H : NULL;
        FOR_CHUNKS(j, H) {
            VR a = FR_S(srn_f)(LD(z + j), nl);
            VR hpv = LD(hp + j);
            VR h = residual ? hpv + a : a;
            if (ac) ST(ac + j, a);
            if (act) { ST(ho + j, h); ST(z + j, h); }
            else { ST(ho + j, hpv); ST(z + j, (VR){0}); }
        }
    }
}

static int FR_X(srn_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* SRN forward:  z_t = (x_t W_ih^T + (b_ih + b_hh)) + h_{t-1} W_hh^T,  a_t = f(z_t),
     *               h_t = a_t, or h_{t-1} + a_t (residual); inactive rows keep h, y = 0.
     * in:  x [T,N,I], h0 [N,H], W_ih [H,I], W_hh [H,H], b_ih, b_hh [H], lengths [N] or NULL
     * out: y [T,N,H] (also the pre-activation buffer), hT [N,H];
     *      hs [T+1,N,H] or NULL, aux = f(z) [T,N,H] (residual training) or NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int nl = a->nonlinearity, residual = a->residual;
    const int64_t *lengths = a->lengths;
    const REAL *x = a->x, *h0 = a->h0, *W_ih = a->W_ih, *W_hh = a->W_hh;
    const REAL *b_ih = a->b_ih, *b_hh = a->b_hh;
    REAL *y = a->y, *hT = a->hT, *hs = a->hs, *acts = a->aux;
    const size_t NH = (size_t)N * H;
    const int own_projection = FR_OWN_PROJECTION(ctx, I, H);
    /* scratch: W_hh packed, the summed bias, W_ih packed (own projection) */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
    REAL *bias = FR_S(carve)(&c, (size_t)H);
    REAL *Pih = own_projection ? FR_S(carve)(&c, FR_PACK_ELEMS(I, H)) : NULL;
    CARVE_END(c);

    FR_S(pack_bt)(P, W_hh, H, H, H);
    if (Pih) FR_S(pack_bt)(Pih, W_ih, I, H, I);
    for (int j = 0; j < H; j++) bias[j] = b_ih[j] + b_hh[j];
    /* y = x W_ih^T for all T*N rows; the bias and h_prev W_hh^T join per step */
    FR_S(project)(ctx, y, x, W_ih, Pih, 0, T, N, I, H);
    REAL *state = hs ? hs + (reverse ? (size_t)T * NH : 0) : hT;
    memcpy(state, h0, NH * sizeof(REAL));
    for (int s = 0; s < T; s++) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        REAL *y_t = y + (size_t)t * NH;
        const REAL *h_prev = hs ? hs + (size_t)rd * NH : hT;
        REAL *h_out = hs ? hs + (size_t)wr * NH : hT;
        /* y_t = (y_t + b) + h_prev W_hh^T */
        FR_S(rgemm)(y_t, H, h_prev, H, P, bias, 1, N, H, H);
        FR_S(srn_fwd_pass)(y_t, h_out, acts ? acts + (size_t)t * NH : NULL, h_prev,
                           lengths, t, nl, residual, N, H);
    }
    if (hs) memcpy(hT, hs + (reverse ? 0 : (size_t)T * NH), NH * sizeof(REAL));
    return FASTRNN_OK;
}

/* One backward step's pass (BPTT of the SRN, forward: a = f(z), h = a [+ h_prev]):
 *   dh [N,H] in: dL/dh_t from later steps; out: dh_total = dh + dy_t (active rows)
 *   dz_t [N,H] out: dh_total f'(z) on active rows, 0 on the others
 *   dh_next [N,H] out: dh_total (residual: the identity path, before += dz W_hh)
 *   trace_t [N,H] out or NULL: dh_total */
static void FR_S(srn_bwd_pass)(REAL *dh, REAL *dz_t, REAL *dh_next, REAL *trace_t,
                               const REAL *dy_t, const REAL *a_t, const int64_t *lengths,
                               int t, int nl, int residual, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H;
        FOR_CHUNKS(j, H) {
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dz = act ? dht * FR_S(srn_df)(LD(a_t + o + j), nl) : (VR){0};
            ST(dz_t + o + j, dz);
            if (residual) ST(dh_next + o + j, dht);
        }
    }
}

/* inactive rows pass dh_total through unchanged: dh_next[n] = dh[n] */
static void FR_S(pass_inactive)(REAL *dh_next, const REAL *dh, const int64_t *lengths, int t,
                                int N, int H)
{
    if (!lengths) return;
    for (int n = 0; n < N; n++)
        if (!ACTIVE(lengths, t, n))
            memcpy(dh_next + (size_t)n * H, dh + (size_t)n * H, (size_t)H * sizeof(REAL));
}

static int FR_X(srn_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* SRN BPTT, differentiating h_t = f(z_t) [+ h_{t-1}]:
     *   dh_total = dh_t + dy_t;  dz_t = dh_total f'(a_t);
     *   dh_{t-1} = dz_t W_hh [+ dh_total];  inactive rows: dz = 0, dh passes through.
     *   dW_ih += dz^T x,  dW_hh += dz^T h_prev,  db_ih, db_hh += sum(dz),  dx = dz W_ih.
     * in:  dy [T,N,H], dhT [N,H], x [T,N,I], W_ih [H,I], W_hh [H,H], hs [T+1,N,H],
     *      aux = f(z) [T,N,H] (residual) or NULL, lengths [N] or NULL
     * out: dx [T,N,I], dh0 [N,H], trace_dh [T,N,H] or NULL; dW_ih [H,I], dW_hh [H,H],
     *      db_ih, db_hh [H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int nl = a->nonlinearity, residual = a->residual;
    const int64_t *lengths = a->lengths;
    const REAL *dy = a->dy, *dhT = a->dhT, *x = a->x, *W_ih = a->W_ih, *W_hh = a->W_hh;
    const REAL *hs = a->hs, *acts = a->aux;
    REAL *dx = a->dx, *dh0 = a->dh0, *trace_dh = a->trace_dh;
    REAL *dW_ih = a->dW_ih, *dW_hh = a->dW_hh, *db_ih = a->db_ih, *db_hh = a->db_hh;
    const size_t NH = (size_t)N * H;
    /* scratch: dz for all steps, W_hh packed, dh ping-pong, a column-sum row,
     * W_ih packed (own dx) */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dpre = FR_S(carve)(&c, (size_t)T * NH);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
    REAL *dh = FR_S(carve)(&c, NH);
    REAL *dhn = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)H);
    REAL *Pdx = FR_OWN_DX(ctx, I, H) ? FR_S(carve)(&c, FR_PACK_ELEMS(H, I)) : NULL;
    CARVE_END(c);

    FR_S(pack_b)(P, W_hh, H, H, H);
    memcpy(dh, dhT, NH * sizeof(REAL));
    for (int s = T - 1; s >= 0; s--) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        size_t ot = (size_t)t * NH;
        const REAL *a_t = residual ? acts + ot : hs + (size_t)wr * NH;
        FR_S(srn_bwd_pass)(dh, dpre + ot, dhn, trace_dh ? trace_dh + ot : NULL, dy + ot, a_t,
                           lengths, t, nl, residual, N, H);
        /* dh_{t-1} = dz_t W_hh  (+ dh_total for the residual cell) */
        FR_S(rgemm)(dhn, H, dpre + ot, H, P, NULL, residual, N, H, H);
        FR_S(pass_inactive)(dhn, dh, lengths, t, N, H);
        REAL *sw = dh; dh = dhn; dhn = sw;
    }
    memcpy(dh0, dh, NH * sizeof(REAL));
    const size_t TN = (size_t)T * N;
    const REAL *h_prevs = hs + (reverse ? NH : 0);  /* [T,N,H]: the state each step read */
    /* dW_ih += dpre^T x;  dW_hh += dpre^T h_prevs;  db += sum(dpre);  dx = dpre W_ih */
    FR_S(gemm_rm)(ctx, 1, 0, H, I, (int)TN, (REAL)1, dpre, H, x, I, (REAL)1, dW_ih, I);
    FR_S(gemm_rm)(ctx, 1, 0, H, H, (int)TN, (REAL)1, dpre, H, h_prevs, H, (REAL)1, dW_hh, H);
    FR_S(colsum_add)(db_ih, tmp, dpre, TN, H, H);
    FR_S(colsum_add)(db_hh, tmp, dpre, TN, H, H);
    FR_S(input_grad)(ctx, dx, dpre, W_ih, Pdx, TN, I, H);
    return FASTRNN_OK;
}

/* =========================================================================
 * LSTM
 * ========================================================================= */

/* p[0:n] = sigmoid(p[0:n]) (kind 0) or tanh(p[0:n]) (kind 1), in place: a
 * sweep of independent vectors, so it runs at throughput, not latency. */
static void FR_S(act_sweep)(REAL *p, int n, int kind)
{
    int j = 0;
    if (kind == 0)
        for (; j + VL <= n; j += VL) vst(p + j, VSIG(vld(p + j)));
    else
        for (; j + VL <= n; j += VL) vst(p + j, VTANH(vld(p + j)));
    if (j < n) {
        int cnt = n - j;
        VR v = vldn(p + j, cnt);
        vstn(p + j, kind == 0 ? VSIG(v) : VTANH(v), cnt);
    }
}

/* One forward step's fused pass.
 *   gates_t [N,4H] in: z = (x W_ih^T + b) + h_prev W_hh^T; out: i, f, g, o
 *     after their nonlinearities (the cache when training, else scratch)
 *   c_prev, h_prev [N,H] in; c_out, h_out [N,H] out (may alias c_prev, h_prev)
 *   y_t [N,H] out
 *   c = f c_prev + i g, h = o tanh(c); inactive rows keep c, h and output 0.
 * Two sweeps per row: the four gate nonlinearities over the contiguous 4H
 * block, then the state update with its one tanh. */
static void FR_S(lstm_fwd_pass)(REAL *gates_t, REAL *c_out, REAL *h_out, REAL *y_t,
                                const REAL *c_prev, const REAL *h_prev,
                                const int64_t *lengths, int t, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *z = gates_t + (size_t)n * 4 * H;
        size_t o = (size_t)n * H;
        FR_S(act_sweep)(z, 2 * H, 0);      /* i, f */
        FR_S(act_sweep)(z + 2 * H, H, 1);  /* g */
        FR_S(act_sweep)(z + 3 * H, H, 0);  /* o */
        FOR_CHUNKS(j, H) {
            VR i = LD(z + j), f = LD(z + H + j), g = LD(z + 2 * H + j);
            VR og = LD(z + 3 * H + j);
            VR cp = LD(c_prev + o + j);
            VR c = f * cp + i * g;
            VR h = og * VTANH(c);
            if (act) { ST(c_out + o + j, c); ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else {
                ST(c_out + o + j, cp); ST(h_out + o + j, LD(h_prev + o + j));
                ST(y_t + o + j, (VR){0});
            }
        }
    }
}

static int FR_X(lstm_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* LSTM forward:  z = (x_t W_ih^T + (b_ih + b_hh)) + h_{t-1} W_hh^T, blocks i, f, g, o;
     *   i, f, o = sigmoid, g = tanh;  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t).
     * in:  x [T,N,I], h0, c0 [N,H], W_ih [4H,I], W_hh [4H,H], b_ih, b_hh [4H], lengths
     * out: y [T,N,H], hT, cT [N,H]; hs, cs [T+1,N,H], gates [T,N,4H] or all NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int64_t *lengths = a->lengths;
    const REAL *x = a->x, *h0 = a->h0, *c0 = a->c0, *W_ih = a->W_ih, *W_hh = a->W_hh;
    const REAL *b_ih = a->b_ih, *b_hh = a->b_hh;
    REAL *y = a->y, *hT = a->hT, *cT = a->cT, *hs = a->hs, *cs = a->cs, *gates = a->gates;
    const int train = hs != NULL;
    const int GH = 4 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    /* scratch: W_hh packed, the summed bias, W_ih packed (own projection);
     * inference: the gate pre-activations of one chunk of steps */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(H, GH));
    REAL *bias = FR_S(carve)(&c, (size_t)GH);
    REAL *Pih = FR_OWN_PROJECTION(ctx, I, GH) ? FR_S(carve)(&c, FR_PACK_ELEMS(I, GH)) : NULL;
    REAL *chunk = train ? NULL : FR_S(carve)(&c, (size_t)CH * NG);
    CARVE_END(c);

    FR_S(pack_bt)(P, W_hh, H, GH, H);
    if (Pih) FR_S(pack_bt)(Pih, W_ih, I, GH, I);
    for (int j = 0; j < GH; j++) bias[j] = b_ih[j] + b_hh[j];
    if (train) {
        size_t s0 = reverse ? (size_t)T * NH : 0;
        memcpy(hs + s0, h0, NH * sizeof(REAL));
        memcpy(cs + s0, c0, NH * sizeof(REAL));
        FR_S(project)(ctx, gates, x, W_ih, Pih, 0, T, N, I, GH);
        for (int s = 0; s < T; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            REAL *g_t = gates + (size_t)t * NG;
            const REAL *h_prev = hs + (size_t)rd * NH;
            /* gates_t = (gates_t + b) + h_prev W_hh^T */
            FR_S(rgemm)(g_t, GH, h_prev, H, P, bias, 1, N, GH, H);
            FR_S(lstm_fwd_pass)(g_t, cs + (size_t)wr * NH, hs + (size_t)wr * NH,
                                y + (size_t)t * NH, cs + (size_t)rd * NH, h_prev,
                                lengths, t, N, H);
        }
        size_t sT = reverse ? 0 : (size_t)T * NH;
        memcpy(hT, hs + sT, NH * sizeof(REAL));
        memcpy(cT, cs + sT, NH * sizeof(REAL));
    } else {
        memcpy(hT, h0, NH * sizeof(REAL));
        memcpy(cT, c0, NH * sizeof(REAL));
        for (int s0 = 0; s0 < T; s0 += CH) {
            int ns = T - s0 < CH ? T - s0 : CH;
            int tlo = CHUNK_TLO(s0, ns);
            FR_S(project)(ctx, chunk, x, W_ih, Pih, tlo, ns, N, I, GH);
            for (int s = s0; s < s0 + ns; s++) {
                CHECK_INTERRUPT(ctx);
                STEP_INDICES(s, t, rd, wr)
                REAL *g_t = chunk + (size_t)(t - tlo) * NG;
                FR_S(rgemm)(g_t, GH, hT, H, P, bias, 1, N, GH, H);
                FR_S(lstm_fwd_pass)(g_t, cT, hT, y + (size_t)t * NH, cT, hT, lengths, t, N, H);
            }
        }
    }
    return FASTRNN_OK;
}

/* One backward step's pass (BPTT through c = f c_prev + i g, h = o tanh(c)):
 *   dh, dc [N,H] in: gradients from later steps; out: dh <- dh_total,
 *     dc <- dc_total f (active rows; inactive rows keep dc)
 *   dz_t [N,4H] out: gradients of the four pre-activations, 0 on inactive rows
 *   trace_dh_t, trace_dc_t [N,H] out or NULL: dh_total, and dc_total (active
 *     rows) or dc (inactive rows, whose c is frozen)
 *   gates_t [N,4H], c_t (the state written), c_prev [N,H] from the forward */
static void FR_S(lstm_bwd_pass)(REAL *dh, REAL *dc, REAL *dz_t, REAL *trace_dh_t,
                                REAL *trace_dc_t, const REAL *dy_t, const REAL *gates_t,
                                const REAL *c_t, const REAL *c_prev,
                                const int64_t *lengths, int t, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H;
        const REAL *gt = gates_t + (size_t)n * 4 * H;
        REAL *dz = dz_t + (size_t)n * 4 * H;
        FOR_CHUNKS(j, H) {
            VR i = LD(gt + j), f = LD(gt + H + j), g = LD(gt + 2 * H + j);
            VR og = LD(gt + 3 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            VR tc = VTANH(LD(c_t + o + j));
            VR dcv = LD(dc + o + j);
            VR dct = dcv + dht * og * ((REAL)1 - tc * tc);
            if (trace_dh_t) ST(trace_dh_t + o + j, dht);
            /* inactive: the frozen c passes its gradient through unchanged */
            if (trace_dc_t) ST(trace_dc_t + o + j, act ? dct : dcv);
            ST(dh + o + j, dht);
            if (act) {
                ST(dz + j, dct * g * i * ((REAL)1 - i));
                ST(dz + H + j, dct * LD(c_prev + o + j) * f * ((REAL)1 - f));
                ST(dz + 2 * H + j, dct * i * ((REAL)1 - g * g));
                ST(dz + 3 * H + j, dht * tc * og * ((REAL)1 - og));
                ST(dc + o + j, dct * f);
            } else {
                VR zero = {0};
                ST(dz + j, zero); ST(dz + H + j, zero); ST(dz + 2 * H + j, zero);
                ST(dz + 3 * H + j, zero);
            }
        }
    }
}

static int FR_X(lstm_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* LSTM BPTT:  dh_total = dh + dy_t;  dc_total = dc + dh_total o (1 - tanh(c_t)^2);
     *   dz = (dc_total g i(1-i), dc_total c_{t-1} f(1-f), dc_total i (1-g^2),
     *         dh_total tanh(c_t) o(1-o));  dh_{t-1} = dz W_hh;  dc_{t-1} = dc_total f;
     *   inactive rows: dz = 0, dh and dc pass through. Then as the SRN's.
     * in:  dy [T,N,H], dhT, dcT [N,H], x [T,N,I], W_ih [4H,I], W_hh [4H,H],
     *      hs, cs [T+1,N,H], gates [T,N,4H], lengths
     * out: dx [T,N,I], dh0, dc0 [N,H], trace_dh, trace_dc [T,N,H] or NULL;
     *      dW_ih [4H,I], dW_hh [4H,H], db_ih, db_hh [4H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int64_t *lengths = a->lengths;
    const REAL *dy = a->dy, *dhT = a->dhT, *dcT = a->dcT, *x = a->x;
    const REAL *W_ih = a->W_ih, *W_hh = a->W_hh, *hs = a->hs, *cs = a->cs, *gates = a->gates;
    REAL *dx = a->dx, *dh0 = a->dh0, *dc0 = a->dc0;
    REAL *trace_dh = a->trace_dh, *trace_dc = a->trace_dc;
    REAL *dW_ih = a->dW_ih, *dW_hh = a->dW_hh, *db_ih = a->db_ih, *db_hh = a->db_hh;
    const int GH = 4 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    /* scratch: dz for all steps, W_hh packed, dh ping-pong, dc, a column-sum
     * row, W_ih packed (own dx) */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dpre = FR_S(carve)(&c, (size_t)T * NG);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(GH, H));
    REAL *dh = FR_S(carve)(&c, NH);
    REAL *dhn = FR_S(carve)(&c, NH);
    REAL *dc = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)GH);
    REAL *Pdx = FR_OWN_DX(ctx, I, GH) ? FR_S(carve)(&c, FR_PACK_ELEMS(GH, I)) : NULL;
    CARVE_END(c);

    FR_S(pack_b)(P, W_hh, H, GH, H);
    memcpy(dh, dhT, NH * sizeof(REAL));
    memcpy(dc, dcT, NH * sizeof(REAL));
    for (int s = T - 1; s >= 0; s--) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        size_t ot = (size_t)t * NH;
        FR_S(lstm_bwd_pass)(dh, dc, dpre + (size_t)t * NG, trace_dh ? trace_dh + ot : NULL,
                            trace_dc ? trace_dc + ot : NULL, dy + ot, gates + (size_t)t * NG,
                            cs + (size_t)wr * NH, cs + (size_t)rd * NH, lengths, t, N, H);
        /* dh_{t-1} = dz_t W_hh */
        FR_S(rgemm)(dhn, H, dpre + (size_t)t * NG, GH, P, NULL, 0, N, H, GH);
        FR_S(pass_inactive)(dhn, dh, lengths, t, N, H);
        REAL *sw = dh; dh = dhn; dhn = sw;
    }
    memcpy(dh0, dh, NH * sizeof(REAL));
    memcpy(dc0, dc, NH * sizeof(REAL));
    const size_t TN = (size_t)T * N;
    const REAL *h_prevs = hs + (reverse ? NH : 0);
    FR_S(gemm_rm)(ctx, 1, 0, GH, I, (int)TN, (REAL)1, dpre, GH, x, I, (REAL)1, dW_ih, I);
    FR_S(gemm_rm)(ctx, 1, 0, GH, H, (int)TN, (REAL)1, dpre, GH, h_prevs, H, (REAL)1, dW_hh, H);
    FR_S(colsum_add)(db_ih, tmp, dpre, TN, GH, GH);
    FR_S(colsum_add)(db_hh, tmp, dpre, TN, GH, GH);
    FR_S(input_grad)(ctx, dx, dpre, W_ih, Pdx, TN, I, GH);
    return FASTRNN_OK;
}

/* =========================================================================
 * GRU
 * ========================================================================= */

/* Reset-after forward pass (PyTorch's GRU):
 *   xg_t [N,3H] in: x W_ih^T (no bias); out: r, z, n (the cache when
 *     training, else scratch)
 *   hg [N,3H] in: h_prev W_hh^T + b_hh;  aux_t [N,H] out or NULL: W_hn h + b_hn
 *   r = sig(xr + b_ir + hr), z = sig(xz + b_iz + hz), n = tanh(xn + b_in + r hn),
 *   h = (1 - z) n + z h_prev. First sweep: r and z over the 2H block. */
static void FR_S(gru_after_fwd_pass)(REAL *xg_t, REAL *h_out, REAL *y_t, REAL *aux_t,
                                     const REAL *hg, const REAL *h_prev, const REAL *b_ih,
                                     const int64_t *lengths, int t, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *xg = xg_t + (size_t)n * 3 * H;
        const REAL *hgn = hg + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        FOR_CHUNKS(j, 2 * H) {
            ST(xg + j, VSIG((LD(xg + j) + LD(b_ih + j)) + LD(hgn + j)));
        }
        FOR_CHUNKS(j, H) {
            VR r = LD(xg + j), z = LD(xg + H + j);
            VR xn = LD(xg + 2 * H + j) + LD(b_ih + 2 * H + j);
            VR hn = LD(hgn + 2 * H + j);
            VR nn = VTANH(xn + r * hn);
            VR hp = LD(h_prev + o + j);
            VR h = ((REAL)1 - z) * nn + z * hp;
            ST(xg + 2 * H + j, nn);
            if (aux_t) ST(aux_t + o + j, hn);
            if (act) { ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else { ST(h_out + o + j, hp); ST(y_t + o + j, (VR){0}); }
        }
    }
}

/* Reset-before forward, first pass: r, z from gates_t (already (xg + b) + h W_hr,z^T),
 * written back in place; aux_t = r h_prev (the input of W_hn). */
static void FR_S(gru_before_fwd_pass1)(REAL *gates_t, REAL *aux_t, const REAL *h_prev,
                                       int N, int H)
{
    for (int n = 0; n < N; n++) {
        REAL *g = gates_t + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        FR_S(act_sweep)(g, 2 * H, 0);  /* r, z */
        FOR_CHUNKS(j, H) { ST(aux_t + o + j, LD(g + j) * LD(h_prev + o + j)); }
    }
}

/* Reset-before forward, second pass: n = tanh(gates_t n block, now
 * (xn + b) + (r h) W_hn^T), h = (1 - z) n + z h_prev. */
static void FR_S(gru_before_fwd_pass2)(REAL *gates_t, REAL *h_out, REAL *y_t,
                                       const REAL *h_prev, const int64_t *lengths, int t,
                                       int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        REAL *g = gates_t + (size_t)n * 3 * H;
        size_t o = (size_t)n * H;
        FOR_CHUNKS(j, H) {
            VR nn = VTANH(LD(g + 2 * H + j));
            VR z = LD(g + H + j);
            VR hp = LD(h_prev + o + j);
            VR h = ((REAL)1 - z) * nn + z * hp;
            ST(g + 2 * H + j, nn);
            if (act) { ST(h_out + o + j, h); ST(y_t + o + j, h); }
            else { ST(h_out + o + j, hp); ST(y_t + o + j, (VR){0}); }
        }
    }
}

static int FR_X(gru_fwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* GRU forward, blocks r, z, n:  r, z = sigmoid(x W_i{r,z}^T + b + h_{t-1} W_h{r,z}^T + b),
     *   reset_after:  n = tanh(x W_in^T + b_in + r (h_{t-1} W_hn^T + b_hn))
     *   reset_before: n = tanh(x W_in^T + b_in + (r h_{t-1}) W_hn^T + b_hn)
     *   h_t = (1 - z) n + z h_{t-1}.
     * in:  x [T,N,I], h0 [N,H], W_ih [3H,I], W_hh [3H,H], b_ih, b_hh [3H], lengths
     * out: y [T,N,H], hT [N,H]; hs [T+1,N,H], gates [T,N,3H], aux [T,N,H] or all NULL */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int reset_after = a->reset_after;
    const int64_t *lengths = a->lengths;
    const REAL *x = a->x, *h0 = a->h0, *W_ih = a->W_ih, *W_hh = a->W_hh;
    const REAL *b_ih = a->b_ih, *b_hh = a->b_hh;
    REAL *y = a->y, *hT = a->hT, *hs = a->hs, *gates = a->gates, *aux = a->aux;
    const int train = hs != NULL;
    const int GH = 3 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH;
    const int CH = T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS;
    /* scratch, reset_after:  W_hh packed, hg = h_prev W_hh^T + b_hh [N,3H];
     *          reset_before: W_h{r,z} packed, W_hn packed, the summed bias [3H];
     * both: W_ih packed (own projection); inference: aux [N,H] (reset_before)
     * and the gate pre-activations of one chunk of steps */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *P = NULL, *Pn = NULL, *hg = NULL, *bias = NULL;
    if (reset_after) {
        P = FR_S(carve)(&c, FR_PACK_ELEMS(H, GH));
        hg = FR_S(carve)(&c, NG);
    } else {
        P = FR_S(carve)(&c, FR_PACK_ELEMS(H, 2 * H));
        Pn = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
        bias = FR_S(carve)(&c, (size_t)GH);
    }
    REAL *Pih = FR_OWN_PROJECTION(ctx, I, GH) ? FR_S(carve)(&c, FR_PACK_ELEMS(I, GH)) : NULL;
    REAL *aux_ws = NULL, *chunk = NULL;
    if (!train) {
        if (!reset_after) aux_ws = FR_S(carve)(&c, NH);
        chunk = FR_S(carve)(&c, (size_t)CH * NG);
    }
    CARVE_END(c);

    if (reset_after) {
        FR_S(pack_bt)(P, W_hh, H, GH, H);
    } else {
        FR_S(pack_bt)(P, W_hh, H, 2 * H, H);
        FR_S(pack_bt)(Pn, W_hh + (size_t)2 * H * H, H, H, H);
        for (int j = 0; j < GH; j++) bias[j] = b_ih[j] + b_hh[j];
    }
    if (Pih) FR_S(pack_bt)(Pih, W_ih, I, GH, I);
    if (!train) {
        memcpy(hT, h0, NH * sizeof(REAL));
    } else {
        memcpy(hs + (reverse ? (size_t)T * NH : 0), h0, NH * sizeof(REAL));
        FR_S(project)(ctx, gates, x, W_ih, Pih, 0, T, N, I, GH);
    }
    int chunk_steps = train ? T : CH;
    for (int s0 = 0; s0 < T; s0 += chunk_steps) {
        int ns = T - s0 < chunk_steps ? T - s0 : chunk_steps;
        int tlo = train ? 0 : CHUNK_TLO(s0, ns);
        REAL *buf = train ? gates : chunk;
        if (!train) FR_S(project)(ctx, chunk, x, W_ih, Pih, tlo, ns, N, I, GH);
        for (int s = s0; s < s0 + ns; s++) {
            CHECK_INTERRUPT(ctx);
            STEP_INDICES(s, t, rd, wr)
            REAL *g_t = buf + (size_t)(t - tlo) * NG;
            const REAL *h_prev = train ? hs + (size_t)rd * NH : hT;
            REAL *h_out = train ? hs + (size_t)wr * NH : hT;
            REAL *y_t = y + (size_t)t * NH;
            if (reset_after) {
                /* hg = h_prev W_hh^T + b_hh */
                FR_S(rgemm)(hg, GH, h_prev, H, P, b_hh, 0, N, GH, H);
                FR_S(gru_after_fwd_pass)(g_t, h_out, y_t, train ? aux + (size_t)t * NH : NULL,
                                         hg, h_prev, b_ih, lengths, t, N, H);
            } else {
                REAL *aux_t = train ? aux + (size_t)t * NH : aux_ws;
                /* r, z blocks: (xg + b) + h_prev W_hr,hz^T */
                FR_S(rgemm)(g_t, GH, h_prev, H, P, bias, 1, N, 2 * H, H);
                FR_S(gru_before_fwd_pass1)(g_t, aux_t, h_prev, N, H);
                /* n block: (xg + b) + (r h_prev) W_hn^T */
                FR_S(rgemm)(g_t + 2 * H, GH, aux_t, H, Pn, bias + 2 * H, 1, N, H, H);
                FR_S(gru_before_fwd_pass2)(g_t, h_out, y_t, h_prev, lengths, t, N, H);
            }
        }
    }
    if (train) memcpy(hT, hs + (reverse ? 0 : (size_t)T * NH), NH * sizeof(REAL));
    return FASTRNN_OK;
}

/* Reset-after backward pass (BPTT through h = (1-z) n + z h_prev,
 * n = tanh(xn + r hn), r, z = sigmoid(...)):
 *   dh [N,H] in/out: -> dh_total;  dhn [N,H] out: dh_total z (the direct path)
 *   dg_t [N,3H] out: d(r, z, n) pre-activations seen by W_ih (0 on inactive rows)
 *   dzhh [N,3H] out: the same seen by W_hh: (dr, dz, dn r)
 *   dnr_t [N,H] out: dn r (the n block of dzhh, kept for dW_hh, db_hh) */
static void FR_S(gru_after_bwd_pass)(REAL *dh, REAL *dhn, REAL *dg_t, REAL *dzhh, REAL *dnr_t,
                                     REAL *trace_t, const REAL *dy_t, const REAL *gates_t,
                                     const REAL *aux_t, const REAL *h_prev,
                                     const int64_t *lengths, int t, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        const REAL *gt = gates_t + og;
        FOR_CHUNKS(j, H) {
            VR r = LD(gt + j), z = LD(gt + H + j), nn = LD(gt + 2 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dn = dht * ((REAL)1 - z) * ((REAL)1 - nn * nn);
            VR dz = dht * (LD(h_prev + o + j) - nn) * z * ((REAL)1 - z);
            VR dr = dn * LD(aux_t + o + j) * r * ((REAL)1 - r);
            VR dnr = dn * r;
            ST(dhn + o + j, dht * z);
            if (!act) { VR zero = {0}; dn = zero; dz = zero; dr = zero; dnr = zero; }
            ST(dg_t + og + j, dr); ST(dg_t + og + H + j, dz); ST(dg_t + og + 2 * H + j, dn);
            ST(dzhh + og + j, dr); ST(dzhh + og + H + j, dz); ST(dzhh + og + 2 * H + j, dnr);
            ST(dnr_t + o + j, dnr);
        }
    }
}

/* Reset-before backward, first pass (n = tanh(xn + (r h_prev) W_hn^T + b)):
 *   dh in/out -> dh_total; dhn out: dh_total z; dg_t z and n blocks out. */
static void FR_S(gru_before_bwd_pass1)(REAL *dh, REAL *dhn, REAL *dg_t, REAL *trace_t,
                                       const REAL *dy_t, const REAL *gates_t,
                                       const REAL *h_prev, const int64_t *lengths, int t,
                                       int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        const REAL *gt = gates_t + og;
        FOR_CHUNKS(j, H) {
            VR z = LD(gt + H + j), nn = LD(gt + 2 * H + j);
            VR dht = LD(dh + o + j) + (act ? LD(dy_t + o + j) : (VR){0});
            ST(dh + o + j, dht);
            if (trace_t) ST(trace_t + o + j, dht);
            VR dn = dht * ((REAL)1 - z) * ((REAL)1 - nn * nn);
            VR dz = dht * (LD(h_prev + o + j) - nn) * z * ((REAL)1 - z);
            ST(dhn + o + j, dht * z);
            if (!act) { VR zero = {0}; dn = zero; dz = zero; }
            ST(dg_t + og + H + j, dz); ST(dg_t + og + 2 * H + j, dn);
        }
    }
}

/* Reset-before backward, second pass, after d_rh = dn W_hn (the gradient of r h_prev):
 *   dr = d_rh h_prev r (1 - r) -> dg_t r block;  dhn += d_rh r. */
static void FR_S(gru_before_bwd_pass2)(REAL *dhn, REAL *dg_t, const REAL *drh,
                                       const REAL *gates_t, const REAL *h_prev,
                                       const int64_t *lengths, int t, int N, int H)
{
    for (int n = 0; n < N; n++) {
        int act = ACTIVE(lengths, t, n);
        size_t o = (size_t)n * H, og = (size_t)n * 3 * H;
        FOR_CHUNKS(j, H) {
            VR r = LD(gates_t + og + j);
            VR d = LD(drh + o + j);
            VR dr = d * LD(h_prev + o + j) * r * ((REAL)1 - r);
            ST(dhn + o + j, LD(dhn + o + j) + d * r);
            ST(dg_t + og + j, act ? dr : (VR){0});
        }
    }
}

static int FR_X(gru_bwd)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, size_t *ws_needed)
{
    /* GRU BPTT:  dh_total = dh + dy_t;  dn = dh_total (1-z)(1-n^2);
     *   dz = dh_total (h_{t-1} - n) z(1-z);
     *   reset_after:  dr = dn aux r(1-r);  dh_{t-1} = dh_total z + (dr, dz, dn r) W_hh
     *   reset_before: d(r h) = dn W_hn;  dr = d(r h) h_{t-1} r(1-r);
     *                 dh_{t-1} = dh_total z + d(r h) r + (dr, dz) W_h{r,z}
     *   inactive rows: zero gate gradients, dh passes through.
     * in:  dy [T,N,H], dhT [N,H], x [T,N,I], W_ih [3H,I], W_hh [3H,H], hs [T+1,N,H],
     *      gates [T,N,3H], aux [T,N,H], lengths
     * out: dx [T,N,I], dh0 [N,H], trace_dh [T,N,H] or NULL; dW_ih [3H,I], dW_hh [3H,H],
     *      db_ih, db_hh [3H] accumulated */
    const int T = a->steps, N = a->batch, I = a->input_size, H = a->hidden_size;
    const int reverse = a->reverse;
    const int reset_after = a->reset_after;
    const int64_t *lengths = a->lengths;
    const REAL *dy = a->dy, *dhT = a->dhT, *x = a->x, *W_ih = a->W_ih, *W_hh = a->W_hh;
    const REAL *hs = a->hs, *gates = a->gates, *aux = a->aux;
    REAL *dx = a->dx, *dh0 = a->dh0, *trace_dh = a->trace_dh;
    REAL *dW_ih = a->dW_ih, *dW_hh = a->dW_hh, *db_ih = a->db_ih, *db_hh = a->db_hh;
    const int GH = 3 * H;
    const size_t NH = (size_t)N * H, NG = (size_t)N * GH, TN = (size_t)T * N;
    /* scratch: d(pre-activations) seen by W_ih for all steps [T,N,3H];
     *   reset_after:  dn r for all steps [T,N,H], W_hh packed, (dr, dz, dn r) [N,3H];
     *   reset_before: W_hn packed, W_h{r,z} packed, d(r h) [N,H];
     * both: dh ping-pong, a column-sum row, W_ih packed (own dx) */
    FR_S(carver) c = FR_S(carve_begin)(a->ws, ws_needed != NULL);
    REAL *dg = FR_S(carve)(&c, (size_t)T * NG);
    REAL *dnr = NULL, *P = NULL, *Pn = NULL, *dzhh = NULL, *drh = NULL;
    if (reset_after) {
        dnr = FR_S(carve)(&c, (size_t)T * NH);
        P = FR_S(carve)(&c, FR_PACK_ELEMS(GH, H));
        dzhh = FR_S(carve)(&c, NG);
    } else {
        Pn = FR_S(carve)(&c, FR_PACK_ELEMS(H, H));
        P = FR_S(carve)(&c, FR_PACK_ELEMS(2 * H, H));
        drh = FR_S(carve)(&c, NH);
    }
    REAL *dh = FR_S(carve)(&c, NH);
    REAL *dhn = FR_S(carve)(&c, NH);
    REAL *tmp = FR_S(carve)(&c, (size_t)GH);
    REAL *Pdx = FR_OWN_DX(ctx, I, GH) ? FR_S(carve)(&c, FR_PACK_ELEMS(GH, I)) : NULL;
    CARVE_END(c);

    if (reset_after) {
        FR_S(pack_b)(P, W_hh, H, GH, H);
    } else {
        FR_S(pack_b)(Pn, W_hh + (size_t)2 * H * H, H, H, H);
        FR_S(pack_b)(P, W_hh, H, 2 * H, H);
    }
    const REAL *h_prevs = hs + (reverse ? NH : 0);  /* [T,N,H] */
    memcpy(dh, dhT, NH * sizeof(REAL));
    for (int s = T - 1; s >= 0; s--) {
        CHECK_INTERRUPT(ctx);
        STEP_INDICES(s, t, rd, wr)
        size_t ot = (size_t)t * NH;
        REAL *dg_t = dg + (size_t)t * NG;
        const REAL *g_t = gates + (size_t)t * NG;
        const REAL *h_prev = h_prevs + ot;
        REAL *tr = trace_dh ? trace_dh + ot : NULL;
        if (reset_after) {
            FR_S(gru_after_bwd_pass)(dh, dhn, dg_t, dzhh, dnr + ot, tr, dy + ot, g_t,
                                     aux + ot, h_prev, lengths, t, N, H);
            /* dh_{t-1} = dh_total z + (dr, dz, dn r) W_hh */
            FR_S(rgemm)(dhn, H, dzhh, GH, P, NULL, 1, N, H, GH);
        } else {
            FR_S(gru_before_bwd_pass1)(dh, dhn, dg_t, tr, dy + ot, g_t, h_prev, lengths, t,
                                       N, H);
            /* d(r h_prev) = dn W_hn */
            FR_S(rgemm)(drh, H, dg_t + 2 * H, GH, Pn, NULL, 0, N, H, H);
            FR_S(gru_before_bwd_pass2)(dhn, dg_t, drh, g_t, h_prev, lengths, t, N, H);
            /* dh_{t-1} = (dh_total z + d_rh r) + (dr, dz) W_hr,hz */
            FR_S(rgemm)(dhn, H, dg_t, GH, P, NULL, 1, N, H, 2 * H);
        }
        FR_S(pass_inactive)(dhn, dh, lengths, t, N, H);
        REAL *sw = dh; dh = dhn; dhn = sw;
    }
    memcpy(dh0, dh, NH * sizeof(REAL));
    FR_S(gemm_rm)(ctx, 1, 0, GH, I, (int)TN, (REAL)1, dg, GH, x, I, (REAL)1, dW_ih, I);
    FR_S(colsum_add)(db_ih, tmp, dg, TN, GH, GH);
    /* the r, z rows of dW_hh and db_hh see the same gradients as W_ih's */
    FR_S(gemm_rm)(ctx, 1, 0, 2 * H, H, (int)TN, (REAL)1, dg, GH, h_prevs, H, (REAL)1,
                  dW_hh, H);
    FR_S(colsum_add)(db_hh, tmp, dg, TN, 2 * H, GH);
    if (reset_after) {
        /* n rows: W_hn h + b_hn received dn r */
        FR_S(gemm_rm)(ctx, 1, 0, H, H, (int)TN, (REAL)1, dnr, H, h_prevs, H, (REAL)1,
                      dW_hh + (size_t)2 * H * H, H);
        FR_S(colsum_add)(db_hh + 2 * H, tmp, dnr, TN, H, H);
    } else {
        /* n rows: W_hn multiplies r h_prev (aux) */
        FR_S(gemm_rm)(ctx, 1, 0, H, H, (int)TN, (REAL)1, dg + 2 * H, GH, aux, H, (REAL)1,
                      dW_hh + (size_t)2 * H * H, H);
        FR_S(colsum_add)(db_hh + 2 * H, tmp, dg + 2 * H, TN, H, GH);
    }
    FR_S(input_grad)(ctx, dx, dg, W_ih, Pdx, TN, I, GH);
    return FASTRNN_OK;
}

/* =========================================================================
 * Test hooks
 * ========================================================================= */

static int FR_X(vmath)(void *out_, const void *in_, size_t n, int f)
{
    /* out [n] = f(in [n]), f: 0 exp, 1 tanh, 2 sigmoid, 3 relu (the kernels' own) */
    REAL *out = out_;
    const REAL *in = in_;
    if (f < 0 || f > 3) return FASTRNN_EINVAL;
    for (size_t k = 0; k < n; k += VL) {
        int cnt = n - k < (size_t)VL ? (int)(n - k) : VL;
        VR v = LD(in + k);
        VR r = f == 0 ? VEXP(v) : f == 1 ? VTANH(v) : f == 2 ? VSIG(v) : VRELU(v);
        ST(out + k, r);
    }
    return FASTRNN_OK;
}

static int FR_X(rgemm)(void *C_, int ldc, void *ws, const void *A_, int lda, const void *B_,
                       int trans_b, int beta, int M, int Nc, int K)
{
    /* C [M,Nc] (+)= A [M,K] . B, B [K,Nc] or given as Bt [Nc,K]; ws: pack(K,Nc) + 16 */
    REAL *C = C_;
    const REAL *A = A_, *B = B_;
    if (M < 1 || Nc < 1 || K < 1 || ldc < Nc || lda < K) return FASTRNN_EINVAL;
    FR_S(carver) c = FR_S(carve_begin)(ws, 0);
    REAL *P = FR_S(carve)(&c, FR_PACK_ELEMS(K, Nc));
    if (trans_b) FR_S(pack_bt)(P, B, K, Nc, K);
    else FR_S(pack_b)(P, B, Nc, K, Nc);
    FR_S(rgemm)(C, ldc, A, lda, P, NULL, beta, M, Nc, K);
    return FASTRNN_OK;
}

/* This instruction set's kernels for this element type, for dispatch.c. */
const fr_kernels FR_X(kernels) = {
    {{FR_X(srn_fwd), FR_X(lstm_fwd), FR_X(gru_fwd)},
     {FR_X(srn_bwd), FR_X(lstm_bwd), FR_X(gru_bwd)}},
    FR_X(vmath),
    FR_X(rgemm),
};

#undef FR_S
#undef FR_X
#undef VR
#undef VI
#undef VL
#undef vld
#undef vst
#undef vldn
#undef vstn
#undef vset1
#undef vsel
#undef VEXP
#undef VTANH
#undef VSIG
#undef VRELU
#undef VRELU_GRAD
#undef VFMA
#undef LD
#undef ST
#undef FOR_CHUNKS
#undef ACTIVE
#undef NR
#undef MR
#undef FR_PACK_ELEMS
#undef FR_RGEMM_CASE
#undef FR_NARROW_CASE
#undef STEP_INDICES
#undef CARVE_END
#undef CHECK_INTERRUPT
#undef CHUNK_TLO
