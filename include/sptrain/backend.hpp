// The compute backend: every op the model layers, losses and optimizers need, on raw float arrays
// that live on the backend's device (host memory for the CPU backend, device memory for CUDA).
// One implementation per device (src/cpu/, src/cuda/); per-element math is shared through the
// __host__ __device__ bodies in kernels/ (DESIGN.md rule 2). Host-only header.
//
// Layout: activations are (N, T, C) row-major ("NTC", Keras channels-last): N samples, T time
// steps, C channels. Dense inputs are (rows, in). Conv1D weights are (K, C_in, F) (Keras kernel
// layout), Dense weights (in, out). Unless a comment says "accumulates" (+=), outputs are
// overwritten. Gradient outputs of parameters always accumulate, so micro-batches add up.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "sptrain/device.hpp"

namespace sptrain {

// Softplus: log(1 + e^x), a positive output without ReLU's dead zone. Sqrt: the signed square root
// sign(x) sqrt(|x|), for outputs that are square roots of learned variances; monotone, so it has no
// dead zone (derivative 1/(2|y|), |y| floored at 1e-6).
// Log: log(max(x, 1e-20)), e.g. the log of a learned windowed mean of squared displacements (a
// local log-variance); derivative 1/x = exp(-y), 0 where the floor holds.
enum class Act : int32_t { Linear = 0, ReLU = 1, ELU = 2, LeakyReLU = 3, Tanh = 4, Sigmoid = 5, Softplus = 6, Sqrt = 7, Log = 8 };

// y[n, t, f] = b[f] + sum_{k < K, c < C_in} w[k, c, f] * x[n, t*stride + k*dilation - pad_left, c],
// x taken as zero outside [0, T_in). T_out = (T_in + pad_left + pad_right - dilation*(K-1) - 1)/stride + 1.
struct Conv1dDesc {
  int N = 0, T_in = 0, C_in = 0, T_out = 0, F = 0;
  int K = 1, stride = 1, dilation = 1, pad_left = 0;
};

// Throws std::invalid_argument naming every field when a descriptor is malformed (both backends).
void check_conv1d_desc(const Conv1dDesc& d);

enum class LossKind : int32_t {
  MSE = 0,              // mean over elements of (p - y)^2
  MAE = 1,              // mean |p - y|
  MAPE = 2,             // Keras: 100 * mean |y - p| / max(|y|, 1e-7)
  Poisson = 3,          // Keras: mean p - y * log(p + 1e-7)
  BinaryCrossEntropy = 4,       // from logits: mean max(z,0) - z*y + log(1 + exp(-|z|))
  CategoricalCrossEntropy = 5,  // from logits over the last axis, y one-hot or probabilities
};

class Backend;

// What an allocation of T is called in an out-of-memory message.
template <class T>
struct BufferTraits;
template <>
struct BufferTraits<float> {
  static constexpr const char* what = "tensor";
};
template <>
struct BufferTraits<int32_t> {
  static constexpr const char* what = "index tensor";
};
template <>
struct BufferTraits<double> {
  static constexpr const char* what = "step scalars";
};

// n elements of T in a backend's memory (host memory for the CPU backend, device memory for CUDA),
// owned: move-only, freed by the destructor, so memory is never leaked when something throws.
// get() is the raw pointer the backend's ops take; it stays valid for the Buffer's lifetime.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& o) noexcept : be_(o.be_), p_(o.p_), n_(o.n_) { o.be_ = nullptr, o.p_ = nullptr, o.n_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_, p_ = o.p_, n_ = o.n_;
      o.be_ = nullptr, o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  T* get() const noexcept { return p_; }
  size_t size() const noexcept { return n_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept;  // frees now (defined after Backend)

 private:
  friend class Backend;
  Buffer(Backend* be, T* p, size_t n) : be_(be), p_(p), n_(n) {}
  Backend* be_ = nullptr;
  T* p_ = nullptr;
  size_t n_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // --- memory (element counts are floats unless named otherwise) ---
  // n elements of T (float, int32_t or double) on this backend's device, owned by the returned
  // Buffer and freed when it goes; contents undefined. Throws OutOfDeviceMemory (CUDA) or
  // std::bad_alloc (CPU). The Buffer must not outlive the backend.
  template <class T>
  Buffer<T> alloc(size_t n) {
    return Buffer<T>(this, static_cast<T*>(alloc_bytes(n * sizeof(T), BufferTraits<T>::what)), n);
  }
  virtual void upload(float* dst, const float* host_src, size_t n) = 0;
  virtual void download(float* host_dst, const float* src, size_t n) = 0;
  virtual void fill(float* dst, float value, size_t n) = 0;
  virtual void copy(float* dst, const float* src, size_t n) = 0;
  virtual void synchronize() = 0;

  // --- convolution ---
  virtual void conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) = 0;
  // dx (N, T_in, C_in), overwritten.
  virtual void conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) = 0;
  // dw (K, C_in, F) and db (F) accumulate; db may be null (no bias).
  virtual void conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) = 0;

  // --- dense: y (rows, out) = x (rows, in) W (in, out) + b ---
  virtual void dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) = 0;
  // dx overwritten (may be null: input needs no gradient); dw, db accumulate (db may be null).
  virtual void dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                              float* dw, float* db) = 0;

  // --- elementwise ---
  // alpha: ELU alpha (Keras 1.0), LeakyReLU negative slope (Keras 0.3); y may alias x.
  virtual void act_forward(Act a, float alpha, const float* x, float* y, size_t n) = 0;
  // dx = dy * act'(x) (uses y where cheaper); dx may alias dy.
  virtual void act_backward(Act a, float alpha, const float* x, const float* y, const float* dy, float* dx, size_t n) = 0;
  // y[i] += alpha * x[i]
  virtual void axpy(float alpha, const float* x, float* y, size_t n) = 0;
  virtual void scale(float* x, float s, size_t n) = 0;
  // sum of squares, in double (gradient norms)
  virtual double sum_squares(const float* x, size_t n) = 0;
  // true if every element is finite
  virtual bool all_finite(const float* x, size_t n) = 0;

  // --- softmax over the last axis: y (rows, C) ---
  virtual void softmax_forward(int rows, int C, const float* x, float* y) = 0;
  virtual void softmax_backward(int rows, int C, const float* y, const float* dy, float* dx) = 0;

  // --- pooling; argmax holds the input time index chosen per output (first maximum on ties) ---
  // x (N, T_in, C) -> y (N, T_out, C), T_out = (T_in - pool)/stride + 1 (valid).
  virtual void maxpool1d_forward(int N, int T_in, int C, int pool, int stride, const float* x, float* y,
                                 int32_t* argmax) = 0;
  // dx (N, T_in, C) overwritten (zero where no output chose the element, summed where several did).
  virtual void maxpool1d_backward(int N, int T_in, int T_out, int C, const int32_t* argmax, const float* dy,
                                  float* dx) = 0;
  // x (N, T, C) -> y (N, C)
  virtual void global_maxpool_forward(int N, int T, int C, const float* x, float* y, int32_t* argmax) = 0;
  virtual void global_maxpool_backward(int N, int T, int C, const int32_t* argmax, const float* dy, float* dx) = 0;

  // --- batch normalization over rows = N*T, per channel C (Keras semantics) ---
  // Training: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with the biased batch variance;
  // running_mean = momentum * running_mean + (1 - momentum) * mean_B, running_var likewise with
  // the unbiased batch variance (TF's fused kernel). save_mean / save_invstd (C) feed the backward.
  virtual void batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta,
                                       float eps, float momentum, float* running_mean, float* running_var, float* y,
                                       float* save_mean, float* save_invstd) = 0;
  virtual void batchnorm_forward_infer(int rows, int C, const float* x, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, float eps, float* y) = 0;
  // dx overwritten; dgamma, dbeta accumulate.
  virtual void batchnorm_backward(int rows, int C, const float* x, const float* dy, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                                  float* dbeta) = 0;

  // --- strided 2-D block copies (concatenate along time or channels, and their backward) ---
  // dst[r * dst_stride + c] = src[r * src_stride + c] for r < rows, c < cols
  virtual void copy2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) = 0;
  // dst[r * dst_stride + c] += src[r * src_stride + c]
  virtual void add2d(int rows, int cols, const float* src, int src_stride, float* dst, int dst_stride) = 0;

  // --- losses: pred and target (rows, C); returns the mean loss (the Keras value) and, when
  // dpred is non-null, writes dpred = scale * d(mean loss)/d(pred). For the cross-entropies pred
  // holds logits. ---
  virtual double loss(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                      float scale) = 0;

  // --- optimizers over flat slabs of n parameters ---
  // Adam (Keras): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  // lr_t = lr * sqrt(1-b2^t)/(1-b1^t); p -= lr_t * m / (sqrt(v) + eps)   (t >= 1, TF2 Keras form)
  virtual void adam_step(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2,
                         float eps, int64_t t) = 0;
  // SGD with momentum (Keras): vel = momentum * vel - lr * g; p += vel (nesterov: p += momentum * vel - lr * g)
  virtual void sgd_step(float* p, const float* g, float* vel, size_t n, float lr, float momentum, bool nesterov) = 0;

  // --- device-resident step scalars: a training step that never waits for the host, so the CUDA
  // backend can capture it in a graph. Scalars are doubles in the backend's memory, indexed by
  // StepScalar; the host writes kLr/kT/kClipNorm before a step and reads the rest after it. ---
  virtual void upload_f64(double* dst, const double* host_src, size_t n) = 0;
  virtual void download_f64(double* host_dst, const double* src, size_t n) = 0;
  // *acc += weight * (the mean loss loss() would return); dpred as in loss().
  virtual void loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                               float scale, double weight, double* acc) = 0;
  // *out = sum of squares of x (double accumulation).
  virtual void sum_squares_to(const float* x, size_t n, double* out) = 0;
  // Optimizer steps reading lr = s[kLr], t = s[kT], and the squared gradient norm s[kGradSq]: when
  // s[kClipNorm] > 0 and the norm exceeds it, g is first scaled in place by clip / norm (the float
  // product, as scale() does); then the same update as adam_step / sgd_step.
  virtual void adam_step_dev(float* p, float* g, float* m, float* v, size_t n, float b1, float b2, float eps,
                             const double* s) = 0;
  virtual void sgd_step_dev(float* p, float* g, float* vel, size_t n, float momentum, bool nesterov,
                            const double* s) = 0;
  // LAMB in two phases. Over the whole slab (after the same clip as adam_step_dev): Adam moments at
  // t = s[kT] and the direction u = m_hat / (sqrt(v_hat) + eps) + wd p (u overwritten). Then per
  // layer, with norms2 = (|p_layer|^2, |u_layer|^2) in backend memory:
  // p -= s[kLr] * trust * u, trust = sqrt(norms2[0] / norms2[1]) (1 if either is 0).
  virtual void lamb_direction_dev(const float* p, float* g, float* m, float* v, float* u, size_t n, float b1, float b2,
                                  float eps, float wd, const double* s) = 0;
  virtual void trust_step_dev(float* p, const float* u, size_t n, const double* norms2, const double* s) = 0;
  // LARS on one layer, with norms2 = (|p_layer|^2, |g_layer|^2) in backend memory (g before the
  // clip): f = the clip factor of s, step = s[kLr] * eta |p| / (f |g| + wd |p|) (1 for a zero norm),
  // vel = momentum vel - step (f g + wd p), p += vel. g is not modified.
  virtual void lars_step_dev(float* p, const float* g, float* vel, size_t n, const double* norms2, float eta, float wd,
                             float momentum, const double* s) = 0;

  // Runs `ops`, a sequence of this backend's asynchronous calls that does the same work with the
  // same pointers every time it is run under `key`. The CUDA backend runs it eagerly the first time,
  // captures it into a CUDA graph the second, and replays the graph from then on (launch overhead
  // paid once); `ops` must then not synchronize, allocate, or read results on the host. The CPU
  // backend calls ops(). Graphs live until the backend is destroyed.
  virtual void run_captured(int key, const std::function<void()>& ops) { ops(); }
  // Device memory (free, total) in bytes; the CPU backend reports 0, 0.
  virtual void memory_info(size_t& free_bytes, size_t& total_bytes) { free_bytes = total_bytes = 0; }

 protected:
  // At least max(bytes, 1) bytes, aligned for any element type; `what` names the allocation in an
  // out-of-memory message. Only Buffer frees what this returns, through release().
  virtual void* alloc_bytes(size_t bytes, const char* what) = 0;
  virtual void release(void* p) noexcept = 0;
  template <class T>
  friend class Buffer;
};

template <class T>
void Buffer<T>::reset() noexcept {
  if (p_) be_->release(p_);
  be_ = nullptr;
  p_ = nullptr;
  n_ = 0;
}

// Slots of the step-scalar array (alloc<double>(kStepScalars)).
enum StepScalar : int { kLr = 0, kT = 1, kClipNorm = 2, kGradSq = 3, kLossSum = 4, kGradSmallSq = 5, kStepScalars = 8 };

// Compute precision of convolutions and GEMMs (FP32 storage and master weights in every mode):
// Fp32 exact single precision; Tf32 tensor cores with TF32 inputs; Bf16 tensor cores with BF16
// inputs and FP32 accumulation. The CPU backend always computes in FP32.
enum class MathMode : int32_t { Fp32 = 0, Tf32 = 1, Bf16 = 2 };

// The backend for a device; throws UsageError if the device is not available in this build.
std::unique_ptr<Backend> make_backend(const Device& dev, MathMode math = MathMode::Fp32);

}  // namespace sptrain
