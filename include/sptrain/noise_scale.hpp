// Gradient noise scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al. 2018) from the two-batch
// estimator: with gradient norms measured at a small batch B_s and a big batch B_b of the same step,
//   |G|^2    ~ (B_b |G_b|^2 - B_s |G_s|^2) / (B_b - B_s)
//   tr(Sigma) ~ (|G_s|^2 - |G_b|^2) / (1/B_s - 1/B_b)
// Both are unbiased but noisy per step; they are smoothed by separate exponential moving averages
// and B_simple is the ratio of the averages.
#pragma once
#include <cstdint>

namespace sptrain {

class NoiseScaleEstimator {
 public:
  explicit NoiseScaleEstimator(double ema_decay = 0.95) : decay_(ema_decay) {}
  // One step's measurement: squared norms of the mean gradient over b_small and over b_big samples.
  void update(double g_small_sq, double b_small, double g_big_sq, double b_big);
  double g_sq() const { return g_; }        // smoothed |G|^2 (bias-corrected)
  double trace_sigma() const { return s_; }  // smoothed tr(Sigma)
  double b_simple() const;                   // tr(Sigma) / |G|^2; NaN before the first update or if |G|^2 <= 0
  int64_t updates() const { return n_; }
  // The raw moving averages and the update count, for checkpoints (exact resume).
  void get_state(double& g_raw, double& s_raw, int64_t& n) const { g_raw = g_raw_, s_raw = s_raw_, n = n_; }
  void set_state(double g_raw, double s_raw, int64_t n);

 private:
  double decay_;
  double g_raw_ = 0, s_raw_ = 0, g_ = 0, s_ = 0;
  int64_t n_ = 0;
};

}  // namespace sptrain
