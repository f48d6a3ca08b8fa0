// Counter-based access to cuRAND's Philox4_32_10 stream: uniforms and Box-Muller normals as a pure
// function of (seed, subsequence, position), for the CPU and the GPU alike (DESIGN.md rule 1).
//
// Stream definition (checked against curand_philox4x32_x.h, curand_kernel.h, curand_normal.h and
// curand_uniform.h of CUDA 13.0):
//   curand_init(seed, subseq, offset, &s): key = (seed & 0xffffffff, seed >> 32),
//     counter = (offset/4 low 32, offset/4 high 32, subseq low 32, subseq high 32);
//   block b of subsequence `subseq` = curand_Philox4x32_10((b_lo, b_hi, ss_lo, ss_hi), key),
//     four uint32 (x, y, z, w), which curand()/curand4() return in order;
//   curand_normal() number 4b+0..3 = box_muller(x, y).{sin, cos}, box_muller(z, w).{sin, cos} with
//     u = x * 2^-32 + 2^-33, v = y * (2^-32 * 2pi) + (2^-32 * 2pi)/2, s = sqrtf(-2 logf(u)),
//     result (sin(v) * s, cos(v) * s)  [the device uses __sincosf, the host sinf/cosf];
//   curand_uniform() number 4b+j = out[j] * 2^-32 + 2^-33, in (0, 1].
//
// Differences from cuRAND, on purpose:
//   * logf, sinf and cosf are replaced by the branch-free approximations below (range reduction +
//     minimax polynomials fitted for this file), the same code on host and device, so that g++ can
//     vectorise the host loop without -ffast-math, and CPU and GPU give the same bits as long as
//     both evaluate fma, sqrt, +, * as IEEE operations (no --use_fast_math, no -ffast-math).
//   * v is computed with an explicit fmaf. That is what nvcc (default --fmad=true) and g++
//     (optimising with -ffp-contract=fast, the default, and FMA hardware) make of cuRAND's
//     `y * C + C/2` anyway; a host cuRAND compiled without contraction (-O0, no FMA) has a v one
//     ulp off in ~1% of pairs, which moves z by up to s * ulp(v) <= 3.2e-6.
//
// Accuracy against host curand_normal() (glibc logf/sinf/cosf, g++ 12 -O3 -march=x86-64-v3):
//   1.2e8 normals (seeds 0..9 x subseq {0, 12345, 2^40+7}, 4e6 each, via normals_fill) and 1e7
//   normal_at() at random (seed, subseq, offset): max |dz| 7.2e-7, 92.4% bit-identical; max
//   relative error 3.5e-7 for |z| > 1e-3. Tail, all x < 2^20 (u < 2.4e-4) with 128 random y each:
//   4 <= |z| < 6: max |dz| 9.5e-7 (2 ulp; 2.2e-5 of the values, none at 3 ulp);
//   |z| >= 6 (1.1e6 values from x < 2^10, up to 6.76): max 4.8e-7 (1 ulp).
//   So |dz| < 1e-6 for |z| < 6, and at most ~3 ulp of z anywhere.
// The parts, exhaustively over their float domains against double-precision libm:
//   log_unit on [2^-33, 1]: max 0.91 ulp (glibc logf: 0.79);
//   sincos_0_2pi on [0, 2pi]: max 1.16 ulp where |result| >= 1e-6, 5.2e-14 absolute below that;
//   sqrt_nonneg: bit-identical to sqrtf on +-0 and [2^-100, 64].
// For comparison, cuRAND's device normals use __sincosf (CUDA guide: 2^-21.41 absolute error on
// [-pi, pi], more beyond), which allows ~2e-6 in z (not measured here): these functions should be
// closer to cuRAND's host stream than cuRAND's own GPU stream is.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "hd.cuh"

#define SPTRAIN_PHILOX_INLINE SPTRAIN_FORCEINLINE

namespace sptrain::rng {

struct PhiloxKey {
  uint32_t lo, hi;
};

namespace detail {

using sptrain::bits_float;
using sptrain::float_bits;

// lo and hi halves of the 64-bit product a*b.
SPTRAIN_HD SPTRAIN_PHILOX_INLINE uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t& hi) {
#ifdef __CUDA_ARCH__
  hi = __umulhi(a, b);
  return a * b;
#else
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  return uint32_t(p);
#endif
}

// curand_Philox4x32_10 on counter (c0, c1, c2, c3) and key (k0, k1): the same rounds and constants
// as curand_philox4x32_x.h. (src/cpu/philox_normal.cpp runs the same rounds on 8 blocks at a time
// with AVX2; g++'s own vectorisation of these 32x32->64-bit multiplies is several times slower.)
SPTRAIN_HD SPTRAIN_PHILOX_INLINE void philox10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                               uint32_t k0, uint32_t k1, uint32_t out[4]) {
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo(0xD2511F53u, c0, hi0);
    const uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// cuRAND's float constants, spelled as in curand_globals.h so that they round the same way.
constexpr float kTwoPow32Inv = 2.3283064e-10f;                  // == 2^-32 exactly
constexpr float kTwoPow32Inv2Pi = 2.3283064e-10f * 6.2831855f;  // CURAND_2POW32_INV_2PI

// curand_uniform's map uint32 -> (0, 1]. The product is exact, so fmaf == cuRAND's mul + add.
SPTRAIN_HD SPTRAIN_PHILOX_INLINE float uint_to_unit(uint32_t x) {
  return fmaf(float(x), kTwoPow32Inv, kTwoPow32Inv / 2.0f);
}

// Natural log for positive normal floats (used on u in [2^-33, 1]). u = m * 2^e with m in
// [sqrt(1/2), sqrt(2)); log u = e*ln2 + log1p(f), f = m - 1 (exact), log1p(f) = f + f^2 P(f), P a
// degree-8 minimax polynomial (relative error 4e-9 on the interval), in Estrin form.
// Max error 0.91 ulp (exhaustive).
SPTRAIN_HD SPTRAIN_PHILOX_INLINE float log_unit(float u) {
  const uint32_t ib = float_bits(u);
  const int32_t e = int32_t(ib - 0x3f3504f3u) >> 23;  // floor(log2(u / sqrt(1/2)))
  const float m = bits_float(ib - (uint32_t(e) << 23));
  const float f = m - 1.0f;
  // P(f) = p0 + p1 f + ... + p8 f^8 in Estrin form (short dependency chains).
  const float f2 = f * f;
  const float f4 = f2 * f2;
  const float q01 = fmaf(0x1.55555p-2f, f, -0x1.fffff8p-2f);
  const float q23 = fmaf(0x1.99a3f2p-3f, f, -0x1.000426p-2f);
  const float q45 = fmaf(0x1.22719cp-3f, f, -0x1.54276ep-3f);
  const float q67 = fmaf(0x1.084864p-3f, f, -0x1.0f3766p-3f);
  const float q03 = fmaf(q23, f2, q01);
  const float q47 = fmaf(q67, f2, q45);
  const float q48 = fmaf(-0x1.383022p-4f, f4, q47);
  const float p = fmaf(q48, f4, q03);
  const float ef = float(e);
  float r = fmaf(f2, p, f);
  r = fmaf(ef, -0x1.05c61p-29f, r);   // ln2 - float(ln2)
  return fmaf(ef, 0x1.62e43p-1f, r);  // float(ln2)
}

// sin(v) and cos(v) for v in [0, 2pi] (the reduction is exact only while q*float(pi/2) fits in
// 26 bits, i.e. q <= 4). q = nearest integer to v*2/pi; v - q*pi/2 = r + c with
// r = v - q*float(pi/2) (one fma, exact) and c = -q*(pi/2 - float(pi/2)) (two more float parts of
// pi/2), |c| <= 1.8e-7. c is carried separately, because rounding r + c costs up to 1 ulp of the
// result: sin(r + c) = sin r + c cos r, cos(r + c) = cos r - c sin r (to O(c^2)), with
// sin r = r + r^3 S(r^2) (S degree 2) and cos r = 1 + r^2 C(r^2) (C degree 3), minimax on
// |r| <= pi/4. The quadrant is applied with bit operations. Max error 1.16 ulp, or 5.2e-14
// absolute near the zeros (exhaustive).
SPTRAIN_HD SPTRAIN_PHILOX_INLINE void sincos_0_2pi(float v, float& sn, float& cs) {
  const float t = fmaf(v, 0x1.45f306p-1f, 12582912.0f);  // 1.5*2^23: low bits of t = round(v*2/pi)
  const uint32_t q = float_bits(t);
  const float qf = t - 12582912.0f;
  const float r = fmaf(-qf, 0x1.921fb6p+0f, v);
  const float c = fmaf(qf, 0x1.ee59dap-50f, qf * 0x1.777a5cp-25f);  // -q*(pi/2 - float(pi/2))
  const float r2 = r * r;
  const float r3 = r2 * r;
  float ps = -0x1.9943b4p-13f;
  ps = fmaf(ps, r2, 0x1.11073ap-7f);
  ps = fmaf(ps, r2, -0x1.555546p-3f);
  float pc = 0x1.991672p-16f;
  pc = fmaf(pc, r2, -0x1.6c07fp-10f);
  pc = fmaf(pc, r2, 0x1.55553cp-5f);
  pc = fmaf(pc, r2, -0.5f);
  const float sr0 = fmaf(r3, ps, r);     // sin r
  const float cr0 = fmaf(r2, pc, 1.0f);  // cos r
  const float sr = r + fmaf(r3, ps, c * cr0);
  const float cr = 1.0f + fmaf(r2, pc, -c * sr0);
  const bool odd = (q & 1u) != 0;
  const float s0 = odd ? cr : sr;
  const float c0 = odd ? sr : cr;
  sn = bits_float(float_bits(s0) ^ ((q & 2u) << 30));
  cs = bits_float(float_bits(c0) ^ (((q + 1u) & 2u) << 30));
}

// sqrtf(a) for a == +-0 or a in [2^-100, 64], bit for bit (checked exhaustively). On the host it is
// built from fma so that g++ vectorises it: without -fno-math-errno g++ keeps sqrtf as a guarded
// errno-setting library call, which stops the loop vectoriser (an optimize attribute or pragma does
// not help in g++ 12). 0x5f375a86 - bits/2 approximates 1/sqrt(a) to 3.5%, three Newton steps take
// it to float precision, and one residual step with r = a - g^2 (exact by fma) rounds correctly.
// The device uses sqrtf, which is IEEE unless --use_fast_math / -prec-sqrt=false.
SPTRAIN_HD SPTRAIN_PHILOX_INLINE float sqrt_nonneg(float a) {
#ifdef __CUDA_ARCH__
  return sqrtf(a);
#else
  float y = bits_float(0x5f375a86u - (float_bits(a) >> 1));
  const float ha = 0.5f * a;
  y = y * fmaf(-ha * y, y, 1.5f);
  y = y * fmaf(-ha * y, y, 1.5f);
  y = y * fmaf(-ha * y, y, 1.5f);
  const float g = a * y;
  const float h = 0.5f * y;
  return fmaf(fmaf(-g, g, a), h, g);
#endif
}

// cuRAND's _curand_box_muller(x, y) with the functions above: z0 = sin(v) s, z1 = cos(v) s.
// -2 log u is 0 or in [1.19e-7, 45.8], inside sqrt_nonneg's exact range.
SPTRAIN_HD SPTRAIN_PHILOX_INLINE void box_muller(uint32_t x, uint32_t y, float& z0, float& z1) {
  const float u = uint_to_unit(x);
  const float v = fmaf(float(y), kTwoPow32Inv2Pi, kTwoPow32Inv2Pi / 2.0f);
  const float s = sqrt_nonneg(-2.0f * log_unit(u));
  float sn, cs;
  sincos_0_2pi(v, sn, cs);
  z0 = sn * s;
  z1 = cs * s;
}

}  // namespace detail

SPTRAIN_HD SPTRAIN_PHILOX_INLINE PhiloxKey philox_key(uint64_t seed) {
  return PhiloxKey{uint32_t(seed), uint32_t(seed >> 32)};
}

// The 4 uint32 outputs of block `block` of subsequence `subseq`
// (== curand4() right after curand_init(seed, subseq, 4*block), for block < 2^62).
SPTRAIN_HD SPTRAIN_PHILOX_INLINE void philox_block(PhiloxKey k, uint64_t subseq, uint64_t block,
                                                   uint32_t out[4]) {
  detail::philox10(uint32_t(block), uint32_t(block >> 32), uint32_t(subseq), uint32_t(subseq >> 32),
                   k.lo, k.hi, out);
}

// Normal number i (0-based) of the stream curand_init(seed, subseq, 0) + repeated curand_normal().
SPTRAIN_HD SPTRAIN_PHILOX_INLINE float normal_at(PhiloxKey k, uint64_t subseq, uint64_t i) {
  uint32_t o[4];
  philox_block(k, subseq, i >> 2, o);
  const bool second = (i & 2) != 0;
  float z0, z1;
  detail::box_muller(second ? o[2] : o[0], second ? o[3] : o[1], z0, z1);
  return (i & 1) ? z1 : z0;
}

// The 4 normals of block `block` (normal_at for i = 4*block .. 4*block+3) from one Philox call: the
// cheap way for a GPU thread to produce 4 consecutive normals (e.g. one float4 store).
SPTRAIN_HD SPTRAIN_PHILOX_INLINE void normal_block(PhiloxKey k, uint64_t subseq, uint64_t block,
                                                   float out[4]) {
  uint32_t o[4];
  philox_block(k, subseq, block, o);
  detail::box_muller(o[0], o[1], out[0], out[1]);
  detail::box_muller(o[2], o[3], out[2], out[3]);
}

// Uniform number i in (0, 1] of the stream curand_init(seed, subseq, 0) + repeated
// curand_uniform(). Bit-identical to cuRAND on host and device.
SPTRAIN_HD SPTRAIN_PHILOX_INLINE float uniform_at(PhiloxKey k, uint64_t subseq, uint64_t i) {
  uint32_t o[4];
  philox_block(k, subseq, i >> 2, o);
  const uint32_t j = uint32_t(i & 3);  // selects, not a dynamically indexed (local-memory) array
  return detail::uint_to_unit(j == 0 ? o[0] : j == 1 ? o[1] : j == 2 ? o[2] : o[3]);
}

// Host only: out[j] = normal_at(k, subseq, first + j) for j in [0, count), bit for bit; nothing for
// count <= 0. Whole Philox blocks go through an AVX2 Philox (8 blocks per vector) and a
// g++-vectorised loop over detail::box_muller; a partial block at either end is done one block at a
// time. ~1.9 ns per normal on one AVX2 core (-O3 -march=x86-64-v3), vs ~13 ns for a scalar
// curand_normal4 loop. Defined in src/cpu/philox_normal.cpp.
void normals_fill(PhiloxKey k, uint64_t subseq, uint64_t first, int64_t count, float* out);

}  // namespace sptrain::rng
