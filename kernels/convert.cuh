// float <-> bfloat16 element conversions (BF16 compute mode), shared by the CUDA conversion kernels
// and host code. A bf16 value is the upper 16 bits of the IEEE float; float -> bf16 rounds to
// nearest, ties to even, by integer arithmetic on the bit pattern (so host and device agree
// bitwise), overflowing to infinity; NaNs stay NaN (quieted, sign kept).
#pragma once
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

SPTRAIN_HD inline uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: set the quiet bit
  // Adding 0x7fff plus the kept part's lowest bit rounds half to even; a carry into the exponent
  // is the correct rounding up (up to infinity).
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

SPTRAIN_HD inline float bf16_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }

}  // namespace sptrain::ops
