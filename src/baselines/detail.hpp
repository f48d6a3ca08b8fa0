// Internal helpers shared by the baselines sources: argument checks that throw
// std::invalid_argument with context, per-step sums of squares, log-sum-exp and an OpenMP loop over
// trajectories that carries exceptions out of the parallel region.
#pragma once
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sptrain/baselines.hpp"

namespace sptrain::baselines::detail {

constexpr double kLog2Pi = 1.8378770664093454836;  // ln(2 pi)
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

[[noreturn]] inline void fail(const char* fn, const std::string& what) {
  throw std::invalid_argument(std::string("sptrain::baselines::") + fn + ": " + what);
}

// Checks one [steps, dims] series: dims >= 1, non-empty, whole steps, finite values.
// Returns the number of steps.
inline std::int64_t check_series(const char* fn, std::span<const float> dx, int dims) {
  if (dims < 1) fail(fn, "dims must be >= 1 (got " + std::to_string(dims) + ")");
  if (dx.empty()) fail(fn, "empty displacement series");
  if (dx.size() % static_cast<std::size_t>(dims) != 0)
    fail(fn, "series length " + std::to_string(dx.size()) + " is not a multiple of dims = " +
                 std::to_string(dims));
  for (std::size_t i = 0; i < dx.size(); ++i) {
    if (!std::isfinite(dx[i])) {
      fail(fn, "displacement " + std::to_string(i / dims) + " (dim " + std::to_string(i % dims) +
                   ") is not finite (" + std::to_string(dx[i]) + ")");
    }
  }
  return static_cast<std::int64_t>(dx.size() / static_cast<std::size_t>(dims));
}


// S_t = sum_d dx_td^2 for every step.
inline std::vector<double> step_sq(std::span<const float> dx, int dims) {
  const std::size_t n = dx.size() / static_cast<std::size_t>(dims);
  std::vector<double> s(n, 0.0);
  for (std::size_t t = 0; t < n; ++t) {
    double acc = 0;
    for (int d = 0; d < dims; ++d) {
      const double v = dx[t * dims + d];
      acc += v * v;
    }
    s[t] = acc;
  }
  return s;
}

// log(exp(a) + exp(b)) without overflow; -inf when both are -inf.
inline double log_add(double a, double b) {
  if (a < b) std::swap(a, b);
  if (a == kNegInf) return kNegInf;
  return a + std::log1p(std::exp(b - a));
}

// log(sum_i exp(v_i)); -inf when every v_i is -inf (or v is empty).
inline double log_sum_exp(const double* v, int k) {
  double m = kNegInf;
  for (int i = 0; i < k; ++i) m = v[i] > m ? v[i] : m;
  if (m == kNegInf) return kNegInf;
  double s = 0;
  for (int i = 0; i < k; ++i) s += std::exp(v[i] - m);
  return m + std::log(s);
}

// OpenMP loop over [0, count). An exception in any iteration is rethrown after the loop (the one
// from the lowest index), so no exception escapes the parallel region. Fewer than 32 iterations
// run on the calling thread: a parallel region costs more than it saves there (EM on a handful of
// tracks runs thousands of them), most of all on a busy machine.
template <class F>
void parallel_for(std::int64_t count, F&& body) {
  std::exception_ptr err = nullptr;
  std::int64_t err_index = count;
#pragma omp parallel for schedule(dynamic, 4) if (count >= 32)
  for (std::int64_t i = 0; i < count; ++i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(sptrain_baselines_error)
      {
        if (i < err_index) {
          err_index = i;
          err = std::current_exception();
        }
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// Checks a batch layout and every value (in parallel; the lowest bad trajectory is reported);
// count == 0 is allowed (nothing to do).
inline void check_batch(const char* fn, const SeriesBatch& b) {
  if (b.count < 0) fail(fn, "negative trajectory count");
  if (b.count == 0) return;
  if (b.data == nullptr) fail(fn, "null batch data");
  if (b.steps < 1) fail(fn, "empty displacement series (steps = " + std::to_string(b.steps) + ")");
  if (b.dims < 1) fail(fn, "dims must be >= 1 (got " + std::to_string(b.dims) + ")");
  parallel_for(b.count, [&](std::int64_t i) {
    try {
      check_series(fn, b.trajectory(i), b.dims);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " in trajectory " + std::to_string(i));
    }
  });
}

// Emission log-densities log N(x; 0, sigma_k^2 I_dims) at every step: out[t*K + k].
inline void emission_logprob(const std::vector<double>& s2, int dims,
                             const std::vector<double>& sigma, std::vector<double>& out) {
  const int K = static_cast<int>(sigma.size());
  const std::size_t n = s2.size();
  out.resize(n * K);
  std::vector<double> c(K), inv(K);
  for (int k = 0; k < K; ++k) {
    const double v = sigma[k] * sigma[k];
    c[k] = -0.5 * dims * (kLog2Pi + std::log(v));
    inv[k] = 0.5 / v;
  }
  for (std::size_t t = 0; t < n; ++t)
    for (int k = 0; k < K; ++k) out[t * K + k] = c[k] - s2[t] * inv[k];
}

}  // namespace sptrain::baselines::detail

namespace sptrain::baselines::detail {

// Log-space copies of the HMM's transition matrix and initial distribution (log 0 = -inf).
struct LogHmm {
  int K = 0;
  std::vector<double> ltrans;  // [K*K]
  std::vector<double> linit;   // [K]
};
LogHmm log_hmm(const HmmParams& p);

struct FbResult {
  double loglik;
  double expected_switches;
};
// Forward-backward in log space on the per-step sums of squares s2[n] (dims values per step).
// gamma (if not null) receives [n, K] posteriors; xi_sum (if not null, [K*K]) is incremented by
// the expected transition counts sum_t P(z_{t-1} = i, z_t = j | data).
FbResult forward_backward_core(const std::vector<double>& s2, int dims, const HmmParams& p,
                               const LogHmm& lp, double* gamma, double* xi_sum);

// Relabels states by increasing sigma (permuting trans and init alike): the order every fit reports.
HmmParams sorted_by_sigma(const HmmParams& p);

}  // namespace sptrain::baselines::detail
