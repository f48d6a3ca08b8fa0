// Max pooling on the CUDA backend: the window body is kernels/pool.cuh; the backward adds each
// output's gradient at its argmax in output-time order, without atomics (the CPU twin is
// cpu/ops_pool.cpp).
#include "cuda/cuda_backend.hpp"

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

// One thread per output (n, t, c).
__global__ void maxpool_forward_kernel(int64_t N, int T_in, int T_out, int C, int pool, int stride, const float* x,
                                       float* y, int32_t* argmax) {
  SPTRAIN_GRID_STRIDE(i, N * T_out * C) {
    const int64_t o = i / C;
    const int c = int(i - o * C);
    const int64_t n = o / T_out;
    const int t = int(o - n * T_out);
    int32_t at;
    y[i] = ops::window_max(x + n * T_in * C, C, t * stride, pool, c, &at);
    if (argmax) argmax[i] = at;
  }
}

// One thread per (n, c): zeroes the column of dx, then adds the outputs' gradients at their argmax
// in output-time order -- the CPU's order, without atomics. Global max pooling is T_out = 1.
__global__ void maxpool_backward_kernel(int64_t N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                                        float* dx) {
  SPTRAIN_GRID_STRIDE(j, N * C) {
    const int64_t n = j / C;
    const int c = int(j - n * C);
    float* dxn = dx + n * T_in * C;
    for (int t = 0; t < T_in; ++t) dxn[int64_t(t) * C + c] = 0.0f;
    const int64_t o0 = n * T_out * C;
    for (int t = 0; t < T_out; ++t) ops::pool_scatter(argmax + o0, dy + o0, C, t, c, dxn);
  }
}

}  // namespace

// --- pooling ---

void CudaBackend::maxpool1d_forward(int N, int T_in, int C, int pool, int stride, const float* x, float* y,
                                    int32_t* argmax) {
  if (N <= 0 || T_in < pool || pool < 1 || stride < 1 || C <= 0) return;
  const int T_out = (T_in - pool) / stride + 1;
  const int64_t n = int64_t(N) * T_out * C;
  maxpool_forward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(N, T_in, T_out, C, pool, stride, x, y, argmax);
  check_launch();
}

void CudaBackend::maxpool1d_backward(int N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                                     float* dx) {
  if (N <= 0 || C <= 0 || T_in <= 0) return;
  maxpool_backward_kernel<<<grid_for(int64_t(N) * C), kThreads, 0, stream_>>>(N, T_in, T_out, C, argmax, dy, dx);
  check_launch();
}

void CudaBackend::global_maxpool_forward(int N, int T, int C, const float* x, float* y, int32_t* argmax) {
  if (N <= 0 || T < 1 || C <= 0) return;
  // A single window of length T: T_out = 1, pool = T.
  const int64_t n = int64_t(N) * C;
  maxpool_forward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(N, T, 1, C, T, 1, x, y, argmax);
  check_launch();
}

void CudaBackend::global_maxpool_backward(int N, int T, int C, const int32_t* argmax, const float* dy, float* dx) {
  if (N <= 0 || C <= 0 || T <= 0) return;
  maxpool_backward_kernel<<<grid_for(int64_t(N) * C), kThreads, 0, stream_>>>(N, T, 1, C, argmax, dy, dx);
  check_launch();
}

}  // namespace sptrain::cuda
