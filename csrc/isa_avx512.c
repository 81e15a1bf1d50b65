/* The kernels compiled for AVX-512 (F, DQ, VL, BW) + FMA (x86-64 with GCC or
 * Clang), selected at run time by dispatch.c when the CPU has them all.
 * 64-byte vectors and 32 registers: the widest register block. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fr_isa.h"

#if FR_X86_DISPATCH
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#endif

#define FR_ISA avx512
#define FR_VBYTES 64
#define FR_FMA_f32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define FR_FMA_f64(a, b, c) _mm512_fmadd_pd((a), (b), (c))
/* 6 x 4 accumulators + 4 panel vectors + 1 broadcast = 29 of 32 zmm registers.
 * A panel of 64 floats (32 doubles) divides the power-of-two hidden sizes, so
 * the per-gate panels carry no zero padding (8 x 3's 48 columns padded
 * H = 256 to 288); 5-10% faster than 8 x 3 at one thread on an EPYC (Zen 4),
 * 12 x 2 no faster. The price: fewer, wider panels to split a step over
 * threads (H = 256: 4 per gate; bench/SCALING.md models what that costs). */
#define FR_MR 6
#define FR_NRV 4
/* vmaxps/vminps return their second operand when either is NaN: with x second,
 * NaN passes through like the portable select */
#define FR_CLAMP_f32(x, lo, hi) \
    ((fr_vf32)_mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), (x))))
#define FR_CLAMP_f64(x, lo, hi) \
    ((fr_vf64)_mm512_min_pd(_mm512_set1_pd(hi), _mm512_max_pd(_mm512_set1_pd(lo), (x))))
/* exp's 2^n by vscalef (IEEE overflow, underflow and subnormals in one rounding) */
#define FR_EXP_SCALEF 1
#include "fr_kernels.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int fr_isa_avx512_not_built; /* ISO C forbids an empty translation unit */
#endif
