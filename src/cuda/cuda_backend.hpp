// The CUDA training backend: every op of sptrain/backend.hpp on one GPU, in stream order on the
// backend's own stream. Convolutions go through cuDNN's graph API (conv_cudnn.hpp), Dense through
// cuBLAS, everything else through thin grid-stride kernels over the __host__ __device__ bodies in
// kernels/ops.cuh that the CPU backend also runs (DESIGN.md rule 2). Reductions (flat sums and the
// per-channel sums of BatchNorm and bias gradients over strided NTC rows) are two-pass kernels in
// double whose launch shape depends only on the problem size, with no atomics: results repeat
// exactly run to run, which exact resume relies on. No method allocates device memory after the
// first call with a given shape, and no method that returns void synchronizes with the host, so a
// training step made of them can be captured in a CUDA graph. The ops are defined in ops_<family>.cu,
// one file per op family paired with src/cpu/ops_<family>.cpp; reductions in reduce.cuh. Host-only header.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <memory>

#include "cuda/conv_cudnn.hpp"
#include "cuda/device_buffer.hpp"
#include "sptrain/backend.hpp"

namespace sptrain::cuda {

class CudaBackend final : public Backend {
 public:
  CudaBackend(int ordinal, MathMode math);
  ~CudaBackend() override;
  Device device() const override { return Device::cuda(ordinal_); }
  cudaStream_t stream() const { return stream_; }

  void upload(float* dst, const float* host_src, size_t n) override;
  void download(float* host_dst, const float* src, size_t n) override;
  void fill(float* dst, float value, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void synchronize() override;

  void conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) override;
  void conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) override;
  void conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) override;

  void dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) override;
  void dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                      float* dw, float* db) override;

  void act_forward(Act a, float alpha, const float* x, float* y, size_t n) override;
  void act_backward(Act a, float alpha, const float* x, const float* y, const float* dy, float* dx,
                    size_t n) override;
  void axpy(float alpha, const float* x, float* y, size_t n) override;
  void scale(float* x, float s, size_t n) override;
  double sum_squares(const float* x, size_t n) override;
  bool all_finite(const float* x, size_t n) override;

  void softmax_forward(int rows, int C, const float* x, float* y) override;
  void softmax_backward(int rows, int C, const float* y, const float* dy, float* dx) override;

  void maxpool1d_forward(int N, int T_in, int C, int pool, int stride, const float* x, float* y,
                         int32_t* argmax) override;
  void maxpool1d_backward(int N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                          float* dx) override;
  void global_maxpool_forward(int N, int T, int C, const float* x, float* y, int32_t* argmax) override;
  void global_maxpool_backward(int N, int T, int C, const int32_t* argmax, const float* dy, float* dx) override;

  void batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta, float eps,
                               float momentum, float* running_mean, float* running_var, float* y, float* save_mean,
                               float* save_invstd) override;
  void batchnorm_forward_infer(int rows, int C, const float* x, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, float eps, float* y) override;
  void batchnorm_backward(int rows, int C, const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                          float* dbeta) override;

  void copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) override;
  void add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) override;

  double loss(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
              float scale) override;

  void adam_step(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2, float eps,
                 int64_t t) override;
  void sgd_step(float* p, const float* g, float* vel, size_t n, float lr, float momentum, bool nesterov) override;

  void upload_f64(double* dst, const double* host_src, size_t n) override;
  void download_f64(double* host_dst, const double* src, size_t n) override;
  void loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred, float scale,
                       double weight, double* acc) override;
  void sum_squares_to(const float* x, size_t n, double* out) override;
  void adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                     const double* s) override;
  void sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov, const double* s) override;
  void lars_step_dev(float* p, const float* g, float* vel, size_t n, const double* norms2, float eta, float wd,
                     float momentum, const double* s) override;
  void lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1, float b2, float eps,
                          float wd, const double* s) override;
  void trust_step_dev(float* p, const float* u, size_t n, const double* norms2, const double* s) override;

  // CUDA graphs of captured step sequences and the memory query (src/cuda/graph_capture.cpp).
  void run_captured(int key, const std::function<void()>& ops) override;
  void memory_info(size_t& free_bytes, size_t& total_bytes) override;

 protected:
  void* alloc_bytes(size_t bytes, const char* what) override;
  void release(void* p) noexcept override;

 private:
  void copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
  // Uploads (lr, t, no clip) as step scalars for adam_step/sgd_step; returns their device address.
  const double* host_step_scalars(float lr, int64_t t);
  struct Impl;  // kernels' scratch (reduction buffers, transposed weights), in backend_scratch.hpp
  int ordinal_;
  MathMode math_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  Workspace ws_;
  std::unique_ptr<ConvEngine> conv_;
  std::unique_ptr<Impl> impl_;
  struct Graphs;                    // defined in graph_capture.cpp
  std::shared_ptr<Graphs> graphs_;  // shared_ptr: destroyable where Graphs is incomplete
};

std::unique_ptr<Backend> make_cuda_backend(int ordinal, MathMode math);

}  // namespace sptrain::cuda
