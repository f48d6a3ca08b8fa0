// Batch normalization on the CUDA backend: per-channel statistics by column reduction in double,
// then elementwise kernels over the bodies of kernels/batchnorm.cuh (the CPU twin is
// cpu/ops_norm.cpp). Synchronized statistics (a BatchNormSync) go through host memory: the
// channel sums are downloaded, combined over the ranks by the communicator and uploaded, so such a
// pass is not captured into a CUDA graph.
#include "cuda/cuda_backend.hpp"

#include <cmath>
#include <vector>

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

// --- batch normalization elementwise kernels (statistics from the column reductions below) ---

__global__ void bn_normalize_kernel(int64_t rows, int C, const float* x, const float* mean, const float* invstd,
                                    const float* gamma, const float* beta, float* y) {
  SPTRAIN_GRID_STRIDE(i, rows * C) {
    const int c = int(i % C);
    y[i] = ops::bn_normalize(x[i], mean[c], invstd[c], gamma ? gamma[c] : 1.0f, beta ? beta[c] : 0.0f);
  }
}

__global__ void bn_backward_kernel(int64_t rows, int C, const float* x, const float* dy, const float* mean,
                                   const float* invstd, const float* gamma, const float* mdy, const float* mdyx,
                                   float* dx) {
  SPTRAIN_GRID_STRIDE(i, rows * C) {
    const int c = int(i % C);
    dx[i] = ops::bn_backward(x[i], dy[i], mean[c], invstd[c], gamma ? gamma[c] : 1.0f, mdy[c], mdyx[c]);
  }
}

// invstd[c] = 1 / sqrt(running_var[c] + eps) in double, as the CPU.
__global__ void bn_infer_invstd_kernel(int C, const float* running_var, float eps, float* invstd) {
  SPTRAIN_GRID_STRIDE(c, C) invstd[c] = ops::bn_invstd(double(running_var[c]), eps);
}

struct DeviationTerm {  // sum of (x - mean)^2, mean in double
  const float* x;
  const double* mean;
  __device__ void operator()(int64_t i, int c, double* acc) const {
    const double d = double(x[i]) - mean[c];
    acc[0] += d * d;
  }
};

struct BnBackwardTerm {  // sum of dy, sum of dy * xhat (xhat in float, as the CPU)
  const float* x;
  const float* dy;
  const float* mean;
  const float* invstd;
  __device__ void operator()(int64_t i, int c, double* acc) const {
    const float g = dy[i];
    const float xhat = ops::bn_xhat(x[i], mean[c], invstd[c]);
    acc[0] += double(g);
    acc[1] += double(g) * double(xhat);
  }
};

struct BnMeanFin {
  double* mean;
  double rows;
  __device__ void operator()(int c, const double* s) const { mean[c] = s[0] / rows; }
};

// The per-channel statistics step of batchnorm_forward_train (bn_train_stats, as the CPU).
struct BnVarFin {
  const double* mean;
  int64_t rows;
  float eps, momentum;
  float* m;
  float* inv;
  float* save_mean;
  float* save_invstd;
  float* running_mean;
  float* running_var;
  __device__ void operator()(int c, const double* s) const {
    ops::bn_train_stats(c, mean[c], s[0], rows, eps, momentum, m, inv, save_mean, save_invstd, running_mean,
                        running_var);
  }
};

struct BnBackwardFin {
  double rows;
  float* mdy;
  float* mdyx;
  float* dgamma;
  float* dbeta;
  __device__ void operator()(int c, const double* s) const { ops::bn_backward_stats(c, s[0], s[1], rows, mdy, mdyx, dgamma, dbeta); }
};

// Synchronized statistics (BatchNormSync): the column sums are stored, combined over the ranks on
// the host, and the channel step then runs on the combined sums.
template <int kN>
struct StoreFin {  // out[kN c + j] = s[j]
  double* out;
  __device__ void operator()(int c, const double* s) const {
#pragma unroll
    for (int j = 0; j < kN; ++j) out[int64_t(kN) * c + j] = s[j];
  }
};

struct BnSumMeanFin {  // this rank's sum and mean
  double* sum;
  double* mean;
  double rows;
  __device__ void operator()(int c, const double* s) const {
    sum[c] = s[0];
    mean[c] = s[0] / rows;
  }
};

struct BnBackwardLocalFin {  // dbeta, dgamma += this rank's sums; the sums stored for the ranks'
  float* dgamma;
  float* dbeta;
  double* out;
  __device__ void operator()(int c, const double* s) const {
    if (dbeta) dbeta[c] += float(s[0]);
    if (dgamma) dgamma[c] += float(s[1]);
    out[2 * c] = s[0];
    out[2 * c + 1] = s[1];
  }
};

// fin(c, sums + kN c) for every channel: the channel step of a column reduction on given sums.
template <int kN, class Fin>
__global__ void channel_fin_kernel(int C, const double* sums, Fin fin) {
  SPTRAIN_GRID_STRIDE(c, C) fin(int(c), sums + int64_t(kN) * c);
}

}  // namespace

// --- batch normalization ---

void CudaBackend::batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta,
                                          float eps, float momentum, float* running_mean, float* running_var, float* y,
                                          float* save_mean, float* save_invstd, BatchNormSync* sync) {
  if (rows <= 0 || C <= 0) return;
  double* mean = impl_->get<double>(Impl::kChanD, (sync ? 3 : 1) * size_t(C));
  float* mf = impl_->get<float>(Impl::kChanF, 2 * size_t(C));
  float* inv = mf + C;
  if (sync) {  // mean[C], then sq[C] and sum[C]: this rank's, then (on the host) every rank's
    double* sq = mean + C;
    double* sum = sq + C;
    column_reduce<1>(impl_->col_partial(), rows, C, ColumnTerm{x}, BnSumMeanFin{sum, mean, double(rows)}, stream_);
    column_reduce<1>(impl_->col_partial(), rows, C, DeviationTerm{x, mean}, StoreFin<1>{sq}, stream_);
    std::vector<double> h(2 * size_t(C));  // sq, sum
    download_f64(h.data(), sq, h.size());
    const int64_t all_rows = sync->moments(C, rows, h.data() + C, h.data());
    upload_f64(mean, h.data() + C, size_t(C));
    upload_f64(sq, h.data(), size_t(C));
    channel_fin_kernel<1><<<grid_for(C), kThreads, 0, stream_>>>(
        C, sq, BnVarFin{mean, all_rows, eps, momentum, mf, inv, save_mean, save_invstd, running_mean, running_var});
    check_launch();
  } else {
    column_reduce<1>(impl_->col_partial(), rows, C, ColumnTerm{x}, BnMeanFin{mean, double(rows)}, stream_);
    column_reduce<1>(impl_->col_partial(), rows, C, DeviationTerm{x, mean},
                     BnVarFin{mean, rows, eps, momentum, mf, inv, save_mean, save_invstd, running_mean, running_var},
                     stream_);
  }
  const int64_t n = int64_t(rows) * C;
  bn_normalize_kernel<<<grid_for(n), kThreads, 0, stream_>>>(rows, C, x, mf, inv, gamma, beta, y);
  check_launch();
}

void CudaBackend::batchnorm_forward_infer(int rows, int C, const float* x, const float* gamma, const float* beta,
                                          const float* running_mean, const float* running_var, float eps, float* y) {
  if (rows <= 0 || C <= 0) return;
  float* inv = impl_->get<float>(Impl::kChanF, 2 * size_t(C));
  bn_infer_invstd_kernel<<<grid_for(C), kThreads, 0, stream_>>>(C, running_var, eps, inv);
  check_launch();
  const int64_t n = int64_t(rows) * C;
  bn_normalize_kernel<<<grid_for(n), kThreads, 0, stream_>>>(rows, C, x, running_mean, inv, gamma, beta, y);
  check_launch();
}

void CudaBackend::batchnorm_backward(int rows, int C, const float* x, const float* dy, const float* gamma,
                                     const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                                     float* dbeta, BatchNormSync* sync) {
  if (rows <= 0 || C <= 0) return;
  float* mdy = impl_->get<float>(Impl::kChanF, 2 * size_t(C));
  float* mdyx = mdy + C;
  if (sync) {  // dgamma, dbeta from this rank's sums; the means in dx over every rank's rows
    double* sums = impl_->get<double>(Impl::kChanD, 2 * size_t(C));
    column_reduce<2>(impl_->col_partial(), rows, C, BnBackwardTerm{x, dy, save_mean, save_invstd},
                     BnBackwardLocalFin{dgamma, dbeta, sums}, stream_);
    std::vector<double> h(2 * size_t(C));
    download_f64(h.data(), sums, h.size());
    const int64_t all_rows = sync->sums(h.data(), h.size(), rows);
    upload_f64(sums, h.data(), h.size());
    channel_fin_kernel<2><<<grid_for(C), kThreads, 0, stream_>>>(
        C, sums, BnBackwardFin{double(all_rows), mdy, mdyx, nullptr, nullptr});
    check_launch();
  } else {
    column_reduce<2>(impl_->col_partial(), rows, C, BnBackwardTerm{x, dy, save_mean, save_invstd},
                     BnBackwardFin{double(rows), mdy, mdyx, dgamma, dbeta}, stream_);
  }
  if (dx) {
    const int64_t n = int64_t(rows) * C;
    bn_backward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(rows, C, x, dy, save_mean, save_invstd, gamma, mdy,
                                                              mdyx, dx);
    check_launch();
  }
}

}  // namespace sptrain::cuda
