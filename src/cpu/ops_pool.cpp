// Max pooling on the CPU: the window body is kernels/pool.cuh. The backward scatters each output's
// gradient to its argmax, one sample per loop iteration and outputs in time order, so overlapping
// windows add up in a fixed order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"
#include "pool.cuh"

namespace sptrain::cpu {

void CpuBackend::maxpool1d_forward(int N, int T_in, int C, int pool, int stride, const float* x, float* y,
                                   int32_t* argmax) {
  if (N <= 0 || T_in < pool || pool < 1 || stride < 1) return;
  const int T_out = (T_in - pool) / stride + 1;
  const int64_t outs = int64_t(N) * T_out;  // (n, t) pairs
  for_blocks(outs, std::max<int64_t>(1, kBlock / (int64_t(C) * pool)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t n = o / T_out, t = o - n * T_out;
      const float* xn = x + n * T_in * C;
      for (int c = 0; c < C; ++c) {
        int32_t at;
        y[o * C + c] = ops::window_max(xn, C, int(t) * stride, pool, c, &at);
        if (argmax) argmax[o * C + c] = at;
      }
    }
  });
}

void CpuBackend::maxpool1d_backward(int N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                                    float* dx) {
  if (N <= 0) return;
  for_blocks(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* dxn = dx + n * T_in * C;
      std::memset(dxn, 0, size_t(T_in) * C * sizeof(float));
      const int32_t* an = argmax + n * T_out * C;
      const float* dyn = dy + n * T_out * C;
      for (int t = 0; t < T_out; ++t)
        for (int c = 0; c < C; ++c) ops::pool_scatter(an, dyn, C, t, c, dxn);
    }
  });
}

// Time outermost and channels innermost (contiguous, vectorized): the running maximum of every
// channel advances one time step at a time, the same max_update sequence as window_max's.
void CpuBackend::global_maxpool_forward(int N, int T, int C, const float* x, float* y, int32_t* argmax) {
  if (N <= 0 || T < 1) return;
  for_blocks(N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<int32_t> at(size_t(C), 0);
    for (int64_t n = n0; n < n1; ++n) {
      const float* xn = x + n * T * C;
      float* best = y + n * C;
      for (int c = 0; c < C; ++c) best[c] = xn[c];
      std::fill(at.begin(), at.end(), 0);
      for (int t = 1; t < T; ++t) {
        const float* row = xn + int64_t(t) * C;
#pragma omp simd
        for (int c = 0; c < C; ++c) ops::max_update(row[c], t, best[c], at[size_t(c)]);
      }
      if (argmax) std::copy(at.begin(), at.end(), argmax + n * C);
    }
  });
}

void CpuBackend::global_maxpool_backward(int N, int T, int C, const int32_t* argmax, const float* dy, float* dx) {
  if (N <= 0) return;
  for_blocks(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* dxn = dx + n * T * C;
      std::memset(dxn, 0, size_t(T) * C * sizeof(float));
      for (int c = 0; c < C; ++c) ops::pool_scatter(argmax + n * C, dy + n * C, C, 0, c, dxn);
    }
  });
}

}  // namespace sptrain::cpu
