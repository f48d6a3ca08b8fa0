// Max-pooling bodies: the maximum of one window of one channel and where it is, and the backward's
// scatter of one output's gradient. Shared by the CPU loop and the CUDA kernels.
#pragma once
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

// One step of a running maximum over time: value v at time t replaces (best, at) only when
// strictly greater, so ties keep the first (smallest) time and a NaN never replaces a number.
SPTRAIN_HD inline void max_update(float v, int32_t t, float& best, int32_t& at) {
  if (v > best) {
    best = v;
    at = t;
  }
}

// x points at one sample (T, C); the window is times t0 .. t0 + len - 1 of channel c. Returns the
// maximum and writes its time index to *arg; ties keep the first (smallest) index.
SPTRAIN_HD inline float window_max(const float* x, int C, int t0, int len, int c, int32_t* arg) {
  float best = x[int64_t(t0) * C + c];
  int32_t at = t0;
  for (int t = t0 + 1; t < t0 + len; ++t) max_update(x[int64_t(t) * C + c], t, best, at);
  *arg = at;
  return best;
}

// The backward of window_max for output (t, c) of one sample: dx (T_in, C) at the chosen time
// += dy (T_out, C) at (t, c). Callers zero dx first and take t in increasing order, so elements
// chosen by several overlapping windows add up in one fixed order.
SPTRAIN_HD inline void pool_scatter(const int32_t* argmax, const float* dy, int C, int t, int c, float* dx) {
  const int64_t o = int64_t(t) * C + c;
  dx[int64_t(argmax[o]) * C + c] += dy[o];
}

}  // namespace sptrain::ops
