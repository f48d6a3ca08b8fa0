// The scorers of `sptrain eval` (eval_scorers.hpp): which methods apply follows from the generating
// spec (known parameters: the Bayes-optimal references of docs/limits.md) and from the labels the
// data carry:
//   sigma labels            MLE (zero mean, mean removed), CVE, MSD fit        MAPE, MAE, MSE
//   single switch at t0     Bayes classifier P(switch | data) (known or U(0, s_max) stds)
//                           and the likelihood-ratio test at t0                  accuracy, F1, confusion
//   single switch, random   posterior median of the switch time (known std pair)  switch-time MAE
//   switch labels, no spec  HMM fitted by EM (states by BIC), Viterbi count
//   Poisson switching       HMM with known parameters: count MAP (forward pass on (state, count)),
//                           Viterbi count, per-step posterior states         exact count accuracy,
//                                                                            count MAE, per-step accuracy
// and the run's model is scored by what its label predicts.
#include "eval_scorers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sptrain/decode.hpp"
#include "sptrain/error.hpp"

namespace sptrain::eval {

namespace {

// Metrics ----------------------------------------------------------------------------------------

// Whether each trajectory has a switch, from the counts or the has_switch labels; empty if neither.
std::vector<int> has_switch_truth(const EvalData& d) {
  std::vector<int> t;
  if (!d.n_switches.empty())
    for (int32_t c : d.n_switches) t.push_back(c > 0);
  else
    for (uint8_t h : d.has_switch) t.push_back(h != 0);
  return t;
}

// Per-step accuracy of a path whose state ids are arbitrary (an HMM fitted without labels): the
// accuracy under the matching of fitted to true states (one to one, by brute force over the
// permutations of max(K_fit, K_true) ids) that maximizes it.
double matched_step_accuracy(const std::vector<std::vector<int>>& est, int K_fit, const std::vector<uint8_t>& truth,
                             int64_t S) {
  int K_true = 1;
  for (uint8_t v : truth) K_true = std::max(K_true, int(v) + 1);
  const int M = std::max(K_fit, K_true);
  std::vector<int64_t> conf(size_t(M) * M, 0);  // conf[fit * M + true]
  int64_t total = 0;
  for (size_t r = 0; r < est.size(); ++r)
    for (int64_t j = 0; j < S; ++j) {
      conf[size_t(est[r][j]) * M + truth[r * S + j]]++;
      ++total;
    }
  std::vector<int> perm(M);
  std::iota(perm.begin(), perm.end(), 0);
  int64_t best = 0;
  do {
    int64_t right = 0;
    for (int f = 0; f < M; ++f) right += conf[size_t(f) * M + perm[f]];
    best = std::max(best, right);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return total ? double(best) / double(total) : std::nan("");
}

nlohmann::json classification_metrics(const std::vector<int>& pred, const std::vector<int>& truth, int K) {
  std::vector<std::vector<int64_t>> conf(K, std::vector<int64_t>(K, 0));
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    conf[truth[i]][pred[i]]++;
    right += pred[i] == truth[i];
  }
  nlohmann::json j = {{"accuracy", double(right) / pred.size()}, {"confusion", conf}, {"n", pred.size()}};
  if (K == 2) {  // F1 of the positive class (1 = has a switch)
    const double tp = conf[1][1], fp = conf[0][1], fn = conf[1][0];
    j["f1"] = tp > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
  }
  return j;
}

nlohmann::json count_metrics(const std::vector<int>& est, const std::vector<int32_t>& truth) {
  int64_t exact = 0;
  double ae = 0, ape = 0;
  for (size_t i = 0; i < est.size(); ++i) {
    exact += est[i] == truth[i];
    ae += std::abs(est[i] - truth[i]);
    ape += 100.0 * std::abs(est[i] - truth[i]) / (double(truth[i]) + 1);  // MAPE on switches + 1 (report 3.4.1)
  }
  const double n = double(est.size());
  return {{"exact_accuracy", exact / n}, {"mae", ae / n}, {"mape_plus_one", ape / n}, {"n", est.size()}};
}

double step_accuracy(const std::vector<std::vector<int>>& est, const std::vector<uint8_t>& truth, int64_t S) {
  int64_t right = 0, total = 0;
  for (size_t r = 0; r < est.size(); ++r)
    for (int64_t j = 0; j < S; ++j) {
      right += est[r][j] == truth[r * S + j];
      ++total;
    }
  return double(right) / double(total);
}

// Switch-time MAE over the switches more than one step from either end of [t_min, t_max]: a switch
// in the first or last step can leave the order of the step sizes unidentifiable (a bimodal
// posterior at both ends), which dominates the plain MAE.
double switch_time_mae_inside(const std::vector<double>& est, const std::vector<float>& truth, double t_min,
                              double t_max) {
  double sum = 0;
  int64_t cnt = 0;
  for (size_t i = 0; i < est.size(); ++i)
    if (truth[i] > t_min + 1 && truth[i] < t_max - 1) {
      sum += std::abs(est[i] - truth[i]);
      ++cnt;
    }
  return cnt ? sum / double(cnt) : std::nan("");
}

// Effective per-step std of a spec's state: localization noise adds 2 s^2 to a displacement's variance.
double effective_sigma(const SimParams& p, double s) {
  return std::sqrt(s * s + 2.0 * double(p.loc_noise) * p.loc_noise);
}

// The model -------------------------------------------------------------------------------------

// The model's eval.json entry before its metrics.
nlohmann::json model_entry(const Context& c) {
  return {{"checkpoint", c.checkpoint}, {"label", c.cfg.resolved["data"]["label"]}};
}

bool model_states_apply(const Context& c) { return c.model_out && c.cfg.label == LabelKind::StepState; }

// Segmentation: the per-step argmax path, and from it the switch count, the first switch's time
// (the step where the path first changes: labels give each step the state that occupies most of
// it) and whether there is a switch.
Scores model_states(const Context& c) {
  const EvalData& d = c.d;
  const int64_t S = c.S;
  const std::vector<float>& out = *c.model_out;
  const int outs = c.cfg.outputs();
  Scores sc;
  nlohmann::json m = model_entry(c);
  std::vector<double> est(d.n);
  std::vector<std::vector<int>> paths(d.n, std::vector<int>(S));
  std::vector<int> cnt(d.n), has(d.n);
  std::vector<double> first(d.n);
  if (c.req.switch_penalty < 0) throw UsageError("--switch-penalty: must be >= 0");
  // The decoding prior: the generating spec, or for trajectories read from a file the run's
  // training spec. Exactly one switch at a random time: the best single change point (as
  // `sptrain predict` decodes); otherwise the penalized path.
  const SimParams& sp = c.spec ? c.spec->params : c.cfg.spec.params;
  const bool one_switch = default_decode_rule(sp, outs) == DecodeRule::Single;
  // With the switching chain known: the per-step log-probabilities also serve as learned
  // emissions of the chain, scored by the MAP of the switch-count posterior over them.
  const bool chain = !d.n_switches.empty() && is_known_chain(sp) && sp.n_states == outs;
  const baselines::HmmParams hp = chain ? chain_hmm(sp, std::vector<double>(outs, 1.0)) : baselines::HmmParams{};
  std::vector<int> map(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    const std::vector<double> lp = log_softmax_rows(&out[i * S * outs], S, outs);
    if (one_switch) decode_single_switch(lp, S, outs, paths[i]);
    else decode_path(lp, S, outs, c.req.switch_penalty, paths[i]);
    if (chain) map[i] = baselines::switch_count_posterior_from_emissions(lp, outs, hp.trans, hp.init, count_bins(sp, S)).map;
    first[i] = double(S);
    for (int64_t t = 1; t < S; ++t)
      if (paths[i][t] != paths[i][t - 1]) {
        if (cnt[i] == 0) first[i] = double(t);
        ++cnt[i];
      }
    has[i] = cnt[i] > 0;
    est[i] = cnt[i];
  }
  nlohmann::json mm;
  if (!d.step_state.empty()) mm["per_step_state_accuracy"] = step_accuracy(paths, d.step_state, S);
  if (!d.n_switches.empty() || !d.has_switch.empty())
    mm["has_switch_accuracy"] = classification_metrics(has, has_switch_truth(d), 2)["accuracy"];
  if (!d.n_switches.empty()) {
    nlohmann::json cm = count_metrics(cnt, d.n_switches);
    mm["count_exact_accuracy"] = cm["exact_accuracy"];
    mm["count_mae"] = cm["mae"];
    if (chain) {
      nlohmann::json pm = count_metrics(map, d.n_switches);
      mm["count_map_exact_accuracy"] = pm["exact_accuracy"];
      mm["count_map_mae"] = pm["mae"];
    }
  }
  if (!d.switch_time.empty()) {
    bool single = true;  // the first switch's time is scored where every trajectory has one switch
    for (int64_t i = 0; i < d.n && single; ++i)
      single = d.n_switches.empty() ? std::isfinite(d.switch_time[i]) : d.n_switches[i] == 1;
    if (single) {
      mm["switch_time_mae"] = regression_metrics(first, d.switch_time)["mae"];
      if (sp.switching == SwitchKind::Single)
        mm["switch_time_mae_away_from_ends"] = switch_time_mae_inside(first, d.switch_time, sp.single_tmin, sp.single_tmax);
    }
  }
  m["decoding"] = one_switch ? "best single change point" : "penalized path";
  if (!one_switch) mm["switch_penalty"] = c.req.switch_penalty;
  m["metrics"] = mm;
  for (int64_t i = 0; i < std::min<int64_t>(4, d.n); ++i) sc.example_states.push_back(paths[i]);
  sc.columns["model_first_switch_step"] = first;
  sc.methods["model"] = m;
  sc.columns["model"] = est;
  return sc;
}

bool model_classes_apply(const Context& c) {
  return c.model_out && c.cfg.label != LabelKind::StepState && c.cfg.classification();
}

// Classes: the most probable one per trajectory; has_switch models are scored against the labels.
Scores model_classes(const Context& c) {
  const EvalData& d = c.d;
  const std::vector<float>& out = *c.model_out;
  const int outs = c.cfg.outputs();
  Scores sc;
  nlohmann::json m = model_entry(c);
  std::vector<double> est(d.n);
  std::vector<int> pred(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    pred[i] = int(std::max_element(&out[i * outs], &out[i * outs] + outs) - &out[i * outs]);
    est[i] = pred[i];
  }
  if (c.cfg.label == LabelKind::HasSwitch && (!d.n_switches.empty() || !d.has_switch.empty()))
    m["metrics"] = classification_metrics(pred, has_switch_truth(d), 2);
  sc.methods["model"] = m;
  sc.columns["model"] = est;
  return sc;
}

bool model_values_apply(const Context& c) {
  return c.model_out && c.cfg.label != LabelKind::StepState && !c.cfg.classification();
}

// One value per trajectory: sigma, the switch count (rounded) or the switch time.
Scores model_values(const Context& c) {
  const EvalData& d = c.d;
  const std::vector<float>& out = *c.model_out;
  const LabelKind label = c.cfg.label;
  Scores sc;
  nlohmann::json m = model_entry(c);
  std::vector<double> est(d.n);
  for (int64_t i = 0; i < d.n; ++i) est[i] = out[i];
  if (label == LabelKind::Sigma && !d.sigma.empty()) m["metrics"] = regression_metrics(est, d.sigma);
  if ((label == LabelKind::NSwitches || label == LabelKind::NSwitchesPlusOne) && !d.n_switches.empty()) {
    std::vector<int> cnt(d.n);
    for (int64_t i = 0; i < d.n; ++i)
      cnt[i] = std::max(0, int(std::lround(est[i])) - (label == LabelKind::NSwitchesPlusOne ? 1 : 0));
    m["metrics"] = count_metrics(cnt, d.n_switches);
  }
  if (label == LabelKind::SwitchTime && !d.switch_time.empty())
    m["metrics"] = {{"switch_time_mae", regression_metrics(est, d.switch_time)["mae"]}};
  sc.methods["model"] = m;
  sc.columns["model"] = est;
  return sc;
}

// Baselines ---------------------------------------------------------------------------------------

bool sigma_apply(const Context& c) { return sigma_estimators_apply(c.d, c.spec); }

Scores sigma_estimators(const Context& c) {
  Scores sc;
  const std::pair<const char*, baselines::Estimator> est_list[] = {
      {"mle", baselines::Estimator::MleZeroMean}, {"mle_mean_removed", baselines::Estimator::MleSampleMean},
      {"cve", baselines::Estimator::Cve}, {"msd_fit", baselines::Estimator::MsdFit}};
  for (const auto& [name, e] : est_list) {
    auto est = baselines::estimate_sigma(e, c.batch);
    nlohmann::json m = {{"kind", "sigma estimator"}};
    if (!c.d.sigma.empty()) m["metrics"] = regression_metrics(est, c.d.sigma);
    sc.methods[name] = m;
    sc.columns[std::string(name) + "_sigma"] = est;
  }
  return sc;
}

bool hmm_em_apply(const Context& c) {
  return !c.spec && (!c.d.n_switches.empty() || !c.d.has_switch.empty() || !c.d.step_state.empty());
}

// Without a generating spec: an HMM fitted by Baum-Welch EM, pooled over all trajectories, with
// the number of states (1-3) chosen by BIC; its Viterbi paths count the switches and, where the
// file has per-step states, are scored step by step (fitted states matched to the true ones).
Scores hmm_em(const Context& c) {
  const EvalData& d = c.d;
  Scores sc;
  baselines::BicSelection sel = baselines::select_states_bic(c.batch, 3);
  const baselines::HmmParams& hp = sel.fits[sel.best_K - 1].params;
  auto vit = baselines::viterbi(c.batch, hp);
  nlohmann::json m = {{"kind", "HMM fitted by EM (pooled), states by BIC"}, {"states", sel.best_K}, {"sigma", hp.sigma}};
  std::vector<int> vc(d.n);
  std::vector<double> col(d.n);
  for (int64_t i = 0; i < d.n; ++i) col[i] = vc[i] = vit[i].switches;
  nlohmann::json mm = d.n_switches.empty() ? nlohmann::json::object() : count_metrics(vc, d.n_switches);
  if (!d.n_switches.empty() || !d.has_switch.empty()) {
    std::vector<int> has(d.n);
    for (int64_t i = 0; i < d.n; ++i) has[i] = vc[i] > 0;
    mm["has_switch_accuracy"] = classification_metrics(has, has_switch_truth(d), 2)["accuracy"];
  }
  if (!d.step_state.empty()) {
    std::vector<std::vector<int>> states(d.n);
    for (int64_t i = 0; i < d.n; ++i) states[i] = vit[i].states;
    mm["per_step_state_accuracy"] = matched_step_accuracy(states, sel.best_K, d.step_state, c.S);
    m["per_step_state_matching"] = "fitted states matched one to one to the true states, the matching that scores best";
  }
  if (!mm.empty()) m["metrics"] = mm;
  sc.methods["hmm_em_viterbi"] = m;
  sc.columns["hmm_em_viterbi_count"] = col;
  return sc;
}

bool switch_at_t0_apply(const Context& c) {
  if (!c.spec) return false;
  const SimParams& p = c.spec->params;
  return p.switching == SwitchKind::Single && p.single_time >= 0 && p.n_states == 2;
}

// One switch (or none) at a known time t0: the Bayes classifier where the step-size prior allows
// it, and the likelihood-ratio test at t0.
Scores switch_at_t0(const Context& c) {
  const EvalData& d = c.d;
  const SimParams& p = c.spec->params;
  Scores sc;
  const int64_t t0 = int64_t(std::lround(p.single_time));
  std::vector<double> prob;
  std::string how;
  if (p.prior == PriorKind::Fixed) {
    const double s0 = effective_sigma(p, p.sigma[0]), s1 = effective_sigma(p, p.sigma[1]);
    prob = baselines::switch_probability_known(c.batch, t0, s0, s1, p.single_prob);
    how = "Bayes classifier, known step sizes";
  } else if (p.prior == PriorKind::Uniform && p.prior_a == 0 && p.loc_noise == 0) {
    prob = baselines::switch_probability_uniform(c.batch, t0, p.prior_b, p.single_prob);
    how = "Bayes classifier, step sizes ~ U(0, s_max)";
  }
  std::vector<int> truth(d.n);
  for (int64_t i = 0; i < d.n; ++i) truth[i] = d.n_switches[i] > 0;
  if (!prob.empty()) {
    std::vector<int> pred(d.n);
    for (int64_t i = 0; i < d.n; ++i) pred[i] = prob[i] > 0.5;
    sc.methods["bayes_switch_classifier"] = {{"kind", how}, {"metrics", classification_metrics(pred, truth, 2)}};
    sc.columns["bayes_p_switch"] = prob;
  }
  std::vector<int> lr(d.n);
  std::vector<double> stat(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    auto t = baselines::fixed_switch_test(c.batch.trajectory(i), t0, d.dims);
    stat[i] = t.stat;
    lr[i] = t.p_value < 0.01;
  }
  sc.methods["likelihood_ratio_test"] = {{"kind", "chi-square test at t0, 1 % level"},
                                         {"metrics", classification_metrics(lr, truth, 2)}};
  sc.columns["lr_statistic"] = stat;
  return sc;
}

bool switch_time_apply(const Context& c) {
  if (!c.spec) return false;
  const SimParams& p = c.spec->params;
  return p.switching == SwitchKind::Single && p.single_time < 0 && p.single_prob == 1 && p.n_states == 2 &&
         p.prior == PriorKind::Fixed;
}

// Exactly one switch at a random time between two known step sizes: the posterior median of the
// switch time and the split-point scan.
Scores switch_time(const Context& c) {
  const EvalData& d = c.d;
  const SimParams& p = c.spec->params;
  Scores sc;
  baselines::SwitchTimeOptions o;
  o.t_min = p.single_tmin;
  o.t_max = p.single_tmax;
  const double s0 = effective_sigma(p, p.sigma[0]), s1 = effective_sigma(p, p.sigma[1]);
  auto post = baselines::switch_time_posterior(c.batch, s0, s1, o);
  std::vector<double> med(d.n);
  double risk = 0;
  for (int64_t i = 0; i < d.n; ++i) {
    med[i] = post[i].median;
    risk += post[i].expected_abs_error / double(d.n);
  }
  auto mae_inside = [&](const std::vector<double>& est) {
    return switch_time_mae_inside(est, d.switch_time, p.single_tmin, p.single_tmax);
  };
  // The posterior's own forecast of its MAE sits beside the realized one: equal within Monte
  // Carlo error when the posterior matches the generator.
  sc.methods["switch_time_posterior_median"] = {
      {"kind", "posterior median, known step sizes (order unknown)"},
      {"metrics",
       {{"switch_time_mae", regression_metrics(med, d.switch_time)["mae"]},
        {"switch_time_mae_away_from_ends", mae_inside(med)},
        {"posterior_expected_mae", risk}}}};
  sc.columns["posterior_median_switch_time"] = med;
  std::vector<double> split(d.n);
  auto scans = baselines::scan_single_switch(c.batch);
  for (int64_t i = 0; i < d.n; ++i) split[i] = double(scans[i].best_split);
  sc.methods["split_scan"] = {{"kind", "likelihood ratio over every split point (unknown step sizes)"},
                              {"metrics",
                               {{"switch_time_mae", regression_metrics(split, d.switch_time)["mae"]},
                                {"switch_time_mae_away_from_ends", mae_inside(split)}}}};
  sc.columns["split_scan_switch_step"] = split;
  return sc;
}

bool known_chain_apply(const Context& c) { return c.spec && is_known_chain(c.spec->params); }

// Poisson or Markov switching between fixed states: the HMM with known parameters (noise folded
// into the state variances): MAP of the switch-count posterior, Viterbi, per-step posterior states.
Scores known_chain(const Context& c) {
  const EvalData& d = c.d;
  const SimParams& p = c.spec->params;
  const int64_t S = c.S;
  Scores sc;
  std::vector<double> sig;
  for (int k = 0; k < p.n_states; ++k) sig.push_back(effective_sigma(p, p.sigma[k]));
  const baselines::HmmParams hp = chain_hmm(p, sig);
  const int max_count = count_bins(p, S);
  auto cp = baselines::switch_count_posterior(c.batch, hp, max_count);
  auto vit = baselines::viterbi(c.batch, hp);
  std::vector<int> map(d.n), vc(d.n);
  std::vector<std::vector<int>> states(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    map[i] = cp[i].map;
    vc[i] = vit[i].switches;
    states[i] = vit[i].states;
  }
  nlohmann::json cm = count_metrics(map, d.n_switches);
  auto fb = baselines::forward_backward(c.batch, hp, true);
  std::vector<std::vector<int>> post_states(d.n, std::vector<int>(S));
  const int K = p.n_states;
  for (int64_t i = 0; i < d.n; ++i)
    for (int64_t j = 0; j < S; ++j) {
      const double* g = &fb.gamma[(i * S + j) * K];
      post_states[i][j] = int(std::max_element(g, g + K) - g);
    }
  cm["per_step_state_accuracy"] = step_accuracy(post_states, d.step_state, S);
  for (int64_t i = 0; i < std::min<int64_t>(4, d.n); ++i) sc.example_states.push_back(post_states[i]);
  sc.methods["hmm_count_map"] = {
      {"kind", "HMM with known parameters (noise folded into the state variances): MAP of the switch-count posterior"},
      {"metrics", cm}};
  nlohmann::json vm = count_metrics(vc, d.n_switches);
  vm["per_step_state_accuracy"] = step_accuracy(states, d.step_state, S);
  sc.methods["hmm_viterbi"] = {{"kind", "HMM with known parameters: Viterbi path"}, {"metrics", vm}};
  std::vector<double> a(d.n), b(d.n);
  for (int64_t i = 0; i < d.n; ++i) {
    a[i] = map[i];
    b[i] = vc[i];
  }
  sc.columns["hmm_count_map"] = a;
  sc.columns["hmm_viterbi_count"] = b;
  return sc;
}

}  // namespace

bool sigma_estimators_apply(const EvalData& d, const SimSpec* spec) {
  const bool one_state = spec && spec->params.switching == SwitchKind::None && spec->params.n_states == 1;
  return !d.sigma.empty() || one_state || !spec;
}

const std::vector<Scorer>& scorers() {
  static const std::vector<Scorer> all = {
      {"model (per-step states)", model_states_apply, model_states},
      {"model (classes)", model_classes_apply, model_classes},
      {"model (values)", model_values_apply, model_values},
      {"step-size estimators", sigma_apply, sigma_estimators},
      {"HMM fitted by EM", hmm_em_apply, hmm_em},
      {"switch at a known time", switch_at_t0_apply, switch_at_t0},
      {"switch at a random time", switch_time_apply, switch_time},
      {"HMM of the known chain", known_chain_apply, known_chain},
  };
  return all;
}

}  // namespace sptrain::eval
