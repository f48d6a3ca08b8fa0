// CPU vs GPU tolerances, one place for all parity tests (DESIGN.md rule 3).
#pragma once
#include <cmath>

namespace sptrain::test {

// Transcendental functions (logf, powf, sqrtf, expf) differ by up to ~2 ulp between glibc and
// CUDA's device math; a few chained calls (Weibull: log, pow) stay within ~8 ulp = 1e-6 relative.
inline constexpr double kTransRel = 2e-6;

// A switch time that rounds across a step boundary (probability ~1e-7 per switch) changes an
// integer label; allow 1 in 10^4 labels to differ.
inline constexpr double kMaxLabelFlips = 1e-4;
// Switch times in float: the CPU and GPU sums of exponential waiting times may differ by a few ulps
// of the trajectory length (logf differs in the last bit between glibc and CUDA). The H200 run of
// 2026-11-29 measured 0.2 ulp of 1000 steps; 8 ulps is the bound.
inline constexpr double kSwitchTimeUlps = 8;

// Feature values: absolute floor for differences of nearly equal positions (float epsilon at
// |x| ~ 100 is 8e-6; two roundings).
inline constexpr double kFeatureAbs = 2e-5;

// Positions: each step adds one rounding of the running sum (relative 6e-8 of |x|) and the GPU sums
// in a different order; after L steps the error is at most ~L ulp of the largest magnitude, plus
// the increments' own kTransRel error accumulated as a random walk (sqrt(L) * sigma * kTransRel).
inline double position_tolerance(double abs_x, double sigma, long L) {
  const double ulp = 1.2e-7;
  return 4.0 * L * ulp * (abs_x + sigma * std::sqrt(double(L))) + 10.0 * kTransRel * sigma * std::sqrt(double(L)) + 1e-5;
}

// --- training backend (test_parity_ops_gpu.cpp, test_parity_train_gpu.cpp) ---
// Unit roundoff of float: u = 2^-24 = 6e-8.

// Sums of n float products (Conv1D, Dense), compared against sum|terms| (the same sum over absolute
// values). Each side's rounding error is about u sqrt(n) sum|terms| when partial sums share a sign
// and about u sum|terms| when signs are random, whatever the order or blocking; the two sides
// together 2 u sqrt(n), times a margin of 8: 1e-6 sqrt(n). The floor 2e-6 (~30 u) covers
// transform-based algorithms (FFT, Winograd) whose error does not shrink with few terms. A wrong
// tap, a missing term or a TF32 product (1e-3) is far above this.
inline double fp32_sum_rel(double n_terms) { return 2e-6 + 1e-6 * std::sqrt(n_terms); }

// MathMode::Tf32 on top of fp32_sum_rel: the inputs keep 10 mantissa bits, each rounded by at
// most 2^-11 relative (2^-10 where the hardware truncates), so each product is within 2^-9 = 2e-3
// of the exact one and the sum within 2e-3 of sum|terms|, in any order. The output stays FP32.
inline constexpr double kTf32ProductRel = 2e-3;

// MathMode::Bf16: inputs keep 8 significant bits. Truncated inputs put each product within
// 2 * 2^-7 = 1.56e-2; rounded inputs (2 * 2^-8 = 7.8e-3) plus an output rounded to BF16 (2^-8 of
// |y| <= sum|terms|) give 1.17e-2. 1.6e-2 of sum|terms| covers either.
inline constexpr double kBf16ProductRel = 1.6e-2;

// A handful of float operations (axpy, optimizer updates, up to 3 pooled gradients added) whose
// order or FMA contraction differs: a few roundings of u/2 each, relative to the largest element of
// the tensor (cancellation in m = b1 m + (1 - b1) g and the like).
inline constexpr double kFewUlpRel = 1e-6;

// Element-wise ops with transcendental functions and short reductions (activation gradients,
// softmax over C <= 10, loss gradients, normalization): chains of up to ~5 operations, each within
// kTransRel of the other side's: 5 kTransRel. Measured against the tensor's largest element (or
// |dy| <= 1) where cancellation (1 - y^2, softmax - target, x - mean) makes small elements' own
// relative error meaningless. Also the relative tolerance of loss values (double sums of such
// terms).
inline constexpr double kOpRel = 1e-5;

// Sums of float squares in double: each square is rounded at most once (u relative) and all terms
// are positive, so the two sums agree to u; 2e-7 leaves a margin of 3.
inline constexpr double kSquareSumRel = 2e-7;

// Training curves (20 Adam steps, lr 1e-3, same init and batches). Step 0's loss sees identical
// parameters and differs only by the forward pass's rounding: ~10 layers of sums within
// fp32_sum_rel (up to 3e-5 for 640 terms) and kOpRel each, so 1e-4. Every step then feeds gradients
// that differ by that much into Adam, which moves each parameter by ~lr times a relative change of
// the same order; the curves drift apart about linearly: 1e-4 more per step (2e-3 at step 19).
inline double train_loss_rel(int step) { return 1e-4 * (1 + step); }

// Final parameters: Adam turns a rounding-level gradient (a component near 0) into a full step of
// +-lr on either side, so a few parameters may end up to a few lr apart; the rms difference still
// stays a small part of how far training moved the parameters (rms over all of them): 5%.
inline constexpr double kTrainParamsApart = 0.05;

// The farthest two Adam runs can drift apart in `steps` steps: each step moves a parameter by at
// most lr (1 - b1) / sqrt(1 - b2) = 3.2 lr (b1 0.9, b2 0.999), in either direction.
inline double adam_reach(int steps, double lr) { return 2.0 * steps * lr * 0.1 / std::sqrt(0.001); }

}  // namespace sptrain::test
