// Batch normalization bodies: one element given its channel's statistics, and one channel's
// statistics given the sums the backend's reduction over rows = N*T took in double. Shared by the
// CPU loop and the CUDA kernels.
#pragma once
#include <math.h>
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

// y = gamma (x - mean) invstd + beta; training uses the batch mean and 1/sqrt(var_B + eps),
// inference the running statistics.
// xhat = (x - mean) invstd, in float (also the term of the backward's channel sums).
SPTRAIN_HD inline float bn_xhat(float x, float mean, float invstd) { return (x - mean) * invstd; }

// 1 / sqrt(var + eps) in double, rounded to float: the batch variance in training, the running
// variance in inference.
SPTRAIN_HD inline float bn_invstd(double var, float eps) { return float(1.0 / sqrt(var + double(eps))); }

// Channel c's statistics of a training batch from its mean and its sum of squared deviations sq
// over rows (doubles): m[c] and inv[c] (float) for the normalize pass, the same into save_mean /
// save_invstd, and running = momentum running + (1 - momentum) batch in double, the running variance
// from the unbiased batch variance (TF's fused kernel). Null outputs are skipped.
SPTRAIN_HD inline void bn_train_stats(int c, double mean, double sq, int64_t rows, float eps, float momentum, float* m,
                                      float* inv, float* save_mean, float* save_invstd, float* running_mean,
                                      float* running_var) {
  const double var = sq / double(rows);  // biased: normalizes the batch
  const double unbias = rows > 1 ? double(rows) / double(rows - 1) : 1.0;
  const float mc = float(mean);
  const float ic = bn_invstd(var, eps);
  m[c] = mc;
  inv[c] = ic;
  if (save_mean) save_mean[c] = mc;
  if (save_invstd) save_invstd[c] = ic;
  if (running_mean) running_mean[c] = float(double(momentum) * running_mean[c] + (1.0 - double(momentum)) * mean);
  if (running_var)
    running_var[c] = float(double(momentum) * running_var[c] + (1.0 - double(momentum)) * var * unbias);
}

// Channel c's backward statistics from the channel sums of dy and dy * xhat over rows (doubles):
// the means mdy[c], mdyx[c] that bn_backward takes, and dbeta[c] += sum dy, dgamma[c] += sum dy xhat
// (accumulating; null skipped).
SPTRAIN_HD inline void bn_backward_stats(int c, double sum_dy, double sum_dy_xhat, double rows, float* mdy, float* mdyx,
                                         float* dgamma, float* dbeta) {
  mdy[c] = float(sum_dy / rows);
  mdyx[c] = float(sum_dy_xhat / rows);
  if (dbeta) dbeta[c] += float(sum_dy);
  if (dgamma) dgamma[c] += float(sum_dy_xhat);
}

SPTRAIN_HD inline float bn_normalize(float x, float mean, float invstd, float gamma, float beta) {
  return gamma * ((x - mean) * invstd) + beta;
}

// Training-mode backward through the batch statistics, with xhat = (x - mean) invstd and the channel
// means over rows mean_dy = sum(dy)/n, mean_dy_xhat = sum(dy xhat)/n:
// dx = gamma invstd (dy - mean_dy - xhat mean_dy_xhat).
SPTRAIN_HD inline float bn_backward(float x, float dy, float mean, float invstd, float gamma, float mean_dy,
                                    float mean_dy_xhat) {
  const float xhat = bn_xhat(x, mean, invstd);
  return gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace sptrain::ops
