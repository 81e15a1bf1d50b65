/* The kernels compiled for the build's baseline instruction set (SSE2 on
 * x86-64, NEON on arm64, or whatever FASTRNN_NATIVE=1 selects): the fallback
 * that runs everywhere. 16-byte vectors, no FMA (a*b + c, two roundings). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FR_ISA generic
#define FR_VBYTES 16
#define FR_FMA_f32(a, b, c) ((a) * (b) + (c))
#define FR_FMA_f64(a, b, c) ((a) * (b) + (c))
/* 4 x 3 accumulators + 3 panel vectors + 1 broadcast = 16 registers */
#define FR_MR 4
#define FR_NRV 3
#include "fr_kernels.h"
