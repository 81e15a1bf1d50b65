/* Private: the per-instruction-set kernels behind fastrnn.h's entry points.
 *
 * Each isa_*.c file compiles fr_impl.h for float and double with its own
 * target options and exports one table of kernels per element type,
 * fr_kernels_<f32|f64>_<isa>; dispatch.c picks a table per call from
 * fastrnn_ctx.isa (default: the best this CPU runs).
 */
#ifndef FR_ISA_H
#define FR_ISA_H

#include "fastrnn.h"
#include "fr_pool.h"

/* AVX2/AVX-512 variants exist on x86-64 with GCC or Clang (target pragmas,
 * __builtin_cpu_supports); elsewhere only the baseline build is compiled. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FR_X86_DISPATCH 1
#else
#define FR_X86_DISPATCH 0
#endif

/* Every pass of every cell has this one signature: the recurrence, the
 * context, the team of threads it runs on, and ws_needed: NULL to compute,
 * or where to store the workspace size (in elements) the pass needs,
 * computing nothing. */
typedef int (*fr_pass_fn)(const fastrnn_rnn *a, const fastrnn_ctx *ctx, const fr_team *team,
                          size_t *ws_needed);

/* One instruction set's kernels for one element type (buffers of that type
 * behind the void pointers). */
typedef struct fr_kernels {
    fr_pass_fn pass[2][3];  /* [FASTRNN_FORWARD, FASTRNN_BACKWARD][FASTRNN_SRN, _LSTM, _GRU] */
    /* the forward's weights packed once (fastrnn_pack_*); ws_needed: its size only */
    int (*pack)(const fastrnn_rnn *a, const fr_team *team, void *packed, size_t size,
                size_t *ws_needed);
    int (*vmath)(void *out, const void *in, size_t n, int f);
    int (*rgemm)(void *C, int ldc, void *ws, const void *A, int lda, const void *B,
                 int trans_b, int beta, int M, int Nc, int K);
    /* the LSTM with a projection (proj_size > 0): [FASTRNN_FORWARD, FASTRNN_BACKWARD] */
    fr_pass_fn lstmp[2];
} fr_kernels;

#define FR_DECLARE_ISA(ISA) \
    extern const fr_kernels fr_kernels_f32_##ISA, fr_kernels_f64_##ISA;

FR_DECLARE_ISA(generic)
#if FR_X86_DISPATCH
FR_DECLARE_ISA(avx2)
FR_DECLARE_ISA(avx512)
#endif

#endif
