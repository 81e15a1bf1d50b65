/* fastrnn.h's entry points: check the recurrence once, pick the instruction
 * set's kernel table, call the pass.
 *
 * What is checked here is what a kernel relies on and can see: sizes and
 * flags in range, the pointers its pass reads and writes present, products of
 * sizes within the kernels' 32-bit ints. Buffer lengths cannot be seen from
 * C: the Cython layer checks every array's shape against these sizes. A call
 * takes the process's threads as its team (fr_pool.h) for its duration.
 */
#include <limits.h>

#include "fr_isa.h"

int fastrnn_abi_version(void) { return FASTRNN_ABI_VERSION; }

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

int fastrnn_gates(int cell)
{
    switch (cell) {
        case FASTRNN_SRN: return 1;
        case FASTRNN_LSTM: return 4;
        case FASTRNN_GRU: return 3;
        default: return 0;
    }
}

/* The kernel table for `isa` and the element type, or NULL if `isa` cannot run here. */
static const fr_kernels *kernels(int isa, int f64)
{
    if (isa == FASTRNN_ISA_AUTO) isa = fastrnn_best_isa();
    else if (!fastrnn_isa_available(isa)) return NULL;
    switch (isa) {
#if FR_X86_DISPATCH
        case FASTRNN_ISA_AVX512: return f64 ? &fr_kernels_f64_avx512 : &fr_kernels_f32_avx512;
        case FASTRNN_ISA_AVX2: return f64 ? &fr_kernels_f64_avx2 : &fr_kernels_f32_avx2;
#endif
        case FASTRNN_ISA_GENERIC: return f64 ? &fr_kernels_f64_generic : &fr_kernels_f32_generic;
        default: return NULL;
    }
}

/* The projection's part of check(): proj_size 0, or an LSTM's 0 < P < H with
 * W_hr (unless packed), the cache's m_t (aux) and the backward's dW_hr. */
static int check_proj(const fastrnn_rnn *a, int pass)
{
    if (a->proj_size == 0) return FASTRNN_OK;
    if (a->cell != FASTRNN_LSTM || a->proj_size < 0 || a->proj_size >= a->hidden_size)
        return FASTRNN_EINVAL;
    if (pass == FASTRNN_FORWARD)
        return (a->packed || a->W_hr) && (!a->hs || a->aux) ? FASTRNN_OK : FASTRNN_EINVAL;
    return a->W_hr && a->aux && a->dW_hr ? FASTRNN_OK : FASTRNN_EINVAL;
}

/* FASTRNN_OK if `pass` of `a` can run, ignoring the workspace; else FASTRNN_EINVAL. */
static int check(const fastrnn_rnn *a, int pass)
{
    const int G = fastrnn_gates(a->cell);
    if (G == 0 || (pass != FASTRNN_FORWARD && pass != FASTRNN_BACKWARD)) return FASTRNN_EINVAL;
    if (a->steps < 1 || a->batch < 1 || a->input_size < 1 || a->hidden_size < 1)
        return FASTRNN_EINVAL;
    /* every product dimension and row stride is one of T*N, G*H, I, H */
    if ((long long)a->steps * a->batch > INT_MAX || (long long)G * a->hidden_size > INT_MAX)
        return FASTRNN_EINVAL;
    if (a->cell == FASTRNN_SRN && (a->nonlinearity < FASTRNN_TANH ||
                                   a->nonlinearity > FASTRNN_SIGMOID))
        return FASTRNN_EINVAL;
    const int lstm = a->cell == FASTRNN_LSTM, gru = a->cell == FASTRNN_GRU;
    const int residual = a->cell == FASTRNN_SRN && a->residual;
    if (!a->x) return FASTRNN_EINVAL;
    if (check_proj(a, pass) != FASTRNN_OK) return FASTRNN_EINVAL;
    /* zoneout: the LSTM's h and c, the GRU's h */
    if ((a->zone_h && !lstm && !gru) || (a->zone_c && !lstm)) return FASTRNN_EINVAL;
    if (pass == FASTRNN_FORWARD) {
        if (!a->packed && (!a->W_ih || !a->W_hh || !a->b_ih || !a->b_hh)) return FASTRNN_EINVAL;
        if (!a->h0 || !a->y || !a->hT) return FASTRNN_EINVAL;
        if (lstm && (!a->c0 || !a->cT)) return FASTRNN_EINVAL;
        if (a->hs) {  /* training: the cell's whole cache */
            if (lstm && (!a->cs || !a->gates)) return FASTRNN_EINVAL;
            if (gru && (!a->gates || !a->aux)) return FASTRNN_EINVAL;
            if (residual && !a->aux) return FASTRNN_EINVAL;
        }
        return FASTRNN_OK;
    }
    if (!a->W_ih || !a->W_hh || !a->dy || !a->dhT || !a->hs || !a->dx || !a->dh0)
        return FASTRNN_EINVAL;
    if (!a->dW_ih || !a->dW_hh || !a->db_ih || !a->db_hh) return FASTRNN_EINVAL;
    if (lstm && (!a->dcT || !a->dc0 || !a->cs || !a->gates)) return FASTRNN_EINVAL;
    if (gru && (!a->gates || !a->aux)) return FASTRNN_EINVAL;
    if (residual && !a->aux) return FASTRNN_EINVAL;
    return FASTRNN_OK;
}

/* --- threads ------------------------------------------------------------------ */

static int num_threads = 1;  /* atomic; the Python layer sets the default at import */

int fastrnn_set_num_threads(int n)
{
    int previous = __atomic_load_n(&num_threads, __ATOMIC_RELAXED);
    if (n >= 1) __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
    return previous;
}

int fastrnn_get_num_threads(void) { return __atomic_load_n(&num_threads, __ATOMIC_RELAXED); }

int fastrnn_pool_size(void) { return fr_pool_size(); }

int fastrnn_pool_stalls(void) { return fr_stalls(); }

/* --- the passes ----------------------------------------------------------------- */

typedef struct {
    const fr_kernels *k;
    const fastrnn_rnn *a;
    const fastrnn_ctx *ctx;
    int pass, status;
} call_t;

/* The kernel of `pass` for `a`: its cell's, or the projected LSTM's. */
static fr_pass_fn pass_of(const fr_kernels *k, const fastrnn_rnn *a, int pass)
{
    return a->proj_size > 0 ? k->lstmp[pass] : k->pass[pass][a->cell];
}

static void call_on_team(void *p, const fr_team *team)
{
    call_t *c = p;
    c->status = pass_of(c->k, c->a, c->pass)(c->a, c->ctx, team, NULL);
}

static int run(const fastrnn_rnn *a, int count, int pass, const fastrnn_ctx *ctx, int f64)
{
    if (!a || !ctx || count < 1 || count > 2) return FASTRNN_EINVAL;
    for (int i = 0; i < count; i++)
        if (check(&a[i], pass) != FASTRNN_OK) return FASTRNN_EINVAL;
    const fr_kernels *k = kernels(ctx->isa, f64);
    if (!k) return FASTRNN_EISA;
    fr_team team = fr_team_acquire(ctx->num_threads > 0 ? ctx->num_threads
                                                        : fastrnn_get_num_threads());
    call_t calls[2] = {{k, &a[0], ctx, pass, FASTRNN_OK},
                       {k, &a[count - 1], ctx, pass, FASTRNN_OK}};
    if (count == 1) call_on_team(&calls[0], &team);
    else fr_parallel_pair(&team, call_on_team, &calls[0], call_on_team, &calls[1]);
    fr_team_release(&team);
    return calls[0].status != FASTRNN_OK ? calls[0].status : calls[1].status;
}

size_t fastrnn_workspace_size(const fastrnn_rnn *a, int pass, const fastrnn_ctx *ctx)
{
    if (!a || !ctx || check(a, pass) != FASTRNN_OK) return 0;
    /* the plan is the same for both element types and every team: measure
     * with the f32 table, alone */
    const fr_kernels *k = kernels(ctx->isa, 0);
    fr_team alone = {0, 1, 0, 0};
    size_t need = 0;
    if (!k || pass_of(k, a, pass)(a, ctx, &alone, &need) != FASTRNN_OK) return 0;
    return need;
}

/* a check of what packing reads: the sizes and the weights */
static int check_pack(const fastrnn_rnn *a)
{
    const int G = fastrnn_gates(a->cell);
    if (G == 0 || a->input_size < 1 || a->hidden_size < 1) return FASTRNN_EINVAL;
    if ((long long)G * a->hidden_size > INT_MAX) return FASTRNN_EINVAL;
    if (!a->W_ih || !a->W_hh || !a->b_ih || !a->b_hh) return FASTRNN_EINVAL;
    if (a->proj_size != 0 && (a->cell != FASTRNN_LSTM || a->proj_size < 0 ||
                              a->proj_size >= a->hidden_size || !a->W_hr))
        return FASTRNN_EINVAL;
    return FASTRNN_OK;
}

size_t fastrnn_packed_size(const fastrnn_rnn *a, const fastrnn_ctx *ctx)
{
    const fr_kernels *k = ctx ? kernels(ctx->isa, 0) : NULL;
    fr_team alone = {0, 1, 0, 0};
    size_t need = 0;
    if (!a || !k || check_pack(a) != FASTRNN_OK || k->pack(a, &alone, NULL, 0, &need))
        return 0;
    return need;
}

static int pack(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx,
                int f64)
{
    if (!a || !ctx || check_pack(a) != FASTRNN_OK) return FASTRNN_EINVAL;
    const fr_kernels *k = kernels(ctx->isa, f64);
    if (!k) return FASTRNN_EISA;
    fr_team team = fr_team_acquire(ctx->num_threads > 0 ? ctx->num_threads
                                                        : fastrnn_get_num_threads());
    int status = k->pack(a, &team, packed, size, NULL);
    fr_team_release(&team);
    return status;
}

int fastrnn_pack_f32(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx)
{
    return pack(a, packed, size, ctx, 0);
}

int fastrnn_pack_f64(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx)
{
    return pack(a, packed, size, ctx, 1);
}

int fastrnn_forward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
{
    return run(a, count, FASTRNN_FORWARD, ctx, 0);
}

int fastrnn_forward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
{
    return run(a, count, FASTRNN_FORWARD, ctx, 1);
}

int fastrnn_backward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
{
    return run(a, count, FASTRNN_BACKWARD, ctx, 0);
}

int fastrnn_backward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx)
{
    return run(a, count, FASTRNN_BACKWARD, ctx, 1);
}

/* --- test hooks --------------------------------------------------------------- */

int fastrnn_vmath_f32(float *out, const float *in, size_t n, int f, int isa)
{
    const fr_kernels *k = kernels(isa, 0);
    return k ? k->vmath(out, in, n, f) : FASTRNN_EISA;
}

int fastrnn_vmath_f64(double *out, const double *in, size_t n, int f, int isa)
{
    const fr_kernels *k = kernels(isa, 1);
    return k ? k->vmath(out, in, n, f) : FASTRNN_EISA;
}

/* a packed copy of B [K, Nc] for any panel width up to 64 (see fr_impl.h),
 * plus 16 elements to align it */
size_t fastrnn_rgemm_ws(int K, int Nc)
{
    return 16 + (((size_t)(Nc + 64) * (size_t)K + 15) & ~(size_t)15);
}

int fastrnn_rgemm_f32(float *C, int ldc, float *ws, const float *A, int lda, const float *B,
                      int trans_b, int beta, int M, int Nc, int K, int isa)
{
    const fr_kernels *k = kernels(isa, 0);
    return k ? k->rgemm(C, ldc, ws, A, lda, B, trans_b, beta, M, Nc, K) : FASTRNN_EISA;
}

int fastrnn_rgemm_f64(double *C, int ldc, double *ws, const double *A, int lda,
                      const double *B, int trans_b, int beta, int M, int Nc, int K, int isa)
{
    const fr_kernels *k = kernels(isa, 1);
    return k ? k->rgemm(C, ldc, ws, A, lda, B, trans_b, beta, M, Nc, K) : FASTRNN_EISA;
}
