// Elementwise ops, sums of squares, the finiteness check and strided copies on the CUDA backend:
// grid-stride kernels over the bodies of kernels/activation.cuh (the CPU twin is cpu/ops_elementwise.cpp).
#include "cuda/cuda_backend.hpp"

#include <cmath>

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

__global__ void act_forward_kernel(Act a, float alpha, const float* x, float* y, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) y[i] = ops::act_forward(a, alpha, x[i]);
}

// As on the CPU, the derivative reads y only.
__global__ void act_backward_kernel(Act a, float alpha, const float* y, const float* dy, float* dx, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) dx[i] = ops::act_backward(a, alpha, y[i], dy[i]);
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

template <bool kAdd>
__global__ void copy2d_kernel(int64_t rows, int cols, const float* src, int64_t ss, float* dst, int64_t ds) {
  SPTRAIN_GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    if (kAdd)
      dst[r * ds + c] += src[r * ss + c];
    else
      dst[r * ds + c] = src[r * ss + c];
  }
}

struct SquareTerm {
  const float* x;
  __device__ double operator()(int64_t i) const {
    const double v = x[i];
    return v * v;
  }
};

struct StoreFin {
  double* out;
  __device__ void operator()(double total) const { *out = total; }
};

}  // namespace

// --- elementwise ---

void CudaBackend::act_forward(Act a, float alpha, const float* x, float* y, size_t n) {
  if (n == 0) return;
  act_forward_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(a, alpha, x, y, int64_t(n));
  check_launch();
}

void CudaBackend::act_backward(Act a, float alpha, const float* y, const float* dy, float* dx,
                               size_t n) {
  if (n == 0) return;
  act_backward_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(a, alpha, y, dy, dx, int64_t(n));
  check_launch();
}

void CudaBackend::axpy(float alpha, const float* x, float* y, size_t n) {
  if (n == 0) return;
  axpy_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(alpha, x, y, int64_t(n));
  check_launch();
}

void CudaBackend::sum_squares_to(const float* x, size_t n, double* out) {
  if (n == 0) {
    SPTRAIN_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream_));  // +0.0
    return;
  }
  flat_reduce(impl_->flat_partial.data(), int64_t(n), SquareTerm{x}, StoreFin{out}, stream_);
}

void CudaBackend::copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t n = int64_t(rows) * cols;
  copy2d_kernel<false><<<grid_for(n), kThreads, 0, stream_>>>(rows, cols, src, src_stride, dst, dst_stride);
  check_launch();
}

void CudaBackend::add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t n = int64_t(rows) * cols;
  copy2d_kernel<true><<<grid_for(n), kThreads, 0, stream_>>>(rows, cols, src, src_stride, dst, dst_stride);
  check_launch();
}

}  // namespace sptrain::cuda
