// Softmax over the last axis, one row at a time (C entries), shared by the CPU loop and the CUDA
// kernels. Row sums run sequentially in index order, so a row's result does not depend on how rows
// are distributed over threads.
#pragma once
#include <math.h>

#include "hd.cuh"

namespace sptrain::ops {

// y = exp(x - max x) / sum exp(x - max x)
SPTRAIN_HD inline void softmax_row(int C, const float* x, float* y) {
  float mx = x[0];
  for (int c = 1; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
  float s = 0.0f;
  for (int c = 0; c < C; ++c) {
    y[c] = expf(x[c] - mx);
    s += y[c];
  }
  const float inv = 1.0f / s;
  for (int c = 0; c < C; ++c) y[c] *= inv;
}

// dx = y * (dy - sum_c dy_c y_c); dx may alias dy.
SPTRAIN_HD inline void softmax_backward_row(int C, const float* y, const float* dy, float* dx) {
  float dot = 0.0f;
  for (int c = 0; c < C; ++c) dot += dy[c] * y[c];
  for (int c = 0; c < C; ++c) dx[c] = y[c] * (dy[c] - dot);
}

}  // namespace sptrain::ops
