// Decoding of per-step log-probabilities into state paths (penalized argmax, one change point,
// Viterbi over a chain) and the chain HMM, decoding rule and count bins a spec implies.
#include "sptrain/decode.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sptrain {

std::vector<double> log_softmax_rows(const float* logits, int64_t S, int K) {
  std::vector<double> lp(size_t(S) * K);
  for (int64_t t = 0; t < S; ++t) {
    const float* z = logits + t * K;
    const float mx = *std::max_element(z, z + K);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(double(z[k]) - mx);
    for (int k = 0; k < K; ++k) lp[t * K + k] = double(z[k]) - mx - std::log(sum);
  }
  return lp;
}

void decode_path(const std::vector<double>& lp, int64_t S, int K, double penalty, std::vector<int>& path) {
  path.assign(S, 0);
  if (S == 0) return;
  std::vector<double> score(lp.begin(), lp.begin() + K), next(K);
  std::vector<int> back(size_t(S) * K);
  for (int64_t t = 1; t < S; ++t) {
    const int best = int(std::max_element(score.begin(), score.end()) - score.begin());
    for (int k = 0; k < K; ++k) {
      const bool move = score[best] - penalty > score[k];  // ties keep the state
      back[t * K + k] = move ? best : k;
      next[k] = (move ? score[best] - penalty : score[k]) + lp[t * K + k];
    }
    score.swap(next);
  }
  path[S - 1] = int(std::max_element(score.begin(), score.end()) - score.begin());
  for (int64_t t = S - 1; t > 0; --t) path[t - 1] = back[t * K + path[t]];
}

void decode_single_switch(const std::vector<double>& lp, int64_t S, int K, std::vector<int>& path) {
  if (S < 2 || K < 2) {  // no room for a change: the best single state
    decode_path(lp, S, K, 1e300, path);
    return;
  }
  std::vector<double> pre(size_t(S + 1) * K, 0.0);  // pre[t*K + k] = sum_{u<t} lp[u][k]
  for (int64_t t = 0; t < S; ++t)
    for (int k = 0; k < K; ++k) pre[(t + 1) * K + k] = pre[t * K + k] + lp[t * K + k];
  double best = -1e300;
  int64_t best_k = 1;
  int best_a = 0, best_b = 1;
  for (int64_t k = 1; k < S; ++k)
    for (int a = 0; a < K; ++a)
      for (int b = 0; b < K; ++b) {
        if (a == b) continue;
        const double v = pre[k * K + a] + (pre[S * K + b] - pre[k * K + b]);
        if (v > best) best = v, best_k = k, best_a = a, best_b = b;
      }
  path.assign(S, best_b);
  for (int64_t t = 0; t < best_k; ++t) path[t] = best_a;
}

void decode_chain(const std::vector<double>& lp, int64_t S, int K, const std::vector<double>& trans,
                  const std::vector<double>& init, std::vector<int>& path) {
  path.assign(S, 0);
  if (S == 0) return;
  auto lg = [](double p) { return p > 0 ? std::log(p) : -1e300; };
  std::vector<double> lt(size_t(K) * K);
  for (size_t i = 0; i < lt.size(); ++i) lt[i] = lg(trans[i]);
  std::vector<double> score(K), next(K);
  for (int k = 0; k < K; ++k) score[k] = lg(init[k]) + lp[k];
  std::vector<int> back(size_t(S) * K);
  for (int64_t t = 1; t < S; ++t) {
    for (int j = 0; j < K; ++j) {
      int bi = j;  // ties keep the state
      double bv = score[j] + lt[j * K + j];
      for (int i = 0; i < K; ++i)
        if (score[i] + lt[i * K + j] > bv) bv = score[i] + lt[i * K + j], bi = i;
      back[t * K + j] = bi;
      next[j] = bv + lp[t * K + j];
    }
    score.swap(next);
  }
  path[S - 1] = int(std::max_element(score.begin(), score.end()) - score.begin());
  for (int64_t t = S - 1; t > 0; --t) path[t - 1] = back[t * K + path[t]];
}

void decode(DecodeRule r, const std::vector<double>& lp, int64_t S, int K, const baselines::HmmParams& hp,
            double penalty, std::vector<int>& path) {
  switch (r) {
    case DecodeRule::Single: decode_single_switch(lp, S, K, path); break;
    case DecodeRule::Chain: decode_chain(lp, S, K, hp.trans, hp.init, path); break;
    case DecodeRule::Argmax: decode_path(lp, S, K, penalty, path); break;
  }
}

std::string decode_rule_name(DecodeRule r) {
  switch (r) {
    case DecodeRule::Single: return "single";
    case DecodeRule::Chain: return "chain";
    case DecodeRule::Argmax: break;
  }
  return "argmax";
}

bool is_known_chain(const SimParams& p) { return p.prior == PriorKind::Fixed && is_chain(p); }

bool is_chain(const SimParams& p) {
  return (p.switching == SwitchKind::Poisson || p.switching == SwitchKind::Markov ||
                             p.switching == SwitchKind::MarkovDiscrete);
}

DecodeRule default_decode_rule(const SimParams& p, int outputs) {
  if (p.switching == SwitchKind::Single && p.single_prob == 1 && p.single_time < 0) return DecodeRule::Single;
  if (is_chain(p) && p.n_states >= 2 && p.n_states == outputs) return DecodeRule::Chain;
  return DecodeRule::Argmax;
}

std::string decode_rule_description(DecodeRule r, double penalty) {
  switch (r) {
    case DecodeRule::Single: return "single: the best single change point (exactly one switch per track)";
    case DecodeRule::Chain:
      return "chain: Viterbi path with the training spec's per-step transition matrix over the network's per-step "
             "log-probabilities";
    case DecodeRule::Argmax: break;
  }
  if (penalty > 0) {
    std::ostringstream o;
    o << "argmax: the path maximizing the summed per-step log-probabilities minus " << penalty << " per change of state";
    return o.str();
  }
  return "argmax: the most probable state of every step";
}

baselines::HmmParams chain_hmm(const SimParams& p, const std::vector<double>& sigma) {
  if (p.switching == SwitchKind::Poisson) return baselines::uniform_jump_hmm(sigma, p.rate);
  const int K = p.n_states;
  baselines::HmmParams hp;
  hp.sigma = sigma;
  hp.init.resize(K);
  for (int k = 0; k < K; ++k) hp.init[k] = double(p.initial_cdf[k]) - (k ? double(p.initial_cdf[k - 1]) : 0.0);
  auto row_prob = [&](int i, int j) { return double(p.jump_cdf[i][j]) - (j ? double(p.jump_cdf[i][j - 1]) : 0.0); };
  std::vector<double> P(size_t(K) * K, 0.0);
  if (p.switching == SwitchKind::MarkovDiscrete) {
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) P[i * K + j] = row_prob(i, j);
  } else {
    std::vector<double> Q(size_t(K) * K, 0.0);
    for (int i = 0; i < K; ++i) {
      for (int j = 0; j < K; ++j)
        if (j != i) Q[i * K + j] = double(p.exit_rate[i]) * row_prob(i, j);
      Q[i * K + i] = -double(p.exit_rate[i]);
    }
    P = baselines::generator_transition(Q, K);
  }
  hp.trans = P;
  return hp;
}

int count_bins(const SimParams& p, int64_t S) {
  double max_exit = p.rate;
  if (p.switching != SwitchKind::Poisson)
    for (int k = 0; k < p.n_states; ++k) max_exit = std::max(max_exit, double(p.exit_rate[k]));
  return std::max(20, int(4 * max_exit * S + 20));
}

}  // namespace sptrain
