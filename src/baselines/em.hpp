// The one Baum-Welch EM of the Gaussian-step HMM, pooled over many tracks (one sigma vector, one
// transition matrix and one initial distribution shared by all), with its random restarts and the
// choice of the number of states by BIC. The plain model (hmm_fit.cpp: every step one frame, no
// noise) and the gapped model (hmm_gapped.cpp: steps over g frames, localization noise, blur) differ
// only in their forward-backward pass and in the step-size M-step; they hand those in as a Source:
//
//   struct Source {
//     int64_t tracks() const;                      // R
//     int groups() const;                          // J: step groups with their own variance (gaps)
//     int64_t steps() const;                       // all tracks' steps
//     const std::vector<double>& sq(int64_t r) const;  // per-step sums of squares of track r
//     int group(int64_t r, size_t t) const;        // group of step t of track r, in [0, J)
//     int frames(int64_t r, size_t t) const;       // frames step t of track r spans (1 without gaps)
//     Model model(const HmmParams& p) const;       // what one iteration's E-step needs
//     // E-step of track r: gamma [n*K] receives the state posteriors, xi [K*K] (zeroed) the expected
//     // transitions the M-step counts; returns the log-likelihood.
//     double estep(const Model& m, int64_t r, double* gamma, double* xi) const;
//     // M-step of the step sizes from G, SS [J*K] (sum of gamma, sum of gamma * S per group and state).
//     void update_sigma(const std::vector<double>& G, const std::vector<double>& SS, HmmParams& p) const;
//   };
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "detail.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines::detail {

inline void check_em_options(const char* fn, const EmOptions& opt) {
  if (opt.max_iter < 0) fail(fn, "max_iter must be >= 0");
  if (!(opt.tol >= 0)) fail(fn, "tol must be >= 0");
  if (opt.restarts < 1) fail(fn, "restarts must be >= 1 (got " + std::to_string(opt.restarts) + ")");
  if (!(opt.init_stay > 0 && opt.init_stay <= 1))
    fail(fn, "init_stay must lie in (0, 1] (got " + std::to_string(opt.init_stay) + ")");
}

// The deterministic start's statistics: the per-step mean squares per frame S_t / (dims g_t) of a
// strided sample of at most 200,000 steps, sorted and cut into K equal-count groups; returns the K
// group means (each model turns them into its starting stds).
template <class Source>
std::vector<double> equal_count_means(const Source& src, int dims, int K) {
  const std::int64_t stride = std::max<std::int64_t>(1, src.steps() / 200000);
  std::vector<double> v;
  std::int64_t c = 0;
  for (std::int64_t r = 0; r < src.tracks(); ++r) {
    const auto& s2 = src.sq(r);
    for (std::size_t t = 0; t < s2.size(); ++t)
      if (c++ % stride == 0) v.push_back(s2[t] / (dims * double(src.frames(r, t))));
  }
  std::sort(v.begin(), v.end());
  std::vector<double> means(K);
  const std::size_t m = v.size();
  for (int g = 0; g < K; ++g) {
    const std::size_t a = m * g / K, b = std::max(m * (g + 1) / K, a + 1);
    double s = 0;
    for (std::size_t i = a; i < b && i < m; ++i) s += v[i];
    means[g] = s / double(b - a);
  }
  return means;
}

// The start's chain: stay probability `stay` on the diagonal, the rest spread evenly; init uniform.
inline void sticky_chain(HmmParams& p, int K, double stay) {
  p.trans.assign(std::size_t(K) * K, K > 1 ? (1.0 - stay) / (K - 1) : 1.0);
  for (int i = 0; i < K; ++i) p.trans[i * K + i] = K > 1 ? stay : 1.0;
  p.init.assign(K, 1.0 / K);
}

// Baum-Welch from p. E-step: the source's forward-backward on every track with the current
// parameters. M-step:
//   sigma_k   the source's (closed form for the plain model, a 1-D likelihood maximum with gaps)
//   A_ij      = sum_{r,t} xi_rt(i,j) / sum_{r,t} sum_j xi_rt(i,j)
//   init_k    = sum_r gamma_r0(k) / R
// Per-track statistics are summed in track order, so the result does not depend on the number of
// threads. The returned parameters are the ones whose log-likelihood is reported, sorted by sigma.
template <class Source>
EmFit baum_welch(const Source& src, HmmParams p, const EmOptions& opt) {
  struct Stats {
    std::vector<double> g0, G, SS, xi;  // gamma_0(k); G, SS: [group * K + k]; xi [K*K]
    double ll = 0;
  };
  const int K = p.states();
  const int J = src.groups();
  const std::int64_t R = src.tracks();
  std::vector<Stats> st(R);
  EmFit fit;
  double prev = kNegInf;
  for (int it = 0;; ++it) {
    const auto m = src.model(p);
    parallel_for(R, [&](std::int64_t r) {
      Stats& s = st[r];
      const auto& s2 = src.sq(r);
      const std::size_t n = s2.size();
      std::vector<double> gamma(n * K);
      s.g0.assign(K, 0.0);
      s.G.assign(std::size_t(J) * K, 0.0);
      s.SS.assign(std::size_t(J) * K, 0.0);
      s.xi.assign(std::size_t(K) * K, 0.0);
      s.ll = src.estep(m, r, gamma.data(), s.xi.data());
      for (int k = 0; k < K; ++k) s.g0[k] = gamma[k];
      for (std::size_t t = 0; t < n; ++t) {
        const std::size_t g = std::size_t(src.group(r, t)) * K;
        for (int k = 0; k < K; ++k) {
          s.G[g + k] += gamma[t * K + k];
          s.SS[g + k] += gamma[t * K + k] * s2[t];
        }
      }
    });
    std::vector<double> g0(K, 0.0), G(std::size_t(J) * K, 0.0), SS(std::size_t(J) * K, 0.0),
        xi(std::size_t(K) * K, 0.0);
    double ll = 0;
    for (const Stats& s : st) {
      ll += s.ll;
      for (int k = 0; k < K; ++k) g0[k] += s.g0[k];
      for (std::size_t e = 0; e < G.size(); ++e) G[e] += s.G[e], SS[e] += s.SS[e];
      for (std::size_t e = 0; e < xi.size(); ++e) xi[e] += s.xi[e];
    }
    fit.params = p;
    fit.loglik = ll;
    fit.iterations = it;
    if (it > 0 && std::abs(ll - prev) < opt.tol * static_cast<double>(src.steps())) {
      fit.converged = true;
      break;
    }
    if (it == opt.max_iter) break;
    prev = ll;
    src.update_sigma(G, SS, p);
    for (int i = 0; i < K; ++i) {
      double row = 0;
      for (int j = 0; j < K; ++j) row += xi[i * K + j];
      if (row > 0)
        for (int j = 0; j < K; ++j) p.trans[i * K + j] = xi[i * K + j] / row;
    }
    if (opt.fit_init)
      for (int k = 0; k < K; ++k) p.init[k] = g0[k] / static_cast<double>(R);
  }
  fit.params = sorted_by_sigma(fit.params);
  return fit;
}

// EM from the deterministic start `base`, then opt.restarts - 1 random restarts from `seed`: stds
// scaled by log-normal factors (sd 0.5 in log) and kept at or above `floor`, stay probability
// U(0.5, 0.99). The fit with the highest log-likelihood wins (the first on ties).
template <class Source>
EmFit baum_welch_restarts(const Source& src, const HmmParams& base, double floor, const EmOptions& opt) {
  const int K = base.states();
  EmFit best = baum_welch(src, base, opt);
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> jitter(0.0, 0.5);
  std::uniform_real_distribution<double> stay(0.5, 0.99);
  for (int r = 1; r < opt.restarts; ++r) {
    HmmParams p = base;
    for (double& s : p.sigma) s = std::max(s * std::exp(jitter(rng)), floor);
    std::sort(p.sigma.begin(), p.sigma.end());
    if (K > 1) {
      const double a = stay(rng);
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) p.trans[i * K + j] = i == j ? a : (1.0 - a) / (K - 1);
    }
    EmFit f = baum_welch(src, p, opt);
    if (f.loglik > best.loglik) best = std::move(f);
  }
  return best;
}

// Fits K = 1..k_max states with fit(K) and picks the lowest BIC = -2 loglik + params(K) log(steps).
template <class Fit>
BicSelection select_by_bic(const char* fn, std::int64_t total_steps, int k_max, Fit&& fit) {
  if (k_max < 1) fail(fn, "k_max must be >= 1 (got " + std::to_string(k_max) + ")");
  BicSelection sel;
  const double logn = std::log(static_cast<double>(total_steps));
  for (int K = 1; K <= k_max; ++K) {
    sel.fits.push_back(fit(K));
    sel.bic.push_back(-2.0 * sel.fits.back().loglik + hmm_parameter_count(K) * logn);
  }
  sel.best_K = static_cast<int>(std::min_element(sel.bic.begin(), sel.bic.end()) - sel.bic.begin()) + 1;
  return sel;
}

}  // namespace sptrain::baselines::detail
