// CPU backend: memory, elementwise ops, strided copies and optimizer steps. Each loop applies a body
// from kernels/ops.cuh over fixed blocks (src/cpu/parallel.hpp). Convolution, dense, pooling,
// normalization, softmax and losses live in the ops_*.cpp files beside this one.
#include "cpu/cpu_backend.hpp"

#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "cpu/parallel.hpp"
#include "ops.cuh"

namespace sptrain::cpu {

CpuBackend::CpuBackend() {
  // The backend parallelizes over fixed row chunks with OpenMP and calls sgemm inside those loops;
  // OpenBLAS's own thread pool would only oversubscribe the cores.
  openblas_set_num_threads(1);
}

// --- memory ---

namespace {
void* aligned_bytes(size_t bytes) {
  constexpr size_t kAlign = 64;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded > 0 ? rounded : kAlign);
  if (!p) throw std::bad_alloc();
  return p;
}

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  constexpr int64_t kChunk = int64_t(1) << 20;
  for_blocks(int64_t(bytes), kChunk, [&](int64_t b0, int64_t b1) {
    std::memcpy(static_cast<char*>(dst) + b0, static_cast<const char*>(src) + b0, size_t(b1 - b0));
  });
}
}  // namespace

void* CpuBackend::alloc_bytes(size_t bytes, const char*) { return aligned_bytes(bytes); }
void CpuBackend::release(void* p) noexcept { std::free(p); }
void CpuBackend::upload(float* dst, const float* host_src, size_t n) { parallel_memcpy(dst, host_src, n * sizeof(float)); }
void CpuBackend::download(float* host_dst, const float* src, size_t n) {
  parallel_memcpy(host_dst, src, n * sizeof(float));
}
void CpuBackend::copy(float* dst, const float* src, size_t n) { parallel_memcpy(dst, src, n * sizeof(float)); }

void CpuBackend::fill(float* dst, float value, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dst[i] = value;
  });
}

// --- elementwise ---

void CpuBackend::act_forward(Act a, float alpha, const float* x, float* y, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = ops::act_forward(a, alpha, x[i]);
  });
}

// The derivative is a function of y alone (kernels/activation.cuh); x is not read.
void CpuBackend::act_backward(Act a, float alpha, const float* /*x*/, const float* y, const float* dy, float* dx,
                              size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] = ops::act_backward(a, alpha, y[i], dy[i]);
  });
}

void CpuBackend::axpy(float alpha, const float* x, float* y, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] += alpha * x[i];
  });
}

void CpuBackend::scale(float* x, float s, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] *= s;
  });
}

double CpuBackend::sum_squares(const float* x, size_t n) {
  return ordered_sum(Split(int64_t(n), kBlock, 256), [&](int64_t i0, int64_t i1) {
    // Four interleaved accumulators (fixed pattern, so still independent of threads).
    double acc[4] = {0, 0, 0, 0};
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4)
      for (int j = 0; j < 4; ++j) acc[j] += double(x[i + j]) * double(x[i + j]);
    for (; i < i1; ++i) acc[0] += double(x[i]) * double(x[i]);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  });
}

bool CpuBackend::all_finite(const float* x, size_t n) {
  const Split s(int64_t(n), kBlock, 256);
  bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (s.parts > 1)
  for (int64_t p = 0; p < s.parts; ++p) {
    bool part_ok = true;
    for (int64_t i = s.begin(p); i < s.end(p); ++i) part_ok = part_ok && std::isfinite(x[i]);
    ok = ok && part_ok;
  }
  return ok;
}

// --- strided copies ---

void CpuBackend::copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  for_blocks(rows, std::max<int64_t>(1, kBlock / std::max(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memmove(dst + r * dst_stride, src + r * src_stride, size_t(cols) * sizeof(float));
  });
}

void CpuBackend::add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  for_blocks(rows, std::max<int64_t>(1, kBlock / std::max(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* s = src + r * src_stride;
      float* d = dst + r * dst_stride;
      for (int c = 0; c < cols; ++c) d[c] += s[c];
    }
  });
}

// --- optimizers ---

void CpuBackend::adam_step(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2,
                           float eps, int64_t t) {
  const float lr_t = ops::adam_rate(lr, b1, b2, t);
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) ops::adam_update(p[i], g[i], m[i], v[i], lr_t, b1, b2, eps);
  });
}

void CpuBackend::sgd_step(float* p, const float* g, float* vel, size_t n, float lr, float momentum, bool nesterov) {
  if (!vel && momentum != 0.0f) throw std::invalid_argument("sgd_step: momentum needs a velocity slab");
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

// --- device-resident step scalars (host memory here; same arithmetic as the host-driven step) ---

void CpuBackend::upload_f64(double* dst, const double* host_src, size_t n) { std::memcpy(dst, host_src, n * sizeof(double)); }
void CpuBackend::download_f64(double* host_dst, const double* src, size_t n) {
  std::memcpy(host_dst, src, n * sizeof(double));
}
void CpuBackend::loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                                 float scale, double weight, double* acc) {
  *acc += weight * loss(k, rows, C, pred, target, dpred, scale);
}
void CpuBackend::sum_squares_to(const float* x, size_t n, double* out) { *out = sum_squares(x, n); }

namespace {
// The clip factor the host-driven step applied: clip / |g| when the norm exceeds clip.
void clip_in_place(CpuBackend& be, float* g, size_t n, const double* s) {
  const float f = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  if (f != 1.0f) be.scale(g, f, n);
}
}  // namespace

void CpuBackend::adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                               const double* s) {
  clip_in_place(*this, g, n, s);
  adam_step(p, g, m, v, n, float(s[kLr]), b1, b2, eps, int64_t(s[kT]));
}
void CpuBackend::sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov,
                              const double* s) {
  clip_in_place(*this, g, n, s);
  sgd_step(p, g, vel, n, float(s[kLr]), momentum, nesterov);
}

void CpuBackend::lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1,
                                    float b2, float eps, float wd, const double* s) {
  clip_in_place(*this, g, n, s);
  const int64_t t = int64_t(s[kT]);
  const float bc1 = ops::bias_correction(b1, t), bc2 = ops::bias_correction(b2, t);
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) u[i] = ops::lamb_direction(p[i], g[i], m[i], v[i], b1, b2, eps, wd, bc1, bc2);
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
    for (int64_t i = i0; i < i1; ++i) p[i] -= step * u[i];
  });
}

}  // namespace sptrain::cpu
