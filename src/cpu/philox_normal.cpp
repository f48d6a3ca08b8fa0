// Host bulk generator for kernels/philox_normal.cuh.
//
// Work goes in chunks of up to kChunk Philox blocks: (1) the four 32-bit outputs of every block of
// the chunk go to four lane arrays, with AVX2 intrinsics where available (8 blocks per vector;
// g++'s own vectorisation of the 32x32->64 multiplies is several times slower) and with
// detail::philox10 otherwise; (2) one loop, which g++ vectorises, turns them into normals with
// detail::box_muller, the same function normal_at() and the GPU use, and writes them in stream
// order.
#include "philox_normal.cuh"

#include <algorithm>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace sptrain::rng {
namespace {

constexpr uint32_t kChunk = 64;  // blocks per chunk: 1 KiB of lane arrays, 1 KiB of output

struct Lanes {
  alignas(32) uint32_t x[kChunk], y[kChunk], z[kChunk], w[kChunk];
};

#if defined(__AVX2__)
// hi and lo halves of a*m per 32-bit lane (m: one constant in all lanes).
inline __m256i mulhilo8(__m256i a, __m256i m, __m256i& lo) {
  const __m256i pe = _mm256_mul_epu32(a, m);                         // lanes 0,2,4,6 as 64-bit
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1,3,5,7
  lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  return _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

// Blocks (lo + j, hi) for j in [0, n), n a multiple of 16; two independent vectors per step.
void philox_lanes_avx2(PhiloxKey k, uint32_t ss_lo, uint32_t ss_hi, uint32_t hi, uint32_t lo,
                       uint32_t n, Lanes& L) {
  const __m256i m0 = _mm256_set1_epi32(int(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(int(0xCD9E8D57u));
  const __m256i step = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (uint32_t j = 0; j < n; j += 16) {
    __m256i c0[2], c1[2], c2[2], c3[2];
    for (int v = 0; v < 2; ++v) {
      c0[v] = _mm256_add_epi32(_mm256_set1_epi32(int(lo + j + 8 * v)), step);
      c1[v] = _mm256_set1_epi32(int(hi));
      c2[v] = _mm256_set1_epi32(int(ss_lo));
      c3[v] = _mm256_set1_epi32(int(ss_hi));
    }
    uint32_t k0 = k.lo, k1 = k.hi;
#pragma GCC unroll 10
    for (int r = 0; r < 10; ++r) {
      const __m256i kk0 = _mm256_set1_epi32(int(k0)), kk1 = _mm256_set1_epi32(int(k1));
#pragma GCC unroll 2
      for (int v = 0; v < 2; ++v) {
        __m256i lo0, lo1;
        const __m256i hi0 = mulhilo8(c0[v], m0, lo0);
        const __m256i hi1 = mulhilo8(c2[v], m1, lo1);
        c0[v] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[v]), kk0);
        c1[v] = lo1;
        c2[v] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[v]), kk1);
        c3[v] = lo0;
      }
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (int v = 0; v < 2; ++v) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(L.x + j + 8 * v), c0[v]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(L.y + j + 8 * v), c1[v]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(L.z + j + 8 * v), c2[v]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(L.w + j + 8 * v), c3[v]);
    }
  }
}
#endif

// Lane arrays for blocks (lo + j, hi), j in [0, n), n <= kChunk.
void philox_lanes(PhiloxKey k, uint32_t ss_lo, uint32_t ss_hi, uint32_t hi, uint32_t lo, uint32_t n,
                  Lanes& L) {
  uint32_t j = 0;
#if defined(__AVX2__)
  j = n & ~15u;
  philox_lanes_avx2(k, ss_lo, ss_hi, hi, lo, j, L);
#endif
  for (; j < n; ++j) {
    uint32_t o[4];
    detail::philox10(lo + j, hi, ss_lo, ss_hi, k.lo, k.hi, o);
    L.x[j] = o[0];
    L.y[j] = o[1];
    L.z[j] = o[2];
    L.w[j] = o[3];
  }
}

// out[4j .. 4j+3] = the normals of lane block j.
void lanes_to_normals(const Lanes& L, uint32_t n, float* __restrict out) {
  for (uint32_t j = 0; j < n; ++j) {
    float a, b, c, d;
    detail::box_muller(L.x[j], L.y[j], a, b);
    detail::box_muller(L.z[j], L.w[j], c, d);
    out[4 * j + 0] = a;
    out[4 * j + 1] = b;
    out[4 * j + 2] = c;
    out[4 * j + 3] = d;
  }
}

}  // namespace

void normals_fill(PhiloxKey k, uint64_t subseq, uint64_t first, int64_t count, float* out) {
  if (count <= 0) return;
  uint64_t i = first;
  const uint64_t end = first + uint64_t(count);
  // Head: the rest of a partly requested block.
  if (i & 3) {
    float z[4];
    normal_block(k, subseq, i >> 2, z);
    for (; i < end && (i & 3); ++i) *out++ = z[i & 3];
  }
  // Whole blocks, in chunks that do not cross a wrap of the counter's low word.
  uint64_t block = i >> 2;
  uint64_t nblocks = (end - i) >> 2;
  Lanes L;
  while (nblocks > 0) {
    const uint32_t lo = uint32_t(block);
    const uint64_t to_wrap = (uint64_t(1) << 32) - lo;
    const uint32_t n = uint32_t(std::min<uint64_t>({nblocks, to_wrap, kChunk}));
    philox_lanes(k, uint32_t(subseq), uint32_t(subseq >> 32), uint32_t(block >> 32), lo, n, L);
    lanes_to_normals(L, n, out);
    out += 4 * uint64_t(n);
    block += n;
    nblocks -= n;
    i += 4 * uint64_t(n);
  }
  // Tail: the start of a partly requested block.
  if (i < end) {
    float z[4];
    normal_block(k, subseq, i >> 2, z);
    for (int j = 0; i < end; ++i, ++j) *out++ = z[j];
  }
}

}  // namespace sptrain::rng
