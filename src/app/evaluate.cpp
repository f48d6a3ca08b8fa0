// sptrain eval: the model of a run and every applicable classical baseline on the same
// trajectories. run_eval validates the request, loads or generates the trajectories, runs the
// model, lets every scorer that applies (eval_scorers.cpp: which methods apply to which spec and
// labels) score them, and writes eval.json, predictions.csv and the figures.
#include "engine/seeds.hpp"
#include "sptrain/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "eval_scorers.hpp"
#include "simulate.cuh"
#include "sptrain/backend.hpp"
#include "sptrain/baselines.hpp"
#include "sptrain/checkpoint.hpp"
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

// The model of a run: predictions (n, outputs) for the run's features of the data (the run's
// training length and dims only: eval scores what the model was trained for).
std::vector<float> predict(const TrainConfig& cfg, const std::string& run_dir, const EvalData& d, const Device& dev,
                           std::string* checkpoint_used) {
  if (d.length != cfg.spec.params.length || d.dims != cfg.spec.params.dims)
    throw UsageError(d.source + ": trajectories of " + std::to_string(d.length) + " positions in " + std::to_string(d.dims) +
                     "-D, the model was trained on " + std::to_string(cfg.spec.params.length) + " in " +
                     std::to_string(cfg.spec.params.dims) + "-D");
  Predictor model(cfg, run_dir, dev);
  *checkpoint_used = model.checkpoint();
  return model.forward(d.positions.data(), d.n, d.length);
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

// predictions.csv: per trajectory its id, the known labels and every scorer's column (by name).
void write_predictions(const std::string& path, const EvalData& d,
                       const std::map<std::string, std::vector<double>>& columns) {
  io::AtomicFile f(path);
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

// The figures (data files always; PNG where gnuplot is present), listed in ev["plots"].
void write_plots(const EvalRequest& r, const TrainConfig& cfg, const EvalData& d, nlohmann::json& ev,
                 const std::map<std::string, std::vector<double>>& columns,
                 const std::vector<std::vector<int>>& example_states) {
  const nlohmann::json& methods = ev["methods"];
  const int64_t S = d.length - 1;
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
    note("histogram_bayes_p_switch", plots::histogram_by_class(r.out_dir, "histogram_bayes_p_switch", columns.at("bayes_p_switch"),
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
    const uint64_t seed = r.seed ? r.seed : sim::splitmix64((r.run_dir.empty() ? 1 : cfg.data_seed) ^ seeds::kEval);
    TrajectoryBatch b;
    simulate(spec.params, seed, 0, r.n, r.device.is_cuda() ? r.device : Device::cpu(), b);
    d = eval_data_from_batch(b, r.spec_path.empty() ? r.run_dir + "/spec.toml" : r.spec_path);
  }
  const bool sigma_baselines = eval::sigma_estimators_apply(d, have_spec ? &spec : nullptr);
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

  // The model's outputs (n, T_out, C_out), then every scorer that applies.
  std::vector<float> out;
  eval::Context ctx{r, d, cfg, have_spec ? &spec : nullptr, nullptr, "", batch, S};
  if (use_model) {
    out = predict(cfg, r.run_dir, d, r.device, &ctx.checkpoint);
    ctx.model_out = &out;
  }
  for (const eval::Scorer& sc : eval::scorers()) {
    if (!sc.applies(ctx)) continue;
    eval::Scores got = sc.score(ctx);
    for (auto it = got.methods.begin(); it != got.methods.end(); ++it) methods[it.key()] = std::move(it.value());
    for (auto& [name, col] : got.columns) columns[name] = std::move(col);
    if (example_states.empty()) example_states = std::move(got.example_states);
  }

  write_predictions(r.out_dir + "/predictions.csv", d, columns);
  if (r.plots) write_plots(r, cfg, d, ev, columns, example_states);
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
