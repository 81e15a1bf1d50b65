/* The kernels compiled for AVX2 + FMA (x86-64 with GCC or Clang), selected at
 * run time by dispatch.c when the CPU has both. 32-byte vectors. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fr_isa.h"

#if FR_X86_DISPATCH
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define FR_ISA avx2
#define FR_VBYTES 32
#define FR_FMA_f32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define FR_FMA_f64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
/* 6 x 2 accumulators + 2 panel vectors + 1 broadcast = 15 of 16 ymm registers */
#define FR_MR 6
#define FR_NRV 2
/* vmaxps/vminps return their second operand when either is NaN: with x second,
 * NaN passes through like the portable select */
#define FR_CLAMP_f32(x, lo, hi) \
    ((fr_vf32)_mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), (x))))
#define FR_CLAMP_f64(x, lo, hi) \
    ((fr_vf64)_mm256_min_pd(_mm256_set1_pd(hi), _mm256_max_pd(_mm256_set1_pd(lo), (x))))
#include "fr_kernels.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
typedef int fr_isa_avx2_not_built; /* ISO C forbids an empty translation unit */
#endif
