// CUDA backend (cuda_backend.hpp): thin kernels over the shared bodies of kernels/ops.cuh,
// cuBLAS for Dense, cuDNN (conv_cudnn.hpp) for Conv1D.
// Reductions are deterministic (no float atomics): every reduction runs in double with a launch
// shape that depends only on the problem size, each thread sums a fixed set of elements in order,
// blocks combine by a fixed shared-memory tree, and a second kernel adds the block partials in
// index order. Column (per-channel) sums use (strip of channels) x (part of rows) blocks; flat sums
// use at most kFlatParts blocks.
#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "convert.cuh"
#include "ops.cuh"
#include "sptrain/error.hpp"

namespace sptrain::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kFlatParts = 1024;                            // blocks of a flat reduction, at most
constexpr int kColMaxParts = 256;                           // row parts of a column reduction, at most
constexpr int64_t kColPartialCap = int64_t(1) << 22;        // doubles of column partials, at most
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // fixed, so cuBLAS never allocates

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of kThreads for a grid-stride loop over n items.
unsigned grid_for(int64_t n) { return unsigned(grid_blocks(n, kThreads)); }

void check_launch() { SPTRAIN_CUDA_CHECK(cudaPeekAtLastError()); }

#define SPTRAIN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// --- elementwise kernels ---

__global__ void fill_kernel(float* y, float v, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) y[i] = v;
}

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

__global__ void scale_kernel(float* x, float s, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) x[i] *= s;
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

__global__ void softmax_forward_kernel(int64_t rows, int C, const float* x, float* y) {
  SPTRAIN_GRID_STRIDE(r, rows) ops::softmax_row(C, x + r * C, y + r * C);
}

__global__ void softmax_backward_kernel(int64_t rows, int C, const float* y, const float* dy, float* dx) {
  SPTRAIN_GRID_STRIDE(r, rows) ops::softmax_backward_row(C, y + r * C, dy + r * C, dx + r * C);
}

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
    float* dxn = dx + n * T_in * C + c;
    for (int t = 0; t < T_in; ++t) dxn[int64_t(t) * C] = 0.0f;
    const int64_t o0 = n * T_out * C + c;
    for (int t = 0; t < T_out; ++t) dxn[int64_t(argmax[o0 + int64_t(t) * C]) * C] += dy[o0 + int64_t(t) * C];
  }
}

// Keras (K, C, F) -> cuDNN (F, K, C).
__global__ void kcf_to_fkc_kernel(int K, int C, int F, const float* w, float* w_fkc) {
  SPTRAIN_GRID_STRIDE(i, int64_t(F) * K * C) {
    const int64_t fk = i / C;
    const int c = int(i - fk * C);
    const int f = int(fk / K), k = int(fk - int64_t(f) * K);
    w_fkc[i] = w[(int64_t(k) * C + c) * F + f];
  }
}

// dw (K, C, F) += dw_fkc (F, K, C) transposed.
__global__ void add_fkc_to_kcf_kernel(int K, int C, int F, const float* dw_fkc, float* dw) {
  SPTRAIN_GRID_STRIDE(i, int64_t(K) * C * F) {
    const int64_t kc = i / F;
    const int f = int(i - kc * F);
    const int k = int(kc / C), c = int(kc - int64_t(k) * C);
    dw[i] += dw_fkc[(int64_t(f) * K + k) * C + c];
  }
}

__global__ void add_bias_kernel(float* y, const float* b, int64_t rows, int F) {
  SPTRAIN_GRID_STRIDE(i, rows * F) y[i] += b[i % F];
}

__global__ void to_bf16_kernel(const float* src, uint16_t* dst, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) dst[i] = ops::float_to_bf16(src[i]);
}

__global__ void from_bf16_kernel(const uint16_t* src, float* dst, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) dst[i] = ops::bf16_to_float(src[i]);
}

// Sets *bad = 1 if some element is not finite (*bad zeroed before; racing writes store the same value).
__global__ void nonfinite_kernel(const float* x, int64_t n, int* bad) {
  SPTRAIN_GRID_STRIDE(i, n) if (!isfinite(x[i])) *bad = 1;
}

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
  SPTRAIN_GRID_STRIDE(c, C) invstd[c] = float(1.0 / sqrt(double(running_var[c]) + double(eps)));
}

// --- optimizers ---

// Step scalars read on the device: the clip factor of CpuBackend's clip_in_place (double, then
// the float factor) and lr. Computed once per block by thread 0.
struct DevStep {
  float lr, lr_t, factor;
  bool clip;
};

__device__ void load_step(const double* s, bool adam, float b1, float b2, DevStep& out) {
  out.factor = ops::clip_factor(s[kClipNorm], s[kGradSq]);
  out.clip = out.factor != 1.0f;
  out.lr = float(s[kLr]);
  if (adam) {
    out.lr_t = ops::adam_rate(out.lr, b1, b2, int64_t(s[kT]));
  } else {
    out.lr_t = 0.0f;
  }
}

// g[i] after clipping, written back (the float product scale() writes) when the clip applies.
__device__ inline float clipped_grad(float* g, int64_t i, bool clip, float factor) {
  float gi = g[i];
  if (clip) {
    gi *= factor;
    g[i] = gi;
  }
  return gi;
}

__global__ void adam_dev_kernel(float* p, float* g, float* m, float* v, int64_t n, float b1, float b2, float eps,
                                const double* s) {
  __shared__ DevStep st;
  if (threadIdx.x == 0) load_step(s, true, b1, b2, st);
  __syncthreads();
  const bool clip = st.clip;
  const float factor = st.factor, lr_t = st.lr_t;
  SPTRAIN_GRID_STRIDE(i, n) {
    const float gi = clipped_grad(g, i, clip, factor);
    float pi = p[i], mi = m[i], vi = v[i];
    ops::adam_update(pi, gi, mi, vi, lr_t, b1, b2, eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
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
  const bool clip = st.clip;
  const float factor = st.factor, bc1 = bc[0], bc2 = bc[1];
  SPTRAIN_GRID_STRIDE(i, n) {
    const float gi = clipped_grad(g, i, clip, factor);
    float mi = m[i], vi = v[i];
    u[i] = ops::lamb_direction(p[i], gi, mi, vi, b1, b2, eps, wd, bc1, bc2);
    m[i] = mi;
    v[i] = vi;
  }
}

__global__ void trust_step_kernel(float* p, const float* u, int64_t n, const double* norms2, const double* s) {
  __shared__ float step;
  if (threadIdx.x == 0) step = float(s[kLr]) * ops::lamb_trust(norms2[0], norms2[1]);
  __syncthreads();
  const float k = step;
  SPTRAIN_GRID_STRIDE(i, n) p[i] -= k * u[i];
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
  const bool clip = st.clip;
  const float factor = st.factor, lr = st.lr;
  SPTRAIN_GRID_STRIDE(i, n) {
    const float gi = clipped_grad(g, i, clip, factor);
    float pi = p[i];
    if (vel) {
      float vi = vel[i];
      ops::sgd_update(pi, gi, vi, lr, momentum, nesterov);
      vel[i] = vi;
    } else {
      float v0 = 0.0f;
      ops::sgd_update(pi, gi, v0, lr, 0.0f, nesterov);
    }
    p[i] = pi;
  }
}

// --- flat reductions: sum over i < n of term(i) (a double), then fin(total) on one thread ---

// Block b sums items b*256 + tid + k*(gridDim*256) per thread in order, then a fixed tree.
template <class Term>
__global__ void __launch_bounds__(kThreads) flat_partial_kernel(int64_t n, Term term, double* partial) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  SPTRAIN_GRID_STRIDE(i, n) acc += term(i);
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

// One block: thread t sums partials t, t + 256, ... in order, then the same tree.
template <class Fin>
__global__ void __launch_bounds__(kThreads) flat_final_kernel(const double* partial, int parts, Fin fin) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (int p = threadIdx.x; p < parts; p += kThreads) acc += partial[p];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) fin(sh[0]);
}

struct SquareTerm {
  const float* x;
  __device__ double operator()(int64_t i) const {
    const double v = x[i];
    return v * v;
  }
};

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

struct StoreFin {
  double* out;
  __device__ void operator()(double total) const { *out = total; }
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

// --- column reductions over rows of (rows, C): kN sums per channel ---

// Block (strip, part): threads (tx, ty) of a bx x by block (bx * by = 256); thread (tx, ty) sums
// rows r0 + ty, r0 + ty + by, ... of channel strip*bx + tx in order; the block then reduces over ty
// by a fixed tree. partial[(j * parts + part) * C + c].
template <int kN, class Term>
__global__ void __launch_bounds__(kThreads) col_partial_kernel(int64_t rows, int C, int64_t rows_per_part, Term term,
                                                               double* partial) {
  __shared__ double sh[kN][kThreads];
  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;
  const int c = blockIdx.x * bx + tx;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_part;
  const int64_t r1 = min(rows, r0 + rows_per_part);
  double acc[kN];
#pragma unroll
  for (int j = 0; j < kN; ++j) acc[j] = 0.0;
  if (c < C)
    for (int64_t r = r0 + ty; r < r1; r += by) term(r * C + c, c, acc);
  const int me = ty * bx + tx;
#pragma unroll
  for (int j = 0; j < kN; ++j) sh[j][me] = acc[j];
  __syncthreads();
  for (int s = by / 2; s > 0; s >>= 1) {
    if (ty < s)
#pragma unroll
      for (int j = 0; j < kN; ++j) sh[j][me] += sh[j][me + s * bx];
    __syncthreads();
  }
  if (ty == 0 && c < C)
#pragma unroll
    for (int j = 0; j < kN; ++j) partial[(int64_t(j) * gridDim.y + blockIdx.y) * C + c] = sh[j][tx];
}

// One thread per channel: adds the parts in order, then fin(c, sums).
template <int kN, class Fin>
__global__ void col_final_kernel(int C, int parts, const double* partial, Fin fin) {
  SPTRAIN_GRID_STRIDE(c, C) {
    double s[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      double acc = 0.0;
      for (int p = 0; p < parts; ++p) acc += partial[(int64_t(j) * parts + p) * C + c];
      s[j] = acc;
    }
    fin(int(c), s);
  }
}

struct ColumnTerm {  // sum of x
  const float* x;
  __device__ void operator()(int64_t i, int, double* acc) const { acc[0] += double(x[i]); }
};

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
    const float xhat = (x[i] - mean[c]) * invstd[c];
    acc[0] += double(g);
    acc[1] += double(g) * double(xhat);
  }
};

struct BiasGradFin {  // db[c] += float(column sum)
  float* db;
  __device__ void operator()(int c, const double* s) const { db[c] += float(s[0]); }
};

struct BnMeanFin {
  double* mean;
  double rows;
  __device__ void operator()(int c, const double* s) const { mean[c] = s[0] / rows; }
};

// The CPU's per-channel statistics step of batchnorm_forward_train.
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
    const double var = s[0] / double(rows);  // biased: normalizes the batch
    const double unbias = rows > 1 ? double(rows) / double(rows - 1) : 1.0;
    const float mc = float(mean[c]);
    const float ic = float(1.0 / sqrt(var + double(eps)));
    m[c] = mc;
    inv[c] = ic;
    if (save_mean) save_mean[c] = mc;
    if (save_invstd) save_invstd[c] = ic;
    if (running_mean)
      running_mean[c] = float(double(momentum) * running_mean[c] + (1.0 - double(momentum)) * mean[c]);
    if (running_var)
      running_var[c] = float(double(momentum) * running_var[c] + (1.0 - double(momentum)) * var * unbias);
  }
};

struct BnBackwardFin {
  double rows;
  float* mdy;
  float* mdyx;
  float* dgamma;
  float* dbeta;
  __device__ void operator()(int c, const double* s) const {
    mdy[c] = float(s[0] / rows);
    mdyx[c] = float(s[1] / rows);
    if (dbeta) dbeta[c] += float(s[0]);
    if (dgamma) dgamma[c] += float(s[1]);
  }
};

cublasComputeType_t compute_type(MathMode m) {
  switch (m) {
    case MathMode::Tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MathMode::Bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MathMode::Fp32: break;
  }
  return CUBLAS_COMPUTE_32F;
}

void check_desc(const Conv1dDesc& d) { check_conv1d_desc(d); }

}  // namespace

// --- scratch owned by the backend ---

struct CudaBackend::Impl {
  // Scratch purposes: buffers of one purpose are never in use twice at once (stream order).
  enum Tag : int { kWeightT = 0, kWeightGrad = 1, kColPartial = 2, kChanD = 3, kChanF = 4 };

  DeviceBuffer<unsigned char> cublas_ws;
  DeviceBuffer<double> flat_partial;  // kFlatParts
  DeviceBuffer<double> result;        // one double returned by sum_squares / loss
  DeviceBuffer<int> flag;             // all_finite
  DeviceBuffer<double> step;          // kStepScalars for the host-driven optimizer steps
  // One buffer per (purpose, size), never freed before the backend: a captured graph keeps using
  // the pointers it saw, so nothing it references may move.
  std::map<std::pair<int, size_t>, DeviceBuffer<unsigned char>> pool;

  template <class T>
  T* get(Tag tag, size_t n) {
    const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
    auto& b = pool[{int(tag), bytes}];
    if (!b.data()) b = DeviceBuffer<unsigned char>(bytes, "backend scratch");
    return reinterpret_cast<T*>(b.data());
  }

  // Scratch getter for column_reduce's partial sums.
  auto col_partial() {
    return [this](size_t n) { return get<double>(kColPartial, n); };
  }

  // Releases everything in the order the libraries need; never throws.
  static void teardown(CudaBackend& be) noexcept;
};

void CudaBackend::Impl::teardown(CudaBackend& be) noexcept {
  cudaSetDevice(be.ordinal_);  // errors ignored: nothing here may throw
  if (be.stream_) cudaStreamSynchronize(be.stream_);
  be.conv_.reset();
  if (be.cudnn_) cudnnDestroy(be.cudnn_);
  if (be.cublas_) cublasDestroy(be.cublas_);
  be.cudnn_ = nullptr;
  be.cublas_ = nullptr;
  be.impl_.reset();
  if (be.stream_) cudaStreamDestroy(be.stream_);
  be.stream_ = nullptr;
}

namespace {

// Flat reduction of term over [0, n) into fin, on stream s.
template <class Term, class Fin>
void flat_reduce(double* partial, int64_t n, Term term, Fin fin, cudaStream_t s) {
  const int parts = int(std::clamp<int64_t>(ceil_div(n, int64_t(kThreads) * 4), 1, kFlatParts));
  flat_partial_kernel<<<parts, kThreads, 0, s>>>(n, term, partial);
  check_launch();
  flat_final_kernel<<<1, kThreads, 0, s>>>(partial, parts, fin);
  check_launch();
}

// Column reduction of (rows, C): kN sums per channel into fin. The shape (strip width, row parts)
// depends only on rows and C; get_partial(n) returns scratch for n doubles.
template <int kN, class Term, class Fin, class GetPartial>
void column_reduce(GetPartial&& get_partial, int64_t rows, int C, Term term, Fin fin, cudaStream_t s) {
  int bx = 1;
  while (bx < C && bx < 32) bx <<= 1;
  const int by = kThreads / bx;
  const int64_t max_parts = std::clamp<int64_t>(kColPartialCap / (int64_t(kN) * C), 1, kColMaxParts);
  const int64_t rows_per_part = std::max<int64_t>(int64_t(by) * 8, ceil_div(rows, max_parts));
  const int parts = int(std::max<int64_t>(1, ceil_div(rows, rows_per_part)));
  double* partial = get_partial(size_t(kN) * size_t(parts) * size_t(C));
  const dim3 grid(unsigned(ceil_div(C, bx)), unsigned(parts));
  col_partial_kernel<kN><<<grid, dim3(unsigned(bx), unsigned(by)), 0, s>>>(rows, C, rows_per_part, term, partial);
  check_launch();
  col_final_kernel<kN><<<grid_for(C), kThreads, 0, s>>>(C, parts, partial, fin);
  check_launch();
}

}  // namespace

// --- lifetime ---

namespace {
// The cuDNN workspace cap: SPTRAIN_CUDNN_WORKSPACE_MB when set, else Workspace::default_cap of the
// current device's memory.
size_t workspace_cap() {
  if (const char* v = std::getenv("SPTRAIN_CUDNN_WORKSPACE_MB"); v && *v) {
    char* end = nullptr;
    const long long mb = std::strtoll(v, &end, 10);
    if (*end != '\0' || mb < 1 || mb > (1LL << 30))
      throw UsageError(std::string("SPTRAIN_CUDNN_WORKSPACE_MB: expected a positive number of MiB, got '") + v + "'");
    return size_t(mb) << 20;
  }
  size_t free_bytes = 0, total_bytes = 0;
  SPTRAIN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return Workspace::default_cap(total_bytes);
}
}  // namespace

CudaBackend::CudaBackend(int ordinal, MathMode math) : ordinal_(ordinal), math_(math) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw UsageError("device cuda:" + std::to_string(ordinal) + " is not available: " + cudaGetErrorString(e));
  }
  if (ordinal < 0 || ordinal >= count)
    throw UsageError("device cuda:" + std::to_string(ordinal) + " is not available (" + std::to_string(count) +
                     " CUDA device(s) found)");
  try {
    SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal));
    impl_ = std::make_unique<Impl>();
    SPTRAIN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    SPTRAIN_CUBLAS_CHECK(cublasCreate(&cublas_));
    // cublasSetStream resets the workspace, so the fixed workspace comes after it.
    SPTRAIN_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    impl_->cublas_ws = DeviceBuffer<unsigned char>(kCublasWorkspaceBytes, "cuBLAS workspace");
    SPTRAIN_CUBLAS_CHECK(cublasSetWorkspace(cublas_, impl_->cublas_ws.data(), impl_->cublas_ws.size()));
    SPTRAIN_CUBLAS_CHECK(
        cublasSetMathMode(cublas_, math == MathMode::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    SPTRAIN_CUDNN_CHECK(cudnnCreate(&cudnn_));
    SPTRAIN_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
    impl_->flat_partial = DeviceBuffer<double>(kFlatParts, "reduction partials");
    impl_->result = DeviceBuffer<double>(1, "reduction result");
    impl_->flag = DeviceBuffer<int>(1, "finite flag");
    impl_->step = DeviceBuffer<double>(kStepScalars, "step scalars");
    ws_.set_cap(workspace_cap());
    conv_ = std::make_unique<ConvEngine>(cudnn_, stream_, ws_, math);
  } catch (...) {
    Impl::teardown(*this);
    throw;
  }
}

CudaBackend::~CudaBackend() { Impl::teardown(*this); }

std::unique_ptr<Backend> make_cuda_backend(int ordinal, MathMode math) {
  return std::make_unique<CudaBackend>(ordinal, math);
}

// --- memory ---

void* CudaBackend::alloc_bytes(size_t bytes, const char* what) {
  return device_alloc(std::max<size_t>(bytes, 1), what);
}
void CudaBackend::release(void* p) noexcept { device_free(p); }

// Host <-> device copies through the backend's stream; the host side is pageable memory, so each
// waits for its copy.
void CudaBackend::copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream_));
  SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::upload(float* dst, const float* host_src, size_t n) {
  copy_sync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice);
}
void CudaBackend::download(float* host_dst, const float* src, size_t n) {
  copy_sync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost);
}
void CudaBackend::upload_f64(double* dst, const double* host_src, size_t n) {
  copy_sync(dst, host_src, n * sizeof(double), cudaMemcpyHostToDevice);
}
void CudaBackend::download_f64(double* host_dst, const double* src, size_t n) {
  copy_sync(host_dst, src, n * sizeof(double), cudaMemcpyDeviceToHost);
}

void CudaBackend::fill(float* dst, float value, size_t n) {
  if (n == 0) return;
  fill_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(dst, value, int64_t(n));
  check_launch();
}

void CudaBackend::copy(float* dst, const float* src, size_t n) {
  if (n == 0 || dst == src) return;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() { SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

// --- convolution ---

void CudaBackend::conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) {
  check_desc(d);
  if (d.N == 0) return;
  const int64_t nw = int64_t(d.K) * d.C_in * d.F;
  float* w_fkc = impl_->get<float>(Impl::kWeightT, size_t(nw));
  kcf_to_fkc_kernel<<<grid_for(nw), kThreads, 0, stream_>>>(d.K, d.C_in, d.F, w, w_fkc);
  check_launch();
  conv_->forward(d, x, w_fkc, b, y);
}

void CudaBackend::conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) {
  check_desc(d);
  if (d.N == 0) return;
  const int64_t nw = int64_t(d.K) * d.C_in * d.F;
  float* w_fkc = impl_->get<float>(Impl::kWeightT, size_t(nw));
  kcf_to_fkc_kernel<<<grid_for(nw), kThreads, 0, stream_>>>(d.K, d.C_in, d.F, w, w_fkc);
  check_launch();
  conv_->backward_data(d, dy, w_fkc, dx);
}

void CudaBackend::conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) {
  check_desc(d);
  if (d.N == 0) return;
  if (dw) {
    const int64_t nw = int64_t(d.K) * d.C_in * d.F;
    float* dw_fkc = impl_->get<float>(Impl::kWeightGrad, size_t(nw));
    conv_->backward_filter(d, x, dy, dw_fkc);
    add_fkc_to_kcf_kernel<<<grid_for(nw), kThreads, 0, stream_>>>(d.K, d.C_in, d.F, dw_fkc, dw);
    check_launch();
  }
  if (db) column_reduce<1>(impl_->col_partial(), int64_t(d.N) * d.T_out, d.F, ColumnTerm{dy}, BiasGradFin{db}, stream_);
}

// --- dense (row-major operands as column-major transposes) ---

namespace {
void gemm(cublasHandle_t h, MathMode math, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  const float alpha = 1.0f;
  SPTRAIN_CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C,
                                    CUDA_R_32F, ldc, compute_type(math), CUBLAS_GEMM_DEFAULT));
}
}  // namespace

void CudaBackend::dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) {
  if (rows <= 0 || out <= 0) return;
  if (in > 0) {
    // y^T (out, rows) = W^T (out, in) x^T (in, rows)
    gemm(cublas_, math_, CUBLAS_OP_N, CUBLAS_OP_N, out, rows, in, w, out, x, in, 0.0f, y, out);
  } else {
    SPTRAIN_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(rows) * size_t(out) * sizeof(float), stream_));
  }
  if (b) add_bias_ntc(y, b, size_t(rows), out, stream_);
}

void CudaBackend::dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* db) {
  if (rows <= 0 || out <= 0) return;
  if (dx && in > 0)  // dx^T (in, rows) = W (in, out) dy^T (out, rows)
    gemm(cublas_, math_, CUBLAS_OP_T, CUBLAS_OP_N, in, rows, out, w, out, dy, out, 0.0f, dx, in);
  if (dw && in > 0)  // dW^T (out, in) += dy^T (out, rows) x (rows, in)
    gemm(cublas_, math_, CUBLAS_OP_N, CUBLAS_OP_T, out, in, rows, dy, out, x, in, 1.0f, dw, out);
  if (db) column_reduce<1>(impl_->col_partial(), rows, out, ColumnTerm{dy}, BiasGradFin{db}, stream_);
}

// --- elementwise ---

void CudaBackend::act_forward(Act a, float alpha, const float* x, float* y, size_t n) {
  if (n == 0) return;
  act_forward_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(a, alpha, x, y, int64_t(n));
  check_launch();
}

void CudaBackend::act_backward(Act a, float alpha, const float* /*x*/, const float* y, const float* dy, float* dx,
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

void CudaBackend::scale(float* x, float s, size_t n) {
  if (n == 0) return;
  scale_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(x, s, int64_t(n));
  check_launch();
}

double CudaBackend::sum_squares(const float* x, size_t n) {
  if (n == 0) return 0.0;
  flat_reduce(impl_->flat_partial.data(), int64_t(n), SquareTerm{x}, StoreFin{impl_->result.data()}, stream_);
  double out = 0.0;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(&out, impl_->result.data(), sizeof(double), cudaMemcpyDeviceToHost, stream_));
  SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return out;
}

void CudaBackend::sum_squares_to(const float* x, size_t n, double* out) {
  if (n == 0) {
    SPTRAIN_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double), stream_));  // +0.0
    return;
  }
  flat_reduce(impl_->flat_partial.data(), int64_t(n), SquareTerm{x}, StoreFin{out}, stream_);
}

bool CudaBackend::all_finite(const float* x, size_t n) {
  if (n == 0) return true;
  int* bad = impl_->flag.data();
  SPTRAIN_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), stream_));
  nonfinite_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(x, int64_t(n), bad);
  check_launch();
  int h = 0;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(&h, bad, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return h == 0;
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

// --- batch normalization ---

void CudaBackend::batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta,
                                          float eps, float momentum, float* running_mean, float* running_var, float* y,
                                          float* save_mean, float* save_invstd) {
  if (rows <= 0 || C <= 0) return;
  double* mean = impl_->get<double>(Impl::kChanD, size_t(C));
  float* mf = impl_->get<float>(Impl::kChanF, 2 * size_t(C));
  float* inv = mf + C;
  column_reduce<1>(impl_->col_partial(), rows, C, ColumnTerm{x}, BnMeanFin{mean, double(rows)}, stream_);
  column_reduce<1>(impl_->col_partial(), rows, C, DeviationTerm{x, mean},
                   BnVarFin{mean, rows, eps, momentum, mf, inv, save_mean, save_invstd, running_mean, running_var},
                   stream_);
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
                                     float* dbeta) {
  if (rows <= 0 || C <= 0) return;
  float* mdy = impl_->get<float>(Impl::kChanF, 2 * size_t(C));
  float* mdyx = mdy + C;
  column_reduce<2>(impl_->col_partial(), rows, C, BnBackwardTerm{x, dy, save_mean, save_invstd},
                   BnBackwardFin{double(rows), mdy, mdyx, dgamma, dbeta}, stream_);
  if (dx) {
    const int64_t n = int64_t(rows) * C;
    bn_backward_kernel<<<grid_for(n), kThreads, 0, stream_>>>(rows, C, x, dy, save_mean, save_invstd, gamma, mdy,
                                                              mdyx, dx);
    check_launch();
  }
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

// --- optimizers ---

// The host-driven steps run the device-scalar kernels on scalars uploaded here (no clip, so g is
// only read): one kernel per optimizer.
const double* CudaBackend::host_step_scalars(float lr, int64_t t) {
  double s[kStepScalars] = {};
  s[kLr] = lr;
  s[kT] = double(t);
  upload_f64(impl_->step.data(), s, kStepScalars);
  return impl_->step.data();
}

void CudaBackend::adam_step(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2,
                            float eps, int64_t t) {
  if (n == 0) return;
  adam_step_dev(p, const_cast<float*>(g), m, v, n, b1, b2, eps, host_step_scalars(lr, t));
}

void CudaBackend::sgd_step(float* p, const float* g, float* vel, size_t n, float lr, float momentum, bool nesterov) {
  if (!vel && momentum != 0.0f) throw std::invalid_argument("sgd_step: momentum needs a velocity slab");
  if (n == 0) return;
  sgd_step_dev(p, const_cast<float*>(g), vel, n, momentum, nesterov, host_step_scalars(lr, 0));
}

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

// --- helpers declared in conv_cudnn.hpp ---

void add_bias_ntc(float* y, const float* b, size_t rows, int F, cudaStream_t s) {
  if (rows == 0 || F <= 0) return;
  const int64_t n = int64_t(rows) * F;
  add_bias_kernel<<<grid_for(n), kThreads, 0, s>>>(y, b, int64_t(rows), F);
  check_launch();
}

void convert_to_bf16(const float* src, void* dst_bf16, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream>>>(src, static_cast<uint16_t*>(dst_bf16), int64_t(n));
  check_launch();
}

void convert_from_bf16(const void* src_bf16, float* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  from_bf16_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream>>>(static_cast<const uint16_t*>(src_bf16), dst,
                                                                    int64_t(n));
  check_launch();
}

}  // namespace sptrain::cuda
#undef SPTRAIN_GRID_STRIDE
