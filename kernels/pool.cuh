// Max-pooling body: the maximum of one window of one channel, and where it is. Shared by the CPU
// loop and the CUDA kernels.
#pragma once
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

// x points at one sample (T, C); the window is times t0 .. t0 + len - 1 of channel c. Returns the
// maximum and writes its time index to *arg; ties keep the first (smallest) index.
SPTRAIN_HD inline float window_max(const float* x, int C, int t0, int len, int c, int32_t* arg) {
  float best = x[int64_t(t0) * C + c];
  int32_t at = t0;
  for (int t = t0 + 1; t < t0 + len; ++t) {
    const float v = x[int64_t(t) * C + c];
    if (v > best) {
      best = v;
      at = t;
    }
  }
  *arg = at;
  return best;
}

}  // namespace sptrain::ops
