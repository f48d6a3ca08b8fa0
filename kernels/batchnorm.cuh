// Batch normalization bodies for one element, given its channel's statistics (computed by the
// backend's reduction over rows = N*T). Shared by the CPU loop and the CUDA kernels.
#pragma once
#include <math.h>

#include "hd.cuh"

namespace sptrain::ops {

// y = gamma (x - mean) invstd + beta; training uses the batch mean and 1/sqrt(var_B + eps),
// inference the running statistics.
SPTRAIN_HD inline float bn_normalize(float x, float mean, float invstd, float gamma, float beta) {
  return gamma * ((x - mean) * invstd) + beta;
}

// Training-mode backward through the batch statistics, with xhat = (x - mean) invstd and the channel
// means over rows mean_dy = sum(dy)/n, mean_dy_xhat = sum(dy xhat)/n:
// dx = gamma invstd (dy - mean_dy - xhat mean_dy_xhat).
SPTRAIN_HD inline float bn_backward(float x, float dy, float mean, float invstd, float gamma, float mean_dy,
                                    float mean_dy_xhat) {
  const float xhat = (x - mean) * invstd;
  return gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace sptrain::ops
