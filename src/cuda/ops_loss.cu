// Softmax and losses on the CUDA backend: row kernels over kernels/softmax.cuh and flat reductions
// of the kernels/loss.cuh bodies in double (the CPU twin is cpu/ops_loss.cpp).
#include "cuda/cuda_backend.hpp"

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

__global__ void softmax_forward_kernel(int64_t rows, int C, const float* x, float* y) {
  SPTRAIN_GRID_STRIDE(r, rows) ops::softmax_row(C, x + r * C, y + r * C);
}

__global__ void softmax_backward_kernel(int64_t rows, int C, const float* y, const float* dy, float* dx) {
  SPTRAIN_GRID_STRIDE(r, rows) ops::softmax_backward_row(C, y + r * C, dy + r * C, dx + r * C);
}

// Element losses; writes dpred[i] = coef * loss_grad (after reading pred and target: dpred may alias).
struct ElemLossTerm {
  LossKind k;
  const float* pred;
  const float* target;
  float* dpred;
  float coef;
  __device__ double operator()(int64_t i) const {
    const float p = pred[i], y = target[i];
    const float v = ops::loss_value(k, p, y);
    if (dpred) dpred[i] = coef * ops::loss_grad(k, p, y);
    return double(v);
  }
};

// Categorical cross-entropy, one row per item.
struct CceTerm {
  int C;
  const float* pred;
  const float* target;
  float* dpred;
  float coef;
  __device__ double operator()(int64_t r) const {
    return double(ops::cce_row(C, pred + r * C, target + r * C, dpred ? dpred + r * C : nullptr, coef));
  }
};

// *out = total / count (loss() returns sum / count).
struct MeanFin {
  double* out;
  double count;
  __device__ void operator()(double total) const { *out = total / count; }
};

// *acc += weight * (total / count), as CpuBackend::loss_accumulate.
struct AccumulateFin {
  double* acc;
  double weight;
  double count;
  __device__ void operator()(double total) const { *acc += weight * (total / count); }
};

}  // namespace

// --- softmax ---

void CudaBackend::softmax_forward(int rows, int C, const float* x, float* y) {
  if (rows <= 0 || C <= 0) return;
  softmax_forward_kernel<<<grid_for(rows), kThreads, 0, stream_>>>(rows, C, x, y);
  check_launch();
}

void CudaBackend::softmax_backward(int rows, int C, const float* y, const float* dy, float* dx) {
  if (rows <= 0 || C <= 0) return;
  softmax_backward_kernel<<<grid_for(rows), kThreads, 0, stream_>>>(rows, C, y, dy, dx);
  check_launch();
}

// --- losses ---

namespace {
// Launches the loss reduction with fin receiving the sum and the count that divides it.
template <class MakeFin>
void loss_reduce(double* partial, LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                 float scale, MakeFin make_fin, cudaStream_t s) {
  if (k == LossKind::CategoricalCrossEntropy) {
    const float coef = float(double(scale) / rows);
    flat_reduce(partial, rows, CceTerm{C, pred, target, dpred, coef}, make_fin(double(rows)), s);
    return;
  }
  const int64_t count = int64_t(rows) * C;
  const float coef = float(double(scale) / double(count));
  flat_reduce(partial, count, ElemLossTerm{k, pred, target, dpred, coef}, make_fin(double(count)), s);
}
}  // namespace

double CudaBackend::loss(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                         float scale) {
  if (rows <= 0 || C <= 0) return 0.0;
  double* res = impl_->result.data();
  loss_reduce(impl_->flat_partial.data(), k, rows, C, pred, target, dpred, scale,
              [res](double count) { return MeanFin{res, count}; }, stream_);
  double out = 0.0;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(&out, res, sizeof(double), cudaMemcpyDeviceToHost, stream_));
  SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return out;
}

void CudaBackend::loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                                  float scale, double weight, double* acc) {
  if (rows <= 0 || C <= 0) return;
  loss_reduce(impl_->flat_partial.data(), k, rows, C, pred, target, dpred, scale,
              [acc, weight](double count) { return AccumulateFin{acc, weight, count}; }, stream_);
}

}  // namespace sptrain::cuda
