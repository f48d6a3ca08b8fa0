// Unknown HMM parameters: Baum-Welch EM pooled over many trajectories (one sigma vector, one
// transition matrix and one initial distribution shared by all, as in vbSPT), with a deterministic
// start plus optional random restarts, and the number of states chosen by BIC. The EM itself is
// em.hpp's, shared with the gapped model; this file gives it the plain model's E- and M-steps.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "detail.hpp"
#include "em.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {
namespace {

using detail::fail;

// Per-step sums of squares of every trajectory, computed once: the EM source of the plain model
// (every step one frame, no noise; see em.hpp).
struct Pooled {
  std::vector<std::vector<double>> s2;
  int dims = 1;
  std::int64_t total_steps = 0;
  double floor = 0;  // sigma never drops below 1e-6 of the root mean square displacement component

  std::int64_t tracks() const { return static_cast<std::int64_t>(s2.size()); }
  int groups() const { return 1; }
  std::int64_t steps() const { return total_steps; }
  const std::vector<double>& sq(std::int64_t r) const { return s2[r]; }
  int group(std::int64_t, std::size_t) const { return 0; }
  int frames(std::int64_t, std::size_t) const { return 1; }
  struct Model {
    HmmParams p;
    detail::LogHmm lp;
  };
  Model model(const HmmParams& p) const { return {p, detail::log_hmm(p)}; }
  double estep(const Model& m, std::int64_t r, double* gamma, double* xi) const {
    return detail::forward_backward_core(s2[r], dims, m.p, m.lp, gamma, xi).loglik;
  }
  // sigma_k^2 = sum_{r,t} gamma_rt(k) S_rt / (dims sum_{r,t} gamma_rt(k))
  void update_sigma(const std::vector<double>& G, const std::vector<double>& SS, HmmParams& p) const {
    for (int k = 0; k < p.states(); ++k)
      if (G[k] > 1e-12) p.sigma[k] = std::max(std::sqrt(SS[k] / (dims * G[k])), floor);
  }
};

// Root mean square of all displacement components.
double pooled_rms(const Pooled& d) {
  double s = 0;
  for (const auto& v : d.s2)
    for (double x : v) s += x;
  return std::sqrt(s / (static_cast<double>(d.total_steps) * d.dims));
}

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
  d.floor = std::max(1e-6 * pooled_rms(d), 1e-300);
  return d;
}

std::vector<std::span<const float>> spans_of(const char* fn, const SeriesBatch& b) {
  detail::check_batch(fn, b);
  std::vector<std::span<const float>> v(b.count);
  for (std::int64_t i = 0; i < b.count; ++i) v[i] = b.trajectory(i);
  return v;
}

// Deterministic start: sort the per-step mean squares S_t / dims of all trajectories (a strided
// sample of at most 200,000), cut them into K equal-count groups, sigma_k = sqrt(group mean); stds
// are made strictly increasing so no two states start identical. trans: stay init_stay, the rest
// spread evenly; init uniform.
HmmParams initial_params(const Pooled& d, int K, double stay, double floor) {
  const std::vector<double> mean = detail::equal_count_means(d, d.dims, K);
  HmmParams p;
  p.sigma.resize(K);
  for (int g = 0; g < K; ++g) {
    p.sigma[g] = std::max(std::sqrt(mean[g]), floor);
    if (g > 0) p.sigma[g] = std::max(p.sigma[g], p.sigma[g - 1] * 1.01);
  }
  detail::sticky_chain(p, K, stay);
  return p;
}

EmFit fit_pooled(const char* fn, const Pooled& d, int K, const EmOptions& opt) {
  if (K < 1) fail(fn, "K must be >= 1 (got " + std::to_string(K) + ")");
  detail::check_em_options(fn, opt);
  return detail::baum_welch_restarts(d, initial_params(d, K, opt.init_stay, d.floor), d.floor, opt);
}

BicSelection bic_pooled(const char* fn, const Pooled& d, int k_max, const EmOptions& opt) {
  return detail::select_by_bic(fn, d.total_steps, k_max, [&](int K) { return fit_pooled(fn, d, K, opt); });
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
  detail::check_em_options("fit_hmm_from", opt);
  const auto spans = spans_of("fit_hmm_from", batch);
  return detail::baum_welch(pool("fit_hmm_from", spans, batch.dims), start, opt);
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
  detail::check_em_options("select_states_bic", opt);
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
