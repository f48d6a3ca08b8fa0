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
#include <memory>
#include <vector>

#include "cpu/parallel.hpp"

namespace sptrain::cpu {

inline constexpr int64_t kScratchBytes = int64_t(2) << 20;  // per-thread A-chunk buffer
inline constexpr int64_t kSlotBytes = int64_t(64) << 20;    // all weight-gradient partials together
inline constexpr int64_t kMaxSlots = 32;

// Rows per chunk for an A operand of `width` floats per row.
inline int64_t chunk_rows(int64_t width) {
  return std::max<int64_t>(64, kScratchBytes / (int64_t(sizeof(float)) * std::max<int64_t>(width, 1)));
}

// out (rows, nout) = A (rows, kdim) B [+ bias broadcast over rows]; B is (kdim, nout), or stored
// (nout, kdim) when trans_b.
template <class GetA>
void gemm_rows(int64_t rows, int64_t kdim, int64_t nout, bool need_scratch, GetA&& get_a, const float* B,
               bool trans_b, const float* bias, float* out) {
  if (rows <= 0 || nout <= 0) return;
  const int64_t R = chunk_rows(kdim), nch = (rows + R - 1) / R;
#pragma omp parallel if (nch > 1)
  {
    std::unique_ptr<float[]> scratch(need_scratch ? new float[size_t(R * kdim)] : nullptr);
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nch; ++ch) {
      const int64_t r0 = ch * R, r1 = std::min(rows, r0 + R);
      float* C = out + r0 * nout;
      if (bias)
        for (int64_t r = r0; r < r1; ++r) std::memcpy(C + (r - r0) * nout, bias, size_t(nout) * sizeof(float));
      if (kdim == 0) {
        if (!bias) std::memset(C, 0, size_t((r1 - r0) * nout) * sizeof(float));
        continue;
      }
      const float* A = get_a(r0, r1, scratch.get());
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
  std::vector<float> pw(size_t(slots * wsize));
  std::vector<double> pdb(db ? size_t(slots * nout) : 0, 0.0);
#pragma omp parallel if (slots > 1)
  {
    std::unique_ptr<float[]> scratch(need_scratch && wsize > 0 ? new float[size_t(R * kdim)] : nullptr);
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < slots; ++s) {
      const int64_t c0 = nch * s / slots, c1 = nch * (s + 1) / slots;
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t r0 = ch * R, r1 = std::min(rows, r0 + R);
        const float* g = dy + r0 * nout;
        if (wsize > 0) {
          const float* A = get_a(r0, r1, scratch.get());
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(kdim), int(nout), int(r1 - r0), 1.0f, A,
                      int(kdim), g, int(nout), ch == c0 ? 0.0f : 1.0f, pw.data() + s * wsize, int(nout));
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
      float acc = pw[size_t(i)];
      for (int64_t s = 1; s < slots; ++s) acc += pw[size_t(s * wsize + i)];
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
