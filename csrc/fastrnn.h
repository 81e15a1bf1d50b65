/* fastrnn's C engine: every exported prototype, and the rules they share.
 *
 * Plain C99 (plus GCC/Clang vector extensions inside the .c files), no
 * Python.h: kernels take raw contiguous row-major buffers and sizes, return a
 * status code, and never print, exit or allocate. Memory is the caller's:
 * every output, cache and workspace is allocated by the Cython layer with
 * NumPy, sized by the *_ws() functions below.
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
 *   - Gradient contract: dW_ih, dW_hh, db_ih, db_hh ACCUMULATE (+=, BLAS
 *     beta = 1), so several backward calls sum; dx, dh0, dc0 are OVERWRITTEN.
 *   - trace_dh / trace_dc: NULL, or [T, N, H] filled with the total gradient
 *     reaching the state written at each step, dL/dh_t (dL/dc_t), by time.
 *   - Inputs (const) are never written. Outputs never alias inputs.
 *   - Results are deterministic: the same call on the same machine gives
 *     bit-identical results (no threads here; BLAS threads split outputs).
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

#define FASTRNN_OK 0
#define FASTRNN_EINVAL (-1)   /* a size or flag out of range */
#define FASTRNN_EISA (-2)     /* the requested instruction set is not available */

/* SRN nonlinearities */
#define FASTRNN_TANH 0
#define FASTRNN_RELU 1
#define FASTRNN_SIGMOID 2

/* Instruction-set levels of the compiled kernels (fastrnn_ctx.isa). */
#define FASTRNN_ISA_AUTO 0     /* the best one this CPU supports */
#define FASTRNN_ISA_GENERIC 1  /* the build's baseline (SSE2 on x86-64) */
#define FASTRNN_ISA_AVX2 2     /* AVX2 + FMA */
#define FASTRNN_ISA_AVX512 3   /* AVX-512 F/DQ/VL/BW + FMA */

/* Steps per input-projection chunk when no cache is kept (train = 0): the
 * inference working memory is O(FASTRNN_CHUNK_STEPS * N * G * H), whatever T. */
#define FASTRNN_CHUNK_STEPS 32

/* Column-major GEMM with the reference BLAS signature, as exported by
 * scipy.linalg.cython_blas: C = alpha * op(A) op(B) + beta * C. */
typedef void (*fastrnn_sgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                                 float *alpha, float *a, int *lda, float *b, int *ldb,
                                 float *beta, float *c, int *ldc);
typedef void (*fastrnn_dgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                                 double *alpha, double *a, int *lda, double *b, int *ldb,
                                 double *beta, double *c, int *ldc);

/* What every kernel needs besides its buffers: the BLAS to use for the
 * whole-sequence products, and the instruction set for the per-step work. */
typedef struct fastrnn_ctx {
    fastrnn_sgemm_fn sgemm;
    fastrnn_dgemm_fn dgemm;
    int isa;           /* FASTRNN_ISA_*; AUTO picks fastrnn_best_isa() */
    int blas_threads;  /* threads the BLAS runs with: above 1, every whole-sequence
                          product goes to it (the kernels' own are single-threaded) */
} fastrnn_ctx;

/* Version of the kernel ABI, checked by the Cython layer at import. */
int fastrnn_abi_version(void);

/* The best instruction set this CPU and this build support (FASTRNN_ISA_*). */
int fastrnn_best_isa(void);
/* 1 if `isa` can run here, else 0. */
int fastrnn_isa_available(int isa);

/* Workspace sizes in ELEMENTS (of the kernel's dtype; the same count serves
 * float and double), for the matching *_fwd_seq / *_bwd_seq call. They depend
 * on T only through the cached-gradient buffers of the backward; a forward with
 * train = 0 needs O(N*G*H + G*H*H) whatever T is. */
size_t fastrnn_srn_fwd_ws(int T, int N, int I, int H, int train);
size_t fastrnn_srn_bwd_ws(int T, int N, int I, int H);
size_t fastrnn_lstm_fwd_ws(int T, int N, int I, int H, int train);
size_t fastrnn_lstm_bwd_ws(int T, int N, int I, int H);
size_t fastrnn_gru_fwd_ws(int T, int N, int I, int H, int train, int reset_after);
size_t fastrnn_gru_bwd_ws(int T, int N, int I, int H, int reset_after);

/* ---------------------------------------------------------------------------
 * SRN (Elman):  z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  a_t = f(z_t),
 *               h_t = a_t            (plain)
 *               h_t = h_{t-1} + a_t  (residual)
 * f = tanh, relu or sigmoid (FASTRNN_TANH/RELU/SIGMOID).
 *
 * fwd:  y [T,N,H] out, exactly 0 at inactive rows; hT [N,H] out, the final state.
 *       hs [T+1,N,H] cache out or NULL: the state sequence (train only).
 *       acts [T,N,H] cache out or NULL: f(z_t) (train and residual only).
 *       ws: fastrnn_srn_fwd_ws(T, N, I, H, hs != NULL) elements, scratch.
 *       x [T,N,I] (zero at inactive rows), h0 [N,H]; W_ih [H,I], W_hh [H,H],
 *       b_ih, b_hh [H].
 * bwd:  dx [T,N,I] out; dW_ih [H,I], dW_hh [H,H], db_ih, db_hh [H] in/out (+=);
 *       dh0 [N,H] out; trace_dh [T,N,H] out or NULL.
 *       ws: fastrnn_srn_bwd_ws(T, N, I, H) elements, scratch.
 *       dy [T,N,H], dhT [N,H]; x, hs, acts (NULL unless residual), W_ih, W_hh
 *       and the flags exactly as given to (or produced by) the forward.
 * ------------------------------------------------------------------------- */
int fastrnn_srn_fwd_seq_f32(float *y, float *hT, float *hs, float *acts, float *ws,
                            const float *x, const float *h0,
                            const float *W_ih, const float *W_hh,
                            const float *b_ih, const float *b_hh,
                            const int64_t *lengths, int nonlinearity, int residual,
                            int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_srn_fwd_seq_f64(double *y, double *hT, double *hs, double *acts, double *ws,
                            const double *x, const double *h0,
                            const double *W_ih, const double *W_hh,
                            const double *b_ih, const double *b_hh,
                            const int64_t *lengths, int nonlinearity, int residual,
                            int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_srn_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih, float *db_hh,
                            float *dh0, float *trace_dh, float *ws,
                            const float *dy, const float *dhT, const float *x,
                            const float *W_ih, const float *W_hh,
                            const float *hs, const float *acts,
                            const int64_t *lengths, int nonlinearity, int residual,
                            int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_srn_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                            double *db_hh, double *dh0, double *trace_dh, double *ws,
                            const double *dy, const double *dhT, const double *x,
                            const double *W_ih, const double *W_hh,
                            const double *hs, const double *acts,
                            const int64_t *lengths, int nonlinearity, int residual,
                            int reverse, int T, int N, int I, int H, const fastrnn_ctx *ctx);

/* ---------------------------------------------------------------------------
 * LSTM, gates i, f, g, o (PyTorch's order); z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh:
 *   i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
 *   c_t = f * c_{t-1} + i * g,         h_t = o * tanh(c_t)
 *
 * fwd:  y [T,N,H] out; hT, cT [N,H] out.
 *       hs, cs [T+1,N,H] and gates [T,N,4H] (i, f, g, o after their
 *       nonlinearities) cache out, or all three NULL (inference).
 *       ws: fastrnn_lstm_fwd_ws(T, N, I, H, hs != NULL) elements.
 *       x [T,N,I], h0, c0 [N,H]; W_ih [4H,I], W_hh [4H,H], b_ih, b_hh [4H].
 * bwd:  dx [T,N,I] out; dW_ih, dW_hh, db_ih, db_hh in/out (+=); dh0, dc0 [N,H]
 *       out; trace_dh, trace_dc [T,N,H] out or NULL (independently).
 *       ws: fastrnn_lstm_bwd_ws(T, N, I, H) elements.
 *       dy [T,N,H], dhT, dcT [N,H]; x, W_ih, W_hh, hs, cs, gates as above.
 * ------------------------------------------------------------------------- */
int fastrnn_lstm_fwd_seq_f32(float *y, float *hT, float *cT, float *hs, float *cs,
                             float *gates, float *ws,
                             const float *x, const float *h0, const float *c0,
                             const float *W_ih, const float *W_hh,
                             const float *b_ih, const float *b_hh,
                             const int64_t *lengths, int reverse,
                             int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_lstm_fwd_seq_f64(double *y, double *hT, double *cT, double *hs, double *cs,
                             double *gates, double *ws,
                             const double *x, const double *h0, const double *c0,
                             const double *W_ih, const double *W_hh,
                             const double *b_ih, const double *b_hh,
                             const int64_t *lengths, int reverse,
                             int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_lstm_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih, float *db_hh,
                             float *dh0, float *dc0, float *trace_dh, float *trace_dc,
                             float *ws, const float *dy, const float *dhT, const float *dcT,
                             const float *x, const float *W_ih, const float *W_hh,
                             const float *hs, const float *cs, const float *gates,
                             const int64_t *lengths, int reverse,
                             int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_lstm_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                             double *db_hh, double *dh0, double *dc0, double *trace_dh,
                             double *trace_dc, double *ws, const double *dy,
                             const double *dhT, const double *dcT,
                             const double *x, const double *W_ih, const double *W_hh,
                             const double *hs, const double *cs, const double *gates,
                             const int64_t *lengths, int reverse,
                             int T, int N, int I, int H, const fastrnn_ctx *ctx);

/* ---------------------------------------------------------------------------
 * GRU, gates r, z, n (PyTorch's order), h_t = (1 - z) * n + z * h_{t-1}:
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   reset_after != 0 (PyTorch/cuDNN): n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   reset_after == 0 (Cho 2014):      n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
 *
 * fwd:  y [T,N,H] out; hT [N,H] out.
 *       hs [T+1,N,H], gates [T,N,3H] (r, z, n after their nonlinearities) and
 *       aux [T,N,H] cache out, or all NULL (inference). aux holds
 *       W_hn h_{t-1} + b_hn (reset_after) or r * h_{t-1} (reset_before).
 *       ws: fastrnn_gru_fwd_ws(T, N, I, H, hs != NULL, reset_after) elements.
 *       x [T,N,I], h0 [N,H]; W_ih [3H,I], W_hh [3H,H], b_ih, b_hh [3H].
 * bwd:  dx [T,N,I] out; dW_ih, dW_hh, db_ih, db_hh in/out (+=); dh0 [N,H] out;
 *       trace_dh [T,N,H] out or NULL.
 *       ws: fastrnn_gru_bwd_ws(T, N, I, H, reset_after) elements.
 *       dy [T,N,H], dhT [N,H]; x, W_ih, W_hh, hs, gates, aux as above.
 * ------------------------------------------------------------------------- */
int fastrnn_gru_fwd_seq_f32(float *y, float *hT, float *hs, float *gates, float *aux,
                            float *ws, const float *x, const float *h0,
                            const float *W_ih, const float *W_hh,
                            const float *b_ih, const float *b_hh,
                            const int64_t *lengths, int reverse, int reset_after,
                            int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_gru_fwd_seq_f64(double *y, double *hT, double *hs, double *gates, double *aux,
                            double *ws, const double *x, const double *h0,
                            const double *W_ih, const double *W_hh,
                            const double *b_ih, const double *b_hh,
                            const int64_t *lengths, int reverse, int reset_after,
                            int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_gru_bwd_seq_f32(float *dx, float *dW_ih, float *dW_hh, float *db_ih, float *db_hh,
                            float *dh0, float *trace_dh, float *ws,
                            const float *dy, const float *dhT,
                            const float *x, const float *W_ih, const float *W_hh,
                            const float *hs, const float *gates, const float *aux,
                            const int64_t *lengths, int reverse, int reset_after,
                            int T, int N, int I, int H, const fastrnn_ctx *ctx);
int fastrnn_gru_bwd_seq_f64(double *dx, double *dW_ih, double *dW_hh, double *db_ih,
                            double *db_hh, double *dh0, double *trace_dh, double *ws,
                            const double *dy, const double *dhT,
                            const double *x, const double *W_ih, const double *W_hh,
                            const double *hs, const double *gates, const double *aux,
                            const int64_t *lengths, int reverse, int reset_after,
                            int T, int N, int I, int H, const fastrnn_ctx *ctx);

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
