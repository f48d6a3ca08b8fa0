// Unknown HMM parameters: Baum-Welch EM pooled over many trajectories (one sigma vector, one
// transition matrix and one initial distribution shared by all, as in vbSPT), with a deterministic
// start plus optional random restarts, and the number of states chosen by BIC.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "detail.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {
namespace {

using detail::fail;
using detail::kNegInf;

// Per-step sums of squares of every trajectory, computed once.
struct Pooled {
  std::vector<std::vector<double>> s2;
  int dims = 1;
  std::int64_t total_steps = 0;
};

Pooled pool(const char* fn, std::span<const std::span<const float>> trajectories, int dims) {
  if (trajectories.empty()) fail(fn, "no trajectories to fit");
  Pooled d;
  d.dims = dims;
  d.s2.resize(trajectories.size());
  for (std::size_t i = 0; i < trajectories.size(); ++i) {
    try {
      d.total_steps += detail::check_series(fn, trajectories[i], dims);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " in trajectory " + std::to_string(i));
    }
  }
  detail::parallel_for(static_cast<std::int64_t>(trajectories.size()),
                       [&](std::int64_t i) { d.s2[i] = detail::step_sq(trajectories[i], dims); });
  // Zero variance leaves no emission std to fit (every likelihood degenerates).
  bool moves = false;
  for (const auto& v : d.s2)
    for (double x : v) moves = moves || x > 0;
  if (!moves) fail(fn, "every displacement is 0: no variance to fit");
  return d;
}

std::vector<std::span<const float>> spans_of(const char* fn, const SeriesBatch& b) {
  detail::check_batch(fn, b);
  std::vector<std::span<const float>> v(b.count);
  for (std::int64_t i = 0; i < b.count; ++i) v[i] = b.trajectory(i);
  return v;
}

void check_options(const char* fn, const EmOptions& opt) {
  if (opt.max_iter < 0) fail(fn, "max_iter must be >= 0");
  if (!(opt.tol >= 0)) fail(fn, "tol must be >= 0");
  if (opt.restarts < 1) fail(fn, "restarts must be >= 1 (got " + std::to_string(opt.restarts) + ")");
  if (!(opt.init_stay > 0 && opt.init_stay <= 1))
    fail(fn, "init_stay must lie in (0, 1] (got " + std::to_string(opt.init_stay) + ")");
}

// Root mean square of all displacement components; sigma never drops below 1e-6 of it.
double pooled_rms(const Pooled& d) {
  double s = 0;
  for (const auto& v : d.s2)
    for (double x : v) s += x;
  return std::sqrt(s / (static_cast<double>(d.total_steps) * d.dims));
}

// Deterministic start: sort the per-step mean squares S_t / dims of all trajectories (a strided
// sample of at most 200,000), cut them into K equal-count groups, sigma_k = sqrt(group mean); stds
// are made strictly increasing so no two states start identical. trans: stay init_stay, the rest
// spread evenly; init uniform.
HmmParams initial_params(const Pooled& d, int K, double stay, double floor) {
  const std::int64_t stride = std::max<std::int64_t>(1, d.total_steps / 200000);
  std::vector<double> v;
  std::int64_t k = 0;
  for (const auto& s : d.s2)
    for (double x : s)
      if (k++ % stride == 0) v.push_back(x / d.dims);
  std::sort(v.begin(), v.end());
  HmmParams p;
  p.sigma.resize(K);
  const std::size_t m = v.size();
  for (int g = 0; g < K; ++g) {
    const std::size_t a = m * g / K, b = std::max(m * (g + 1) / K, a + 1);
    double s = 0;
    for (std::size_t i = a; i < b && i < m; ++i) s += v[i];
    p.sigma[g] = std::max(std::sqrt(s / static_cast<double>(b - a)), floor);
    if (g > 0) p.sigma[g] = std::max(p.sigma[g], p.sigma[g - 1] * 1.01);
  }
  p.trans.assign(static_cast<std::size_t>(K) * K, K > 1 ? (1.0 - stay) / (K - 1) : 1.0);
  for (int i = 0; i < K; ++i) p.trans[i * K + i] = K > 1 ? stay : 1.0;
  p.init.assign(K, 1.0 / K);
  return p;
}

// Expected sufficient statistics of one trajectory.
struct Stats {
  std::vector<double> g0, gsum, gss, xi;  // gamma_0(k), sum_t gamma_t(k), sum_t gamma_t(k) S_t, xi
  double ll = 0;
};

// Baum-Welch. E-step: forward-backward on every trajectory with the current parameters. M-step:
//   sigma_k^2 = sum_{r,t} gamma_rt(k) S_rt / (dims sum_{r,t} gamma_rt(k))
//   A_ij      = sum_{r,t} xi_rt(i,j) / sum_{r,t} sum_j xi_rt(i,j)
//   init_k    = sum_r gamma_r0(k) / R
// Per-trajectory statistics are summed in trajectory order, so the result does not depend on
// the number of threads. The returned parameters are the ones whose log-likelihood is reported.
EmFit run_em(const Pooled& d, HmmParams p, const EmOptions& opt) {
  const int K = p.states();
  const auto R = static_cast<std::int64_t>(d.s2.size());
  const double floor = std::max(1e-6 * pooled_rms(d), 1e-300);
  std::vector<Stats> st(R);
  EmFit fit;
  double prev = kNegInf;
  for (int it = 0;; ++it) {
    const auto lp = detail::log_hmm(p);
    detail::parallel_for(R, [&](std::int64_t r) {
      Stats& s = st[r];
      const auto& s2 = d.s2[r];
      const std::size_t n = s2.size();
      std::vector<double> gamma(n * K);
      s.g0.assign(K, 0.0);
      s.gsum.assign(K, 0.0);
      s.gss.assign(K, 0.0);
      s.xi.assign(static_cast<std::size_t>(K) * K, 0.0);
      s.ll = detail::forward_backward_core(s2, d.dims, p, lp, gamma.data(), s.xi.data()).loglik;
      for (int k = 0; k < K; ++k) s.g0[k] = gamma[k];
      for (std::size_t t = 0; t < n; ++t)
        for (int k = 0; k < K; ++k) {
          s.gsum[k] += gamma[t * K + k];
          s.gss[k] += gamma[t * K + k] * s2[t];
        }
    });
    std::vector<double> g0(K, 0.0), gsum(K, 0.0), gss(K, 0.0), xi(static_cast<std::size_t>(K) * K, 0.0);
    double ll = 0;
    for (const Stats& s : st) {
      ll += s.ll;
      for (int k = 0; k < K; ++k) {
        g0[k] += s.g0[k];
        gsum[k] += s.gsum[k];
        gss[k] += s.gss[k];
      }
      for (std::size_t i = 0; i < xi.size(); ++i) xi[i] += s.xi[i];
    }
    fit.params = p;
    fit.loglik = ll;
    fit.iterations = it;
    if (it > 0 && std::abs(ll - prev) < opt.tol * static_cast<double>(d.total_steps)) {
      fit.converged = true;
      break;
    }
    if (it == opt.max_iter) break;
    prev = ll;
    for (int k = 0; k < K; ++k)
      if (gsum[k] > 1e-12)
        p.sigma[k] = std::max(std::sqrt(gss[k] / (d.dims * gsum[k])), floor);
    for (int i = 0; i < K; ++i) {
      double row = 0;
      for (int j = 0; j < K; ++j) row += xi[i * K + j];
      if (row > 0)
        for (int j = 0; j < K; ++j) p.trans[i * K + j] = xi[i * K + j] / row;
    }
    if (opt.fit_init)
      for (int k = 0; k < K; ++k) p.init[k] = g0[k] / static_cast<double>(R);
  }
  fit.params = detail::sorted_by_sigma(fit.params);
  return fit;
}

EmFit fit_pooled(const char* fn, const Pooled& d, int K, const EmOptions& opt) {
  if (K < 1) fail(fn, "K must be >= 1 (got " + std::to_string(K) + ")");
  check_options(fn, opt);
  const double floor = std::max(1e-6 * pooled_rms(d), 1e-300);
  const HmmParams base = initial_params(d, K, opt.init_stay, floor);
  EmFit best = run_em(d, base, opt);
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> jitter(0.0, 0.5);
  std::uniform_real_distribution<double> stay(0.5, 0.99);
  for (int r = 1; r < opt.restarts; ++r) {
    // Random restart: stds scaled by log-normal factors (sd 0.5 in log), stay probability
    // U(0.5, 0.99).
    HmmParams p = base;
    for (double& s : p.sigma) s = std::max(s * std::exp(jitter(rng)), floor);
    std::sort(p.sigma.begin(), p.sigma.end());
    if (K > 1) {
      const double a = stay(rng);
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) p.trans[i * K + j] = i == j ? a : (1.0 - a) / (K - 1);
    }
    EmFit f = run_em(d, p, opt);
    if (f.loglik > best.loglik) best = std::move(f);
  }
  return best;
}

BicSelection bic_pooled(const char* fn, const Pooled& d, int k_max, const EmOptions& opt) {
  if (k_max < 1) fail(fn, "k_max must be >= 1 (got " + std::to_string(k_max) + ")");
  BicSelection sel;
  const double logn = std::log(static_cast<double>(d.total_steps));
  for (int K = 1; K <= k_max; ++K) {
    sel.fits.push_back(fit_pooled(fn, d, K, opt));
    sel.bic.push_back(-2.0 * sel.fits.back().loglik + hmm_parameter_count(K) * logn);
  }
  sel.best_K = static_cast<int>(std::min_element(sel.bic.begin(), sel.bic.end()) - sel.bic.begin()) + 1;
  return sel;
}

}  // namespace

EmFit fit_hmm(const SeriesBatch& batch, int K, const EmOptions& opt) {
  const auto spans = spans_of("fit_hmm", batch);
  return fit_hmm(spans, batch.dims, K, opt);
}

EmFit fit_hmm(std::span<const std::span<const float>> trajectories, int dims, int K,
              const EmOptions& opt) {
  if (K < 1) fail("fit_hmm", "K must be >= 1 (got " + std::to_string(K) + ")");
  return fit_pooled("fit_hmm", pool("fit_hmm", trajectories, dims), K, opt);
}

EmFit fit_hmm_from(const SeriesBatch& batch, const HmmParams& start, const EmOptions& opt) {
  validate(start);
  check_options("fit_hmm_from", opt);
  const auto spans = spans_of("fit_hmm_from", batch);
  return run_em(pool("fit_hmm_from", spans, batch.dims), start, opt);
}

// K stds + K(K-1) free transition probabilities + (K-1) free initial probabilities.
int hmm_parameter_count(int K) {
  if (K < 1) fail("hmm_parameter_count", "K must be >= 1 (got " + std::to_string(K) + ")");
  return K + K * (K - 1) + (K - 1);
}

BicSelection select_states_bic(const SeriesBatch& batch, int k_max, const EmOptions& opt) {
  const auto spans = spans_of("select_states_bic", batch);
  return select_states_bic(spans, batch.dims, k_max, opt);
}

BicSelection select_states_bic(std::span<const std::span<const float>> trajectories, int dims,
                               int k_max, const EmOptions& opt) {
  if (k_max < 1) fail("select_states_bic", "k_max must be >= 1 (got " + std::to_string(k_max) + ")");
  check_options("select_states_bic", opt);
  return bic_pooled("select_states_bic", pool("select_states_bic", trajectories, dims), k_max, opt);
}

// Relabels states by increasing sigma (permuting trans and init alike).
HmmParams detail::sorted_by_sigma(const HmmParams& p) {
  const int K = p.states();
  std::vector<int> ord(K);
  std::iota(ord.begin(), ord.end(), 0);
  std::stable_sort(ord.begin(), ord.end(), [&](int a, int b) { return p.sigma[a] < p.sigma[b]; });
  HmmParams q;
  q.sigma.resize(K);
  q.init.resize(K);
  q.trans.resize(p.trans.size());
  for (int a = 0; a < K; ++a) {
    q.sigma[a] = p.sigma[ord[a]];
    q.init[a] = p.init[ord[a]];
    for (int b = 0; b < K; ++b) q.trans[a * K + b] = p.trans[ord[a] * K + ord[b]];
  }
  return q;
}

}  // namespace sptrain::baselines
