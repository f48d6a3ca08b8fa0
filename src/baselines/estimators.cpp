// Step-size estimators for (possibly noisy) Brownian displacements: zero-mean and sample-mean MLE,
// the covariance-based estimator CVE with motion blur, the MSD line fit, the Cramer-Rao bound and
// percentile (moving-block) bootstrap intervals. Batched forms loop over trajectories with OpenMP.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "detail.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {
namespace {

using detail::fail;

// --- unchecked kernels on a [n, dims] series (n >= 1, values finite) ---

double mle_zero(const float* x, std::int64_t n, int dims) {
  double s = 0;
  const std::int64_t len = n * dims;
  for (std::int64_t i = 0; i < len; ++i) s += static_cast<double>(x[i]) * x[i];
  return s / static_cast<double>(len);
}

double mle_centered(const float* x, std::int64_t n, int dims) {
  double total = 0;
  for (int d = 0; d < dims; ++d) {
    double mean = 0;
    for (std::int64_t t = 0; t < n; ++t) mean += x[t * dims + d];
    mean /= static_cast<double>(n);
    for (std::int64_t t = 0; t < n; ++t) {
      const double c = x[t * dims + d] - mean;
      total += c * c;
    }
  }
  return total / static_cast<double>(n * dims);
}

// Vestergaard et al. (2014), per dimension, with D the diffusion constant, dt the frame time,
// s^2 the localization variance and R the motion-blur coefficient (0 for instantaneous frames,
// 1/6 for full-frame uniform exposure, at most 1/4):
//   <dx_t^2>          = 2 D dt (1 - 2R) + 2 s^2
//   <dx_t dx_{t+1}>   = 2 D dt R - s^2
// so  2 D dt = <dx_t^2> + 2 <dx_t dx_{t+1}>            (R cancels)
// and s^2    = R <dx_t^2> + (2R - 1) <dx_t dx_{t+1}>    (= -<dx_t dx_{t+1}> when R = 0).
// The averages run over n steps and n-1 neighbouring pairs, and over dimensions.
CveResult cve_raw(const float* x, std::int64_t n, int dims, double blur) {
  const double sq = mle_zero(x, n, dims);
  double cov = 0;
  for (std::int64_t t = 0; t + 1 < n; ++t)
    for (int d = 0; d < dims; ++d)
      cov += static_cast<double>(x[t * dims + d]) * x[(t + 1) * dims + d];
  cov /= static_cast<double>((n - 1) * dims);
  return {sq + 2.0 * cov, blur * sq + (2.0 * blur - 1.0) * cov};
}

// MSD(lag) = sum_d sum_{i=0}^{n-lag} (x_{i+lag,d} - x_{i,d})^2 / ((n - lag + 1) dims),
// positions x_0 = 0, x_t = sum_{s<t} dx_s.
std::vector<double> msd_raw(const float* x, std::int64_t n, int dims, int max_lag) {
  std::vector<double> pos(static_cast<std::size_t>((n + 1) * dims), 0.0);
  for (std::int64_t t = 0; t < n; ++t)
    for (int d = 0; d < dims; ++d) pos[(t + 1) * dims + d] = pos[t * dims + d] + x[t * dims + d];
  std::vector<double> out(max_lag, 0.0);
  for (int lag = 1; lag <= max_lag; ++lag) {
    double s = 0;
    for (std::int64_t i = 0; i + lag <= n; ++i)
      for (int d = 0; d < dims; ++d) {
        const double v = pos[(i + lag) * dims + d] - pos[i * dims + d];
        s += v * v;
      }
    out[lag - 1] = s / static_cast<double>((n - lag + 1) * dims);
  }
  return out;
}

// Ordinary least squares of y_l = offset + slope * l over l = 1..L:
// slope = sum (l - lbar)(y_l - ybar) / sum (l - lbar)^2, offset = ybar - slope lbar.
LineFit line_raw(const double* y, int L) {
  const double lbar = 0.5 * (L + 1);
  double ybar = 0;
  for (int l = 1; l <= L; ++l) ybar += y[l - 1];
  ybar /= L;
  double sxy = 0, sxx = 0;
  for (int l = 1; l <= L; ++l) {
    sxy += (l - lbar) * (y[l - 1] - ybar);
    sxx += (l - lbar) * (l - lbar);
  }
  const double slope = sxy / sxx;
  return {slope, ybar - slope * lbar};
}

double sigma2_raw(Estimator e, const float* x, std::int64_t n, int dims,
                  const EstimatorOptions& opt) {
  switch (e) {
    case Estimator::MleZeroMean: return mle_zero(x, n, dims);
    case Estimator::MleSampleMean: return mle_centered(x, n, dims);
    case Estimator::Cve: return cve_raw(x, n, dims, opt.blur).sigma2;
    case Estimator::MsdFit: {
      const auto m = msd_raw(x, n, dims, opt.msd_max_lag);
      return line_raw(m.data(), opt.msd_max_lag).slope;
    }
  }
  return 0;  // unreachable
}

void check_blur(const char* fn, double blur) {
  if (!(blur >= 0.0 && blur <= 0.25))
    fail(fn, "blur coefficient R must lie in [0, 1/4] (got " + std::to_string(blur) + ")");
}

// Checks that estimator e is defined for n steps with these options.
void check_estimator(const char* fn, Estimator e, std::int64_t n, const EstimatorOptions& opt) {
  if (e != Estimator::MleZeroMean && e != Estimator::MleSampleMean && e != Estimator::Cve &&
      e != Estimator::MsdFit)
    fail(fn, "unknown estimator");
  if (e == Estimator::Cve) {
    check_blur(fn, opt.blur);
    if (n < 2) fail(fn, "CVE needs at least 2 steps (got " + std::to_string(n) + ")");
  }
  if (e == Estimator::MsdFit) {
    if (opt.msd_max_lag < 2)
      fail(fn, "msd_max_lag must be >= 2 (got " + std::to_string(opt.msd_max_lag) + ")");
    if (n < opt.msd_max_lag)
      fail(fn, "MSD fit over " + std::to_string(opt.msd_max_lag) + " lags needs at least that many "
               "steps (got " + std::to_string(n) + ")");
  }
}

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Quantile with linear interpolation between order statistics (sorted input).
double quantile_sorted(const std::vector<double>& v, double q) {
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  const double w = pos - static_cast<double>(lo);
  return v[lo] * (1.0 - w) + v[hi] * w;
}

BootstrapCi bootstrap_raw(Estimator e, const float* x, std::int64_t n, int dims,
                          const BootstrapOptions& boot, const EstimatorOptions& opt,
                          std::uint64_t seed) {
  std::int64_t block = boot.block;
  if (block == 0) {
    const auto cube = static_cast<std::int64_t>(std::llround(std::cbrt(static_cast<double>(n))));
    if (e == Estimator::Cve) block = std::max<std::int64_t>(2, cube);
    else if (e == Estimator::MsdFit) block = std::max<std::int64_t>(opt.msd_max_lag + 1, cube);
    else block = 1;
  }
  block = std::min(block, n);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> start(0, n - block);
  std::vector<float> buf(static_cast<std::size_t>(n * dims));
  std::vector<double> est(boot.resamples);
  for (int b = 0; b < boot.resamples; ++b) {
    // Concatenate random blocks of `block` consecutive steps until n steps are filled.
    for (std::int64_t filled = 0; filled < n;) {
      const std::int64_t s = start(rng);
      const std::int64_t take = std::min(block, n - filled);
      std::copy(x + s * dims, x + (s + take) * dims, buf.begin() + filled * dims);
      filled += take;
    }
    est[b] = sigma2_raw(e, buf.data(), n, dims, opt);
  }
  std::sort(est.begin(), est.end());
  BootstrapCi ci{};
  ci.sigma2.estimate = sigma2_raw(e, x, n, dims, opt);
  ci.sigma2.lo = quantile_sorted(est, 0.5 * (1.0 - boot.level));
  ci.sigma2.hi = quantile_sorted(est, 0.5 * (1.0 + boot.level));
  auto root = [](double v) { return std::sqrt(std::max(v, 0.0)); };
  ci.sigma = {root(ci.sigma2.estimate), root(ci.sigma2.lo), root(ci.sigma2.hi)};
  return ci;
}

void check_bootstrap(const char* fn, const BootstrapOptions& boot) {
  if (boot.resamples < 2)
    fail(fn, "bootstrap needs at least 2 resamples (got " + std::to_string(boot.resamples) + ")");
  if (!(boot.level > 0.0 && boot.level < 1.0))
    fail(fn, "confidence level must lie in (0, 1) (got " + std::to_string(boot.level) + ")");
  if (boot.block < 0) fail(fn, "negative bootstrap block length");
}

}  // namespace

double mle_sigma2(std::span<const float> dx, int dims) {
  const auto n = detail::check_series("mle_sigma2", dx, dims);
  return mle_zero(dx.data(), n, dims);
}

double mle_sigma2_sample_mean(std::span<const float> dx, int dims) {
  const auto n = detail::check_series("mle_sigma2_sample_mean", dx, dims);
  return mle_centered(dx.data(), n, dims);
}

CveResult cve(std::span<const float> dx, double blur, int dims) {
  const auto n = detail::check_series("cve", dx, dims);
  check_blur("cve", blur);
  if (n < 2) fail("cve", "needs at least 2 steps (got " + std::to_string(n) + ")");
  return cve_raw(dx.data(), n, dims, blur);
}

std::vector<double> msd(std::span<const float> dx, int max_lag, int dims) {
  const auto n = detail::check_series("msd", dx, dims);
  if (max_lag < 1) fail("msd", "max_lag must be >= 1 (got " + std::to_string(max_lag) + ")");
  if (n < max_lag)
    fail("msd", "max_lag " + std::to_string(max_lag) + " exceeds the number of steps " +
                    std::to_string(n));
  return msd_raw(dx.data(), n, dims, max_lag);
}

LineFit fit_msd_line(std::span<const double> msd_by_lag) {
  if (msd_by_lag.size() < 2)
    fail("fit_msd_line", "needs MSD values at 2 or more lags (got " +
                             std::to_string(msd_by_lag.size()) + ")");
  for (std::size_t i = 0; i < msd_by_lag.size(); ++i)
    if (!std::isfinite(msd_by_lag[i]))
      fail("fit_msd_line", "MSD at lag " + std::to_string(i + 1) + " is not finite");
  return line_raw(msd_by_lag.data(), static_cast<int>(msd_by_lag.size()));
}

LineFit msd_fit(std::span<const float> dx, int max_lag, int dims) {
  const auto n = detail::check_series("msd_fit", dx, dims);
  EstimatorOptions opt;
  opt.msd_max_lag = max_lag;
  check_estimator("msd_fit", Estimator::MsdFit, n, opt);
  const auto m = msd_raw(dx.data(), n, dims, max_lag);
  return line_raw(m.data(), max_lag);
}

double estimate_sigma2(Estimator e, std::span<const float> dx, int dims,
                       const EstimatorOptions& opt) {
  const auto n = detail::check_series("estimate_sigma2", dx, dims);
  check_estimator("estimate_sigma2", e, n, opt);
  return sigma2_raw(e, dx.data(), n, dims, opt);
}

std::vector<double> estimate_sigma2(Estimator e, const SeriesBatch& batch,
                                    const EstimatorOptions& opt) {
  detail::check_batch("estimate_sigma2", batch);
  std::vector<double> out(static_cast<std::size_t>(batch.count));
  if (batch.count == 0) return out;
  check_estimator("estimate_sigma2", e, batch.steps, opt);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = sigma2_raw(e, batch.trajectory(i).data(), batch.steps, batch.dims, opt);
  });
  return out;
}

std::vector<double> estimate_sigma(Estimator e, const SeriesBatch& batch,
                                   const EstimatorOptions& opt) {
  auto v = estimate_sigma2(e, batch, opt);
  for (double& x : v) x = std::sqrt(std::max(x, 0.0));
  return v;
}

// Fisher information of sigma from m zero-mean Gaussian samples is 2m / sigma^2, so
// std(sigma-hat) >= sigma / sqrt(2m); for sigma2 the information is m / (2 sigma^4), so
// std(sigma2-hat) >= sigma^2 sqrt(2/m).
double cramer_rao_rel_std_sigma(std::int64_t samples) {
  if (samples < 1) fail("cramer_rao_rel_std_sigma", "samples must be >= 1");
  return 1.0 / std::sqrt(2.0 * static_cast<double>(samples));
}

double cramer_rao_rel_std_sigma2(std::int64_t samples) {
  if (samples < 1) fail("cramer_rao_rel_std_sigma2", "samples must be >= 1");
  return std::sqrt(2.0 / static_cast<double>(samples));
}

std::uint64_t trajectory_seed(std::uint64_t seed, std::int64_t index) {
  return splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(index)));
}

BootstrapCi bootstrap_ci(Estimator e, std::span<const float> dx, int dims,
                         const BootstrapOptions& boot, const EstimatorOptions& opt) {
  const auto n = detail::check_series("bootstrap_ci", dx, dims);
  check_estimator("bootstrap_ci", e, n, opt);
  check_bootstrap("bootstrap_ci", boot);
  return bootstrap_raw(e, dx.data(), n, dims, boot, opt, boot.seed);
}

std::vector<BootstrapCi> bootstrap_ci(Estimator e, const SeriesBatch& batch,
                                      const BootstrapOptions& boot, const EstimatorOptions& opt) {
  detail::check_batch("bootstrap_ci", batch);
  std::vector<BootstrapCi> out(static_cast<std::size_t>(batch.count));
  if (batch.count == 0) return out;
  check_estimator("bootstrap_ci", e, batch.steps, opt);
  check_bootstrap("bootstrap_ci", boot);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = bootstrap_raw(e, batch.trajectory(i).data(), batch.steps, batch.dims, boot, opt,
                           trajectory_seed(boot.seed, i));
  });
  return out;
}

}  // namespace sptrain::baselines
