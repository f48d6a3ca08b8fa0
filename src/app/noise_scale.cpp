// Two-batch gradient noise scale estimator (see noise_scale.hpp).
#include "sptrain/noise_scale.hpp"

#include <cmath>
#include <stdexcept>

namespace sptrain {

void NoiseScaleEstimator::update(double g_small_sq, double b_small, double g_big_sq, double b_big) {
  if (!(b_big > b_small) || !(b_small > 0)) throw std::invalid_argument("noise scale: needs 0 < b_small < b_big");
  const double g = (b_big * g_big_sq - b_small * g_small_sq) / (b_big - b_small);
  const double s = (g_small_sq - g_big_sq) / (1.0 / b_small - 1.0 / b_big);
  ++n_;
  g_raw_ = decay_ * g_raw_ + (1 - decay_) * g;
  s_raw_ = decay_ * s_raw_ + (1 - decay_) * s;
  const double correction = 1.0 - std::pow(decay_, double(n_));  // Adam-style bias correction
  g_ = g_raw_ / correction;
  s_ = s_raw_ / correction;
}

void NoiseScaleEstimator::set_state(double g_raw, double s_raw, int64_t n) {
  g_raw_ = g_raw;
  s_raw_ = s_raw;
  n_ = n;
  const double correction = n > 0 ? 1.0 - std::pow(decay_, double(n)) : 1.0;
  g_ = g_raw_ / correction;
  s_ = s_raw_ / correction;
}

double NoiseScaleEstimator::b_simple() const { return n_ > 0 && g_ > 0 ? s_ / g_ : NAN; }

}  // namespace sptrain
