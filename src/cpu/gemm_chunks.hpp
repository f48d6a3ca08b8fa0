// Row-chunked sgemm drivers shared by Dense and Conv1D (im2col). The rows of the left operand A
// (rows, kdim) are produced chunk by chunk by get_a(r0, r1, scratch), which either returns a
// pointer into existing memory or fills the thread's scratch buffer (chunk_rows(kdim) x kdim floats,
// at most kScratchBytes) and returns it. Chunks have a fixed size, so every sgemm call sees the same
// operands whatever the thread count; weight gradients are reduced over a fixed number of slots
// (each a fixed run of chunks) added in slot order.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"

namespace sptrain::cpu {

inline constexpr int64_t kScratchBytes = int64_t(2) << 20;  // per-thread A-chunk buffer
inline constexpr int64_t kSlotBytes = int64_t(64) << 20;    // all weight-gradient partials together
inline constexpr int64_t kMaxSlots = 32;

// The calling thread's scratch of at least n floats, kept between calls (grown, never shrunk), so a
// training step allocates no memory: a fresh buffer per call cost page faults and page clearing
// on every op. Contents are unspecified; callers overwrite what they read.
inline float* thread_scratch(int64_t n, int slot = 0) {
  thread_local std::vector<float> buf[2];
  std::vector<float>& b = buf[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// dst[0, n) = src[0, n) (zeros when src is null): rows of a few channels are copied millions of
// times per step, so the common widths get a copy of constant size, which the compiler inlines,
// instead of a call into the C library's generic memcpy/memset.
inline void copy_row(float* dst, const float* src, int64_t n) {
  auto fixed = [&](auto w) {
    if (src) std::memcpy(dst, src, sizeof(float) * decltype(w)::value);
    else std::memset(dst, 0, sizeof(float) * decltype(w)::value);
  };
  switch (n) {
    case 8: return fixed(std::integral_constant<int, 8>{});
    case 16: return fixed(std::integral_constant<int, 16>{});
    case 32: return fixed(std::integral_constant<int, 32>{});
    case 64: return fixed(std::integral_constant<int, 64>{});
    default:
      if (src) std::memcpy(dst, src, size_t(n) * sizeof(float));
      else std::memset(dst, 0, size_t(n) * sizeof(float));
  }
}

// Rows per chunk for an A operand of `width` floats per row.
inline int64_t chunk_rows(int64_t width, int64_t bytes = kScratchBytes) {
  return std::max<int64_t>(64, bytes / (int64_t(sizeof(float)) * std::max<int64_t>(width, 1)));
}

// Row chunks of an output-row GEMM (gemm_rows) hold a quarter of the weight gradient's: the chunk
// of A then stays in a core's L2 beside sgemm's packed copy of it. Each output row is one dot
// product per column whatever the chunk holds, so this size does not change any result; the
// weight gradient reduces over its chunk's rows, so its chunk size is part of the arithmetic and
// stays kScratchBytes.
inline constexpr int64_t kRowChunkBytes = kScratchBytes / 4;

// out (rows, nout) = A (rows, kdim) B [+ bias broadcast over rows]; B is (kdim, nout), or stored
// (nout, kdim) when trans_b.
template <class GetA>
void gemm_rows(int64_t rows, int64_t kdim, int64_t nout, bool need_scratch, GetA&& get_a, const float* B,
               bool trans_b, const float* bias, float* out) {
  if (rows <= 0 || nout <= 0) return;
  const int64_t R = chunk_rows(kdim, kRowChunkBytes), nch = (rows + R - 1) / R;
#pragma omp parallel if (nch > 1)
  {
    float* scratch = need_scratch ? thread_scratch(R * kdim) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nch; ++ch) {
      const int64_t r0 = ch * R, r1 = std::min(rows, r0 + R);
      float* C = out + r0 * nout;
      if (bias)
        for (int64_t r = r0; r < r1; ++r) copy_row(C + (r - r0) * nout, bias, nout);
      if (kdim == 0) {
        if (!bias) std::memset(C, 0, size_t((r1 - r0) * nout) * sizeof(float));
        continue;
      }
      const float* A = get_a(r0, r1, scratch);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(r1 - r0), int(nout),
                  int(kdim), 1.0f, A, int(kdim), B, int(trans_b ? kdim : nout), bias ? 1.0f : 0.0f, C, int(nout));
    }
  }
}

// dw (kdim, nout) += A^T dy and db (nout) += column sums of dy (db may be null), dy (rows, nout).
template <class GetA>
void gemm_weight_grad(int64_t rows, int64_t kdim, int64_t nout, bool need_scratch, GetA&& get_a, const float* dy,
                      float* dw, float* db) {
  if (rows <= 0 || nout <= 0) return;
  const int64_t R = chunk_rows(kdim), nch = (rows + R - 1) / R;
  const int64_t wsize = kdim * nout;
  const int64_t slots = std::clamp<int64_t>(
      std::min({nch, kMaxSlots, kSlotBytes / (int64_t(sizeof(float)) * std::max<int64_t>(wsize, 1))}), 1, kMaxSlots);
  // The slots' partial weight gradients (each slot's first sgemm overwrites its own, beta = 0) in
  // the calling thread's second scratch; the bias partials in double, zeroed.
  float* pw = thread_scratch(slots * wsize, 1);
  std::vector<double> pdb(db ? size_t(slots * nout) : 0, 0.0);
#pragma omp parallel if (slots > 1)
  {
    float* scratch = need_scratch && wsize > 0 ? thread_scratch(R * kdim) : nullptr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < slots; ++s) {
      const int64_t c0 = nch * s / slots, c1 = nch * (s + 1) / slots;
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t r0 = ch * R, r1 = std::min(rows, r0 + R);
        const float* g = dy + r0 * nout;
        if (wsize > 0) {
          const float* A = get_a(r0, r1, scratch);
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(kdim), int(nout), int(r1 - r0), 1.0f, A,
                      int(kdim), g, int(nout), ch == c0 ? 0.0f : 1.0f, pw + s * wsize, int(nout));
        }
        if (db) {
          double* acc = pdb.data() + s * nout;
          for (int64_t r = 0; r < r1 - r0; ++r)
            for (int64_t f = 0; f < nout; ++f) acc[f] += double(g[r * nout + f]);
        }
      }
    }
  }
  for_blocks(wsize, kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float acc = pw[i];
      for (int64_t s = 1; s < slots; ++s) acc += pw[s * wsize + i];
      dw[i] += acc;
    }
  });
  if (db)
    for (int64_t f = 0; f < nout; ++f) {
      double acc = 0.0;
      for (int64_t s = 0; s < slots; ++s) acc += pdb[size_t(s * nout + f)];
      db[f] += float(acc);
    }
}

}  // namespace sptrain::cpu
