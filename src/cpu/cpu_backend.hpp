// The CPU training backend: the reference implementation of every op in sptrain/backend.hpp.
// Elementwise and per-row math comes from the shared bodies in kernels/ops.cuh, looped over with
// OpenMP; Dense and Conv1D are OpenBLAS sgemm calls on row chunks (Conv1D through im2col into a
// bounded per-thread buffer). Results are bitwise identical for any OpenMP thread count
// (src/cpu/parallel.hpp). OpenBLAS itself runs single-threaded inside the OpenMP loops.
#pragma once
#include "sptrain/backend.hpp"

namespace sptrain::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu(); }

  void upload(float* dst, const float* host_src, size_t n) override;
  void download(float* host_dst, const float* src, size_t n) override;
  void fill(float* dst, float value, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void synchronize() override {}

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
 protected:
  void* alloc_bytes(size_t bytes, const char* what) override;
  void release(void* p) noexcept override;
};

}  // namespace sptrain::cpu
