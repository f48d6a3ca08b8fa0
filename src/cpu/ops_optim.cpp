// Optimizer steps on the CPU over flat slabs: bodies from kernels/optim.cuh over fixed blocks
// (src/cpu/parallel.hpp). They read lr, t and the clip from the step scalars (host memory here).
#include <stdexcept>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"
#include "ops.cuh"

namespace sptrain::cpu {

// --- optimizers ---

namespace {

// The SGD update over the slab from an already clipped g.
void sgd_update_slab(float* p, const float* g, float* vel, size_t n, float lr, float momentum, bool nesterov) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    if (vel) {
      for (int64_t i = i0; i < i1; ++i) ops::sgd_update(p[i], g[i], vel[i], lr, momentum, nesterov);
    } else {  // plain SGD keeps no velocity: the same update from a zero velocity
      for (int64_t i = i0; i < i1; ++i) {
        float v0 = 0.0f;
        ops::sgd_update(p[i], g[i], v0, lr, 0.0f, nesterov);
      }
    }
  });
}

}  // namespace

void CpuBackend::adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                               const double* s) {
  const float f = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  const float lr_t = ops::adam_rate(float(s[kLr]), b1, b2, int64_t(s[kT]));
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ops::adam_step_at(p, g, m, v, i, f, lr_t, b1, b2, eps);
  });
}

// Two passes: the clip, then the update reading the clipped g back from memory. Fusing them as
// ops::sgd_step_at does on the GPU would let the compiler share lr * g between the velocity and the
// Nesterov term and contract them into different FMAs, changing the CPU's last bits.
void CpuBackend::sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov,
                              const double* s) {
  if (!vel && momentum != 0.0f) throw std::invalid_argument("sgd_step: momentum needs a velocity slab");
  const float f = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  if (f != 1.0f)
    for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) ops::clip_grad(g, i, f);
    });
  sgd_update_slab(p, g, vel, n, float(s[kLr]), momentum, nesterov);
}

void CpuBackend::lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1,
                                    float b2, float eps, float wd, const double* s) {
  const float f = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  const int64_t t = int64_t(s[kT]);
  const float bc1 = ops::bias_correction(b1, t), bc2 = ops::bias_correction(b2, t);
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ops::lamb_direction_at(p, g, m, v, u, i, f, b1, b2, eps, wd, bc1, bc2);
  });
}

void CpuBackend::lars_step_dev(float* p, const float* g, float* vel, size_t n, const double* norms2, float eta,
                               float wd, float momentum, const double* s) {
  const float f = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  const float step = float(s[kLr]) * ops::lars_trust(norms2[0], norms2[1], f, wd, eta);
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ops::lars_update(p[i], f * g[i], vel[i], step, wd, momentum);
  });
}

void CpuBackend::trust_step_dev(float* p, const float* u, size_t n, const double* norms2, const double* s) {
  const float step = float(s[kLr]) * ops::lamb_trust(norms2[0], norms2[1]);
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ops::trust_update(p[i], u[i], step);
  });
}

}  // namespace sptrain::cpu
