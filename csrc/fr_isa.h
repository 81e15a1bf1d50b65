/* Private: the per-instruction-set kernels behind fastrnn.h's entry points.
 *
 * Each isa_*.c file compiles fr_impl.h for float and double with its own
 * target options and exports fr_<name>_<f32|f64>_<isa>; dispatch.c picks one
 * per call from fastrnn_ctx.isa (default: the best this CPU runs). The
 * arguments are those of the fastrnn_* function of the same name.
 */
#ifndef FR_ISA_H
#define FR_ISA_H

#include "fastrnn.h"

/* AVX2/AVX-512 variants exist on x86-64 with GCC or Clang (target pragmas,
 * __builtin_cpu_supports); elsewhere only the baseline build is compiled. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FR_X86_DISPATCH 1
#else
#define FR_X86_DISPATCH 0
#endif

#define FR_DECLARE_TYPE(SUF, REAL, ISA)                                                    \
    int fr_srn_fwd_seq_##SUF##_##ISA(REAL *y, REAL *hT, REAL *hs, REAL *acts, REAL *ws,     \
        const REAL *x, const REAL *h0, const REAL *W_ih, const REAL *W_hh,                  \
        const REAL *b_ih, const REAL *b_hh, const int64_t *lengths, int nl, int residual,   \
        int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx);                   \
    int fr_srn_bwd_seq_##SUF##_##ISA(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,       \
        REAL *db_hh, REAL *dh0, REAL *trace_dh, REAL *ws, const REAL *dy, const REAL *dhT,  \
        const REAL *x, const REAL *W_ih, const REAL *W_hh, const REAL *hs,                  \
        const REAL *acts, const int64_t *lengths, int nl, int residual, int reverse,        \
        int T, int N, int I, int H, const fastrnn_ctx *ctx);                                \
    int fr_lstm_fwd_seq_##SUF##_##ISA(REAL *y, REAL *hT, REAL *cT, REAL *hs, REAL *cs,      \
        REAL *gates, REAL *ws, const REAL *x, const REAL *h0, const REAL *c0,               \
        const REAL *W_ih, const REAL *W_hh, const REAL *b_ih, const REAL *b_hh,             \
        const int64_t *lengths, int reverse, int T, int N, int I, int H,                    \
        const fastrnn_ctx *ctx);                                                            \
    int fr_lstm_bwd_seq_##SUF##_##ISA(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,      \
        REAL *db_hh, REAL *dh0, REAL *dc0, REAL *trace_dh, REAL *trace_dc, REAL *ws,        \
        const REAL *dy, const REAL *dhT, const REAL *dcT, const REAL *x, const REAL *W_ih,  \
        const REAL *W_hh, const REAL *hs, const REAL *cs, const REAL *gates,                \
        const int64_t *lengths, int reverse, int T, int N, int I, int H,                    \
        const fastrnn_ctx *ctx);                                                            \
    int fr_gru_fwd_seq_##SUF##_##ISA(REAL *y, REAL *hT, REAL *hs, REAL *gates, REAL *aux,   \
        REAL *ws, const REAL *x, const REAL *h0, const REAL *W_ih, const REAL *W_hh,        \
        const REAL *b_ih, const REAL *b_hh, const int64_t *lengths, int reverse,            \
        int reset_after, int T, int N, int I, int H, const fastrnn_ctx *ctx);               \
    int fr_gru_bwd_seq_##SUF##_##ISA(REAL *dx, REAL *dW_ih, REAL *dW_hh, REAL *db_ih,       \
        REAL *db_hh, REAL *dh0, REAL *trace_dh, REAL *ws, const REAL *dy, const REAL *dhT,  \
        const REAL *x, const REAL *W_ih, const REAL *W_hh, const REAL *hs,                  \
        const REAL *gates, const REAL *aux, const int64_t *lengths, int reverse,            \
        int reset_after, int T, int N, int I, int H, const fastrnn_ctx *ctx);               \
    int fr_vmath_##SUF##_##ISA(REAL *out, const REAL *in, size_t n, int f);                 \
    int fr_rgemm_##SUF##_##ISA(REAL *C, int ldc, REAL *ws, const REAL *A, int lda,          \
        const REAL *B, int trans_b, int beta, int M, int Nc, int K);

#define FR_DECLARE_ISA(ISA) FR_DECLARE_TYPE(f32, float, ISA) FR_DECLARE_TYPE(f64, double, ISA)

FR_DECLARE_ISA(generic)
#if FR_X86_DISPATCH
FR_DECLARE_ISA(avx2)
FR_DECLARE_ISA(avx512)
#endif

#endif
