// sptrain eval: the model of a run and every applicable classical baseline on the same
// trajectories. Which baselines apply follows from the generating spec (known parameters: the
// Bayes-optimal references of REFERENCE.md section 3) and from the labels the data carry:
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
#include <sstream>

#include "simulate.cuh"
#include "sptrain/backend.hpp"
#include "sptrain/baselines.hpp"
#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/model.hpp"
#include "sptrain/plots.hpp"
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
  if (ts.has("switch_times")) {
    d.switch_time.resize(d.n);
    for (int64_t i = 0; i < d.n; ++i) d.switch_time[i] = ts.switch_times[i].empty() ? NAN : ts.switch_times[i][0];
  }
  if (ts.has("step_state"))
    for (const auto& st : ts.step_state) d.step_state.insert(d.step_state.end(), st.begin(), st.end());
  return d;
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

// The model of a run: predictions (n, outputs) for the run's features of the data.
std::vector<float> predict(const TrainConfig& cfg, const std::string& run_dir, const EvalData& d, const Device& dev,
                           std::string* checkpoint_used) {
  if (d.length != cfg.spec.params.length || d.dims != cfg.spec.params.dims)
    throw UsageError(d.source + ": trajectories of " + std::to_string(d.length) + " positions in " + std::to_string(d.dims) +
                     "-D, the model was trained on " + std::to_string(cfg.spec.params.length) + " in " +
                     std::to_string(cfg.spec.params.dims) + "-D");
  auto be = make_backend(dev);
  const int64_t chunk = std::min<int64_t>(std::max<int64_t>(cfg.micro_batch, 256), d.n);
  Model model(cfg.model, *be, int(chunk), cfg.init_seed);
  std::string path = run_dir + "/best.safetensors";
  if (!fs::exists(path)) path = run_dir + "/last.safetensors";
  if (!fs::exists(path)) throw UsageError(run_dir + ": no checkpoint (best.safetensors or last.safetensors)");
  ckpt::Checkpoint ck = ckpt::load(path);
  ckpt::expect_only(ck, {"params", "state", "opt_m", "opt_v"});
  ckpt::expect_floats(ck, "params", model.n_params(), "the model");
  ckpt::expect_floats(ck, "state", model.n_state(), "the model");
  ckpt::expect_finite(ck, "params");
  ckpt::expect_finite(ck, "state");
  auto p = ck.get<float>("params"), s = ck.get<float>("state");
  if (!p.empty()) be->upload(model.params(), p.data(), p.size());
  if (!s.empty()) be->upload(model.state(), s.data(), s.size());
  *checkpoint_used = path;
  auto x = compute_features(cfg.spec.features, d.positions.data(), d.n, d.length, d.dims);
  const size_t in_elems = size_t(cfg.model.T_in) * cfg.model.C_in;
  const int outs = model.output_shape().T * model.output_shape().C;  // per trajectory
  std::vector<float> out(size_t(d.n) * outs);
  float* xd = be->alloc(size_t(chunk) * in_elems);
  for (int64_t off = 0; off < d.n; off += chunk) {
    const int64_t m = std::min(chunk, d.n - off);
    be->upload(xd, &x[off * in_elems], m * in_elems);
    const float* y = model.forward(xd, int(m), false);
    be->download(&out[off * outs], y, m * outs);
  }
  be->release(xd);
  return out;
}

// Per-step log-probabilities (S x K) from a segmentation model's logits: a log-softmax per row.
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

// The state path maximizing sum_t lp[t][s_t] - penalty * #changes (Viterbi over the per-step
// log-probabilities; penalty 0 gives the per-step argmax).
void decode_path(const std::vector<double>& lp, int64_t S, int K, double penalty, std::vector<int>& path) {
  path.assign(S, 0);
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

// Whether the spec's state sequence is a chain the HMM baselines know exactly: Poisson or Markov
// switching between fixed states.
bool is_known_chain(const SimParams& p) {
  return p.prior == PriorKind::Fixed && (p.switching == SwitchKind::Poisson || p.switching == SwitchKind::Markov ||
                                         p.switching == SwitchKind::MarkovDiscrete);
}

// Count bins of the switch-count posterior: room for 4x the expected switches of the fastest state.
int count_bins(const SimParams& p, int64_t S) {
  double max_exit = p.rate;
  if (p.switching != SwitchKind::Poisson)
    for (int k = 0; k < p.n_states; ++k) max_exit = std::max(max_exit, double(p.exit_rate[k]));
  return std::max(20, int(4 * max_exit * S + 20));
}

// The HMM of a known chain (is_known_chain) with emission stds sigma: uniform jumps at the Poisson
// rate with a uniform start, or the Markov chain's per-step transition matrix (exp of the generator
// over one step, or the discrete chain's own matrix) and its initial distribution.
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

// The path with exactly one change of state (from a to b != a at step k, 1 <= k < S) that maximizes
// the summed per-step log-probabilities, through prefix sums: O(S K^2).
void decode_single_switch(const std::vector<double>& lp, int64_t S, int K, std::vector<int>& path) {
  std::vector<double> pre(size_t(S + 1) * K, 0.0);  // pre[t*K + k] = sum_{u<t} lp[u][k]
  for (int64_t t = 0; t < S; ++t)
    for (int k = 0; k < K; ++k) pre[(t + 1) * K + k] = pre[t * K + k] + lp[t * K + k];
  double best = -1e300;
  int64_t best_k = 1;
  int best_a = 0, best_b = K > 1 ? 1 : 0;
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
    if (d.sigma.empty() && d.n_switches.empty() && d.step_state.empty())
      throw UsageError(r.input + ": no label columns (sigma, n_switches, has_switch, state): nothing to score against");
    if (use_model) {
      const bool needs_sigma = cfg.label == LabelKind::Sigma;
      const bool needs_count = !needs_sigma && cfg.label != LabelKind::InitialState;
      if ((needs_sigma && d.sigma.empty()) || (needs_count && d.n_switches.empty()))
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
      // Exactly one switch at a random time (the spec says so): the best single change point.
      const bool one_switch = have_spec && spec.params.switching == SwitchKind::Single && spec.params.single_prob == 1 &&
                              spec.params.single_time < 0;
      // With the spec's switching known: the per-step log-probabilities also serve as learned
      // emissions of the spec's chain, scored by the MAP of the switch-count posterior over them.
      const SimParams& sp = spec.params;
      const bool chain = have_spec && !d.n_switches.empty() && is_known_chain(sp) && sp.n_states == outs;
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
      if (!d.n_switches.empty()) {
        nlohmann::json cm = count_metrics(cnt, d.n_switches);
        mm["count_exact_accuracy"] = cm["exact_accuracy"];
        mm["count_mae"] = cm["mae"];
        std::vector<int> truth(d.n);
        for (int64_t i = 0; i < d.n; ++i) truth[i] = d.n_switches[i] > 0;
        mm["has_switch_accuracy"] = classification_metrics(has, truth, 2)["accuracy"];
        if (chain) {
          nlohmann::json pm = count_metrics(map, d.n_switches);
          mm["count_map_exact_accuracy"] = pm["exact_accuracy"];
          mm["count_map_mae"] = pm["mae"];
        }
      }
      if (!d.switch_time.empty()) {
        bool single = true;  // the first switch's time is scored where every trajectory has one switch
        for (int64_t i = 0; i < d.n && single; ++i) single = d.n_switches[i] == 1;
        if (single) {
          mm["switch_time_mae"] = regression_metrics(first, d.switch_time)["mae"];
          if (have_spec && spec.params.switching == SwitchKind::Single)
            mm["switch_time_mae_away_from_ends"] =
                switch_time_mae_inside(first, d.switch_time, spec.params.single_tmin, spec.params.single_tmax);
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
      if (cfg.label == LabelKind::HasSwitch && !d.n_switches.empty()) {
        for (int64_t i = 0; i < d.n; ++i) truth[i] = d.n_switches[i] > 0;
        m["metrics"] = classification_metrics(pred, truth, 2);
      }
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
  // the number of states (1-3) chosen by BIC; its Viterbi paths count the switches.
  if (!have_spec && (!d.n_switches.empty() || !d.step_state.empty())) {
    baselines::BicSelection sel = baselines::select_states_bic(batch, 3);
    const baselines::HmmParams& hp = sel.fits[sel.best_K - 1].params;
    auto vit = baselines::viterbi(batch, hp);
    nlohmann::json m = {{"kind", "HMM fitted by EM (pooled), states by BIC"}, {"states", sel.best_K}, {"sigma", hp.sigma}};
    std::vector<int> vc(d.n);
    std::vector<double> col(d.n);
    for (int64_t i = 0; i < d.n; ++i) col[i] = vc[i] = vit[i].switches;
    if (!d.n_switches.empty()) m["metrics"] = count_metrics(vc, d.n_switches);
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
    if (has_sigma) o << ",true_sigma";
    if (has_sw) o << ",true_n_switches";
    if (has_st) o << ",true_switch_time";
    for (const auto& [k, v] : columns) o << "," << k;
    o << "\n";
    for (int64_t i = 0; i < d.n; ++i) {
      o << d.ids[i];
      if (has_sigma) o << "," << csv_num(d.sigma[i]);
      if (has_sw) o << "," << d.n_switches[i];
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
