// Optimizer updates of one parameter element (Keras TF2 forms), shared by the CPU loop and the
// CUDA kernels. Adam's bias-corrected rate adam_rate() is computed once per step: on the host for
// adam_step, on the device (from the step scalars) for adam_step_dev.
#pragma once
#include <math.h>
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

// lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t), t >= 1, evaluated in double.
SPTRAIN_HD inline float adam_rate(float lr, float b1, float b2, int64_t t) {
  const double td = double(t);
  return float(double(lr) * sqrt(1.0 - pow(double(b2), td)) / (1.0 - pow(double(b1), td)));
}

// Clipping by the global gradient norm: the factor clip / |g| when clip > 0 and |g| > clip, else 1.
SPTRAIN_HD inline float clip_factor(double clip, double grad_sq) {
  const double norm = sqrt(grad_sq);
  return clip > 0.0 && norm > clip ? float(clip / norm) : 1.0f;
}

// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr_t m / (sqrt(v) + eps)
SPTRAIN_HD inline void adam_update(float& p, float g, float& m, float& v, float lr_t, float b1, float b2, float eps) {
  m = b1 * m + (1.0f - b1) * g;
  v = b2 * v + (1.0f - b2) * g * g;
  p -= lr_t * m / (sqrtf(v) + eps);
}

// LAMB (You et al. 2019), per element: Adam's moments, then the direction
// u = m_hat / (sqrt(v_hat) + eps) + wd p with bc1 = 1 - b1^t, bc2 = 1 - b2^t. Each layer then
// moves p -= lr * trust * u with trust = |p_layer| / |u_layer| (lamb_trust).
SPTRAIN_HD inline float lamb_direction(float p, float g, float& m, float& v, float b1, float b2, float eps, float wd,
                                       float bc1, float bc2) {
  m = b1 * m + (1.0f - b1) * g;
  v = b2 * v + (1.0f - b2) * g * g;
  return (m / bc1) / (sqrtf(v / bc2) + eps) + wd * p;
}

// The layer's trust ratio from the squared norms of its parameters and its direction (1 when either
// is zero, e.g. a layer still at zero).
SPTRAIN_HD inline float lamb_trust(double p2, double u2) { return p2 > 0.0 && u2 > 0.0 ? float(sqrt(p2 / u2)) : 1.0f; }

// LARS (You, Gitman & Ginsburg 2017): each layer's local rate eta |p| / (|g| + wd |p|), from the
// squared norms of its parameters and its gradient before clipping (p2, g2) and the global clip
// factor (so |g| is the clipped gradient's norm); 1 when either norm is zero.
SPTRAIN_HD inline float lars_trust(double p2, double g2, float clip, float wd, float eta) {
  if (!(p2 > 0.0) || !(g2 > 0.0)) return 1.0f;
  const double pn = sqrt(p2), gn = double(clip) * sqrt(g2);
  return float(double(eta) * pn / (gn + double(wd) * pn));
}

// LARS momentum step with step = lr * lars_trust: vel = momentum vel - step (g + wd p); p += vel.
SPTRAIN_HD inline void lars_update(float& p, float g, float& vel, float step, float wd, float momentum) {
  vel = momentum * vel - step * (g + wd * p);
  p += vel;
}

// Bias corrections 1 - b^t, in double.
SPTRAIN_HD inline float bias_correction(float b, int64_t t) { return float(1.0 - pow(double(b), double(t))); }

// vel = momentum vel - lr g; p += vel, or with Nesterov p += momentum vel - lr g (the new vel).
SPTRAIN_HD inline void sgd_update(float& p, float g, float& vel, float lr, float momentum, bool nesterov) {
  vel = momentum * vel - lr * g;
  p += nesterov ? momentum * vel - lr * g : vel;
}

}  // namespace sptrain::ops
