// Loss bodies (Keras definitions), shared by the CPU loop and the CUDA kernels: the loss of one
// element and its derivative with respect to the prediction, and the categorical cross-entropy of
// one row of logits. The backend sums the values (in double) and scales the derivatives by
// scale / count, so d(mean loss)/d(pred) = loss_grad / count.
#pragma once
#include <math.h>

#include <sptrain/op_kinds.hpp>

#include "hd.cuh"

namespace sptrain::ops {

inline constexpr float kLossEps = 1e-7f;  // Keras backend.epsilon()

SPTRAIN_HD inline float sign_of(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }

// 1 / (1 + exp(-z)) without overflow for either sign of z.
SPTRAIN_HD inline float sigmoid_stable(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
  const float e = expf(z);
  return e / (1.0f + e);
}

// Element loss; for BinaryCrossEntropy p is the logit. (CategoricalCrossEntropy works per row.)
SPTRAIN_HD inline float loss_value(LossKind k, float p, float y) {
  switch (k) {
    case LossKind::MSE: return (p - y) * (p - y);
    case LossKind::MAE: return fabsf(p - y);
    case LossKind::MAPE: return 100.0f * fabsf(y - p) / fmaxf(fabsf(y), kLossEps);
    case LossKind::Poisson: return p - y * logf(p + kLossEps);
    case LossKind::BinaryCrossEntropy: return fmaxf(p, 0.0f) - p * y + log1pf(expf(-fabsf(p)));
    case LossKind::CategoricalCrossEntropy: break;
  }
  return 0.0f;
}

// d loss_value / d p. |.| has derivative 0 at 0 (TensorFlow's sign).
SPTRAIN_HD inline float loss_grad(LossKind k, float p, float y) {
  switch (k) {
    case LossKind::MSE: return 2.0f * (p - y);
    case LossKind::MAE: return sign_of(p - y);
    case LossKind::MAPE: return 100.0f * sign_of(p - y) / fmaxf(fabsf(y), kLossEps);
    case LossKind::Poisson: return 1.0f - y / (p + kLossEps);
    case LossKind::BinaryCrossEntropy: return sigmoid_stable(p) - y;
    case LossKind::CategoricalCrossEntropy: break;
  }
  return 0.0f;
}

// Categorical cross-entropy of one row of C logits z against target probabilities y:
// -sum_c y_c log softmax(z)_c = sum_c y_c (lse - z_c), lse = log sum exp z (each term >= 0, so the
// sum stays finite and accurate for extreme logits). When dz is non-null, writes
// dz_c = coef * (sum(y) softmax(z)_c - y_c), the exact derivative times coef (= softmax - y for
// targets that sum to 1).
SPTRAIN_HD inline float cce_row(int C, const float* z, const float* y, float* dz, float coef) {
  float mx = z[0];
  for (int c = 1; c < C; ++c) mx = z[c] > mx ? z[c] : mx;
  float s = 0.0f;
  for (int c = 0; c < C; ++c) s += expf(z[c] - mx);
  const float lse_shift = logf(s);  // lse - mx
  float loss = 0.0f, ysum = 0.0f;
  for (int c = 0; c < C; ++c) {
    loss += y[c] * (lse_shift - (z[c] - mx));
    ysum += y[c];
  }
  if (dz) {
    const float inv = 1.0f / s;
    for (int c = 0; c < C; ++c) dz[c] = coef * (ysum * (expf(z[c] - mx) * inv) - y[c]);
  }
  return loss;
}

}  // namespace sptrain::ops
