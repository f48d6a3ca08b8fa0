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

}  // namespace sptrain::test
