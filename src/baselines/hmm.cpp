// Hidden Markov model of switching diffusion with known parameters (the Bayes-optimal reference
// when the generating model is known): parameter checks, the uniform-jump transition matrix,
// forward-backward in log space, Viterbi, and the forward pass over (state, switch count) that
// gives the posterior of the total number of switches.
//
// Model: z_0 ~ init, z_t | z_{t-1} ~ trans[z_{t-1}, .], dx_t | z_t ~ N(0, sigma_{z_t}^2 I_dims).
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "detail.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {

using detail::fail;
using detail::kNegInf;

void validate(const HmmParams& p) {
  const char* fn = "validate(HmmParams)";
  const int K = p.states();
  if (K < 1) fail(fn, "K must be >= 1 (sigma is empty)");
  for (int k = 0; k < K; ++k)
    if (!(std::isfinite(p.sigma[k]) && p.sigma[k] > 0))
      fail(fn, "sigma[" + std::to_string(k) + "] = " + std::to_string(p.sigma[k]) +
                   " must be finite and > 0");
  if (p.trans.size() != static_cast<std::size_t>(K) * K)
    fail(fn, "transition matrix has " + std::to_string(p.trans.size()) + " entries, expected K*K = " +
                 std::to_string(K * K));
  if (p.init.size() != static_cast<std::size_t>(K))
    fail(fn, "initial distribution has " + std::to_string(p.init.size()) + " entries, expected K = " +
                 std::to_string(K));
  for (int i = 0; i < K; ++i) {
    double row = 0;
    for (int j = 0; j < K; ++j) {
      const double a = p.trans[i * K + j];
      if (!(a >= 0.0 && a <= 1.0))
        fail(fn, "transition matrix entry (" + std::to_string(i) + "," + std::to_string(j) +
                     ") = " + std::to_string(a) + " is not a probability");
      row += a;
    }
    if (std::abs(row - 1.0) > 1e-6)
      fail(fn, "transition matrix is not row-stochastic: row " + std::to_string(i) + " sums to " +
                   std::to_string(row));
  }
  double total = 0;
  for (int k = 0; k < K; ++k) {
    if (!(p.init[k] >= 0.0 && p.init[k] <= 1.0))
      fail(fn, "initial probability " + std::to_string(k) + " = " + std::to_string(p.init[k]) +
                   " is not a probability");
    total += p.init[k];
  }
  if (std::abs(total - 1.0) > 1e-6)
    fail(fn, "initial distribution sums to " + std::to_string(total) + ", not 1");
}

// exp(Q) by scaling and squaring: Q / 2^s has max row sum <= 0.01, its Taylor series to the 12th
// term, then s squarings; tiny negative round-off clipped and rows renormalized.
std::vector<double> generator_transition(const std::vector<double>& Q, int K) {
  if (K < 1 || Q.size() != size_t(K) * K) throw std::invalid_argument("generator_transition: Q must be K x K");
  double norm = 0;  // max row sum of |Q|
  for (int i = 0; i < K; ++i) {
    double r = 0;
    for (int j = 0; j < K; ++j) r += std::abs(Q[i * K + j]);
    norm = std::max(norm, r);
  }
  int squarings = 0;
  while (norm > 0.01) norm /= 2, ++squarings;
  const double scale = std::ldexp(1.0, -squarings);
  // exp(Q scale) to the 12th Taylor term (|Q scale| <= 0.01: remainder < 1e-30), then squared.
  std::vector<double> P(size_t(K) * K, 0.0), term(size_t(K) * K, 0.0), next(size_t(K) * K);
  for (int i = 0; i < K; ++i) term[i * K + i] = P[i * K + i] = 1.0;
  auto mul = [&](const std::vector<double>& A, const std::vector<double>& B, double f, std::vector<double>& C) {
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        double acc = 0;
        for (int l = 0; l < K; ++l) acc += A[i * K + l] * B[l * K + j];
        C[i * K + j] = acc * f;
      }
  };
  for (int n = 1; n <= 12; ++n) {
    mul(term, Q, scale / n, next);
    term.swap(next);
    for (size_t e = 0; e < P.size(); ++e) P[e] += term[e];
  }
  for (int sq = 0; sq < squarings; ++sq) {
    mul(P, P, 1.0, next);
    P.swap(next);
  }
  for (int i = 0; i < K; ++i) {
    double sum = 0;
    for (int j = 0; j < K; ++j) sum += P[i * K + j] = std::max(0.0, P[i * K + j]);
    for (int j = 0; j < K; ++j) P[i * K + j] /= sum;
  }
  return P;
}

// Generator: Q_ii = -rate, Q_ij = rate/(K-1) (i != j), i.e. Q = rate K/(K-1) (J/K - I) with J the
// all-ones matrix. J/K is a projector, so exp(Q) = J/K + exp(-rate K/(K-1)) (I - J/K):
//   P(stay) = 1/K + (K-1)/K e^{-K rate/(K-1)},  P(i -> j) = (1 - P(stay)) / (K-1).
std::vector<double> uniform_jump_transition(int K, double rate) {
  if (K < 1) fail("uniform_jump_transition", "K must be >= 1 (got " + std::to_string(K) + ")");
  if (!(std::isfinite(rate) && rate >= 0))
    fail("uniform_jump_transition", "rate must be finite and >= 0 (got " + std::to_string(rate) + ")");
  if (K == 1) return {1.0};
  const double stay = 1.0 / K + (K - 1.0) / K * std::exp(-K * rate / (K - 1.0));
  const double move = (1.0 - stay) / (K - 1.0);
  std::vector<double> a(static_cast<std::size_t>(K) * K, move);
  for (int i = 0; i < K; ++i) a[i * K + i] = stay;
  return a;
}

HmmParams uniform_jump_hmm(std::vector<double> sigma, double rate) {
  const int K = static_cast<int>(sigma.size());
  if (K < 1) fail("uniform_jump_hmm", "K must be >= 1 (sigma is empty)");
  HmmParams p;
  p.trans = uniform_jump_transition(K, rate);
  p.sigma = std::move(sigma);
  p.init.assign(K, 1.0 / K);
  validate(p);
  return p;
}

namespace detail {

LogHmm log_hmm(const HmmParams& p) {
  LogHmm l;
  l.K = p.states();
  l.ltrans.resize(p.trans.size());
  l.linit.resize(p.init.size());
  for (std::size_t i = 0; i < p.trans.size(); ++i)
    l.ltrans[i] = p.trans[i] > 0 ? std::log(p.trans[i]) : kNegInf;
  for (std::size_t i = 0; i < p.init.size(); ++i)
    l.linit[i] = p.init[i] > 0 ? std::log(p.init[i]) : kNegInf;
  return l;
}

// Recursions (all in logs, LSE = log-sum-exp, b_j(t) = log N(dx_t; 0, sigma_j^2 I)):
//   a_0(k) = log init_k + b_k(0)
//   a_t(j) = b_j(t) + LSE_i [a_{t-1}(i) + log A_ij]
//   B_{n-1}(k) = 0,  B_t(i) = LSE_j [log A_ij + b_j(t+1) + B_{t+1}(j)]
//   loglik = LSE_k a_{n-1}(k),  gamma_t(k) = exp(a_t(k) + B_t(k) - loglik)
//   xi_t(i,j) = exp(a_{t-1}(i) + log A_ij + b_j(t) + B_t(j) - loglik)
FbResult forward_backward_core(const std::vector<double>& s2, int dims, const HmmParams& p,
                               const LogHmm& lp, double* gamma, double* xi_sum) {
  const int K = lp.K;
  const std::size_t n = s2.size();
  std::vector<double> logb, la(n * K), w(n * K), tmp(K);
  emission_logprob(s2, dims, p.sigma, logb);
  for (int k = 0; k < K; ++k) la[k] = lp.linit[k] + logb[k];
  for (std::size_t t = 1; t < n; ++t)
    for (int j = 0; j < K; ++j) {
      for (int i = 0; i < K; ++i) tmp[i] = la[(t - 1) * K + i] + lp.ltrans[i * K + j];
      la[t * K + j] = logb[t * K + j] + log_sum_exp(tmp.data(), K);
    }
  const double ll = log_sum_exp(&la[(n - 1) * K], K);
  // w_t(j) = b_j(t) + B_t(j); the backward recursion needs it at t+1, xi at t.
  std::vector<double> lb(n * K, 0.0);
  for (int k = 0; k < K; ++k) w[(n - 1) * K + k] = logb[(n - 1) * K + k];
  for (std::size_t t = n - 1; t-- > 0;) {
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j) tmp[j] = lp.ltrans[i * K + j] + w[(t + 1) * K + j];
      lb[t * K + i] = log_sum_exp(tmp.data(), K);
      w[t * K + i] = logb[t * K + i] + lb[t * K + i];
    }
  }
  if (gamma != nullptr) {
    for (std::size_t t = 0; t < n; ++t) {
      double s = 0;
      for (int k = 0; k < K; ++k) {
        const double g = std::exp(la[t * K + k] + lb[t * K + k] - ll);
        gamma[t * K + k] = g;
        s += g;
      }
      for (int k = 0; k < K; ++k) gamma[t * K + k] /= s;  // removes rounding drift only
    }
  }
  double switches = 0;
  if (K > 1 || xi_sum != nullptr) {
    for (std::size_t t = 1; t < n; ++t)
      for (int i = 0; i < K; ++i) {
        const double ai = la[(t - 1) * K + i];
        if (ai == kNegInf) continue;
        for (int j = 0; j < K; ++j) {
          const double x = std::exp(ai + lp.ltrans[i * K + j] + w[t * K + j] - ll);
          if (xi_sum != nullptr) xi_sum[i * K + j] += x;
          if (i != j) switches += x;
        }
      }
  }
  return {ll, switches};
}

}  // namespace detail

HmmPosterior forward_backward(std::span<const float> dx, const HmmParams& p, int dims) {
  const auto n = detail::check_series("forward_backward", dx, dims);
  validate(p);
  HmmPosterior out;
  out.steps = n;
  out.K = p.states();
  out.gamma.resize(static_cast<std::size_t>(n) * out.K);
  const auto r = detail::forward_backward_core(detail::step_sq(dx, dims), dims, p,
                                               detail::log_hmm(p), out.gamma.data(), nullptr);
  out.loglik = r.loglik;
  out.expected_switches = r.expected_switches;
  return out;
}

HmmPosteriorBatch forward_backward(const SeriesBatch& batch, const HmmParams& p, bool keep_gamma) {
  detail::check_batch("forward_backward", batch);
  validate(p);
  const int K = p.states();
  const auto lp = detail::log_hmm(p);
  HmmPosteriorBatch out;
  out.loglik.resize(batch.count);
  out.expected_switches.resize(batch.count);
  if (keep_gamma) out.gamma.resize(static_cast<std::size_t>(batch.count * batch.steps) * K);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    double* g = keep_gamma ? out.gamma.data() + static_cast<std::size_t>(i * batch.steps) * K
                           : nullptr;
    const auto r = detail::forward_backward_core(detail::step_sq(batch.trajectory(i), batch.dims),
                                                 batch.dims, p, lp, g, nullptr);
    out.loglik[i] = r.loglik;
    out.expected_switches[i] = r.expected_switches;
  });
  return out;
}

std::vector<int> posterior_states(const HmmPosterior& post) {
  if (post.K < 1 || post.gamma.size() != static_cast<std::size_t>(post.steps) * post.K)
    fail("posterior_states", "posterior gamma does not have steps x K entries");
  std::vector<int> s(post.steps);
  for (std::int64_t t = 0; t < post.steps; ++t) {
    const double* g = &post.gamma[t * post.K];
    s[t] = static_cast<int>(std::max_element(g, g + post.K) - g);
  }
  return s;
}

namespace {

// delta_0(k) = log init_k + b_k(0); delta_t(j) = b_j(t) + max_i [delta_{t-1}(i) + log A_ij],
// with back-pointers; the path is traced back from argmax_k delta_{n-1}(k). Ties go to the
// lower state index.
ViterbiPath viterbi_core(std::span<const float> dx, int dims, const HmmParams& p,
                         const detail::LogHmm& lp) {
  const int K = lp.K;
  const auto s2 = detail::step_sq(dx, dims);
  const std::size_t n = s2.size();
  std::vector<double> logb, delta(n * K);
  std::vector<int> back(n * K, 0);
  detail::emission_logprob(s2, dims, p.sigma, logb);
  for (int k = 0; k < K; ++k) delta[k] = lp.linit[k] + logb[k];
  for (std::size_t t = 1; t < n; ++t)
    for (int j = 0; j < K; ++j) {
      double best = kNegInf;
      int arg = 0;
      for (int i = 0; i < K; ++i) {
        const double v = delta[(t - 1) * K + i] + lp.ltrans[i * K + j];
        if (v > best) {
          best = v;
          arg = i;
        }
      }
      delta[t * K + j] = logb[t * K + j] + best;
      back[t * K + j] = arg;
    }
  ViterbiPath out;
  out.states.resize(n);
  const double* last = &delta[(n - 1) * K];
  int s = static_cast<int>(std::max_element(last, last + K) - last);
  out.log_prob = last[s];
  for (std::size_t t = n; t-- > 0;) {
    out.states[t] = s;
    if (t > 0) s = back[t * K + s];
  }
  for (std::size_t t = 1; t < n; ++t)
    if (out.states[t] != out.states[t - 1]) out.switch_steps.push_back(static_cast<std::int64_t>(t));
  out.switches = static_cast<int>(out.switch_steps.size());
  return out;
}

// Forward pass over (state j, switches so far c), counts >= M lumped into c = M:
//   alpha_0(j, 0) = init_j p(dx_0 | j)
//   alpha_t(j, c) = p(dx_t | j) [ A_jj alpha_{t-1}(j, c)
//                                 + sum_{i != j} A_ij (alpha_{t-1}(i, c-1) + [c = M] alpha_{t-1}(i, M)) ]
// normalised at every step (the log normalisers add up to the log-likelihood), so
// P(count = c | data) = sum_j alpha_{n-1}(j, c).
SwitchCountPosterior count_from_logb(std::span<const double> logb, int K, const std::vector<double>& trans,
                                     const std::vector<double>& init, int M) {
  const int C = M + 1;
  const std::size_t n = logb.size() / std::size_t(K);
  std::vector<double> alpha(static_cast<std::size_t>(K) * C, 0.0), pred(alpha.size());
  double ll = 0;
  // Multiplies pred(j, c) by p(dx_t | j) / max over reachable j of p(dx_t | j), normalises into
  // alpha and accumulates the log normaliser.
  auto absorb = [&](std::size_t t) {
    double m = kNegInf;
    for (int j = 0; j < K; ++j) {
      double mass = 0;
      for (int c = 0; c < C; ++c) mass += pred[j * C + c];
      if (mass > 0) m = std::max(m, logb[t * K + j]);
    }
    double norm = 0;
    for (int j = 0; j < K; ++j) {
      const double e = std::exp(logb[t * K + j] - m);
      for (int c = 0; c < C; ++c) {
        alpha[j * C + c] = pred[j * C + c] * e;
        norm += alpha[j * C + c];
      }
    }
    for (double& a : alpha) a /= norm;
    ll += m + std::log(norm);
  };
  std::fill(pred.begin(), pred.end(), 0.0);
  for (int j = 0; j < K; ++j) pred[j * C] = init[j];
  absorb(0);
  for (std::size_t t = 1; t < n; ++t) {
    for (int j = 0; j < K; ++j)
      for (int c = 0; c < C; ++c) {
        double v = trans[j * K + j] * alpha[j * C + c];
        for (int i = 0; i < K; ++i) {
          if (i == j) continue;
          double from = c >= 1 ? alpha[i * C + c - 1] : 0.0;
          if (c == M) from += alpha[i * C + M];
          v += trans[i * K + j] * from;
        }
        pred[j * C + c] = v;
      }
    absorb(t);
  }
  SwitchCountPosterior out;
  out.prob.assign(C, 0.0);
  for (int j = 0; j < K; ++j)
    for (int c = 0; c < C; ++c) out.prob[c] += alpha[j * C + c];
  out.map = static_cast<int>(std::max_element(out.prob.begin(), out.prob.end()) - out.prob.begin());
  for (int c = 0; c < C; ++c) out.mean += c * out.prob[c];
  out.loglik = ll;
  return out;
}

SwitchCountPosterior count_core(std::span<const float> dx, int dims, const HmmParams& p, int M) {
  std::vector<double> logb;
  detail::emission_logprob(detail::step_sq(dx, dims), dims, p.sigma, logb);
  return count_from_logb(logb, p.states(), p.trans, p.init, M);
}

void check_max_count(const char* fn, int max_count) {
  if (max_count < 0) fail(fn, "max_count must be >= 0 (got " + std::to_string(max_count) + ")");
}

}  // namespace

ViterbiPath viterbi(std::span<const float> dx, const HmmParams& p, int dims) {
  detail::check_series("viterbi", dx, dims);
  validate(p);
  return viterbi_core(dx, dims, p, detail::log_hmm(p));
}

std::vector<ViterbiPath> viterbi(const SeriesBatch& batch, const HmmParams& p) {
  detail::check_batch("viterbi", batch);
  validate(p);
  const auto lp = detail::log_hmm(p);
  std::vector<ViterbiPath> out(batch.count);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = viterbi_core(batch.trajectory(i), batch.dims, p, lp);
  });
  return out;
}

SwitchCountPosterior switch_count_posterior(std::span<const float> dx, const HmmParams& p,
                                            int max_count, int dims) {
  detail::check_series("switch_count_posterior", dx, dims);
  validate(p);
  check_max_count("switch_count_posterior", max_count);
  return count_core(dx, dims, p, max_count);
}

SwitchCountPosterior switch_count_posterior_from_emissions(std::span<const double> log_emission, int K,
                                                          const std::vector<double>& trans,
                                                          const std::vector<double>& init, int max_count) {
  const char* fn = "switch_count_posterior_from_emissions";
  if (K < 1 || log_emission.empty() || log_emission.size() % std::size_t(K) != 0)
    fail(fn, "log_emission must hold steps x K values");
  if (trans.size() != std::size_t(K) * K || init.size() != std::size_t(K)) fail(fn, "trans must be K x K, init K");
  check_max_count(fn, max_count);
  return count_from_logb(log_emission, K, trans, init, max_count);
}

std::vector<SwitchCountPosterior> switch_count_posterior(const SeriesBatch& batch,
                                                         const HmmParams& p, int max_count) {
  detail::check_batch("switch_count_posterior", batch);
  validate(p);
  check_max_count("switch_count_posterior", max_count);
  std::vector<SwitchCountPosterior> out(batch.count);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = count_core(batch.trajectory(i), batch.dims, p, max_count);
  });
  return out;
}

}  // namespace sptrain::baselines
