/* One instruction set's kernels: fr_impl.h instantiated for float and double.
 * Included by each isa_*.c after its target options and FR_* settings. */
#include "fr_isa.h"
#include "fr_simd.h"

#define REAL float
#define SUF f32
#define FR_VI fr_vi32
#include "fr_impl.h"
#undef REAL
#undef SUF
#undef FR_VI

#define REAL double
#define SUF f64
#define FR_VI fr_vi64
#include "fr_impl.h"
#undef REAL
#undef SUF
#undef FR_VI
