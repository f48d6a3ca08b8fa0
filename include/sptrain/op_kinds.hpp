// The kinds and descriptors the backend's ops take (activations, losses, convolution shapes,
// step-scalar slots, compute precision): plain enums and structs with no library dependencies, so
// the per-element bodies in kernels/ include this header instead of sptrain/backend.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

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

// Slots of the step-scalar array (alloc<double>(kStepScalars)).
enum StepScalar : int { kLr = 0, kT = 1, kClipNorm = 2, kGradSq = 3, kLossSum = 4, kGradSmallSq = 5, kStepScalars = 8 };

// Compute precision of convolutions and GEMMs (FP32 storage and master weights in every mode):
// Fp32 exact single precision; Tf32 tensor cores with TF32 inputs; Bf16 tensor cores with BF16
// inputs and FP32 accumulation. The CPU backend always computes in FP32.
enum class MathMode : int32_t { Fp32 = 0, Tf32 = 1, Bf16 = 2 };

// The ranks whose BatchNorm statistics are combined (dist.batchnorm = "sync",
// docs/distributed.md): the batchnorm training ops hand it their per-channel partial sums (host
// doubles) and normalize with the statistics of every rank's rows together. Every rank combines
// the same gathered values in rank order, so all ranks get bitwise the same statistics and a run
// is deterministic. A null BatchNormSync in an op: the batch's own statistics.
class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  // all[r * n, (r + 1) * n) = rank r's mine[0, n), on every rank.
  virtual void allgather(const double* mine, size_t n, double* all) = 0;
  virtual int ranks() const = 0;
  // Forward: this rank's `rows` rows have per-channel sums sum[c] and squared deviations sq[c]
  // from their own mean sum[c] / rows. On return sum[c] is the mean of every rank's rows and sq[c]
  // their squared deviations from it (the pairwise combination of Chan, Golub & LeVeque, in rank
  // order); returns the rows of all ranks. One rank: sum[c] / rows and sq[c], bitwise.
  int64_t moments(int C, int64_t rows, double* sum, double* sq);
  // Backward: v[0, n) summed over the ranks in rank order, in place; returns the rows of all ranks.
  int64_t sums(double* v, size_t n, int64_t rows);
};

}  // namespace sptrain
