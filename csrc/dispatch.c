/* fastrnn.h's entry points: pick the instruction set, then call its kernel.
 *
 * Also the workspace sizes, which every instruction set shares (they bound
 * the packed panels for any panel width up to 64 elements), so Python and C
 * cannot disagree. All sizes are in elements; 16 spare elements let each
 * kernel align its workspace to 64 bytes.
 */
#include "fr_isa.h"

int fastrnn_best_isa(void)
{
#if FR_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FASTRNN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FASTRNN_ISA_AVX2;
#endif
    return FASTRNN_ISA_GENERIC;
}

int fastrnn_isa_available(int isa)
{
    if (isa == FASTRNN_ISA_AUTO || isa == FASTRNN_ISA_GENERIC) return 1;
    if (isa != FASTRNN_ISA_AVX2 && isa != FASTRNN_ISA_AVX512) return 0;
    return fastrnn_best_isa() >= isa;
}

/* the instruction set to run, or -1 if `isa` cannot run here */
static int resolve(int isa)
{
    if (isa == FASTRNN_ISA_AUTO) return fastrnn_best_isa();
    return fastrnn_isa_available(isa) ? isa : -1;
}

#if FR_X86_DISPATCH
#define DISPATCH(isa, name, SUF, args)                                        \
    switch (resolve(isa)) {                                                   \
        case FASTRNN_ISA_AVX512: return fr_##name##_##SUF##_avx512 args;      \
        case FASTRNN_ISA_AVX2: return fr_##name##_##SUF##_avx2 args;          \
        case FASTRNN_ISA_GENERIC: return fr_##name##_##SUF##_generic args;    \
        default: return FASTRNN_EISA;                                         \
    }
#else
#define DISPATCH(isa, name, SUF, args)                                        \
    switch (resolve(isa)) {                                                   \
        case FASTRNN_ISA_GENERIC: return fr_##name##_##SUF##_generic args;    \
        default: return FASTRNN_EISA;                                         \
    }
#endif

/* --- workspace sizes -------------------------------------------------------- */

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }
/* a packed copy of B [K, Nc] (see fr_impl.h) */
static size_t pack(size_t K, size_t Nc) { return r16((Nc + 64) * K); }
static size_t chunk(int T) { return (size_t)(T < FASTRNN_CHUNK_STEPS ? T : FASTRNN_CHUNK_STEPS); }

size_t fastrnn_srn_fwd_ws(int T, int N, int I, int H, int train)
{
    (void)T; (void)N; (void)train;
    return 16 + pack(H, H) + r16(H) + pack(I, H);
}

size_t fastrnn_srn_bwd_ws(int T, int N, int I, int H)
{
    size_t NH = (size_t)N * H;
    return 16 + r16((size_t)T * NH) + pack(H, H) + 2 * r16(NH) + r16(H) + pack(H, I);
}

size_t fastrnn_lstm_fwd_ws(int T, int N, int I, int H, int train)
{
    size_t GH = 4 * (size_t)H;
    return 16 + pack(H, GH) + r16(GH) + pack(I, GH) + (train ? 0 : r16(chunk(T) * N * GH));
}

size_t fastrnn_lstm_bwd_ws(int T, int N, int I, int H)
{
    size_t GH = 4 * (size_t)H, NH = (size_t)N * H;
    return 16 + r16((size_t)T * N * GH) + pack(GH, H) + 3 * r16(NH) + r16(GH) + pack(GH, I);
}

size_t fastrnn_gru_fwd_ws(int T, int N, int I, int H, int train, int reset_after)
{
    size_t GH = 3 * (size_t)H, NH = (size_t)N * H, NG = (size_t)N * GH;
    size_t inference = train ? 0 : r16(chunk(T) * NG) + (reset_after ? 0 : r16(NH));
    if (reset_after) return 16 + pack(H, GH) + r16(NG) + pack(I, GH) + inference;
    return 16 + pack(H, 2 * (size_t)H) + pack(H, H) + r16(GH) + pack(I, GH) + inference;
}

size_t fastrnn_gru_bwd_ws(int T, int N, int I, int H, int reset_after)
{
    size_t GH = 3 * (size_t)H, NH = (size_t)N * H, NG = (size_t)N * GH;
    size_t common = 16 + r16((size_t)T * NG) + 2 * r16(NH) + r16(GH) + pack(GH, I);
    if (reset_after) return common + r16((size_t)T * NH) + pack(GH, H) + r16(NG);
    return common + pack(H, H) + pack(2 * (size_t)H, H) + r16(NH);
}

/* --- kernels ---------------------------------------------------------------- */

#define DEFINE_TYPE(SUF, REAL)                                                             \
int fastrnn_srn_fwd_seq_##SUF(REAL *y, REAL *hT, REAL *hs, REAL *acts, REAL *ws,           \
        const REAL *x, const REAL *h0, const REAL *W_ih, const REAL *W_hh,                  \
        const REAL *b_ih, const REAL *b_hh, const int64_t *lengths, int nl, int residual,   \
        int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx)                    \
{                                                                                          \
    DISPATCH(ctx->isa, srn_fwd_seq, SUF, (y, hT, hs, acts, ws, x, h0, W_ih, W_hh, b_ih,    \
             b_hh, lengths, nl, residual, reverse, T, N, I, H, ctx))                        \
}                                                                                          \
int fastrnn_srn_bwd_seq_##SUF(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,             \
        REAL *db_hh, REAL *dh0, REAL *trace_dh, REAL *ws, const REAL *dy, const REAL *dhT,  \
        const REAL *x, const REAL *W_ih, const REAL *W_hh, const REAL *hs,                  \
        const REAL *acts, const int64_t *lengths, int nl, int residual, int reverse,        \
        int T, int N, int I, int H, const fastrnn_ctx *ctx)                                 \
{                                                                                          \
    DISPATCH(ctx->isa, srn_bwd_seq, SUF, (dx, dW_ih, dW_hh, db_ih, db_hh, dh0, trace_dh,   \
             ws, dy, dhT, x, W_ih, W_hh, hs, acts, lengths, nl, residual, reverse,          \
             T, N, I, H, ctx))                                                              \
}                                                                                          \
int fastrnn_lstm_fwd_seq_##SUF(REAL *y, REAL *hT, REAL *cT, REAL *hs, REAL *cs,            \
        REAL *gates, REAL *ws, const REAL *x, const REAL *h0, const REAL *c0,               \
        const REAL *W_ih, const REAL *W_hh, const REAL *b_ih, const REAL *b_hh,             \
        const int64_t *lengths, int reverse, int T, int N, int I, int H,                    \
        const fastrnn_ctx *ctx)                                                             \
{                                                                                          \
    DISPATCH(ctx->isa, lstm_fwd_seq, SUF, (y, hT, cT, hs, cs, gates, ws, x, h0, c0, W_ih,  \
             W_hh, b_ih, b_hh, lengths, reverse, T, N, I, H, ctx))                          \
}                                                                                          \
int fastrnn_lstm_bwd_seq_##SUF(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,            \
        REAL *db_hh, REAL *dh0, REAL *dc0, REAL *trace_dh, REAL *trace_dc, REAL *ws,        \
        const REAL *dy, const REAL *dhT, const REAL *dcT, const REAL *x, const REAL *W_ih,  \
        const REAL *W_hh, const REAL *hs, const REAL *cs, const REAL *gates,                \
        const int64_t *lengths, int reverse, int T, int N, int I, int H,                    \
        const fastrnn_ctx *ctx)                                                             \
{                                                                                          \
    DISPATCH(ctx->isa, lstm_bwd_seq, SUF, (dx, dW_ih, dW_hh, db_ih, db_hh, dh0, dc0,       \
             trace_dh, trace_dc, ws, dy, dhT, dcT, x, W_ih, W_hh, hs, cs, gates, lengths,   \
             reverse, T, N, I, H, ctx))                                                     \
}                                                                                          \
int fastrnn_gru_fwd_seq_##SUF(REAL *y, REAL *hT, REAL *hs, REAL *gates, REAL *aux,         \
        REAL *ws, const REAL *x, const REAL *h0, const REAL *W_ih, const REAL *W_hh,        \
        const REAL *b_ih, const REAL *b_hh, const int64_t *lengths, int reverse,            \
        int reset_after, int T, int N, int I, int H, const fastrnn_ctx *ctx)                \
{                                                                                          \
    DISPATCH(ctx->isa, gru_fwd_seq, SUF, (y, hT, hs, gates, aux, ws, x, h0, W_ih, W_hh,    \
             b_ih, b_hh, lengths, reverse, reset_after, T, N, I, H, ctx))                   \
}                                                                                          \
int fastrnn_gru_bwd_seq_##SUF(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,             \
        REAL *db_hh, REAL *dh0, REAL *trace_dh, REAL *ws, const REAL *dy, const REAL *dhT,  \
        const REAL *x, const REAL *W_ih, const REAL *W_hh, const REAL *hs,                  \
        const REAL *gates, const REAL *aux, const int64_t *lengths, int reverse,            \
        int reset_after, int T, int N, int I, int H, const fastrnn_ctx *ctx)                \
{                                                                                          \
    DISPATCH(ctx->isa, gru_bwd_seq, SUF, (dx, dW_ih, dW_hh, db_ih, db_hh, dh0, trace_dh,   \
             ws, dy, dhT, x, W_ih, W_hh, hs, gates, aux, lengths, reverse, reset_after,     \
             T, N, I, H, ctx))                                                              \
}                                                                                          \
int fastrnn_vmath_##SUF(REAL *out, const REAL *in, size_t n, int f, int isa)               \
{                                                                                          \
    DISPATCH(isa, vmath, SUF, (out, in, n, f))                                             \
}                                                                                          \
int fastrnn_rgemm_##SUF(REAL *C, int ldc, REAL *ws, const REAL *A, int lda,                \
        const REAL *B, int trans_b, int beta, int M, int Nc, int K, int isa)                \
{                                                                                          \
    DISPATCH(isa, rgemm, SUF, (C, ldc, ws, A, lda, B, trans_b, beta, M, Nc, K))            \
}

DEFINE_TYPE(f32, float)
DEFINE_TYPE(f64, double)

size_t fastrnn_rgemm_ws(int K, int Nc) { return 16 + pack(K, Nc); }
