// Elementwise ops, sums of squares, the finiteness check and strided copies on the CPU: bodies
// from kernels/activation.cuh over fixed blocks (src/cpu/parallel.hpp), so sums do not depend on
// the thread count.
#include <cmath>
#include <cstring>

#include "cpu/act_dispatch.hpp"
#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"
#include "ops.cuh"

namespace sptrain::cpu {

// --- elementwise ---

void CpuBackend::act_forward(Act a, float alpha, const float* x, float* y, size_t n) {
  with_act(a, [&](auto kind) {
    for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) y[i] = ops::act_forward(kind(), alpha, x[i]);
    });
  });
}

// The derivative is a function of y alone (kernels/activation.cuh); x is not read.
void CpuBackend::act_backward(Act a, float alpha, const float* y, const float* dy, float* dx,
                              size_t n) {
  with_act(a, [&](auto kind) {
    for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dx[i] = ops::act_backward(kind(), alpha, y[i], dy[i]);
    });
  });
}

void CpuBackend::axpy(float alpha, const float* x, float* y, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] += alpha * x[i];
  });
}

void CpuBackend::sum_squares_to(const float* x, size_t n, double* out) {
  *out = ordered_sum(Split(int64_t(n), kBlock, 256), [&](int64_t i0, int64_t i1) {
    // Four interleaved accumulators (fixed pattern, so still independent of threads).
    double acc[4] = {0, 0, 0, 0};
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4)
      for (int j = 0; j < 4; ++j) acc[j] += double(x[i + j]) * double(x[i + j]);
    for (; i < i1; ++i) acc[0] += double(x[i]) * double(x[i]);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  });
}

// --- strided copies ---

void CpuBackend::copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  for_blocks(rows, std::max<int64_t>(1, kBlock / std::max(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memmove(dst + r * dst_stride, src + r * src_stride, size_t(cols) * sizeof(float));
  });
}

void CpuBackend::add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  for_blocks(rows, std::max<int64_t>(1, kBlock / std::max(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* s = src + r * src_stride;
      float* d = dst + r * dst_stride;
      for (int c = 0; c < cols; ++c) d[c] += s[c];
    }
  });
}


}  // namespace sptrain::cpu
