/* The kernels, written once for one element type and one instruction set.
 *
 * Included by fr_kernels.h twice per isa_*.c file, with
 *   REAL      float or double,
 *   SUF       f32 or f64 (the name suffix),
 *   FR_VI     the matching integer vector type (fr_vi32 or fr_vi64),
 *   FR_ISA    the instruction-set suffix (generic, avx2, avx512).
 * The parts, in order: the products (fr_gemm.h), the helpers every kernel
 * shares (below), the cells (fr_srn.h, fr_lstm.h, fr_lstmp.h: the LSTM with
 * a projection, fr_gru.h), the table of
 * kernels dispatch.c calls.
 *
 * Dimensions: T time, N batch, I input, H hidden, G gates, GH = G*H.
 * Every function that works on a step takes row pointers named after what
 * they were advanced by (x_t, h_prev, gates_t, ...).
 *
 * Work per sequence (what makes the engine fast):
 *   forward:  one product projects the inputs of all T*N rows (in chunks of
 *             FASTRNN_CHUNK_STEPS steps when no cache is kept); each step then
 *             does the product h_prev . W_hh^T against a copy of W_hh packed
 *             once per call (rgemm: it beats a BLAS call, which repacks W_hh on
 *             every call, at every batch size measured), and one fused pass
 *             over the rows: biases, nonlinearities, state update, cache and
 *             output writes.
 *   backward: per step one fused pass for the gate gradients and one product
 *             for dh_{t-1} (two for the reset-before GRU); after the loop
 *             dW_ih, dW_hh and dx are whole-sequence products and the bias
 *             gradients a column sum.
 * Threads (the kernel's team, see fr_pool.h): a step is split by hidden
 * units, each chunk computing all gates of its units and then their cell
 * update, so a step needs one barrier (two for the reset-before GRU); the
 * backward fuses the product of step t with the pointwise pass of step t-1
 * (both per unit) into one job. Whole-sequence products are split by output
 * blocks. No element is ever summed in an order that depends on the split, so
 * every thread count gives the same bits. Steps too small to share run on the
 * leader alone.
 * Reference-exact: the same formulas in the same order as core/reference.py,
 * no fast-math. No allocation, no I/O, no call out of the engine.
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

/* A piece of a row: cnt = min(VL, hi - j) elements at offset j, for j from
 * lo to hi in steps of VL. Lanes never mix, so a value does not depend on
 * where a range starts or ends. */
#define LD(p) (cnt == VL ? vld(p) : vldn((p), cnt))
#define ST(p, v) do { if (cnt == VL) vst((p), (v)); else vstn((p), (v), cnt); } while (0)
#define FOR_RANGE(j, lo, hi) for (int j = (lo), cnt = ((hi) - (lo) < VL ? (hi) - (lo) : VL); \
                                  j < (hi); j += VL, cnt = ((hi) - j < VL ? (hi) - j : VL))

#define ACTIVE(lengths, t, n) ((lengths) == NULL || (int64_t)(t) < (lengths)[n])

#include "fr_gemm.h"

/* =========================================================================
 * What every kernel shares: the workspace plan, the interrupt check, the
 * time loop's indices, the split of a step over the team
 * ========================================================================= */

/* The workspace plan. Each kernel carves its scratch from the workspace in
 * one place, at its top, before touching anything; the same code, run with
 * `measure` set, is how fastrnn_workspace_size() counts (the base pointer
 * stays NULL and only `used` grows), so the size and the carve order cannot
 * disagree. Each piece starts on a 64-byte boundary (16 elements >= 64 bytes);
 * 16 spare elements let the first one be aligned. The plan never depends on
 * the thread count. */
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

/* for each step of the forward: (time index, slot read, slot written) */
#define STEP_INDICES(s, t, rd, wr)                  \
    int t = reverse ? T - 1 - (s) : (s);            \
    int rd = reverse ? t + 1 : t;                   \
    int wr = reverse ? t : t + 1;                   \
    (void)rd; (void)wr;

/* the chunk of inference steps [s0, s0 + ns) covers times [tlo, tlo + ns) */
#define CHUNK_TLO(s0, ns) (reverse ? T - (s0) - (ns) : (s0))

/* A step's work split by hidden units: chunk c covers units
 * [c*units, min(H, (c+1)*units)), whole panels of NR units each; about four
 * chunks per thread, or one when the step (N*G*H*H multiply-adds) is below
 * FR_PAR_MIN_MACS. */

typedef struct {
    int nchunks, units;
} FR_S(split);

static FR_S(split) FR_S(split_units)(const fr_team *team, int N, int G, int H)
{
    int np = (H + NR - 1) / NR;
    int want = 4 * (team->nworkers + 1);
    if (team->nworkers == 0 || (double)N * G * H * H < FR_PAR_MIN_MACS) want = 1;
    if (want > np) want = np;
    int per = (np + want - 1) / want;
    FR_S(split) s = {(np + per - 1) / per, per * NR};
    return s;
}

/* units [*j0, *j1) of chunk c */
#define UNIT_RANGE(sp, c, H, j0, j1)                                \
    int j0 = (c) * (sp).units;                                      \
    int j1 = (H) - j0 < (sp).units ? (H) : j0 + (sp).units;

/* The packed panels of W_hh's gate block g for a forward product (pack_bt
 * per gate: Nc = H columns, K = H), GATE_STRIDE elements apart, and where
 * chunk units start in them. */
#define GATE_STRIDE(H) FR_PACK_ELEMS(H, H)
#define GATE_PANELS(P, g, H) ((P) + (size_t)(g) * GATE_STRIDE(H))
#define PANEL_AT(P, j0, K) ((P) + (size_t)((j0) / NR) * (K) * NR)

/* Pack the gate blocks [g0, g1) of W_hh [GH, H] for h . W_hh^T, a gate block
 * per call, its panels over the team. */
static void FR_S(pack_gates)(fr_team *team, REAL *P, const REAL *W_hh, int g0, int g1, int H)
{
    for (int g = g0; g < g1; g++)
        FR_S(pack_par)(team, GATE_PANELS(P, g - g0, H), W_hh + (size_t)g * H * H, (size_t)H,
                       (size_t)H, H, 1);
}

/* The forward's weights in the layout the kernels read, one plan for every
 * cell: W_hh packed per gate block (GATE_PANELS), W_ih packed (pack_bt: Nc = GH,
 * K = I), the summed bias b_ih + b_hh, and b_ih, b_hh themselves; with a
 * projection (the LSTM's proj_size P > 0, fr_lstmp.h) W_hh's gate blocks have
 * K = P, and W_hr follows (Phr, pack_bt: Nc = P, K = H). A forward
 * packs them into its workspace, or reads a packed buffer made once by
 * fastrnn_pack_*(): then it never reads the raw parameters. A packed buffer
 * starts with a header (what it was packed for: the cell, the sizes, the
 * instruction set's panel width, the element size), checked before use. */
typedef struct {
    REAL *P, *Pih, *bias, *b_ih, *b_hh;
    REAL *Phr;  /* W_hr packed with a projection, else NULL */
} FR_S(weights);

#define FR_HEADER_ELEMS 16   /* the header: 8 int64 fields, in the first 64 bytes */

static FR_S(weights) FR_S(weights_plan)(FR_S(carver) *c, int G, int I, int H, int Pj)
{
    FR_S(weights) w;
    w.P = FR_S(carve)(c, (size_t)G * FR_PACK_ELEMS(Pj ? Pj : H, H));
    w.Pih = FR_S(carve)(c, FR_PACK_ELEMS(I, (size_t)G * H));
    w.bias = FR_S(carve)(c, (size_t)G * H);
    w.b_ih = FR_S(carve)(c, (size_t)G * H);
    w.b_hh = FR_S(carve)(c, (size_t)G * H);
    w.Phr = Pj ? FR_S(carve)(c, FR_PACK_ELEMS(H, Pj)) : NULL;
    return w;
}

static void FR_S(weights_header)(int64_t *h, const fastrnn_rnn *a)
{
    int64_t fields[8] = {0x66726e6e70616b31LL /* "frnnpak1" */, FASTRNN_ABI_VERSION, a->cell,
                         a->input_size, a->hidden_size, NR, (int64_t)sizeof(REAL),
                         a->proj_size};
    memcpy(h, fields, sizeof fields);
}

/* With a projection: W_hh's gate blocks [H,P] for h . W_hh^T (K = P), and
 * W_hr [P,H] for m . W_hr^T (Nc = P, K = H). */
static void FR_S(pack_proj)(fr_team *team, const FR_S(weights) *w, const fastrnn_rnn *a)
{
    const int H = a->hidden_size, Pj = a->proj_size;
    const REAL *W_hh = a->W_hh;
    for (int g = 0; g < 4; g++)
        FR_S(pack_par)(team, w->P + (size_t)g * FR_PACK_ELEMS(Pj, H), W_hh + (size_t)g * H * Pj,
                       (size_t)Pj, (size_t)Pj, H, 1);
    FR_S(pack_par)(team, w->Phr, a->W_hr, (size_t)H, (size_t)H, Pj, 1);
}

static void FR_S(weights_fill)(fr_team *team, const FR_S(weights) *w, const fastrnn_rnn *a)
{
    const int G = fastrnn_gates(a->cell), I = a->input_size, H = a->hidden_size, GH = G * H;
    const REAL *b_ih = a->b_ih, *b_hh = a->b_hh;
    if (a->proj_size) FR_S(pack_proj)(team, w, a);
    else FR_S(pack_gates)(team, w->P, a->W_hh, 0, G, H);
    FR_S(pack_par)(team, w->Pih, a->W_ih, (size_t)I, (size_t)I, GH, 1);
    for (int j = 0; j < GH; j++) w->bias[j] = b_ih[j] + b_hh[j];
    memcpy(w->b_ih, b_ih, (size_t)GH * sizeof(REAL));
    memcpy(w->b_hh, b_hh, (size_t)GH * sizeof(REAL));
}

/* The forward's weights: carved from the workspace (to be filled), or found
 * in the caller's packed buffer after checking its header and size (0 if it
 * does not fit this call; not checked while measuring, which reads nothing). */
static int FR_S(weights_get)(FR_S(weights) *w, FR_S(carver) *c, const fastrnn_rnn *a)
{
    const int G = fastrnn_gates(a->cell);
    if (!a->packed) {
        *w = FR_S(weights_plan)(c, G, a->input_size, a->hidden_size, a->proj_size);
        return 1;
    }
    if (!c->base) return 1;  /* measuring the workspace: the packed buffer is not needed */
    int64_t want[8];
    FR_S(weights_header)(want, a);
    REAL *base = (REAL *)a->packed;
    FR_S(carver) p = FR_S(carve_begin)(base + FR_HEADER_ELEMS, 0);
    FR_S(carver) count = FR_S(carve_begin)(NULL, 1);
    FR_S(weights_plan)(&count, G, a->input_size, a->hidden_size, a->proj_size);
    if (memcmp(base, want, sizeof want) != 0 ||
        a->packed_size < FR_HEADER_ELEMS + count.used + 16)
        return 0;
    *w = FR_S(weights_plan)(&p, G, a->input_size, a->hidden_size, a->proj_size);
    return 1;
}

/* fastrnn_pack_*: the packed buffer for the forward of `a` (its weights, sizes
 * and cell); with ws_needed, only its size in elements. */
static int FR_X(pack)(const fastrnn_rnn *a, const fr_team *team_in, void *packed, size_t size,
                      size_t *ws_needed)
{
    const int G = fastrnn_gates(a->cell);
    FR_S(carver) count = FR_S(carve_begin)(NULL, 1);
    FR_S(weights_plan)(&count, G, a->input_size, a->hidden_size, a->proj_size);
    size_t need = FR_HEADER_ELEMS + count.used + 16;
    if (ws_needed) { *ws_needed = need; return FASTRNN_OK; }
    if (!packed || size < need) return FASTRNN_EINVAL;
    FR_S(weights_header)((int64_t *)packed, a);
    memset((REAL *)packed + 8 * sizeof(int64_t) / sizeof(REAL), 0,
           (FR_HEADER_ELEMS - 8 * sizeof(int64_t) / sizeof(REAL)) * sizeof(REAL));
    FR_S(carver) c = FR_S(carve_begin)((REAL *)packed + FR_HEADER_ELEMS, 0);
    FR_S(weights) w = FR_S(weights_plan)(&c, G, a->input_size, a->hidden_size, a->proj_size);
    fr_team team = *team_in;
    FR_S(weights_fill)(&team, &w, a);
    return FASTRNN_OK;
}

/* the input projection of steps [t0, t0 + nt): out = x_t . W_ih^T (no bias),
 * Pih: W_ih packed (pack_bt: Nc = GH, K = I) */
static void FR_S(project)(fr_team *team, REAL *out, const REAL *x, const REAL *Pih, int t0,
                          int nt, int N, int I, int GH)
{
    FR_S(gemm_rows)(team, out, GH, x + (size_t)t0 * N * I, I, Pih, 0, (size_t)nt * N, GH, I);
}

/* Variational dropout and zoneout (fastrnn.h, "masks"). Each is used only
 * when its pointer is set, so a call without masks runs the plain code. */

/* xm [nt*N, I] = x_t * mask_x for the steps t0 .. t0 + nt - 1 (xm may be x:
 * in place, the backward's dx *= mask_x) */
static void FR_S(mask_inputs)(REAL *xm, const REAL *x, const REAL *mask_x, int t0, int nt,
                              int N, int I)
{
    for (int s = 0; s < nt; s++)
        for (int n = 0; n < N; n++) {
            const REAL *xr = x + ((size_t)(t0 + s) * N + n) * I, *m = mask_x + (size_t)n * I;
            REAL *o = xm + ((size_t)s * N + n) * I;
            FOR_RANGE(i, 0, I) { ST(o + i, LD(xr + i) * LD(m + i)); }
        }
}

/* the input projection of steps [t0, t0 + nt) through the input mask:
 * out = (x_t * mask_x) . W_ih^T, the masked rows made FASTRNN_CHUNK_STEPS
 * steps at a time in xm [min(nt, FASTRNN_CHUNK_STEPS)*N, I] (each output row
 * is one product whatever the chunk, so the same bits); without a mask,
 * project() itself */
static void FR_S(project_in)(fr_team *team, REAL *out, const REAL *x, const REAL *mask_x,
                             REAL *xm, const REAL *Pih, int t0, int nt, int N, int I, int GH)
{
    if (!mask_x) { FR_S(project)(team, out, x, Pih, t0, nt, N, I, GH); return; }
    for (int s0 = 0; s0 < nt; s0 += FASTRNN_CHUNK_STEPS) {
        int ns = nt - s0 < FASTRNN_CHUNK_STEPS ? nt - s0 : FASTRNN_CHUNK_STEPS;
        FR_S(mask_inputs)(xm, x, mask_x, t0 + s0, ns, N, I);
        FR_S(gemm_rows)(team, out + (size_t)s0 * N * GH, GH, xm, I, Pih, 0, (size_t)ns * N,
                        GH, I);
    }
}

/* units [j0, j1) of every row: dst = src * mask, or dst + src * mask (add);
 * all [N,H] (H: the row width, the projection's P for h-shaped rows). The
 * forward's h_t * mask_h for the next step's product (each chunk masks the
 * units it wrote, so no extra barrier), the backward's recurrent part of
 * dh_{t-1} through the mask. */
static void FR_S(mask_units)(REAL *dst, const REAL *src, const REAL *mask, int add, int N,
                             int H, int j0, int j1)
{
    for (int n = 0; n < N; n++) {
        size_t o = (size_t)n * H;
        FOR_RANGE(j, j0, j1) {
            VR v = LD(src + o + j) * LD(mask + o + j);
            ST(dst + o + j, add ? LD(dst + o + j) + v : v);
        }
    }
}

/* A backward step's recurrent product on columns [j0, j1) of dh_{t-1} [N,W]
 * (W: the width of h, H or the projection's P):
 *   dhn[:, j0:j1] = (add ? dhn : 0) + (dz_t Pb)[:, j0:j1] (* mask_h [N,W] when set),
 * Pb: the packed panels of the recurrent weights at j0 (K rows), dz_t [N,K]
 * (row stride ldz); with the mask the product goes to dhm [N,W] first. */
static void FR_S(recurrent_grad)(REAL *dhn, REAL *dhm, const REAL *mask_h, int add,
                                 const REAL *dz_t, int ldz, const REAL *Pb, int N, int W,
                                 int K, int j0, int j1)
{
    if (mask_h) {
        FR_S(rgemm)(dhm + j0, W, dz_t, ldz, Pb, NULL, 0, N, j1 - j0, K);
        FR_S(mask_units)(dhn, dhm, mask_h, add, N, W, j0, j1);
    } else {
        FR_S(rgemm)(dhn + j0, W, dz_t, ldz, Pb, NULL, add, N, j1 - j0, K);
    }
}

/* the state each step of a backward read, through the recurrent mask:
 * hpm [T,N,H] = h_prevs * mask_h (what W_hh multiplied; H: h's width) */
static void FR_S(mask_states)(REAL *hpm, const REAL *h_prevs, const REAL *mask_h, int T, int N,
                              int H)
{
    const size_t NH = (size_t)N * H;
    for (int t = 0; t < T; t++)
        FR_S(mask_units)(hpm + t * NH, h_prevs + t * NH, mask_h, 0, N, H, 0, H);
}

/* zoneout: d prev + (1 - d) new (d = 1 keeps the previous state) */
FR_INLINE VR FR_S(zone)(VR d, VR prev, VR new_)
{
    return d * prev + ((REAL)1 - d) * new_;
}

/* zone_h / zone_c at time t, or NULL */
#define ZONE_AT(z, t, NH) ((z) ? (const REAL *)(z) + (size_t)(t) * (NH) : NULL)

/* the backward's dx [T*N, I] = dz [T*N, GH] . W_ih [GH, I]; Pdx: room for
 * FR_PACK_ELEMS(GH, I) elements */
static void FR_S(input_grad)(fr_team *team, REAL *dx, const REAL *dz, const REAL *W_ih,
                             REAL *Pdx, size_t TN, int I, int GH)
{
    FR_S(pack_par)(team, Pdx, W_ih, (size_t)I, (size_t)GH, I, 0);
    FR_S(gemm_rows)(team, dx, I, dz, GH, Pdx, 0, TN, I, GH);
}

/* After the backward loop of the SRN and the LSTM (with or without a
 * projection), whose W_ih and W_hh rows see the same gradients dz [T*N,GH]:
 *   dW_ih += dz^T (x * mask_x);  dW_hh += dz^T (h_prevs * mask_h);
 *   db_ih, db_hh += the column sums of dz;  dx = (dz W_ih) * mask_x.
 * h_prevs [T,N,W]: the state each step read (W: h's width, H, or the
 * projection's P); xm [T*N,I], hpm [T*N,W]: room for the masked copies (NULL
 * without that mask); Pw: the whole-sequence operand, tmp: a column-sum row. */
static void FR_S(sequence_grads)(fr_team *team, const fastrnn_rnn *a, const REAL *dz, int GH,
                                 const REAL *h_prevs, int W, REAL *xm, REAL *hpm, REAL *Pw,
                                 REAL *tmp)
{
    const int T = a->steps, N = a->batch, I = a->input_size;
    const size_t TN = (size_t)T * N;
    const REAL *x = a->x, *mask_x = a->mask_x, *mask_h = a->mask_h;
    if (mask_h) { FR_S(mask_states)(hpm, h_prevs, mask_h, T, N, W); h_prevs = hpm; }
    if (mask_x) { FR_S(mask_inputs)(xm, x, mask_x, 0, T, N, I); x = xm; }
    FR_S(weight_grad)(team, a->dW_ih, I, dz, GH, x, I, Pw, GH, I, TN);
    FR_S(weight_grad)(team, a->dW_hh, W, dz, GH, h_prevs, W, Pw, GH, W, TN);
    FR_S(colsum_add)(team, a->db_ih, tmp, dz, TN, GH, GH);
    FR_S(colsum_add)(team, a->db_hh, tmp, dz, TN, GH, GH);
    FR_S(input_grad)(team, a->dx, dz, a->W_ih, Pw, TN, I, GH);
    if (mask_x) FR_S(mask_inputs)(a->dx, a->dx, mask_x, 0, T, N, I);
}

/* inactive rows pass dh_total through unchanged: dh_next[n, j0:j1] = dh[n, j0:j1] */
static void FR_S(pass_inactive)(REAL *dh_next, const REAL *dh, const int64_t *lengths, int t,
                                int N, int H, int j0, int j1)
{
    if (!lengths) return;
    for (int n = 0; n < N; n++)
        if (!ACTIVE(lengths, t, n))
            memcpy(dh_next + (size_t)n * H + j0, dh + (size_t)n * H + j0,
                   (size_t)(j1 - j0) * sizeof(REAL));
}

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

#include "fr_srn.h"
#include "fr_lstm.h"
#include "fr_lstmp.h"
#include "fr_gru.h"

/* =========================================================================
 * Test hooks, and the table of this instruction set's kernels
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
    FR_X(pack),
    FR_X(vmath),
    FR_X(rgemm),
    {FR_X(lstmp_fwd), FR_X(lstmp_bwd)},
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
#undef FOR_RANGE
#undef ACTIVE
#undef NR
#undef MR
#undef FR_PACK_ELEMS
#undef FR_NARROW_CASE
#undef FR_NARROW_ANY
#undef FR_HALF_NRV
#undef FR_HALF_FITS
#undef WG_KC
#undef STEP_INDICES
#undef CHUNK_TLO
#undef CARVE_END
#undef CHECK_INTERRUPT
#undef UNIT_RANGE
#undef GATE_STRIDE
#undef GATE_PANELS
#undef PANEL_AT
#undef FR_PAR_MIN_MACS
#undef FR_HEADER_ELEMS
#undef ZONE_AT
