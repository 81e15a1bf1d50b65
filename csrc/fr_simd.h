/* Vector types and vectorized math for one instruction set.
 *
 * Included once by each isa_*.c file, after it has set
 *   FR_VBYTES            vector width in bytes (16, 32 or 64),
 *   FR_FMA_F32/F64(a,b,c) a*b + c for vectors (fused where the ISA has FMA),
 *   FR_MR, FR_NRV        the register block of the matrix-product kernel
 *                        (MR rows by NRV >= 2 vectors),
 * and the matching target pragma. Everything here is static: each ISA file
 * gets its own copy compiled for its instruction set.
 *
 * Written with GCC/Clang vector extensions (portable across x86 and ARM; the
 * compiler splits a vector wider than the hardware's). Loads and stores go
 * through memcpy, so no alignment or aliasing is assumed.
 *
 * Accuracy (checked against long double by tests/test_c_engine.py; measured
 * maxima over a dense sweep of [-30, 30], every instruction set):
 *   exp:     Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Taylor series
 *            (degree 7 float, 13 double), scaled by 2^n in two halves (or by
 *            vscalef) so that subnormal results round once; <= 1.2 ulp.
 *   tanh:    sign(x) * e / (e + 2) with e = expm1(2|x|) computed as
 *            2^n expm1(r) + (2^n - 1), accurate near 0 (no cancellation);
 *            <= 2.7 ulp.
 *   sigmoid: 1 / (1 + exp(-x)), the reference's formula: exp overflow gives 0;
 *            <= 2.4 ulp.
 * NaN propagates through all of them, +-inf give the limits. None of these
 * depends on -ffast-math; libm's scalar tanhf costs ~15 ns per call here,
 * which would dominate the small-batch cells.
 */
#ifndef FR_SIMD_H
#define FR_SIMD_H

#include <stdint.h>
#include <string.h>

#if !(defined(__GNUC__) || defined(__clang__))
#error "fastrnn's kernels need GCC or Clang (vector extensions)"
#endif

typedef float fr_vf32 __attribute__((vector_size(FR_VBYTES)));
typedef int32_t fr_vi32 __attribute__((vector_size(FR_VBYTES)));
typedef uint32_t fr_vu32 __attribute__((vector_size(FR_VBYTES)));
typedef double fr_vf64 __attribute__((vector_size(FR_VBYTES)));
typedef int64_t fr_vi64 __attribute__((vector_size(FR_VBYTES)));
typedef uint64_t fr_vu64 __attribute__((vector_size(FR_VBYTES)));

#define FR_VL_f32 ((int)(FR_VBYTES / 4))
#define FR_VL_f64 ((int)(FR_VBYTES / 8))

#define FR_INLINE static inline __attribute__((always_inline))

/* --- loads, stores, broadcast, select (one set per element type) ---------- */

#define FR_DEFINE_VECTOR_OPS(SUF, REAL_, VR_, VI_)                                      \
    FR_INLINE VR_ fr_ld_##SUF(const REAL_ *p) { VR_ v; memcpy(&v, p, sizeof v); return v; } \
    FR_INLINE void fr_st_##SUF(REAL_ *p, VR_ v) { memcpy(p, &v, sizeof v); }             \
    /* the first n (< VL) elements; the others 0 */                                      \
    FR_INLINE VR_ fr_ldn_##SUF(const REAL_ *p, int n) {                                  \
        VR_ v = {0}; memcpy(&v, p, (size_t)n * sizeof(REAL_)); return v; }               \
    FR_INLINE void fr_stn_##SUF(REAL_ *p, VR_ v, int n) {                                \
        memcpy(p, &v, (size_t)n * sizeof(REAL_)); }                                      \
    /* s - 0 == s exactly (also for -0 and NaN): a pure broadcast */                     \
    FR_INLINE VR_ fr_set1_##SUF(REAL_ s) { return s - (VR_){0}; }                        \
    /* m ? a : b, lane by lane (m: all-ones or all-zeros lanes, from a comparison) */    \
    FR_INLINE VR_ fr_sel_##SUF(VI_ m, VR_ a, VR_ b) {                                    \
        return (VR_)(((VI_)a & m) | ((VI_)b & ~m)); }

FR_DEFINE_VECTOR_OPS(f32, float, fr_vf32, fr_vi32)
FR_DEFINE_VECTOR_OPS(f64, double, fr_vf64, fr_vi64)

/* Optional per-ISA hooks (defined by the isa_*.c file before inclusion):
 *   FR_CLAMP_f32/f64(x, lo, hi)  min(max(x, lo), hi) with NaN passed through
 *   FR_EXP_SCALEF                 AVX-512 vscalef/vroundscale forms of exp and tanh
 * The portable fallbacks below compute the same values. */
#ifndef FR_CLAMP_f32
#define FR_CLAMP_f32(x, lo, hi) \
    fr_sel_f32((fr_vi32)((x) > (hi)), fr_set1_f32(hi), \
               fr_sel_f32((fr_vi32)((x) < (lo)), fr_set1_f32(lo), (x)))
#endif
#ifndef FR_CLAMP_f64
#define FR_CLAMP_f64(x, lo, hi) \
    fr_sel_f64((fr_vi64)((x) > (hi)), fr_set1_f64(hi), \
               fr_sel_f64((fr_vi64)((x) < (lo)), fr_set1_f64(lo), (x)))
#endif

/* a*b + c in one rounding where the ISA has FMA (FR_FMA_*), and constants */
#define MADD32(a, b, c) FR_FMA_f32((a), (b), (c))
#define MADD64(a, b, c) FR_FMA_f64((a), (b), (c))
#define C32(v) fr_set1_f32(v)
#define C64(v) fr_set1_f64(v)

/* --- float ------------------------------------------------------------------ */

/* exp(x); overflow gives +inf, underflow 0 (through subnormals), NaN stays NaN. */
FR_INLINE fr_vf32 fr_exp_f32(fr_vf32 x)
{
    x = FR_CLAMP_f32(x, -104.0f, 89.0f);  /* beyond: 0 and +inf anyway */
#ifdef FR_EXP_SCALEF
    fr_vf32 k = (fr_vf32)_mm512_roundscale_ps(x * 0x1.715476p+0f, _MM_FROUND_TO_NEAREST_INT);
#else
    const float shifter = 0x1.8p23f;  /* adding it rounds to an integer in the low bits */
    fr_vf32 kx = MADD32(x, C32(0x1.715476p+0f), C32(shifter));  /* x / ln2 + shifter */
    fr_vf32 k = kx - shifter;                   /* n = round(x / ln2), as a float */
#endif
    /* r = x - n ln2 in two parts (n * hi is exact: hi has 16 significant bits) */
    fr_vf32 r = MADD32(-k, C32(0x1.62e4p-1f), x);
    r = MADD32(-k, C32(0x1.7f7d1cp-20f), r);
    fr_vf32 p = MADD32(r, C32(0x1.a01a02p-13f), C32(0x1.6c16c2p-10f));  /* 1/7!, 1/6! */
    p = MADD32(p, r, C32(0x1.111112p-7f));                          /* 1/5! */
    p = MADD32(p, r, C32(0x1.555556p-5f));                          /* 1/4! */
    p = MADD32(p, r, C32(0x1.555556p-3f));                          /* 1/3! */
    p = MADD32(p, r, C32(0.5f));
    p = MADD32(p, r, C32(1.0f));
    p = MADD32(p, r, C32(1.0f));
#ifdef FR_EXP_SCALEF
    return (fr_vf32)_mm512_scalef_ps(p, k);  /* p 2^n, one rounding, IEEE over/underflow */
#else
    /* 2^n = 2^n1 * 2^n2 with n1 = floor(n/2): both halves are normal numbers */
    fr_vu32 n = (fr_vu32)kx - (fr_vu32)C32(shifter);  /* n, as an integer */
    fr_vu32 n1 = (fr_vu32)((fr_vi32)n >> 1);
    fr_vu32 n2 = n - n1;
    fr_vf32 s1 = (fr_vf32)((n1 + 127u) << 23);
    fr_vf32 s2 = (fr_vf32)((n2 + 127u) << 23);
    return (p * s1) * s2;
#endif
}

/* tanh(x) = sign(x) * e / (e + 2), e = expm1(2|x|); |x| is clamped at 20,
 * where tanh is 1 to the last bit in both precisions. */
FR_INLINE fr_vf32 fr_tanh_f32(fr_vf32 x)
{
    fr_vu32 sign = (fr_vu32)x & 0x80000000u;
    fr_vf32 u = (fr_vf32)((fr_vu32)x & 0x7fffffffu);
    u = FR_CLAMP_f32(u, 0.0f, 20.0f);  /* NaN stays */
    u = u + u;
#ifdef FR_EXP_SCALEF
    fr_vf32 k = (fr_vf32)_mm512_roundscale_ps(u * 0x1.715476p+0f, _MM_FROUND_TO_NEAREST_INT);
#else
    const float shifter = 0x1.8p23f;
    fr_vf32 kx = MADD32(u, C32(0x1.715476p+0f), C32(shifter));
    fr_vf32 k = kx - shifter;
#endif
    fr_vf32 r = MADD32(-k, C32(0x1.62e4p-1f), u);
    r = MADD32(-k, C32(0x1.7f7d1cp-20f), r);
    /* q = expm1(r) = r (1 + r/2 + ... + r^6/7!), relative accuracy kept near 0 */
    fr_vf32 q = MADD32(r, C32(0x1.a01a02p-13f), C32(0x1.6c16c2p-10f));
    q = MADD32(q, r, C32(0x1.111112p-7f));
    q = MADD32(q, r, C32(0x1.555556p-5f));
    q = MADD32(q, r, C32(0x1.555556p-3f));
    q = MADD32(q, r, C32(0.5f));
    q = MADD32(q, r, C32(1.0f));
    q = q * r;
#ifdef FR_EXP_SCALEF
    fr_vf32 s = (fr_vf32)_mm512_scalef_ps(C32(1.0f), k);          /* 2^n, 0 <= n <= 58 */
#else
    fr_vu32 n = (fr_vu32)kx - (fr_vu32)C32(shifter);              /* 0 <= n <= 58 */
    fr_vf32 s = (fr_vf32)((n + 127u) << 23);                      /* 2^n */
#endif
    fr_vf32 e = MADD32(s, q, s - 1.0f);                           /* expm1(u) */
    fr_vf32 t = e / (e + 2.0f);
    return (fr_vf32)((fr_vu32)t | sign);
}

FR_INLINE fr_vf32 fr_sigmoid_f32(fr_vf32 x) { return 1.0f / (1.0f + fr_exp_f32(-x)); }

/* np.maximum(z, 0): NaN propagates */
FR_INLINE fr_vf32 fr_relu_f32(fr_vf32 x)
{
    return fr_sel_f32((fr_vi32)(x < 0.0f), (fr_vf32){0}, x);
}

/* (a > 0) as 1.0 or 0.0: the ReLU's derivative from its output */
FR_INLINE fr_vf32 fr_relu_grad_f32(fr_vf32 a)
{
    return (fr_vf32)((fr_vi32)(a > 0.0f) & (fr_vi32)fr_set1_f32(1.0f));
}

/* --- double ----------------------------------------------------------------- */

FR_INLINE fr_vf64 fr_exp_f64(fr_vf64 x)
{
    x = FR_CLAMP_f64(x, -746.0, 710.0);
#ifdef FR_EXP_SCALEF
    fr_vf64 k = (fr_vf64)_mm512_roundscale_pd(x * 0x1.71547652b82fep+0, _MM_FROUND_TO_NEAREST_INT);
#else
    const double shifter = 0x1.8p52;
    fr_vf64 kx = MADD64(x, C64(0x1.71547652b82fep+0), C64(shifter));
    fr_vf64 k = kx - shifter;
#endif
    /* hi has 32 significant bits: n * hi is exact for |n| < 2^21 */
    fr_vf64 r = MADD64(-k, C64(0x1.62e42feep-1), x);
    r = MADD64(-k, C64(0x1.a39ef35793c76p-33), r);
    fr_vf64 p = MADD64(r, C64(0x1.6124613a86d09p-33), C64(0x1.1eed8eff8d898p-29));  /* 1/13!, 1/12! */
    p = MADD64(p, r, C64(0x1.ae64567f544e4p-26));  /* 1/11! */
    p = MADD64(p, r, C64(0x1.27e4fb7789f5cp-22));  /* 1/10! */
    p = MADD64(p, r, C64(0x1.71de3a556c734p-19));  /* 1/9! */
    p = MADD64(p, r, C64(0x1.a01a01a01a01ap-16));  /* 1/8! */
    p = MADD64(p, r, C64(0x1.a01a01a01a01ap-13));  /* 1/7! */
    p = MADD64(p, r, C64(0x1.6c16c16c16c17p-10));  /* 1/6! */
    p = MADD64(p, r, C64(0x1.1111111111111p-7));   /* 1/5! */
    p = MADD64(p, r, C64(0x1.5555555555555p-5));   /* 1/4! */
    p = MADD64(p, r, C64(0x1.5555555555555p-3));   /* 1/3! */
    p = MADD64(p, r, C64(0.5));
    p = MADD64(p, r, C64(1.0));
    p = MADD64(p, r, C64(1.0));
#ifdef FR_EXP_SCALEF
    return (fr_vf64)_mm512_scalef_pd(p, k);
#else
    fr_vu64 n = (fr_vu64)kx - (fr_vu64)C64(shifter);
    fr_vu64 n1 = (fr_vu64)((fr_vi64)n >> 1);
    fr_vu64 n2 = n - n1;
    fr_vf64 s1 = (fr_vf64)((n1 + 1023u) << 52);
    fr_vf64 s2 = (fr_vf64)((n2 + 1023u) << 52);
    return (p * s1) * s2;
#endif
}

FR_INLINE fr_vf64 fr_tanh_f64(fr_vf64 x)
{
    fr_vu64 sign = (fr_vu64)x & 0x8000000000000000u;
    fr_vf64 u = (fr_vf64)((fr_vu64)x & 0x7fffffffffffffffu);
    u = FR_CLAMP_f64(u, 0.0, 20.0);
    u = u + u;
#ifdef FR_EXP_SCALEF
    fr_vf64 k = (fr_vf64)_mm512_roundscale_pd(u * 0x1.71547652b82fep+0, _MM_FROUND_TO_NEAREST_INT);
#else
    const double shifter = 0x1.8p52;
    fr_vf64 kx = MADD64(u, C64(0x1.71547652b82fep+0), C64(shifter));
    fr_vf64 k = kx - shifter;
#endif
    fr_vf64 r = MADD64(-k, C64(0x1.62e42feep-1), u);
    r = MADD64(-k, C64(0x1.a39ef35793c76p-33), r);
    /* q = expm1(r) = r (1 + r/2 + ... + r^13/14!) */
    fr_vf64 q = MADD64(r, C64(0x1.93974a8c07c9dp-37), C64(0x1.6124613a86d09p-33));  /* 1/14!, 1/13! */
    q = MADD64(q, r, C64(0x1.1eed8eff8d898p-29));
    q = MADD64(q, r, C64(0x1.ae64567f544e4p-26));
    q = MADD64(q, r, C64(0x1.27e4fb7789f5cp-22));
    q = MADD64(q, r, C64(0x1.71de3a556c734p-19));
    q = MADD64(q, r, C64(0x1.a01a01a01a01ap-16));
    q = MADD64(q, r, C64(0x1.a01a01a01a01ap-13));
    q = MADD64(q, r, C64(0x1.6c16c16c16c17p-10));
    q = MADD64(q, r, C64(0x1.1111111111111p-7));
    q = MADD64(q, r, C64(0x1.5555555555555p-5));
    q = MADD64(q, r, C64(0x1.5555555555555p-3));
    q = MADD64(q, r, C64(0.5));
    q = MADD64(q, r, C64(1.0));
    q = q * r;
#ifdef FR_EXP_SCALEF
    fr_vf64 s = (fr_vf64)_mm512_scalef_pd(C64(1.0), k);
#else
    fr_vu64 n = (fr_vu64)kx - (fr_vu64)C64(shifter);
    fr_vf64 s = (fr_vf64)((n + 1023u) << 52);
#endif
    fr_vf64 e = MADD64(s, q, s - 1.0);
    fr_vf64 t = e / (e + 2.0);
    return (fr_vf64)((fr_vu64)t | sign);
}

FR_INLINE fr_vf64 fr_sigmoid_f64(fr_vf64 x) { return 1.0 / (1.0 + fr_exp_f64(-x)); }

FR_INLINE fr_vf64 fr_relu_f64(fr_vf64 x)
{
    return fr_sel_f64((fr_vi64)(x < 0.0), (fr_vf64){0}, x);
}

FR_INLINE fr_vf64 fr_relu_grad_f64(fr_vf64 a)
{
    return (fr_vf64)((fr_vi64)(a > 0.0) & (fr_vi64)fr_set1_f64(1.0));
}

#endif
