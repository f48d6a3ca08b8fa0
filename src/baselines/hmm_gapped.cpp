// HMM of switching diffusion on tracks with gaps and localization noise (real data): a displacement
// over g frames is emitted by the state at its start with variance sigma2_k (g - 2R) + 2 loc2 per
// dimension, and the next state follows trans^g. Forward-backward, Viterbi and pooled EM with BIC
// (the EM is em.hpp's, with this model's E- and M-steps).
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "detail.hpp"
#include "em.hpp"
#include "gapped.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {
namespace {

using detail::fail;
using detail::kLog2Pi;
using detail::kNegInf;
using detail::log_sum_exp;

// Every track as per-step sums of squares and an index into the table of distinct gaps.
struct Prepared {
  std::vector<std::vector<double>> s2;
  std::vector<std::vector<int>> gi;  // gap index per step
  std::vector<int> gaps;             // distinct gap values, increasing
  int dims = 1;
  std::int64_t total_steps = 0;
  double mean_sq = 0;  // mean of S_t / (dims g_t)
};

Prepared prepare(const char* fn, std::span<const GappedView> tracks, int dims) {
  if (tracks.empty()) fail(fn, "no tracks to fit");
  Prepared d;
  d.dims = dims;
  std::map<int, int> index;
  for (std::size_t r = 0; r < tracks.size(); ++r) {
    try {
      detail::check_gapped(fn, tracks[r], dims);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string(e.what()) + " in track " + std::to_string(r));
    }
    const std::size_t n = tracks[r].dx.size() / dims;
    for (std::size_t t = 0; t < n; ++t) index.emplace(tracks[r].gap.empty() ? 1 : tracks[r].gap[t], 0);
  }
  for (auto& [g, i] : index) {
    i = static_cast<int>(d.gaps.size());
    d.gaps.push_back(g);
  }
  d.s2.resize(tracks.size());
  d.gi.resize(tracks.size());
  double acc = 0;
  for (std::size_t r = 0; r < tracks.size(); ++r) {
    d.s2[r] = detail::step_sq(tracks[r].dx, dims);
    const std::size_t n = d.s2[r].size();
    d.gi[r].resize(n);
    for (std::size_t t = 0; t < n; ++t) {
      const int g = tracks[r].gap.empty() ? 1 : tracks[r].gap[t];
      d.gi[r][t] = index[g];
      acc += d.s2[r][t] / (dims * double(g));
    }
    d.total_steps += static_cast<std::int64_t>(n);
  }
  d.mean_sq = acc / double(d.total_steps);
  if (!(d.mean_sq > 0)) fail(fn, "every displacement is 0: no variance to fit");
  return d;
}

// Log transition matrices for every distinct gap (trans^g) and emission constants per (gap, state).
struct Model {
  int K = 0;
  std::vector<std::vector<double>> trans;   // [gap index][K*K]: trans^g
  std::vector<std::vector<double>> ltrans;  // [gap index][K*K]: its logarithm
  std::vector<double> linit;
  std::vector<double> c, inv;               // [gap index * K + k]: -dims/2 log(2 pi v), 1/(2 v)
};

std::vector<double> mat_pow(const std::vector<double>& P, int K, int g) {
  std::vector<double> R(size_t(K) * K, 0.0), B = P, T(size_t(K) * K);
  for (int i = 0; i < K; ++i) R[i * K + i] = 1;
  auto mul = [&](const std::vector<double>& X, const std::vector<double>& Y, std::vector<double>& Z) {
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        double a = 0;
        for (int l = 0; l < K; ++l) a += X[i * K + l] * Y[l * K + j];
        Z[i * K + j] = a;
      }
  };
  while (g > 0) {
    if (g & 1) mul(R, B, T), R.swap(T);
    g >>= 1;
    if (g) mul(B, B, T), B.swap(T);
  }
  return R;
}

Model make_model(const Prepared& d, const HmmParams& p, const NoiseModel& noise) {
  Model m;
  const int K = m.K = p.states();
  const auto lp = detail::log_hmm(p);
  m.linit = lp.linit;
  for (int g : d.gaps) {
    auto P = mat_pow(p.trans, K, g);
    m.trans.push_back(P);
    for (double& v : P) v = v > 0 ? std::log(v) : kNegInf;
    m.ltrans.push_back(std::move(P));
    for (int k = 0; k < K; ++k) {
      const double v = p.sigma[k] * p.sigma[k] * (g - 2 * noise.blur) + 2 * noise.loc2;
      m.c.push_back(-0.5 * d.dims * (kLog2Pi + std::log(v)));
      m.inv.push_back(0.5 / v);
    }
  }
  return m;
}

// Forward-backward in log space for track r; gamma [n*K] (if not null); xi1 [K*K] (if not null)
// receives the expected transitions over one-frame steps; returns loglik, *switches the expected
// number of state changes over all steps.
double fb_log(const Prepared& d, std::size_t r, const Model& m, double* gamma, double* xi1, double* switches) {
  const int K = m.K;
  const auto& s2 = d.s2[r];
  const auto& gi = d.gi[r];
  const std::size_t n = s2.size();
  std::vector<double> logb(n * K), la(n * K), lb(n * K, 0.0), w(n * K), tmp(K);
  for (std::size_t t = 0; t < n; ++t)
    for (int k = 0; k < K; ++k) logb[t * K + k] = m.c[gi[t] * K + k] - s2[t] * m.inv[gi[t] * K + k];
  for (int k = 0; k < K; ++k) la[k] = m.linit[k] + logb[k];
  for (std::size_t t = 1; t < n; ++t) {
    const auto& lt = m.ltrans[gi[t - 1]];
    for (int j = 0; j < K; ++j) {
      for (int i = 0; i < K; ++i) tmp[i] = la[(t - 1) * K + i] + lt[i * K + j];
      la[t * K + j] = logb[t * K + j] + log_sum_exp(tmp.data(), K);
    }
  }
  const double ll = log_sum_exp(&la[(n - 1) * K], K);
  for (int k = 0; k < K; ++k) w[(n - 1) * K + k] = logb[(n - 1) * K + k];
  for (std::size_t t = n - 1; t-- > 0;) {
    const auto& lt = m.ltrans[gi[t]];
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j) tmp[j] = lt[i * K + j] + w[(t + 1) * K + j];
      lb[t * K + i] = log_sum_exp(tmp.data(), K);
      w[t * K + i] = logb[t * K + i] + lb[t * K + i];
    }
  }
  if (gamma != nullptr)
    for (std::size_t t = 0; t < n; ++t) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += gamma[t * K + k] = std::exp(la[t * K + k] + lb[t * K + k] - ll);
      for (int k = 0; k < K; ++k) gamma[t * K + k] /= s;
    }
  double sw = 0;
  if (K > 1)
    for (std::size_t t = 1; t < n; ++t) {
      const auto& lt = m.ltrans[gi[t - 1]];
      const bool one = d.gaps[gi[t - 1]] == 1;
      for (int i = 0; i < K; ++i) {
        const double ai = la[(t - 1) * K + i];
        if (ai == kNegInf) continue;
        for (int j = 0; j < K; ++j) {
          const double x = std::exp(ai + lt[i * K + j] + w[t * K + j] - ll);
          if (xi1 != nullptr && one) xi1[i * K + j] += x;
          if (i != j) sw += x;
        }
      }
    }
  if (switches) *switches = sw;
  return ll;
}

// The same recursions in probability space with per-step normalisation (emissions scaled by their
// largest value at each step, so one exp per state and step instead of K per transition); about 5
// times faster. Falls back to the log-space version when a normaliser underflows (a transition
// matrix with zeros that the data contradict).
double fb(const Prepared& d, std::size_t r, const Model& m, double* gamma, double* xi1, double* switches) {
  const int K = m.K;
  const auto& s2 = d.s2[r];
  const auto& gi = d.gi[r];
  const std::size_t n = s2.size();
  std::vector<double> b(n * K), a(n * K), be(n * K), c(n);
  double ll = 0;
  for (std::size_t t = 0; t < n; ++t) {
    double mx = kNegInf;
    for (int k = 0; k < K; ++k) {
      const double v = m.c[gi[t] * K + k] - s2[t] * m.inv[gi[t] * K + k];
      b[t * K + k] = v;
      mx = std::max(mx, v);
    }
    for (int k = 0; k < K; ++k) b[t * K + k] = std::exp(b[t * K + k] - mx);
    ll += mx;
  }
  auto fallback = [&] {
    std::vector<double> xi_tmp;
    double* x = nullptr;
    if (xi1 != nullptr) {
      xi_tmp.assign(std::size_t(K) * K, 0.0);
      x = xi_tmp.data();
    }
    const double l = fb_log(d, r, m, gamma, x, switches);
    if (xi1 != nullptr)
      for (std::size_t e = 0; e < xi_tmp.size(); ++e) xi1[e] += xi_tmp[e];
    return l;
  };
  for (std::size_t t = 0; t < n; ++t) {
    double sum = 0;
    for (int j = 0; j < K; ++j) {
      double acc;
      if (t == 0) {
        acc = m.linit[j] == kNegInf ? 0.0 : std::exp(m.linit[j]);
      } else {
        const auto& P = m.trans[gi[t - 1]];
        acc = 0;
        for (int i = 0; i < K; ++i) acc += a[(t - 1) * K + i] * P[i * K + j];
      }
      sum += a[t * K + j] = acc * b[t * K + j];
    }
    if (!(sum > 1e-290) || !std::isfinite(sum)) return fallback();
    c[t] = sum;
    for (int j = 0; j < K; ++j) a[t * K + j] /= sum;
    ll += std::log(sum);
  }
  for (int k = 0; k < K; ++k) be[(n - 1) * K + k] = 1.0;
  for (std::size_t t = n - 1; t-- > 0;) {
    const auto& P = m.trans[gi[t]];
    for (int i = 0; i < K; ++i) {
      double acc = 0;
      for (int j = 0; j < K; ++j) acc += P[i * K + j] * b[(t + 1) * K + j] * be[(t + 1) * K + j];
      be[t * K + i] = acc / c[t + 1];
    }
  }
  if (gamma != nullptr)
    for (std::size_t t = 0; t < n; ++t) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += gamma[t * K + k] = a[t * K + k] * be[t * K + k];
      for (int k = 0; k < K; ++k) gamma[t * K + k] /= s;
    }
  double sw = 0;
  if (K > 1)
    for (std::size_t t = 1; t < n; ++t) {
      const auto& P = m.trans[gi[t - 1]];
      const bool one = d.gaps[gi[t - 1]] == 1;
      for (int i = 0; i < K; ++i) {
        const double ai = a[(t - 1) * K + i] / c[t];
        for (int j = 0; j < K; ++j) {
          const double x = ai * P[i * K + j] * b[t * K + j] * be[t * K + j];
          if (xi1 != nullptr && one) xi1[i * K + j] += x;
          if (i != j) sw += x;
        }
      }
    }
  if (switches) *switches = sw;
  return ll;
}

// The EM source of the gapped model (see em.hpp): the groups are the distinct gaps, the E-step is
// fb, and the step sizes' M-step maximizes, per state, the likelihood of its steps grouped by gap
// (variance sigma2 (g - 2R) + 2 loc2; no closed form).
struct GappedSource {
  const Prepared& d;
  NoiseModel noise;

  std::int64_t tracks() const { return static_cast<std::int64_t>(d.s2.size()); }
  int groups() const { return static_cast<int>(d.gaps.size()); }
  std::int64_t steps() const { return d.total_steps; }
  const std::vector<double>& sq(std::int64_t r) const { return d.s2[r]; }
  int group(std::int64_t r, std::size_t t) const { return d.gi[r][t]; }
  int frames(std::int64_t r, std::size_t t) const { return d.gaps[d.gi[r][t]]; }
  Model model(const HmmParams& p) const { return make_model(d, p, noise); }
  double estep(const Model& m, std::int64_t r, double* gamma, double* xi) const {
    return fb(d, static_cast<std::size_t>(r), m, gamma, xi, nullptr);
  }
  void update_sigma(const std::vector<double>& G, const std::vector<double>& SS, HmmParams& p) const {
    const int K = p.states();
    const int J = groups();
    const double floor = 1e-6 * std::sqrt(d.mean_sq);
    for (int k = 0; k < K; ++k) {
      detail::GroupedLik gl;
      gl.c = 2 * noise.loc2;
      gl.dims = d.dims;
      double tot = 0;
      for (int j = 0; j < J; ++j) {
        gl.a.push_back(d.gaps[j] - 2 * noise.blur);
        gl.n.push_back(G[j * K + k]);
        gl.ss.push_back(SS[j * K + k]);
        tot += G[j * K + k];
      }
      if (tot > 1e-12) p.sigma[k] = std::max(std::sqrt(std::max(gl.argmax(), 0.0)), floor);
    }
  }
};

// Deterministic start: per-step mean squares per frame S_t / (dims g_t) sorted and cut into K
// equal-count groups; sigma2_k from the group mean with the noise taken off.
HmmParams initial_params(const Prepared& d, int K, const NoiseModel& noise, double stay) {
  const std::vector<double> mean = detail::equal_count_means(GappedSource{d, noise}, d.dims, K);
  const double floor = 1e-3 * std::sqrt(d.mean_sq);
  HmmParams p;
  p.sigma.resize(K);
  for (int g = 0; g < K; ++g) {
    const double var = (mean[g] - 2 * noise.loc2) / (1 - 2 * noise.blur);
    p.sigma[g] = std::max(std::sqrt(std::max(var, 0.0)), floor);
    if (g > 0) p.sigma[g] = std::max(p.sigma[g], p.sigma[g - 1] * 1.2);
  }
  detail::sticky_chain(p, K, stay);
  return p;
}

// The restarts need no floor of their own here (0): the start's stds are at least 1e-3 of the rms
// step, and a log-normal factor keeps them positive.
EmFit fit_prepared(const char* fn, const Prepared& d, int K, const NoiseModel& noise, const EmOptions& opt) {
  if (K < 1) fail(fn, "K must be >= 1 (got " + std::to_string(K) + ")");
  return detail::baum_welch_restarts(GappedSource{d, noise}, initial_params(d, K, noise, opt.init_stay), 0.0, opt);
}

}  // namespace

HmmPosterior forward_backward_gapped(GappedView s, int dims, const HmmParams& p, const NoiseModel& noise) {
  detail::check_noise("forward_backward_gapped", noise.loc2, noise.blur);
  validate(p);
  const GappedView one[] = {s};
  const Prepared d = prepare("forward_backward_gapped", one, dims);
  HmmPosterior out;
  out.steps = d.total_steps;
  out.K = p.states();
  out.gamma.resize(size_t(out.steps) * out.K);
  out.loglik = fb(d, 0, make_model(d, p, noise), out.gamma.data(), nullptr, &out.expected_switches);
  return out;
}

ViterbiPath viterbi_gapped(GappedView s, int dims, const HmmParams& p, const NoiseModel& noise) {
  detail::check_noise("viterbi_gapped", noise.loc2, noise.blur);
  validate(p);
  const GappedView one[] = {s};
  const Prepared d = prepare("viterbi_gapped", one, dims);
  const Model m = make_model(d, p, noise);
  const int K = m.K;
  const auto& s2 = d.s2[0];
  const auto& gi = d.gi[0];
  const std::size_t n = s2.size();
  std::vector<double> delta(n * K);
  std::vector<int> back(n * K, 0);
  auto logb = [&](std::size_t t, int k) { return m.c[gi[t] * K + k] - s2[t] * m.inv[gi[t] * K + k]; };
  for (int k = 0; k < K; ++k) delta[k] = m.linit[k] + logb(0, k);
  for (std::size_t t = 1; t < n; ++t) {
    const auto& lt = m.ltrans[gi[t - 1]];
    for (int j = 0; j < K; ++j) {
      double best = kNegInf;
      int arg = 0;
      for (int i = 0; i < K; ++i) {
        const double v = delta[(t - 1) * K + i] + lt[i * K + j];
        if (v > best) best = v, arg = i;
      }
      delta[t * K + j] = logb(t, j) + best;
      back[t * K + j] = arg;
    }
  }
  ViterbiPath out;
  out.states.resize(n);
  const double* last = &delta[(n - 1) * K];
  int st = static_cast<int>(std::max_element(last, last + K) - last);
  out.log_prob = last[st];
  for (std::size_t t = n; t-- > 0;) {
    out.states[t] = st;
    if (t > 0) st = back[t * K + st];
  }
  for (std::size_t t = 1; t < n; ++t)
    if (out.states[t] != out.states[t - 1]) out.switch_steps.push_back(static_cast<std::int64_t>(t));
  out.switches = static_cast<int>(out.switch_steps.size());
  return out;
}

EmFit fit_hmm_gapped(std::span<const GappedView> tracks, int dims, int K, const NoiseModel& noise,
                     const EmOptions& opt) {
  detail::check_noise("fit_hmm_gapped", noise.loc2, noise.blur);
  detail::check_em_options("fit_hmm_gapped", opt);
  return fit_prepared("fit_hmm_gapped", prepare("fit_hmm_gapped", tracks, dims), K, noise, opt);
}

EmFit fit_hmm_gapped_from(std::span<const GappedView> tracks, int dims, const HmmParams& start,
                          const NoiseModel& noise, const EmOptions& opt) {
  detail::check_noise("fit_hmm_gapped_from", noise.loc2, noise.blur);
  detail::check_em_options("fit_hmm_gapped_from", opt);
  validate(start);
  const Prepared d = prepare("fit_hmm_gapped_from", tracks, dims);
  return detail::baum_welch(GappedSource{d, noise}, start, opt);
}

BicSelection select_states_bic_gapped(std::span<const GappedView> tracks, int dims, int k_max,
                                      const NoiseModel& noise, const EmOptions& opt) {
  const char* fn = "select_states_bic_gapped";
  if (k_max < 1) fail(fn, "k_max must be >= 1 (got " + std::to_string(k_max) + ")");
  detail::check_noise(fn, noise.loc2, noise.blur);
  detail::check_em_options(fn, opt);
  const Prepared d = prepare(fn, tracks, dims);
  return detail::select_by_bic(fn, d.total_steps, k_max, [&](int K) { return fit_prepared(fn, d, K, noise, opt); });
}

}  // namespace sptrain::baselines
