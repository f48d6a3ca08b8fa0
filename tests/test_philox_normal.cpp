// kernels/philox_normal.cuh against cuRAND's device API compiled for the host (DESIGN.md rule 1),
// and src/cpu/philox_normal.cpp against normal_at().
#define QUALIFIERS static __forceinline__ __host__ __device__
#include <curand_kernel.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "philox_normal.cuh"

namespace {

using namespace sptrain::rng;

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

constexpr uint64_t kSeeds[] = {0, 42, 0x0123456789ABCDEFull, ~0ull};
constexpr uint64_t kSubseqs[] = {
    0, 1, 777, 0xFFFFFFFFull, 0x100000000ull, 0x100000005ull, (1ull << 40) + 7, ~0ull};

TEST(PhiloxBlock, MatchesCurand4) {
  // Includes block counters whose low word wraps (0xFFFFFFFE -> 0x1'00000001) and large ones.
  const uint64_t blocks[] = {0, 1, 5, 0xFFFFFFFEull, (1ull << 33) + 3, (1ull << 61) - 2};
  for (uint64_t seed : kSeeds)
    for (uint64_t ss : kSubseqs)
      for (uint64_t b : blocks) {
        curandStatePhilox4_32_10_t s;
        curand_init(seed, ss, 4 * b, &s);
        const PhiloxKey k = philox_key(seed);
        for (uint64_t j = 0; j < 4; ++j) {
          const uint4 ref = curand4(&s);
          uint32_t o[4];
          philox_block(k, ss, b + j, o);
          ASSERT_EQ(o[0], ref.x) << seed << " " << ss << " " << b + j;
          ASSERT_EQ(o[1], ref.y) << seed << " " << ss << " " << b + j;
          ASSERT_EQ(o[2], ref.z) << seed << " " << ss << " " << b + j;
          ASSERT_EQ(o[3], ref.w) << seed << " " << ss << " " << b + j;
        }
      }
}

TEST(PhiloxBlock, MatchesCurandFromUnalignedOffsets) {
  const uint64_t offsets[] = {1, 2, 3, 6, 4 * 0xFFFFFFFFull + 3, (1ull << 50) + 1};
  for (uint64_t seed : kSeeds)
    for (uint64_t ss : {uint64_t{0}, uint64_t{99}, uint64_t{(1ull << 35) + 1}})
      for (uint64_t off : offsets) {
        curandStatePhilox4_32_10_t s;
        curand_init(seed, ss, off, &s);
        for (uint64_t j = 0; j < 9; ++j) {
          uint32_t o[4];
          philox_block(philox_key(seed), ss, (off + j) / 4, o);
          ASSERT_EQ(o[(off + j) % 4], curand(&s)) << seed << " " << ss << " " << off + j;
        }
      }
}

TEST(UniformAt, MatchesCurandUniformBitwise) {
  const std::pair<uint64_t, uint64_t> streams[] = {
      {0, 0}, {42, 3}, {0xDEADBEEFull, (1ull << 35) + 1}, {~0ull, 12345}};
  for (auto [seed, ss] : streams) {
    const PhiloxKey k = philox_key(seed);
    curandStatePhilox4_32_10_t s;
    curand_init(seed, ss, 0, &s);
    for (uint64_t i = 0; i < 100000; ++i)
      ASSERT_EQ(bits(uniform_at(k, ss, i)), bits(curand_uniform(&s)))
          << seed << " " << ss << " " << i;
    const uint64_t off = 4 * (0xFFFFFFFFull - 1) + 1;  // crosses block 2^32
    curand_init(seed, ss, off, &s);
    for (uint64_t i = off; i < off + 20; ++i)
      ASSERT_EQ(bits(uniform_at(k, ss, i)), bits(curand_uniform(&s)))
          << seed << " " << ss << " " << i;
  }
}

// cuRAND computes v = y * C + C/2 (C = 2pi * 2^-32). nvcc and g++ (optimising, with FMA hardware,
// e.g. -march=x86-64-v3) fuse it into one fma, as normal_at() does explicitly; then the two agree
// to ~1e-6. Unfused (-O0, or no FMA), v can be one ulp off in ~1% of pairs and z by up to
// s * ulp(v) <= 6.8 * 4.8e-7 = 3.2e-6. This finds out which way this binary's cuRAND copy went.
bool host_curand_fuses_v() {
  constexpr float c = CURAND_2POW32_INV_2PI;
  const uint32_t x = 0x12345678u;
  const float s = sqrtf(-2.0f * logf(x * CURAND_2POW32_INV + CURAND_2POW32_INV / 2.0f));
  for (uint32_t y = 1u << 28; y < (1u << 28) + (1u << 20); ++y) {
    volatile float prod = float(y) * c;
    const float unfused = prod + c / 2.0f;
    const float fused = std::fma(float(y), c, c / 2.0f);
    const float zf = sinf(fused) * s, zu = sinf(unfused) * s;
    if (zf == zu) continue;
    const float2 r = _curand_box_muller(x, y);
    if (r.x == zf) return true;
    if (r.x == zu) return false;
  }
  ADD_FAILURE() << "could not tell how cuRAND rounds v";
  return false;
}

// |normal_at - curand_normal|: the approximations of log, sin, cos here and glibc's logf, sinf,
// cosf are each within ~1 ulp, and z = sin(v) * sqrt(-2 log u) ends up within ~3 ulp of z.
// Measured (see kernels/philox_normal.cuh): max 7.2e-7 over 1.3e8 stream values; in the tail
// 9.5e-7 (2 ulp) for 4 <= |z| < 6 and 4.8e-7 (1 ulp) beyond. Bounds: 1e-6 below |z| = 6, and 2e-6
// beyond (|z| <= 6.8, where 3 ulp is 1.4e-6).
float tolerance(float ref, bool fused) {
  const float base = std::fabs(ref) < 6.0f ? 1e-6f : 2e-6f;
  return fused ? base : base + 3.2e-6f;
}

TEST(NormalAt, KnownValues) {
  // cuRAND: curand_init(42, 0, 0) then curand_normal() x 5 (printed to 6 decimals).
  const float expect[] = {0.194019f, -0.970190f, 1.923927f, -1.235621f, 0.139138f};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(normal_at(philox_key(42), 0, i), expect[i], 1.5e-6f) << i;
}

TEST(NormalAt, MatchesCurandNormal) {
  const bool fused = host_curand_fuses_v();
  const std::pair<uint64_t, uint64_t> streams[] = {
      {0, 0}, {42, 1}, {0xDEADBEEFull, (1ull << 33) + 5}, {~0ull, 12345}};
  // (offset into the stream, count): the start, then across the wrap of the block counter's low
  // word, then from a pair in the middle of a block (curand_init offsets count 32-bit outputs).
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, 100000}, {4 * (0xFFFFFFFFull - 8), 100}, {(1ull << 40) + 2, 100}};
  int64_t n = 0, identical = 0;
  for (auto [seed, ss] : streams) {
    const PhiloxKey k = philox_key(seed);
    for (auto [off, count] : ranges) {
      curandStatePhilox4_32_10_t s;
      curand_init(seed, ss, off, &s);
      for (uint64_t i = off; i < off + count; ++i) {
        const float ref = curand_normal(&s);
        const float z = normal_at(k, ss, i);
        ASSERT_NEAR(z, ref, tolerance(ref, fused)) << seed << " " << ss << " " << i;
        ++n;
        identical += z == ref;
      }
    }
  }
  // Measured: 92.6% bit-identical. A wrong or mistyped polynomial coefficient tends to show here
  // first, while still inside the tolerance.
  if (fused) {
    EXPECT_GT(double(identical) / double(n), 0.85);
  }
}

TEST(NormalBlock, EqualsNormalAt) {
  for (uint64_t b :
       {uint64_t{0}, uint64_t{17}, uint64_t{0xFFFFFFFFull}, uint64_t{0x100000000ull}}) {
    float z[4];
    normal_block(philox_key(7), 5, b, z);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(bits(z[j]), bits(normal_at(philox_key(7), 5, 4 * b + j)));
  }
}

TEST(NormalsFill, EqualsNormalAtBitwise) {
  const PhiloxKey k = philox_key(0xC0FFEEull);
  const uint64_t ss = 0x100000009ull;
  const uint64_t wrap = 4 * 0x100000000ull;  // first normal of block 2^32
  // (first, count): partial blocks at either end, scalar-only and AVX2 chunks, the low-word wrap.
  const std::pair<uint64_t, int64_t> cases[] = {
      {0, 0},       {0, 1},           {3, 1},          {1, 2},       {2, 7},
      {5, 33},      {0, 256},         {1, 282},        {1, 1000},    {6, 4099},
      {13, 20000},  {wrap - 83, 200}, {wrap - 64, 64}, {wrap - 1, 3}, {(1ull << 36) + 1, 77},
      {(1ull << 60) + 3, 517}};
  for (auto [first, count] : cases) {
    std::vector<float> buf(size_t(count) + 2, -12345.0f);  // one guard value on each side
    normals_fill(k, ss, first, count, buf.data() + 1);
    EXPECT_EQ(buf.front(), -12345.0f) << first << " " << count;
    EXPECT_EQ(buf.back(), -12345.0f) << first << " " << count;
    for (int64_t j = 0; j < count; ++j)
      ASSERT_EQ(bits(buf[size_t(j) + 1]), bits(normal_at(k, ss, first + uint64_t(j))))
          << first << " " << count << " " << j;
  }
  normals_fill(k, ss, 0, -5, nullptr);  // negative count: nothing
}

TEST(NormalsFill, MomentsOfAMillion) {
  // Bounds are 5 standard errors of each statistic for n = 1e6 i.i.d. N(0, 1) values; for a fresh
  // random stream each fails with probability ~6e-7 (two-sided), all four together < 3e-6. This
  // stream is fixed, so the test is deterministic.
  const int64_t n = 1000000;
  std::vector<float> z(n);
  normals_fill(philox_key(2024), 3, 0, n, z.data());
  double s1 = 0, s2 = 0, s4 = 0;
  int64_t beyond2 = 0;
  for (float v : z) {
    const double d = v, d2 = d * d;
    s1 += d;
    s2 += d2;
    s4 += d2 * d2;
    beyond2 += std::fabs(v) > 2.0f;
  }
  const double mean = s1 / n, var = s2 / n - mean * mean, m4 = s4 / n;
  EXPECT_LT(std::fabs(mean), 5.0 * std::sqrt(1.0 / n));       // SE 1e-3
  EXPECT_LT(std::fabs(var - 1.0), 5.0 * std::sqrt(2.0 / n));  // SE 1.41e-3
  EXPECT_LT(std::fabs(m4 - 3.0), 5.0 * std::sqrt(96.0 / n));  // E z^8 - 9 = 96; SE 9.8e-3
  const double p2 = 0.0455002638963584;                       // P(|z| > 2)
  EXPECT_LT(std::fabs(double(beyond2) / n - p2), 5.0 * std::sqrt(p2 * (1 - p2) / n));  // SE 2.1e-4
}

// The building blocks, on strided subsets of their domains (exhaustive checks were run offline).
double ulp_of(double x) {
  int e;
  std::frexp(std::fabs(x), &e);
  return std::ldexp(1.0, e - 24);
}

TEST(PhiloxDetail, SqrtNonnegIsSqrtf) {
  using sptrain::float_bits;
  using sptrain::bits_float;
  for (float a : {0.0f, -0.0f}) EXPECT_EQ(bits(detail::sqrt_nonneg(a)), bits(sqrtf(a)));
  for (uint32_t b = float_bits(1.0f); b < float_bits(4.0f); ++b)  // every float in [1, 4)
    ASSERT_EQ(bits(detail::sqrt_nonneg(bits_float(b))), bits(sqrtf(bits_float(b)))) << bits_float(b);
  for (uint32_t b = float_bits(0x1p-100f); b <= float_bits(64.0f); b += 97)
    ASSERT_EQ(bits(detail::sqrt_nonneg(bits_float(b))), bits(sqrtf(bits_float(b)))) << bits_float(b);
}

TEST(PhiloxDetail, LogUnitWithinOneUlp) {
  using sptrain::float_bits;
  using sptrain::bits_float;
  EXPECT_EQ(detail::log_unit(1.0f), 0.0f);
  double worst = 0;
  for (uint32_t b = float_bits(0x1p-33f); b <= float_bits(1.0f); b += 13) {  // measured max 0.91 ulp, exhaustive
    const float u = bits_float(b);
    const double t = std::log(double(u));
    if (t != 0) worst = std::max(worst, std::fabs(detail::log_unit(u) - t) / ulp_of(t));
  }
  EXPECT_LT(worst, 1.0);
}

TEST(PhiloxDetail, SinCosAccuracy) {
  using sptrain::float_bits;
  using sptrain::bits_float;
  double worst_ulp = 0, worst_abs_near0 = 0;
  for (uint32_t b = 0; b <= float_bits(6.2831855f); b += 101) {
    const float v = bits_float(b);
    float sn, cs;
    detail::sincos_0_2pi(v, sn, cs);
    for (auto [got, want] : {std::pair<double, double>{sn, std::sin(double(v))},
                             std::pair<double, double>{cs, std::cos(double(v))}}) {
      const double err = std::fabs(got - want);
      if (std::fabs(want) >= 1e-6)
        worst_ulp = std::max(worst_ulp, err / ulp_of(want));
      else
        worst_abs_near0 = std::max(worst_abs_near0, err);
    }
  }
  EXPECT_LT(worst_ulp, 1.5);          // measured max 1.16 ulp, exhaustive over [0, 2pi]
  EXPECT_LT(worst_abs_near0, 1e-13);  // near the zeros of sin and cos: measured max 5.2e-14
}

}  // namespace
