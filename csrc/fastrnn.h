/* fastrnn's C engine: every exported prototype, and the rules they share.
 *
 * Plain C99 (plus GCC/Clang vector extensions inside the .c files), no
 * Python.h: kernels take raw contiguous row-major buffers and sizes, return a
 * status code, and never print, exit or allocate. Memory is the caller's:
 * every output, cache and workspace is allocated by the Cython layer with
 * NumPy, the workspace sized by fastrnn_workspace_size().
 *
 * Dimensions (the same letters everywhere):
 *   T time steps, N sequences (batch), I input features, H hidden units,
 *   G gates (1 SRN; 4 LSTM, blocks i, f, g, o; 3 GRU, blocks r, z, n), GH = G*H.
 *
 * Shared conventions
 *   - Every buffer is C-contiguous (row-major) with exactly the shape given.
 *   - The time loop runs t = 0..T-1, or T-1..0 when `reverse` is nonzero.
 *   - State sequences hs/cs are [T+1, N, H] indexed by time: the forward
 *     direction reads slot t and writes slot t+1 (slot 0 holds h0), the reverse
 *     direction reads slot t+1 and writes slot t (slot T holds h0).
 *   - `lengths`: NULL, or [N] with 1 <= lengths[n] <= T; row n is active at
 *     step t iff t < lengths[n]. An inactive row keeps its state, outputs
 *     exactly 0, gets zero gate gradients and passes dh/dc through unchanged.
 *     Rows are combined only by selects, never multiplied by a mask, so a NaN
 *     in one sequence never reaches another.
 *   - Gradient contract: dW_ih, dW_hh, db_ih, db_hh ACCUMULATE (+=), so
 *     several backward calls sum; dx, dh0, dc0 are OVERWRITTEN.
 *   - trace_dh / trace_dc: NULL, or [T, N, H] filled with the total gradient
 *     reaching the state written at each step, dL/dh_t (dL/dc_t), by time.
 *   - Inputs (const) are never written. Outputs never alias inputs.
 *   - Results are deterministic: the same call on the same machine gives
 *     bit-identical results, for every thread count (each output element is
 *     computed by one thread, in an order that does not depend on the split).
 *
 * Numerics: reference-exact algorithms (the same formulas, in the same order,
 * as src/fastrnn/core/reference.py), compiled without -ffast-math. exp, tanh and
 * the logistic function are our own vectorized implementations, accurate to a
 * few ulp (see fr_simd.h); FMA is used only inside the matrix products.
 */
#ifndef FASTRNN_H
#define FASTRNN_H

#include <stddef.h>
#include <stdint.h>

/* The kernel ABI: bumped whenever a struct below or an entry point changes.
 * The Cython layer compares it with what the compiled C reports. */
#define FASTRNN_ABI_VERSION 7

/* Status codes */
#define FASTRNN_OK 0
#define FASTRNN_EINVAL (-1)   /* a size, flag, pointer or workspace out of range */
#define FASTRNN_EISA (-2)     /* the requested instruction set is not available */
#define FASTRNN_EINTR (-3)    /* stopped at a step boundary: *ctx->interrupt was set */

/* Cells (fastrnn_rnn.cell) and passes */
#define FASTRNN_SRN 0
#define FASTRNN_LSTM 1
#define FASTRNN_GRU 2
#define FASTRNN_FORWARD 0
#define FASTRNN_BACKWARD 1

/* SRN nonlinearities */
#define FASTRNN_TANH 0
#define FASTRNN_RELU 1
#define FASTRNN_SIGMOID 2

/* Instruction-set levels of the compiled kernels (fastrnn_ctx.isa). */
#define FASTRNN_ISA_AUTO 0     /* the best one this CPU supports */
#define FASTRNN_ISA_GENERIC 1  /* the build's baseline (SSE2 on x86-64) */
#define FASTRNN_ISA_AVX2 2     /* AVX2 + FMA */
#define FASTRNN_ISA_AVX512 3   /* AVX-512 F/DQ/VL/BW + FMA */

/* Steps per input-projection chunk when no cache is kept (inference): the
 * working memory is O(FASTRNN_CHUNK_STEPS * N * G * H), whatever T. */
#define FASTRNN_CHUNK_STEPS 32

/* What every call needs besides its buffers. */
typedef struct fastrnn_ctx {
    int isa;                    /* FASTRNN_ISA_*; AUTO picks fastrnn_best_isa() */
    int num_threads;            /* threads for this call; 0: fastrnn_get_num_threads() */
    volatile int *interrupt;    /* NULL, or a flag read at every step boundary: when
                                   nonzero the kernel stops and returns FASTRNN_EINTR,
                                   before any parameter gradient is touched */
} fastrnn_ctx;

/* The engine's own threads (pool.c): the process-wide thread count every call
 * with ctx->num_threads == 0 uses (the calling thread included; 1 = no
 * workers). Workers start on first use, spin briefly between jobs and then
 * sleep; a child process after fork() starts its own. Results are the same
 * bits for every thread count. set returns the previous count (n < 1 is
 * ignored); pool_size is the number of workers started so far. */
int fastrnn_set_num_threads(int n);
int fastrnn_get_num_threads(void);
int fastrnn_pool_size(void);
/* How many times a call found its workers stalled (a busy machine) and went on,
 * and ran the calls of the next few ms (up to a quarter second while stalls
 * recur), on the calling thread alone. */
int fastrnn_pool_stalls(void);

/* ---------------------------------------------------------------------------
 * One recurrence: one layer, one direction, one cell. Every kernel takes this
 * description and the context; the fields a pass does not use are ignored
 * (NULL by convention). Buffers are C-contiguous, of the call's element type
 * (float for *_f32, double for *_f64), with exactly the shapes given; GH = G*H.
 *
 *   the recurrence  cell, nonlinearity (SRN), residual (SRN), reset_after (GRU),
 *                   reverse, steps T, batch N, input_size I, hidden_size H,
 *                   lengths ([N] or NULL, 1 <= lengths[n] <= T)
 *   parameters      W_ih [GH,I], W_hh [GH,H], b_ih [GH], b_hh [GH] (zeros for no bias);
 *                   a forward may take them packed instead (packed, packed_size)
 *   forward in      x [T,N,I] (zero at inactive rows), h0 [N,H], c0 [N,H] (LSTM)
 *   forward out     y [T,N,H] (exactly 0 at inactive rows), hT [N,H], cT [N,H] (LSTM);
 *                   hT may be h0 and cT c0 (the state updated in place: a stream)
 *   training cache  written by a forward with hs != NULL, read by the backward:
 *                   hs [T+1,N,H]; cs [T+1,N,H] (LSTM); gates [T,N,GH] (LSTM, GRU:
 *                   gates after their nonlinearities); aux [T,N,H] (residual SRN:
 *                   f(z_t); GRU reset_after: W_hn h_{t-1} + b_hn; reset_before:
 *                   r * h_{t-1}); the others NULL. All NULL: inference.
 *   backward in     dy [T,N,H], dhT [N,H], dcT [N,H] (LSTM), plus the forward's
 *                   x, parameters and cache
 *   backward out    dx [T,N,I], dh0 [N,H], dc0 [N,H] (LSTM): OVERWRITTEN;
 *                   dW_ih, dW_hh, db_ih, db_hh: ACCUMULATED (+=);
 *                   trace_dh, trace_dc [T,N,H] or NULL: dL/dh_t (dL/dc_t) by time
 *   masks           (both passes, the backward given the forward's) each NULL = off,
 *                   given already scaled (the kernels draw nothing); with all
 *                   four NULL a pass runs exactly as without them:
 *                   mask_x [N,I]: the input enters as x_t * mask_x at every step
 *                     (dW_ih sees the masked input, dx is multiplied by it);
 *                   mask_h [N,H] ([N,P] with a projection, see below):
 *                     h_{t-1} * mask_h replaces h_{t-1} in every
 *                     recurrent product (SRN W_hh h; LSTM all gates; GRU r, z and
 *                     W_hn h (reset_after) or W_hn (r * h_{t-1} * mask_h)
 *                     (reset_before)); the direct paths (residual h_{t-1}, GRU
 *                     z h_{t-1}, LSTM c) are not masked;
 *                   zone_h, zone_c [T,N,H] (LSTM, GRU; zone_c LSTM only; zone_h
 *                     [T,N,P] with a projection):
 *                     zoneout keep weights by time: h_t = d h_{t-1} + (1-d) h~_t
 *                     with h~_t the cell's usual new state; LSTM: c_t = d_c c_{t-1}
 *                     + (1-d_c) c~_t and h~_t = o tanh(c~_t) with the unzoned
 *                     c~_t = f c_{t-1} + i g (Krueger et al. 2016). Inactive rows
 *                     keep their state and output 0 whatever the masks.
 *   scratch         ws: ws_size elements, at least fastrnn_workspace_size(); the
 *                   kernel returns FASTRNN_EINVAL, touching nothing, if it is smaller
 *   projection      LSTM only (PyTorch's proj_size): proj_size P, 0 < P < H, and
 *                   W_hr [P,H]; h_t = (o tanh(c_t)) W_hr^T, so every h-shaped buffer
 *                   is [.., P] instead of [.., H]: h0, hT, y, hs, dy, dhT, dh0,
 *                   trace_dh; W_hh [4H,P]; c0, cT, cs, dcT, dc0, trace_dc stay
 *                   [.., H]. The training cache adds aux [T,N,H] = o tanh(c_t) (0 at
 *                   inactive rows); the backward adds into dW_hr [P,H]. proj_size 0:
 *                   no projection, W_hr and dW_hr ignored (NULL by convention).
 *                   Masks with a projection: mask_x [N,I]; mask_h [N,P] (h_{t-1} *
 *                   mask_h in W_hh's product); zone_c [T,N,H] as the LSTM's; zone_h
 *                   [T,N,P]: h_t = d_h h_{t-1} + (1-d_h) h~_t with the projected
 *                   h~_t = (o tanh(c~_t)) W_hr^T of the unzoned c~_t (aux holds
 *                   o tanh(c~_t)); dW_hr gets dL/dh_t (1-d_h) times it.
 * ------------------------------------------------------------------------- */
typedef struct fastrnn_rnn {
    int cell, nonlinearity, residual, reset_after, reverse;
    int steps, batch, input_size, hidden_size;   /* T, N, I, H */
    const int64_t *lengths;
    const void *W_ih, *W_hh, *b_ih, *b_hh;
    const void *packed;         /* forward only: NULL, or the weights as fastrnn_pack_*() */
    size_t packed_size;         /* packed them (then W_ih .. b_hh are not read), elements */
    const void *x, *h0, *c0;
    void *y, *hT, *cT;
    void *hs, *cs, *gates, *aux;
    const void *dy, *dhT, *dcT;
    void *dx, *dh0, *dc0;
    void *dW_ih, *dW_hh, *db_ih, *db_hh;
    void *trace_dh, *trace_dc;
    int proj_size;              /* P: 0, or the LSTM's projection, 0 < P < H (see below) */
    const void *W_hr;           /* [P,H] with proj_size (read by pack and backward too) */
    void *dW_hr;                /* [P,H] backward, ACCUMULATED (+=), with proj_size */
    const void *mask_x, *mask_h, *zone_h, *zone_c;  /* variational dropout, zoneout */
    void *ws;
    size_t ws_size;
} fastrnn_rnn;

/* Version of the kernel ABI compiled in (FASTRNN_ABI_VERSION at build time). */
int fastrnn_abi_version(void);

/* The best instruction set this CPU and this build support (FASTRNN_ISA_*). */
int fastrnn_best_isa(void);
/* 1 if `isa` can run here, else 0. */
int fastrnn_isa_available(int isa);

/* Gates per cell: 1 (SRN), 4 (LSTM, blocks i, f, g, o), 3 (GRU, blocks r, z, n);
 * 0 for an unknown cell. */
int fastrnn_gates(int cell);

/* The workspace, in elements, that `pass` (FASTRNN_FORWARD or FASTRNN_BACKWARD)
 * of the recurrence `a` needs with this context (the same count serves float
 * and double); 0 if `a` is invalid. Computed by the kernel's own carve plan,
 * so it cannot disagree with what the kernel uses. A forward with no cache
 * needs O(N*G*H + G*H*(H+I)) whatever T is. */
size_t fastrnn_workspace_size(const fastrnn_rnn *a, int pass, const fastrnn_ctx *ctx);

/* Packed weights: the forward's weights in the layout its kernels read, made
 * once and reused by every later forward of the same weights (a stream, or
 * inference while the parameters are unchanged). fastrnn_packed_size: the
 * elements the buffer needs for the cell and sizes of `a` with this context's
 * instruction set (0 if `a` is invalid); fastrnn_pack_*: fill it from a's
 * W_ih, W_hh, b_ih, b_hh (and W_hr with proj_size; the buffer then holds the
 * projection too). The buffer records what it was packed for; a
 * forward given a buffer packed for another cell, size, element type or
 * instruction set returns FASTRNN_EINVAL. */
size_t fastrnn_packed_size(const fastrnn_rnn *a, const fastrnn_ctx *ctx);
int fastrnn_pack_f32(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx);
int fastrnn_pack_f64(const fastrnn_rnn *a, void *packed, size_t size, const fastrnn_ctx *ctx);

/* The passes, on `count` recurrences at once (1, or 2: the directions of a
 * bidirectional layer, which then run concurrently on halves of the threads).
 * Forward:
 *   SRN   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  a_t = f(z_t),
 *         h_t = a_t (plain) or h_{t-1} + a_t (residual), f = tanh, relu, sigmoid
 *   LSTM  z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, blocks i, f, g, o:
 *         i, f, o = sigmoid, g = tanh;  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
 *         (proj_size P > 0: h_t = (o tanh(c_t)) W_hr^T, [N,P])
 *   GRU   r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z}),
 *         reset_after:  n = tanh(W_in x + b_in + r (W_hn h + b_hn))   (PyTorch/cuDNN)
 *         reset_before: n = tanh(W_in x + b_in + W_hn (r h) + b_hn)   (Cho 2014)
 *         h_t = (1 - z) n + z h_{t-1}
 * Backward: BPTT through the forward that produced the cache (the formulas
 * are stated above each kernel in fr_impl.h). Both return FASTRNN_OK, or a
 * negative status having written nothing a caller may rely on. */
int fastrnn_forward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx);
int fastrnn_forward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx);
int fastrnn_backward_f32(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx);
int fastrnn_backward_f64(const fastrnn_rnn *a, int count, const fastrnn_ctx *ctx);

/* Ctrl-C during a long call (interrupt.c). fastrnn_sigint_watch(flag): until
 * fastrnn_sigint_unwatch(), SIGINT sets *flag (give the same flag to the
 * kernels as ctx->interrupt) and is passed on to the handler installed
 * before. Returns 1 if now watching; 0 if SIGINT is ignored or has its
 * default action, or another watch is active (then nothing changed). One
 * watch at a time, made and ended by the same thread. */
int fastrnn_sigint_watch(volatile int *flag);
void fastrnn_sigint_unwatch(void);

/* ---------------------------------------------------------------------------
 * Test hooks (exposed to pytest through the Cython layer).
 *
 * fastrnn_vmath_*: out[k] = f(in[k]) for k < n with the kernels' vectorized
 *   f: 0 exp, 1 tanh, 2 sigmoid, 3 relu. Returns FASTRNN_EINVAL for another f.
 * fastrnn_rgemm_*: C [M,Nc] (ldc) = (beta ? C : 0) + A [M,K] (lda) . B, where
 *   B [K,Nc] is given transposed (Bt [Nc,K], trans_b != 0) or as is (B [K,Nc]);
 *   the per-step product of the kernels (packed B, register-blocked).
 *   ws: fastrnn_rgemm_ws(K, Nc) elements.
 * ------------------------------------------------------------------------- */
int fastrnn_vmath_f32(float *out, const float *in, size_t n, int f, int isa);
int fastrnn_vmath_f64(double *out, const double *in, size_t n, int f, int isa);
size_t fastrnn_rgemm_ws(int K, int Nc);
int fastrnn_rgemm_f32(float *C, int ldc, float *ws, const float *A, int lda, const float *B,
                      int trans_b, int beta, int M, int Nc, int K, int isa);
int fastrnn_rgemm_f64(double *C, int ldc, double *ws, const double *A, int lda,
                      const double *B, int trans_b, int beta, int M, int Nc, int K, int isa);

#endif
