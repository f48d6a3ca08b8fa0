// Optimizer steps on the CUDA backend: one grid-stride kernel per optimizer over the bodies of
// kernels/optim.cuh, reading lr, t and the clip from device step scalars so a training step never
// waits for the host (the CPU twin is cpu/ops_optim.cpp).
#include "cuda/cuda_backend.hpp"

#include <stdexcept>

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

// --- optimizers ---

// Step scalars read on the device: the clip factor (ops::clip_factor, 1 = no clip) and lr.
// Computed once per block by thread 0.
struct DevStep {
  float lr, lr_t, factor;
};

__device__ void load_step(const double* s, bool adam, float b1, float b2, DevStep& out) {
  out.factor = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  out.lr = float(s[kLr]);
  if (adam) {
    out.lr_t = ops::adam_rate(out.lr, b1, b2, int64_t(s[kT]));
  } else {
    out.lr_t = 0.0f;
  }
}

__global__ void adam_dev_kernel(float* p, float* g, float* m, float* v, int64_t n, float b1, float b2, float eps,
                                const double* s) {
  __shared__ DevStep st;
  if (threadIdx.x == 0) load_step(s, true, b1, b2, st);
  __syncthreads();
  const float factor = st.factor, lr_t = st.lr_t;
  SPTRAIN_GRID_STRIDE(i, n) ops::adam_step_at(p, g, m, v, i, factor, lr_t, b1, b2, eps);
}

__global__ void lamb_direction_kernel(const float* p, float* g, float* m, float* v, float* u, int64_t n, float b1,
                                      float b2, float eps, float wd, const double* s) {
  __shared__ DevStep st;
  __shared__ float bc[2];
  if (threadIdx.x == 0) {
    load_step(s, false, 0.0f, 0.0f, st);
    bc[0] = ops::bias_correction(b1, int64_t(s[kT]));
    bc[1] = ops::bias_correction(b2, int64_t(s[kT]));
  }
  __syncthreads();
  const float factor = st.factor, bc1 = bc[0], bc2 = bc[1];
  SPTRAIN_GRID_STRIDE(i, n) ops::lamb_direction_at(p, g, m, v, u, i, factor, b1, b2, eps, wd, bc1, bc2);
}

__global__ void trust_step_kernel(float* p, const float* u, int64_t n, const double* norms2, const double* s) {
  __shared__ float step;
  if (threadIdx.x == 0) step = float(s[kLr]) * ops::lamb_trust(norms2[0], norms2[1]);
  __syncthreads();
  const float k = step;
  SPTRAIN_GRID_STRIDE(i, n) ops::trust_update(p[i], u[i], k);
}

__global__ void lars_step_kernel(float* p, const float* g, float* vel, int64_t n, const double* norms2, float eta,
                                 float wd, float momentum, const double* s) {
  __shared__ float sh[2];  // clip factor, lr * trust
  if (threadIdx.x == 0) {
    sh[0] = ops::clip_factor(s[kClipNorm], s[kGradSq]);
    sh[1] = float(s[kLr]) * ops::lars_trust(norms2[0], norms2[1], sh[0], wd, eta);
  }
  __syncthreads();
  const float f = sh[0], step = sh[1];
  SPTRAIN_GRID_STRIDE(i, n) {
    float pi = p[i], vi = vel[i];
    ops::lars_update(pi, f * g[i], vi, step, wd, momentum);
    p[i] = pi;
    vel[i] = vi;
  }
}

__global__ void sgd_dev_kernel(float* p, float* g, float* vel, int64_t n, float momentum, bool nesterov,
                               const double* s) {
  __shared__ DevStep st;
  if (threadIdx.x == 0) load_step(s, false, 0.0f, 0.0f, st);
  __syncthreads();
  const float factor = st.factor, lr = st.lr;
  SPTRAIN_GRID_STRIDE(i, n) ops::sgd_step_at(p, g, vel, i, factor, lr, momentum, nesterov);
}

}  // namespace

// --- optimizers ---

void CudaBackend::adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                                const double* s) {
  if (n == 0) return;
  adam_dev_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(p, g, m, v, int64_t(n), b1, b2, eps, s);
  check_launch();
}

void CudaBackend::sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov,
                               const double* s) {
  if (!vel && momentum != 0.0f) throw std::invalid_argument("sgd_step: momentum needs a velocity slab");
  if (n == 0) return;
  sgd_dev_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(p, g, vel, int64_t(n), momentum, nesterov, s);
  check_launch();
}

void CudaBackend::lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1,
                                     float b2, float eps, float wd, const double* s) {
  if (n == 0) return;
  lamb_direction_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(p, g, m, v, u, int64_t(n), b1, b2, eps, wd, s);
  check_launch();
}

void CudaBackend::lars_step_dev(float* p, const float* g, float* vel, size_t n, const double* norms2, float eta,
                                float wd, float momentum, const double* s) {
  if (n == 0) return;
  lars_step_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(p, g, vel, int64_t(n), norms2, eta, wd, momentum, s);
  check_launch();
}

void CudaBackend::trust_step_dev(float* p, const float* u, size_t n, const double* norms2, const double* s) {
  if (n == 0) return;
  trust_step_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(p, u, int64_t(n), norms2, s);
  check_launch();
}

}  // namespace sptrain::cuda
