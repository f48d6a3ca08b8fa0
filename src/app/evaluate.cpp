// sptrain eval: the model of a run and every applicable classical baseline on the same
// trajectories. Which baselines apply follows from the generating spec (known parameters: the
// Bayes-optimal references of docs/limits.md) and from the labels the data carry:
//   sigma labels            MLE (zero mean, mean removed), CVE, MSD fit        MAPE, MAE, MSE
//   single switch at t0     Bayes classifier P(switch | data) (known or U(0, s_max) stds)
//                           and the likelihood-ratio test at t0                  accuracy, F1, confusion
//   single switch, random   posterior median of the switch time (known std pair)  switch-time MAE
//   switch labels, no spec  HMM fitted by EM (states by BIC), Viterbi count
//   Poisson switching       HMM with known parameters: count MAP (forward pass on (state, count)),
//                           Viterbi count, per-step posterior states         exact count accuracy,
//                                                                            count MAE, per-step accuracy
#include "sptrain/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>

#include "simulate.cuh"
#include "sptrain/backend.hpp"
#include "sptrain/baselines.hpp"
#include "sptrain/checkpoint.hpp"
#include "sptrain/decode.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/model.hpp"
#include "sptrain/plots.hpp"
#include "sptrain/predict.hpp"
#include "sptrain/train.hpp"
#include "sptrain/trajectory_read.hpp"

namespace sptrain {

namespace fs = std::filesystem;

EvalData eval_data_from_batch(const TrajectoryBatch& b, const std::string& source) {
  const SimParams& p = b.params;
  EvalData d;
  d.source = source;
  d.n = b.n;
  d.length = p.length;
  d.dims = p.dims;
  d.positions = b.positions;
  d.sigma = b.traj_sigma;
  d.n_switches = b.n_switches;
  d.step_state = b.step_state;
  d.ids.resize(b.n);
  d.switch_time.resize(b.n);
  for (int64_t r = 0; r < b.n; ++r) {
    d.ids[r] = b.first + r;
    d.switch_time[r] = b.n_switches[r] > 0 ? b.switch_times[r * p.max_switch_times] : NAN;
  }
  return d;
}

namespace {

// Trajectories read from a file: all of one length (models and the batched baselines need that).
EvalData eval_data_from_set(const TrajectorySet& ts) {
  EvalData d;
  d.source = ts.source;
  d.n = int64_t(ts.size());
  d.dims = ts.dims;
  if (d.n == 0) throw UsageError(ts.source + ": no trajectories");
  d.length = int(ts.length(0));
  for (size_t i = 0; i < ts.size(); ++i)
    if (ts.length(i) != d.length)
      throw UsageError(ts.source + ": track " + std::to_string(ts.ids[i]) + " has " + std::to_string(ts.length(i)) +
                       " positions, track " + std::to_string(ts.ids[0]) + " " + std::to_string(d.length) +
                       " (eval needs trajectories of one length: cut or select them first)");
  d.ids = ts.ids;
  for (const auto& p : ts.positions) d.positions.insert(d.positions.end(), p.begin(), p.end());
  d.sigma = ts.sigma;
  d.n_switches = ts.n_switches;
  if (d.n_switches.empty()) d.has_switch = ts.has_switch;
  if (ts.has("switch_times")) {
    d.switch_time.resize(d.n);
    for (int64_t i = 0; i < d.n; ++i) d.switch_time[i] = ts.switch_times[i].empty() ? NAN : ts.switch_times[i][0];
  }
  if (ts.has("step_state"))
    for (const auto& st : ts.step_state) d.step_state.insert(d.step_state.end(), st.begin(), st.end());
  return d;
}

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

// Metric accumulators --------------------------------------------------------------------------

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

// The model of a run: predictions (n, outputs) for the run's features of the data (the run's
// training length and dims only: eval scores what the model was trained for).
std::vector<float> predict(const TrainConfig& cfg, const std::string& run_dir, const EvalData& d, const Device& dev,
                           std::string* checkpoint_used) {
  if (d.length != cfg.spec.params.length || d.dims != cfg.spec.params.dims)
    throw UsageError(d.source + ": trajectories of " + std::to_string(d.length) + " positions in " + std::to_string(d.dims) +
                     "-D, the model was trained on " + std::to_string(cfg.spec.params.length) + " in " +
                     std::to_string(cfg.spec.params.dims) + "-D");
  RunModel model(cfg, run_dir, dev);
  *checkpoint_used = model.checkpoint();
  return model.forward(d.positions.data(), d.n, d.length);
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

// The trajectory i of d in messages: "FILE:LINE: track ID" where the file has lines, else
// "FILE: track ID".
std::string track_at(const EvalData& d, const std::vector<int64_t>& lines, int64_t i) {
  return d.source + (size_t(i) < lines.size() ? ":" + std::to_string(lines[size_t(i)]) : std::string()) +
         ": track " + std::to_string(d.ids[size_t(i)]);
}

// Bad input, found before any work: trajectories long enough for the estimators that will run,
// displacements finite in float32 (positions near the float32 limit can overflow their
// difference), and (for trajectories read from a file) none that never moves: zero variance
// degenerates the fitted HMM's emissions.
void check_eval_input(const EvalData& d, const std::vector<int64_t>& lines, const std::vector<float>& dx,
                      int64_t min_steps, const std::string& why_steps, bool need_motion) {
  const int64_t S = d.length - 1;
  if (S < min_steps)
    throw UsageError(track_at(d, lines, 0) + " has " + std::to_string(d.length) + " positions (" + std::to_string(S) +
                     " steps); " + why_steps + " needs at least " + std::to_string(min_steps + 1) +
                     " positions per trajectory");
  const size_t per = size_t(S) * size_t(d.dims);
  for (int64_t i = 0; i < d.n; ++i) {
    bool moves = false;
    for (size_t k = 0; k < per; ++k) {
      const float v = dx[size_t(i) * per + k];
      if (!std::isfinite(v))
        throw UsageError(track_at(d, lines, i) + ": the displacement at step " + std::to_string(k / size_t(d.dims)) +
                         " overflows float32 (positions too large: rescale them, e.g. to micrometres)");
      moves = moves || v != 0;
    }
    if (need_motion && !moves)
      throw UsageError(track_at(d, lines, i) + " never moves (every displacement is 0): remove immobile tracks "
                       "before eval (the step-size estimators and the HMM need a moving particle)");
  }
}

std::string csv_num(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream o;
  o << std::setprecision(9) << v;
  return o.str();
}

}  // namespace

nlohmann::json run_eval(const EvalRequest& r) {
  if (r.out_dir.empty()) throw UsageError("eval: give --out-dir DIR");
  if (fs::exists(r.out_dir) && !fs::is_empty(r.out_dir) && !r.force)
    throw UsageError("--out-dir " + r.out_dir + ": exists and is not empty (use --force)");
  const bool use_model = !r.run_dir.empty() && !r.baselines_only;
  if (!use_model && r.run_dir.empty() && r.spec_path.empty() && r.input.empty())
    throw UsageError("eval: give a run (--run RUN_DIR), a spec (--spec) or trajectories (--input)");
  TrainConfig cfg;
  if (!r.run_dir.empty()) cfg = load_run_config(r.run_dir);

  // The trajectories.
  EvalData d;
  std::vector<int64_t> lines;  // per trajectory: its first line in the input file (tables)
  SimSpec spec;
  bool have_spec = false;
  if (!r.input.empty()) {
    if (!r.spec_path.empty()) throw UsageError("eval: give --spec or --input, not both");
    TrajectorySet ts = read_trajectories(r.input);
    d = eval_data_from_set(ts);
    lines = ts.first_line;
    if (d.sigma.empty() && d.n_switches.empty() && d.has_switch.empty() && d.step_state.empty())
      throw UsageError(r.input + ": no label columns (sigma, n_switches, has_switch, state): nothing to score against");
    if (use_model) {
      bool have = true;
      switch (cfg.label) {
        case LabelKind::Sigma: have = !d.sigma.empty(); break;
        case LabelKind::NSwitches:
        case LabelKind::NSwitchesPlusOne: have = !d.n_switches.empty(); break;
        case LabelKind::SwitchTime: have = !d.switch_time.empty(); break;
        case LabelKind::HasSwitch: have = !d.n_switches.empty() || !d.has_switch.empty(); break;
        case LabelKind::StepState: have = !d.step_state.empty() || !d.n_switches.empty() || !d.has_switch.empty(); break;
        case LabelKind::InitialState: break;
      }
      if (!have)
        throw UsageError(r.input + ": no '" + cfg.resolved["data"]["label"].get<std::string>() +
                         "' labels to score the model against");
    }
  } else {
    if (!r.spec_path.empty()) spec = load_spec(r.spec_path, r.spec_set);
    else if (!r.run_dir.empty()) spec = cfg.spec;
    else throw UsageError("eval: give --spec or --input");
    have_spec = true;
    if (r.n < 1) throw UsageError("--n: " + std::to_string(r.n) + " is not positive");
    check_trajectory_memory(spec.params, double(r.n), "--n");
    const uint64_t seed = r.seed ? r.seed : sim::splitmix64((r.run_dir.empty() ? 1 : cfg.data_seed) ^ 0x6576616c75617465ull);
    TrajectoryBatch b;
    simulate(spec.params, seed, 0, r.n, r.device.is_cuda() ? r.device : Device::cpu(), b);
    d = eval_data_from_batch(b, r.spec_path.empty() ? r.run_dir + "/spec.toml" : r.spec_path);
  }
  const bool one_state = have_spec && spec.params.switching == SwitchKind::None && spec.params.n_states == 1;
  const bool sigma_baselines = !d.sigma.empty() || one_state || !have_spec;
  const baselines::EstimatorOptions est_opt;
  const int64_t S = d.length - 1;
  const std::vector<float> dx =
      compute_features(FeatureSpec{FeatureKind::Displacements, false, 0.0f}, d.positions.data(), d.n, d.length, d.dims);
  check_eval_input(d, lines, dx, sigma_baselines ? est_opt.msd_max_lag : 2,
                   sigma_baselines ? "the MSD fit over " + std::to_string(est_opt.msd_max_lag) + " lags"
                                   : "the switch baselines",
                   !have_spec);
  if (use_model && (d.length != cfg.spec.params.length || d.dims != cfg.spec.params.dims))
    throw UsageError(d.source + ": trajectories of " + std::to_string(d.length) + " positions in " +
                     std::to_string(d.dims) + "-D, the model was trained on " +
                     std::to_string(cfg.spec.params.length) + " in " + std::to_string(cfg.spec.params.dims) + "-D");
  fs::create_directories(r.out_dir);

  nlohmann::json ev;
  ev["data"] = {{"source", d.source}, {"trajectories", d.n}, {"length", d.length}, {"dims", d.dims},
                {"seed", have_spec ? nlohmann::json(r.seed) : nlohmann::json(nullptr)}};
  nlohmann::json& methods = ev["methods"];
  methods = nlohmann::json::object();
  std::map<std::string, std::vector<double>> columns;  // predictions.csv: per-trajectory estimates
  std::vector<std::vector<int>> example_states;        // predicted per-step states of the first trajectories:
                                                       // the model's when it predicts states, else the HMM's
  const baselines::SeriesBatch batch{dx.data(), d.n, S, d.dims};
  // Cramer-Rao bound of an unbiased step-size estimate from S * dims increments of one state.
  ev["data"]["cramer_rao_relative_std_sigma"] = baselines::cramer_rao_rel_std_sigma(S * d.dims);

  // Model.
  if (use_model) {
    std::string used;
    auto out = predict(cfg, r.run_dir, d, r.device, &used);
    const int outs = cfg.outputs();
    nlohmann::json m = {{"checkpoint", used}, {"label", cfg.resolved["data"]["label"]}};
    std::vector<double> est(d.n);
    if (cfg.label == LabelKind::StepState) {
      // Segmentation: the per-step argmax path, and from it the switch count, the first switch's
      // time (the step where the path first changes: labels give each step the state that
      // occupies most of it) and whether there is a switch.
      std::vector<std::vector<int>> paths(d.n, std::vector<int>(S));
      std::vector<int> cnt(d.n), has(d.n);
      std::vector<double> first(d.n);
      if (r.switch_penalty < 0) throw UsageError("--switch-penalty: must be >= 0");
      // The decoding prior: the generating spec, or for trajectories read from a file the run's
      // training spec. Exactly one switch at a random time: the best single change point (as
      // `sptrain predict` decodes); otherwise the penalized path.
      const SimParams& sp = have_spec ? spec.params : cfg.spec.params;
      const bool one_switch = default_decode_rule(sp, outs) == DecodeRule::Single;
      // With the switching chain known: the per-step log-probabilities also serve as learned
      // emissions of the chain, scored by the MAP of the switch-count posterior over them.
      const bool chain = !d.n_switches.empty() && is_known_chain(sp) && sp.n_states == outs;
      const baselines::HmmParams hp = chain ? chain_hmm(sp, std::vector<double>(outs, 1.0)) : baselines::HmmParams{};
      std::vector<int> map(d.n);
      for (int64_t i = 0; i < d.n; ++i) {
        const std::vector<double> lp = log_softmax_rows(&out[i * S * outs], S, outs);
        if (one_switch) decode_single_switch(lp, S, outs, paths[i]);
        else decode_path(lp, S, outs, r.switch_penalty, paths[i]);
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
      if (!one_switch) mm["switch_penalty"] = r.switch_penalty;
      m["metrics"] = mm;
      for (int64_t i = 0; i < std::min<int64_t>(4, d.n); ++i) example_states.push_back(paths[i]);
      columns["model_first_switch_step"] = first;
    } else if (cfg.classification()) {
      std::vector<int> pred(d.n), truth(d.n);
      for (int64_t i = 0; i < d.n; ++i) {
        pred[i] = int(std::max_element(&out[i * outs], &out[i * outs] + outs) - &out[i * outs]);
        est[i] = pred[i];
      }
      if (cfg.label == LabelKind::HasSwitch && (!d.n_switches.empty() || !d.has_switch.empty()))
        m["metrics"] = classification_metrics(pred, has_switch_truth(d), 2);
    } else {
      for (int64_t i = 0; i < d.n; ++i) est[i] = out[i];
      if (cfg.label == LabelKind::Sigma && !d.sigma.empty()) m["metrics"] = regression_metrics(est, d.sigma);
      if ((cfg.label == LabelKind::NSwitches || cfg.label == LabelKind::NSwitchesPlusOne) && !d.n_switches.empty()) {
        std::vector<int> cnt(d.n);
        for (int64_t i = 0; i < d.n; ++i)
          cnt[i] = std::max(0, int(std::lround(est[i])) - (cfg.label == LabelKind::NSwitchesPlusOne ? 1 : 0));
        m["metrics"] = count_metrics(cnt, d.n_switches);
      }
      if (cfg.label == LabelKind::SwitchTime && !d.switch_time.empty())
        m["metrics"] = {{"switch_time_mae", regression_metrics(est, d.switch_time)["mae"]}};
    }
    methods["model"] = m;
    columns["model"] = est;
  }

  // Baselines.
  if (sigma_baselines) {
    const std::pair<const char*, baselines::Estimator> est_list[] = {
        {"mle", baselines::Estimator::MleZeroMean}, {"mle_mean_removed", baselines::Estimator::MleSampleMean},
        {"cve", baselines::Estimator::Cve}, {"msd_fit", baselines::Estimator::MsdFit}};
    for (const auto& [name, e] : est_list) {
      auto est = baselines::estimate_sigma(e, batch);
      nlohmann::json m = {{"kind", "sigma estimator"}};
      if (!d.sigma.empty()) m["metrics"] = regression_metrics(est, d.sigma);
      methods[name] = m;
      columns[std::string(name) + "_sigma"] = est;
    }
  }
  // Without a generating spec: an HMM fitted by Baum-Welch EM, pooled over all trajectories, with
  // the number of states (1-3) chosen by BIC; its Viterbi paths count the switches and, where the
  // file has per-step states, are scored step by step (fitted states matched to the true ones).
  if (!have_spec && (!d.n_switches.empty() || !d.has_switch.empty() || !d.step_state.empty())) {
    baselines::BicSelection sel = baselines::select_states_bic(batch, 3);
    const baselines::HmmParams& hp = sel.fits[sel.best_K - 1].params;
    auto vit = baselines::viterbi(batch, hp);
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
      mm["per_step_state_accuracy"] = matched_step_accuracy(states, sel.best_K, d.step_state, S);
      m["per_step_state_matching"] = "fitted states matched one to one to the true states, the matching that scores best";
    }
    if (!mm.empty()) m["metrics"] = mm;
    methods["hmm_em_viterbi"] = m;
    columns["hmm_em_viterbi_count"] = col;
  }
  if (have_spec) {
    const SimParams& p = spec.params;
    // Effective per-step stds: localization noise adds 2 s^2 to a displacement's variance.
    auto eff = [&](double s) { return std::sqrt(s * s + 2.0 * double(p.loc_noise) * p.loc_noise); };
    if (p.switching == SwitchKind::Single && p.single_time >= 0 && p.n_states == 2) {
      const int64_t t0 = int64_t(std::lround(p.single_time));
      std::vector<double> prob;
      std::string how;
      if (p.prior == PriorKind::Fixed) {
        prob = baselines::switch_probability_known(batch, t0, eff(p.sigma[0]), eff(p.sigma[1]), p.single_prob);
        how = "Bayes classifier, known step sizes";
      } else if (p.prior == PriorKind::Uniform && p.prior_a == 0 && p.loc_noise == 0) {
        prob = baselines::switch_probability_uniform(batch, t0, p.prior_b, p.single_prob);
        how = "Bayes classifier, step sizes ~ U(0, s_max)";
      }
      std::vector<int> truth(d.n);
      for (int64_t i = 0; i < d.n; ++i) truth[i] = d.n_switches[i] > 0;
      if (!prob.empty()) {
        std::vector<int> pred(d.n);
        for (int64_t i = 0; i < d.n; ++i) pred[i] = prob[i] > 0.5;
        methods["bayes_switch_classifier"] = {{"kind", how}, {"metrics", classification_metrics(pred, truth, 2)}};
        columns["bayes_p_switch"] = prob;
      }
      std::vector<int> lr(d.n);
      std::vector<double> stat(d.n);
      for (int64_t i = 0; i < d.n; ++i) {
        auto t = baselines::fixed_switch_test(batch.trajectory(i), t0, d.dims);
        stat[i] = t.stat;
        lr[i] = t.p_value < 0.01;
      }
      methods["likelihood_ratio_test"] = {{"kind", "chi-square test at t0, 1 % level"},
                                          {"metrics", classification_metrics(lr, truth, 2)}};
      columns["lr_statistic"] = stat;
    }
    if (p.switching == SwitchKind::Single && p.single_time < 0 && p.single_prob == 1 && p.n_states == 2 &&
        p.prior == PriorKind::Fixed) {
      baselines::SwitchTimeOptions o;
      o.t_min = p.single_tmin;
      o.t_max = p.single_tmax;
      auto post = baselines::switch_time_posterior(batch, eff(p.sigma[0]), eff(p.sigma[1]), o);
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
      methods["switch_time_posterior_median"] = {
          {"kind", "posterior median, known step sizes (order unknown)"},
          {"metrics",
           {{"switch_time_mae", regression_metrics(med, d.switch_time)["mae"]},
            {"switch_time_mae_away_from_ends", mae_inside(med)},
            {"posterior_expected_mae", risk}}}};
      columns["posterior_median_switch_time"] = med;
      std::vector<double> split(d.n);
      auto scans = baselines::scan_single_switch(batch);
      for (int64_t i = 0; i < d.n; ++i) split[i] = double(scans[i].best_split);
      methods["split_scan"] = {{"kind", "likelihood ratio over every split point (unknown step sizes)"},
                               {"metrics",
                                {{"switch_time_mae", regression_metrics(split, d.switch_time)["mae"]},
                                 {"switch_time_mae_away_from_ends", mae_inside(split)}}}};
      columns["split_scan_switch_step"] = split;
    }
    if (is_known_chain(p)) {
      std::vector<double> sig;
      for (int k = 0; k < p.n_states; ++k) sig.push_back(eff(p.sigma[k]));
      const baselines::HmmParams hp = chain_hmm(p, sig);
      const int max_count = count_bins(p, S);
      auto cp = baselines::switch_count_posterior(batch, hp, max_count);
      auto vit = baselines::viterbi(batch, hp);
      std::vector<int> map(d.n), vc(d.n);
      std::vector<std::vector<int>> states(d.n);
      for (int64_t i = 0; i < d.n; ++i) {
        map[i] = cp[i].map;
        vc[i] = vit[i].switches;
        states[i] = vit[i].states;
      }
      nlohmann::json cm = count_metrics(map, d.n_switches);
      auto fb = baselines::forward_backward(batch, hp, true);
      std::vector<std::vector<int>> post_states(d.n, std::vector<int>(S));
      const int K = p.n_states;
      for (int64_t i = 0; i < d.n; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const double* g = &fb.gamma[(i * S + j) * K];
          post_states[i][j] = int(std::max_element(g, g + K) - g);
        }
      cm["per_step_state_accuracy"] = step_accuracy(post_states, d.step_state, S);
      if (example_states.empty())
        for (int64_t i = 0; i < std::min<int64_t>(4, d.n); ++i) example_states.push_back(post_states[i]);
      methods["hmm_count_map"] = {{"kind", "HMM with known parameters (noise folded into the state variances): MAP of the switch-count posterior"}, {"metrics", cm}};
      nlohmann::json vm = count_metrics(vc, d.n_switches);
      vm["per_step_state_accuracy"] = step_accuracy(states, d.step_state, S);
      methods["hmm_viterbi"] = {{"kind", "HMM with known parameters: Viterbi path"}, {"metrics", vm}};
      std::vector<double> a(d.n), b(d.n);
      for (int64_t i = 0; i < d.n; ++i) {
        a[i] = map[i];
        b[i] = vc[i];
      }
      columns["hmm_count_map"] = a;
      columns["hmm_viterbi_count"] = b;
    }
  }

  // predictions.csv
  {
    io::AtomicFile f(r.out_dir + "/predictions.csv");
    auto& o = f.stream();
    o << "id";
    const bool has_sigma = !d.sigma.empty(), has_sw = !d.n_switches.empty(), has_st = !d.switch_time.empty();
    const bool has_hs = !d.has_switch.empty();
    if (has_sigma) o << ",true_sigma";
    if (has_sw) o << ",true_n_switches";
    if (has_hs) o << ",true_has_switch";
    if (has_st) o << ",true_switch_time";
    for (const auto& [k, v] : columns) o << "," << k;
    o << "\n";
    for (int64_t i = 0; i < d.n; ++i) {
      o << d.ids[i];
      if (has_sigma) o << "," << csv_num(d.sigma[i]);
      if (has_sw) o << "," << d.n_switches[i];
      if (has_hs) o << "," << int(d.has_switch[i]);
      if (has_st) o << "," << csv_num(d.switch_time[i]);
      for (const auto& [k, v] : columns) o << "," << csv_num(v[i]);
      o << "\n";
    }
    f.commit();
  }

  // Plots (data files always; PNG where gnuplot is present).
  if (r.plots) {
    nlohmann::json pl = nlohmann::json::array();
    std::string why;
    auto note = [&](const std::string& name, bool ok) {
      pl.push_back({{"name", name}, {"png", ok}});
    };
    if (!r.run_dir.empty() && fs::exists(r.run_dir + "/metrics.jsonl")) {
      auto recs = read_metrics(r.run_dir);
      plots::Series tr{"loss", {}, {}}, va{"val_loss", {}, {}};
      for (const auto& rec : recs) {
        tr.x.push_back(rec["epoch"].get<double>());
        tr.y.push_back(rec["loss"].get<double>());
        va.x.push_back(rec["epoch"].get<double>());
        va.y.push_back(rec["val_loss"].get<double>());
      }
      note("learning_curves", plots::learning_curves(r.out_dir, "learning_curves", {tr, va}, "epoch", "loss", true, &why));
    }
    for (const auto& [k, v] : columns) {
      if (!d.sigma.empty() && (k == "model" || k == "mle_sigma") && methods.contains(k == "model" ? "model" : "mle") &&
          (k != "model" || cfg.label == LabelKind::Sigma)) {
        note("scatter_" + k, plots::scatter_with_identity(r.out_dir, "scatter_" + k, std::vector<double>(d.sigma.begin(), d.sigma.end()),
                                                          v, "sigma", &why));
        // Histogram of the estimates per true class when the truth takes few values (report Fig. 6b).
        std::vector<float> levels(d.sigma);
        std::sort(levels.begin(), levels.end());
        levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
        if (levels.size() <= 4) {
          std::vector<int> cls(d.n);
          std::vector<std::string> names;
          for (float l : levels) names.push_back("sigma " + csv_num(l));
          for (int64_t i = 0; i < d.n; ++i) cls[i] = int(std::lower_bound(levels.begin(), levels.end(), d.sigma[i]) - levels.begin());
          note("histogram_" + k, plots::histogram_by_class(r.out_dir, "histogram_" + k, v, cls, names, 60, "estimated sigma", &why));
        }
      }
    }
    for (const auto& [name, m] : methods.items())
      if (m.contains("metrics") && m["metrics"].contains("confusion")) {
        auto conf = m["metrics"]["confusion"].get<std::vector<std::vector<int64_t>>>();
        note("confusion_" + name, plots::confusion_matrix(r.out_dir, "confusion_" + name, conf, {"no switch", "switch"}, &why));
      }
    if (columns.count("bayes_p_switch")) {
      std::vector<int> cls(d.n);
      for (int64_t i = 0; i < d.n; ++i) cls[i] = d.n_switches[i] > 0;
      note("histogram_bayes_p_switch", plots::histogram_by_class(r.out_dir, "histogram_bayes_p_switch", columns["bayes_p_switch"],
                                                                 cls, {"no switch", "switch"}, 40, "P(switch | data)", &why));
    }
    if (!d.step_state.empty() && d.dims >= 1) {
      std::vector<std::vector<double>> pos;
      std::vector<std::vector<int>> st, pst = example_states;
      for (int64_t i = 0; i < std::min<int64_t>(4, d.n); ++i) {
        std::vector<double> x(d.length);
        for (int t = 0; t < d.length; ++t) x[t] = d.positions[(i * d.length + t) * d.dims];
        pos.push_back(x);
        st.emplace_back(d.step_state.begin() + i * S, d.step_state.begin() + (i + 1) * S);
      }
      note("example_trajectories", plots::example_trajectories(r.out_dir, "example_trajectories", pos, st, pst, &why));
    }
    ev["plots"] = pl;
    if (!why.empty()) ev["plots_note"] = why;
  }
  io::write_file_atomic(r.out_dir + "/eval.json", ev.dump(2) + "\n");
  return ev;
}

std::string format_eval_table(const nlohmann::json& ev) {
  std::ostringstream o;
  o << "eval on " << ev["data"]["trajectories"] << " trajectories of " << ev["data"]["length"] << " positions ("
    << ev["data"]["source"].get<std::string>() << "); Cramer-Rao relative std of one-state sigma "
    << std::setprecision(4) << 100 * ev["data"]["cramer_rao_relative_std_sigma"].get<double>() << " %\n";
  o << std::left << std::setw(32) << "method" << "metrics\n";
  for (const auto& [name, m] : ev["methods"].items()) {
    o << std::setw(32) << name;
    if (m.contains("metrics")) {
      for (const auto& [k, v] : m["metrics"].items()) {
        if (k == "confusion" || k == "n") continue;
        o << k << " " << std::setprecision(5) << v.get<double>() << "  ";
      }
      if (m["metrics"].contains("confusion")) o << "confusion " << m["metrics"]["confusion"].dump();
    } else {
      o << "(no labels to score against)";
    }
    o << "\n";
  }
  if (ev.contains("plots_note")) o << "plots: " << ev["plots_note"].get<std::string>() << " (data written as .dat)\n";
  return o.str();
}

}  // namespace sptrain
