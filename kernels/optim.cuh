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

// LAMB's per-layer move of one element: p -= step u, step = lr * lamb_trust.
SPTRAIN_HD inline void trust_update(float& p, float u, float step) { p -= step * u; }

// The steps over slabs, element i: the global clip first, then the update.

// g[i] after the clip by factor (clip_factor; 1 = no clip), written back to g when the clip applies
// (the float product), so the caller's gradient slab holds the clipped gradient afterwards.
SPTRAIN_HD inline float clip_grad(float* g, int64_t i, float factor) {
  float gi = g[i];
  if (factor != 1.0f) {
    gi *= factor;
    g[i] = gi;
  }
  return gi;
}

// Adam at element i with lr_t = adam_rate.
SPTRAIN_HD inline void adam_step_at(float* p, float* g, float* m, float* v, int64_t i, float factor, float lr_t,
                                    float b1, float b2, float eps) {
  const float gi = clip_grad(g, i, factor);
  float pi = p[i], mi = m[i], vi = v[i];
  adam_update(pi, gi, mi, vi, lr_t, b1, b2, eps);
  p[i] = pi;
  m[i] = mi;
  v[i] = vi;
}

// SGD at element i; vel null: plain SGD, which keeps no velocity (the update from a zero velocity).
SPTRAIN_HD inline void sgd_step_at(float* p, float* g, float* vel, int64_t i, float factor, float lr, float momentum,
                                   bool nesterov) {
  const float gi = clip_grad(g, i, factor);
  float pi = p[i];
  if (vel) {
    float vi = vel[i];
    sgd_update(pi, gi, vi, lr, momentum, nesterov);
    vel[i] = vi;
  } else {
    float v0 = 0.0f;
    sgd_update(pi, gi, v0, lr, 0.0f, nesterov);
  }
  p[i] = pi;
}

// LAMB's direction u[i] at element i (moments updated in place).
SPTRAIN_HD inline void lamb_direction_at(const float* p, float* g, float* m, float* v, float* u, int64_t i,
                                         float factor, float b1, float b2, float eps, float wd, float bc1, float bc2) {
  const float gi = clip_grad(g, i, factor);
  float mi = m[i], vi = v[i];
  u[i] = lamb_direction(p[i], gi, mi, vi, b1, b2, eps, wd, bc1, bc2);
  m[i] = mi;
  v[i] = vi;
}

}  // namespace sptrain::ops
