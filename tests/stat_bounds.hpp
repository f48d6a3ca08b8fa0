// Bounds for the statistical tests. Every test uses a fixed seed (so it is deterministic); the
// bounds are chosen so that with a random seed a correct generator would fail a given check with
// probability <= 1e-6: z = 5.5 standard errors, two-sided normal tail 2 * Phi(-5.5) = 3.8e-8,
// which leaves room for up to ~25 checks per test under a union bound.
#pragma once
#include <cmath>

namespace sptrain::test {

inline constexpr double kZ = 5.5;

// A chi-square statistic with n degrees of freedom, divided by n, is 1 +- kZ * sqrt(2/n)
// (normal approximation; n >= 10^3 everywhere it is used, where the skew is negligible at 5.5 sigma
// compared with the margin: the exact 1e-7 quantiles of chi2_n/n for n = 1e4 are 0.922 and 1.081,
// inside 1 -+ 5.5*sqrt(2e-4) = 0.922 / 1.078... so we widen by 10 % to cover the skew).
inline bool chi2_ok(double sum_sq, double n) {
  double ratio = sum_sq / n;
  return std::abs(ratio - 1.0) <= 1.1 * kZ * std::sqrt(2.0 / n);
}

// |estimate - expected| within kZ standard errors.
inline bool within_z(double estimate, double expected, double std_error) {
  return std::abs(estimate - expected) <= kZ * std_error;
}

}  // namespace sptrain::test
