// sptrain sweep: steps and examples to a target across batch sizes (see sweep.hpp).
#include "sptrain/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "dist/communicator.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/plots.hpp"
#include "sptrain/run_dir.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

namespace fs = std::filesystem;

CriticalBatchFit fit_critical_batch(const std::vector<double>& B, const std::vector<double>& S) {
  CriticalBatchFit f;
  const size_t n = std::min(B.size(), S.size());
  if (n < 2) return f;
  // S = a + b x with x = 1/B: ordinary least squares.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = 1.0 / B[i];
    sx += x;
    sy += S[i];
    sxx += x * x;
    sxy += x * S[i];
  }
  const double den = n * sxx - sx * sx;
  if (std::abs(den) < 1e-300) return f;
  f.e_min = (n * sxy - sx * sy) / den;
  f.s_min = (sy - f.e_min * sx) / n;
  f.ok = f.s_min > 0 && f.e_min > 0;
  f.b_crit = f.ok ? f.e_min / f.s_min : NAN;
  return f;
}

namespace {

// One run of a sweep: its batch size, learning rate (and its index in the grid), seed, micro-batch,
// the overrides that make it from the config, and its directory under the sweep's.
struct SweepRun {
  int64_t batch = 0;
  size_t lr_index = 0;
  uint64_t seed = 0;
  double lr = 0;
  int64_t micro_batch = 0;
  std::vector<std::string> set;
  std::string dir;  // runs/B<b>[_lr<i>]_s<seed>
};

const char* const kPlanFile = "sweep_plan.json";

// Every run of the sweep, in its one order (batch, learning rate, seed): run i of this list is
// rank i % R's under mpirun and array task i under Slurm.
std::vector<SweepRun> plan_runs(const SweepRequest& r, const TrainConfig& base, int64_t base_batch) {
  std::vector<SweepRun> out;
  for (int64_t B : r.batches) {
    const double ratio = double(B) / double(base_batch);
    const double rule_lr = base.lr * (r.lr_rule == "linear" ? ratio : r.lr_rule == "sqrt" ? std::sqrt(ratio) : 1.0);
    // Micro-batch: B/2, capped by --micro-batch (memory): always below B, so B_simple is measured.
    const int64_t half = std::max<int64_t>(1, B / 2);
    const int64_t mb = r.micro_batch > 0 ? std::min(r.micro_batch, half) : half;
    const int64_t spe = std::max<int64_t>(1, (r.eval_examples + B - 1) / B);
    const int64_t epochs = std::max<int64_t>(1, (r.max_examples + spe * B - 1) / (spe * B));
    for (size_t li = 0; li < r.lr_factors.size(); ++li)
      for (uint64_t seed : r.seeds) {
        SweepRun run;
        run.batch = B, run.lr_index = li, run.seed = seed, run.micro_batch = mb;
        run.lr = rule_lr * r.lr_factors[li];
        run.set = r.set;
        std::ostringstream lrs;
        lrs << std::setprecision(17) << run.lr;
        for (const std::string& kv :
             {"train.batch=" + std::to_string(B), "train.micro_batch=" + std::to_string(mb), "train.lr=" + lrs.str(),
              "train.seed=" + std::to_string(seed), "data.seed=" + std::to_string(seed),
              "train.steps_per_epoch=" + std::to_string(spe), "train.epochs=" + std::to_string(epochs),
              std::string("early_stopping.patience=0")})
          run.set.push_back(kv);
        std::ostringstream tv;
        tv << std::setprecision(17) << r.target_value;
        for (const std::string& kv : {"target.monitor=\"" + r.target_monitor + "\"", "target.value=" + tv.str(),
                                      std::string("target.mode=\"") + (r.target_max ? "max" : "min") + "\"",
                                      std::string("target.stop=") + (r.continue_after_target ? "false" : "true")})
          run.set.push_back(kv);
        if (r.warmup_examples > 0) {
          run.set.push_back("train.schedule=\"warmup\"");
          run.set.push_back("train.warmup_steps=" + std::to_string((r.warmup_examples + B - 1) / B));
        }
        run.dir = "runs/B" + std::to_string(B) + (r.lr_factors.size() > 1 ? "_lr" + std::to_string(li) : std::string()) +
                  "_s" + std::to_string(seed);
        out.push_back(std::move(run));
      }
  }
  return out;
}

// The sweep's plan file: what the summary needs of the request, and the runs. Written by every
// invocation that trains runs (all write the same), read by --merge.
nlohmann::json plan_json(const SweepRequest& r, int64_t base_batch, const std::vector<SweepRun>& runs) {
  nlohmann::json req = {{"config", r.config}, {"set", r.set}, {"batches", r.batches}, {"seeds", r.seeds},
                        {"lr_rule", r.lr_rule}, {"lr_factors", r.lr_factors},
                        {"continue_after_target", r.continue_after_target}, {"budget_examples", r.budget_examples},
                        {"budget_steps", r.budget_steps}, {"base_batch", base_batch},
                        {"warmup_examples", r.warmup_examples}, {"micro_batch", r.micro_batch},
                        {"target_monitor", r.target_monitor}, {"target_value", r.target_value},
                        {"target_max", r.target_max}, {"eval_examples", r.eval_examples},
                        {"max_examples", r.max_examples}};
  nlohmann::json rs = nlohmann::json::array();
  for (const SweepRun& x : runs)
    rs.push_back({{"batch", x.batch}, {"lr_index", x.lr_index}, {"seed", x.seed}, {"lr", x.lr},
                  {"micro_batch", x.micro_batch}, {"dir", x.dir}});
  return {{"request", req}, {"runs", rs}};
}

bool finished(const std::string& out_dir, const SweepRun& run) {
  return fs::exists(out_dir + "/" + run.dir + "/results.json");
}

// Trains one run into its directory (resuming it from last.safetensors when `resume` and it has
// one), or keeps it when `resume` and it finished; prints its line.
void execute_run(const SweepRequest& r, const SweepRun& run, bool resume, const std::string& who) {
  TrainConfig cfg = load_train_config(r.config, run.set);
  TrainOptions opt;
  opt.math = r.math;
  opt.run_dir = r.out_dir + "/" + run.dir;
  opt.progress = false;
  nlohmann::json res;
  const bool kept = resume && finished(r.out_dir, run);
  if (kept) {  // a finished run of an earlier invocation
    std::ifstream in(opt.run_dir + "/results.json");
    res = nlohmann::json::parse(in);
  } else {
    opt.resume = resume && fs::exists(opt.run_dir + "/last.safetensors");
    // Each run is a full, locked run directory (resumable and evaluable on its own); a run an
    // older version left without its inputs is resumed without them.
    std::optional<RunDir> dir;
    if (opt.resume && RunDir::is_run_dir(opt.run_dir)) {
      dir.emplace(RunDir::open(opt.run_dir));
    } else if (!opt.resume) {
      if (fs::exists(opt.run_dir) && !RunDir::is_run_dir(opt.run_dir)) fs::remove_all(opt.run_dir);
      dir.emplace(RunDir::create(opt.run_dir,
                                 RunInputs::read(r.config, cfg.resolved["data"]["spec"].get<std::string>(), run.set), true));
    }
    res = train(cfg, r.device, opt);
  }
  const bool ok = res.contains("target_step") && !res["target_step"].is_null();
  std::ostringstream line;  // one write, so that the lines of ranks sharing a terminal do not interleave
  line << who << "sweep: batch " << run.batch << " lr " << run.lr << " seed " << run.seed << ": "
       << (ok ? "target after " + res["target_step"].dump() + " steps" : std::string("target not reached"))
       << ", B_simple " << res.value("b_simple", nlohmann::json()).dump() << (kept ? " (kept from an earlier run)" : "")
       << "\n";
  std::cerr << line.str() << std::flush;
}

// The summary (sweep.json, sweep.csv, figures) from the finished runs' directories.
nlohmann::json summarize(const SweepRequest& r, int64_t base_batch, const std::vector<SweepRun>& plan);

}  // namespace

nlohmann::json run_sweep(const SweepRequest& r) {
  if (r.config.empty()) throw UsageError("sweep: give --config FILE");
  if (r.out_dir.empty()) throw UsageError("sweep: give --out-dir DIR");
  if (r.batches.empty()) throw UsageError("--batches: give at least one batch size");
  for (auto b : r.batches)
    if (b < 1) throw UsageError("--batches: " + std::to_string(b) + " is not positive");
  if (r.lr_rule != "fixed" && r.lr_rule != "linear" && r.lr_rule != "sqrt")
    throw UsageError("--lr-rule: '" + r.lr_rule + "' is not a rule (fixed, linear or sqrt)");
  if (r.eval_examples < 1 || r.max_examples < r.eval_examples)
    throw UsageError("--eval-examples / --max-examples: need 1 <= eval-examples <= max-examples");
  if (r.lr_factors.empty()) throw UsageError("--lr-factors: give at least one factor");
  for (double f : r.lr_factors)
    if (!(f > 0)) throw UsageError("--lr-factors: " + std::to_string(f) + " is not positive");
  if (r.budget_examples < 0 || r.budget_steps < 0) throw UsageError("--budget-examples / --budget-steps: negative");
  const TrainConfig base = load_train_config(r.config, r.set);
  const int64_t base_batch = r.base_batch > 0 ? r.base_batch : base.batch;
  const std::vector<SweepRun> plan = plan_runs(r, base, base_batch);
  const nlohmann::json plan_j = plan_json(r, base_batch, plan);
  const bool ranks = r.comm && r.comm->distributed();
  const int R = ranks ? r.comm->size() : 1, rank = ranks ? r.comm->rank() : 0;
  if (r.task >= 0 && ranks) throw UsageError("--task: a Slurm array task runs one run in one process, not under mpirun");
  if (r.task >= int64_t(plan.size()))
    throw UsageError("--task " + std::to_string(r.task) + ": the sweep has " + std::to_string(plan.size()) +
                     " runs, tasks 0 to " + std::to_string(plan.size() - 1) + " (sbatch --array=0-" +
                     std::to_string(plan.size() - 1) + ")");
  // Several processes share the directory (ranks, array tasks): each keeps the runs already
  // finished and resumes interrupted ones, and a directory holding this same sweep is theirs.
  const bool shared = ranks || r.task >= 0, resume = r.resume || shared;
  const std::string plan_path = r.out_dir + "/" + kPlanFile;
  std::string err;
  if (rank == 0) {  // rank 0 checks and sets the directory up; the others wait for the verdict
    try {
      if (fs::exists(r.out_dir) && !fs::is_empty(r.out_dir) && !r.force) {
        nlohmann::json old;
        if (fs::exists(plan_path)) std::ifstream(plan_path) >> old;
        if (!old.is_null() && old["request"] != plan_j["request"])
          throw UsageError("--out-dir " + r.out_dir + ": holds another sweep (its " + kPlanFile +
                           " has other options); use a new directory, or --force");
        if (!r.resume && !(shared && !old.is_null()))
          throw UsageError("--out-dir " + r.out_dir + ": exists and is not empty (use --force, or --resume)");
      }
      fs::create_directories(r.out_dir + "/runs");
      io::write_file_atomic(plan_path, plan_j.dump(2) + "\n");
    } catch (const UsageError& e) {
      if (!ranks) throw;
      err = e.what();
    }
  }
  if (ranks && r.comm->any(!err.empty())) {
    if (!err.empty()) throw UsageError(err);
    throw UsageError("sweep: rank 0 refused the output directory");
  }
  const std::string who = ranks ? "rank " + std::to_string(rank) + " of " + std::to_string(R) + ": " : std::string();
  for (size_t i = 0; i < plan.size(); ++i)
    if (r.task >= 0 ? int64_t(i) == r.task : int(i % size_t(R)) == rank) execute_run(r, plan[i], resume, who);
  if (r.task >= 0) {
    size_t done = 0;
    for (const SweepRun& run : plan) done += finished(r.out_dir, run);
    std::cerr << "sweep: task " << r.task << " done (" << done << " of " << plan.size() << " runs finished)"
              << (done == plan.size() ? "" : "; when all are, build the summary with: sptrain sweep --merge " + r.out_dir)
              << std::endl;
    if (done < plan.size()) return {{"task", r.task}, {"finished_runs", done}, {"runs", plan.size()}};
  }
  if (ranks) {  // rank 0 merges once every rank's runs are done (runs take long: no deadline)
    r.comm->set_timeout(std::numeric_limits<double>::infinity());
    r.comm->barrier();
    if (rank != 0) return {{"rank", rank}};
  }
  return summarize(r, base_batch, plan);
}

nlohmann::json merge_sweep(const std::string& out_dir) {
  const std::string plan_path = out_dir + "/" + kPlanFile;
  if (!fs::exists(plan_path))
    throw UsageError("--merge " + out_dir + ": no " + kPlanFile + " there (not the output directory of a sweep)");
  nlohmann::json j;
  try {
    std::ifstream(plan_path) >> j;
    const nlohmann::json& q = j.at("request");
    SweepRequest r;
    r.out_dir = out_dir;
    q.at("config").get_to(r.config);
    q.at("set").get_to(r.set);
    q.at("batches").get_to(r.batches);
    q.at("seeds").get_to(r.seeds);
    q.at("lr_rule").get_to(r.lr_rule);
    q.at("lr_factors").get_to(r.lr_factors);
    q.at("continue_after_target").get_to(r.continue_after_target);
    q.at("budget_examples").get_to(r.budget_examples);
    q.at("budget_steps").get_to(r.budget_steps);
    q.at("warmup_examples").get_to(r.warmup_examples);
    q.at("micro_batch").get_to(r.micro_batch);
    q.at("target_monitor").get_to(r.target_monitor);
    q.at("target_value").get_to(r.target_value);
    q.at("target_max").get_to(r.target_max);
    q.at("eval_examples").get_to(r.eval_examples);
    q.at("max_examples").get_to(r.max_examples);
    const int64_t base_batch = q.at("base_batch").get<int64_t>();
    std::vector<SweepRun> plan;
    std::string missing;
    size_t n_missing = 0;
    for (size_t i = 0; i < j.at("runs").size(); ++i) {
      const nlohmann::json& x = j["runs"][i];
      SweepRun run;
      x.at("batch").get_to(run.batch);
      x.at("lr_index").get_to(run.lr_index);
      x.at("seed").get_to(run.seed);
      x.at("lr").get_to(run.lr);
      x.at("micro_batch").get_to(run.micro_batch);
      x.at("dir").get_to(run.dir);
      if (run.lr_index >= r.lr_factors.size()) throw UsageError("run " + run.dir + ": learning-rate index out of range");
      if (!finished(out_dir, run) && n_missing++ < 20) missing += (missing.empty() ? "" : ", ") + run.dir + " (task " + std::to_string(i) + ")";
      plan.push_back(std::move(run));
    }
    if (n_missing)
      throw UsageError("--merge " + out_dir + ": " + std::to_string(n_missing) + " of " + std::to_string(plan.size()) +
                       " runs have not finished (no results.json): " + missing + (n_missing > 20 ? ", ..." : "") +
                       "; run those tasks (or the sweep with --resume), then merge");
    return summarize(r, base_batch, plan);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("--merge " + out_dir + ": " + kPlanFile + " is not a sweep plan: " + io::quote_untrusted(e.what(), 200));
  }
}

namespace {

nlohmann::json summarize(const SweepRequest& r, int64_t base_batch, const std::vector<SweepRun>& plan) {
  // The monitored metric of the last validation at or before a step budget (a run stopped at its
  // target earlier reports the metric at the stop; --continue-after-target gives every run the
  // budget's own value).
  const int64_t budget_ex = r.budget_examples > 0 ? r.budget_examples : r.max_examples;
  auto metric_at = [&](const std::vector<nlohmann::json>& recs, int64_t step_budget) -> nlohmann::json {
    nlohmann::json v;
    for (const auto& rec : recs)
      if (rec["step"].get<int64_t>() <= step_budget && rec.contains(r.target_monitor)) v = rec[r.target_monitor];
    return v;
  };
  nlohmann::json runs = nlohmann::json::array();
  std::vector<std::pair<int64_t, size_t>> run_keys;  // per run: (batch, learning-rate index), typed
  // Per run (batch, lr index, seed): B_simple at each validation, against examples seen.
  std::map<std::tuple<int64_t, int, uint64_t>, std::vector<std::pair<double, double>>> traces;
  for (const SweepRun& x : plan) {
    const int64_t B = x.batch;
    const size_t li = x.lr_index;
    const std::string run_dir = r.out_dir + "/" + x.dir;
    nlohmann::json res;
    {
      std::ifstream in(run_dir + "/results.json");
      res = nlohmann::json::parse(in);
    }
    auto recs = read_metrics(run_dir);
    // B_simple over training (examples seen, estimate) for the figure.
    auto& trace = traces[{B, int(li), x.seed}];
    for (const auto& rec : recs)
      if (rec.contains("b_simple") && rec["b_simple"].is_number() && rec.contains("step"))
        trace.push_back({rec["step"].get<double>() * double(B), rec["b_simple"].get<double>()});
    double sps = 0;
    for (const auto& rec : recs) sps += rec["samples_per_s"].get<double>();
    nlohmann::json run = {{"batch", B}, {"seed", x.seed}, {"lr", x.lr}, {"lr_factor", r.lr_factors[li]},
                          {"micro_batch", x.micro_batch}, {"steps_run", res["steps"]},
                          {"samples_per_s", recs.empty() ? 0.0 : sps / recs.size()},
                          {"wall_seconds", res.value("wall_seconds_this_invocation", 0.0)},
                          {"final_" + r.target_monitor, recs.empty() ? nlohmann::json() : recs.back()[r.target_monitor]},
                          {"at_example_budget", metric_at(recs, budget_ex / B)},
                          {"b_simple", res.value("b_simple", nlohmann::json())}};
    if (r.budget_steps > 0) run["at_step_budget"] = metric_at(recs, r.budget_steps);
    const bool ok = res.contains("target_step") && !res["target_step"].is_null();
    run["reached"] = ok;
    if (ok) {
      run["steps_to_target"] = res["target_step"];
      run["examples_to_target"] = res["target_step"].get<int64_t>() * B;
    }
    runs.push_back(run);
    run_keys.push_back({B, li});
  }

  // Per batch size: for each learning rate the success rate and the median steps to target of its
  // successful runs; the batch size's row takes the learning rate with the highest success rate,
  // then the fewest steps (the per-batch learning-rate search).
  nlohmann::json table = nlohmann::json::array(), grid = nlohmann::json::array();
  std::vector<double> fb, fs_;
  for (int64_t B : r.batches) {
    nlohmann::json best;
    std::vector<double> bs;
    for (size_t li = 0; li < r.lr_factors.size(); ++li) {
      std::vector<double> steps, at_budget;
      int64_t total = 0;
      double lr = 0;
      for (size_t ri = 0; ri < runs.size(); ++ri) {
        if (run_keys[ri] != std::make_pair(B, li)) continue;
        const nlohmann::json& run = runs[ri];
        ++total;
        lr = run["lr"];
        if (run["reached"].get<bool>()) steps.push_back(run["steps_to_target"].get<double>());
        if (run["b_simple"].is_number() && std::isfinite(run["b_simple"].get<double>()))
          bs.push_back(run["b_simple"].get<double>());
        if (run["at_example_budget"].is_number()) at_budget.push_back(run["at_example_budget"].get<double>());
      }
      nlohmann::json row = {{"batch", B}, {"lr", lr}, {"lr_factor", r.lr_factors[li]},
                            {"success_rate", double(steps.size()) / double(std::max<int64_t>(total, 1))}};
      if (!steps.empty()) {
        std::sort(steps.begin(), steps.end());
        row["steps_to_target"] = steps[steps.size() / 2];
        row["examples_to_target"] = steps[steps.size() / 2] * double(B);
      }
      if (!at_budget.empty()) {
        std::sort(at_budget.begin(), at_budget.end());
        row["at_example_budget"] = at_budget[at_budget.size() / 2];
      }
      grid.push_back(row);
      auto key = [](const nlohmann::json& x) {
        return std::make_pair(-x["success_rate"].get<double>(), x.contains("steps_to_target") ? x["steps_to_target"].get<double>() : 1e300);
      };
      if (best.is_null() || key(row) < key(best)) best = row;
    }
    if (!bs.empty()) {
      std::sort(bs.begin(), bs.end());
      best["b_simple"] = bs[bs.size() / 2];
    }
    if (best.contains("steps_to_target")) {
      fb.push_back(double(B));
      fs_.push_back(best["steps_to_target"].get<double>());
    }
    table.push_back(best);
  }
  CriticalBatchFit fit = fit_critical_batch(fb, fs_);
  nlohmann::json out = {{"config", r.config}, {"lr_rule", r.lr_rule}, {"base_batch", base_batch},
                        {"target", {{"monitor", r.target_monitor}, {"value", r.target_value}, {"mode", r.target_max ? "max" : "min"}}},
                        {"eval_examples", r.eval_examples}, {"max_examples", r.max_examples},
                        {"lr_factors", r.lr_factors}, {"budget_examples", budget_ex}, {"budget_steps", r.budget_steps},
                        {"runs", runs}, {"table", table}, {"grid", grid}};
  if (fit.ok) out["fit"] = {{"s_min", fit.s_min}, {"e_min", fit.e_min}, {"b_crit", fit.b_crit}};

  // Figures: S(B) and E(B) on log axes (x = log2 B), with the fitted curve.
  if (!fb.empty()) {
    plots::Series s{"steps to target", {}, {}}, e{"examples to target", {}, {}}, sf{"fit", {}, {}}, ef{"fit", {}, {}};
    for (size_t i = 0; i < fb.size(); ++i) {
      s.x.push_back(std::log2(fb[i]));
      s.y.push_back(fs_[i]);
      e.x.push_back(std::log2(fb[i]));
      e.y.push_back(fs_[i] * fb[i]);
    }
    if (fit.ok)
      for (double lb = std::log2(fb.front()); lb <= std::log2(fb.back()) + 1e-9; lb += 0.1) {
        const double b = std::exp2(lb);
        sf.x.push_back(lb);
        sf.y.push_back(fit.s_min + fit.e_min / b);
        ef.x.push_back(lb);
        ef.y.push_back((fit.s_min + fit.e_min / b) * b);
      }
    std::string why;
    bool a = plots::learning_curves(r.out_dir, "S_of_B", {s, sf}, "log2 batch", "steps to target", true, &why);
    bool b = plots::learning_curves(r.out_dir, "E_of_B", {e, ef}, "log2 batch", "examples to target", true, &why);
    if (!a || !b) out["plots_note"] = why;
  }
  // B_simple over training: per batch size its chosen learning rate's first seed; estimates that
  // are not positive (noise-dominated, see docs/results.md) are left out of the log axis.
  {
    std::vector<plots::Series> curves;
    for (const auto& row : table) {
      const int64_t B = row["batch"].get<int64_t>();
      int li = 0;
      for (size_t k = 0; k < r.lr_factors.size(); ++k)
        if (r.lr_factors[k] == row["lr_factor"].get<double>()) li = int(k);
      auto it = traces.find({B, li, r.seeds.front()});
      if (it == traces.end()) continue;
      plots::Series c{"B = " + std::to_string(B), {}, {}};
      for (const auto& [ex, bs] : it->second)
        if (bs > 0 && std::isfinite(bs)) {
          c.x.push_back(std::log2(ex));
          c.y.push_back(bs);
        }
      if (!c.x.empty()) curves.push_back(std::move(c));
    }
    std::string why;
    if (!curves.empty() &&
        !plots::learning_curves(r.out_dir, "B_simple", curves, "log2 examples seen", "B_simple", true, &why))
      out["plots_note"] = why;
  }
  io::write_file_atomic(r.out_dir + "/sweep.json", out.dump(2) + "\n");
  {
    io::AtomicFile f(r.out_dir + "/sweep.csv");
    // One row per (batch, learning rate) of the grid; `best` marks the batch size's chosen rate.
    f.stream() << "batch,lr,success_rate,steps_to_target,examples_to_target,at_example_budget,b_simple,best\n";
    auto num = [](const nlohmann::json& row, const char* k) { return row.contains(k) ? row[k].dump() : std::string(); };
    for (const auto& row : grid) {
      const nlohmann::json* best = nullptr;  // the batch size's chosen row (it carries B_simple)
      for (const auto& b : table)
        if (b["batch"] == row["batch"] && b["lr"] == row["lr"]) best = &b;
      f.stream() << row["batch"] << "," << row["lr"] << "," << row["success_rate"] << "," << num(row, "steps_to_target") << ","
                 << num(row, "examples_to_target") << "," << num(row, "at_example_budget") << ","
                 << (best ? num(*best, "b_simple") : std::string()) << "," << (best ? 1 : 0) << "\n";
    }
    f.commit();
  }
  return out;
}

}  // namespace

std::string format_sweep_table(const nlohmann::json& sw) {
  std::ostringstream o;
  o << std::left << std::setw(10) << "batch" << std::setw(12) << "lr" << std::setw(10) << "success" << std::setw(14) << "S(B)"
    << std::setw(16) << "E(B)" << "B_simple\n";
  for (const auto& row : sw["table"]) {
    o << std::setw(10) << row["batch"].get<int64_t>() << std::setw(12) << row["lr"].get<double>() << std::setw(10)
      << row["success_rate"].get<double>();
    o << std::setw(14) << (row.contains("steps_to_target") ? std::to_string(int64_t(row["steps_to_target"].get<double>())) : "-");
    o << std::setw(16) << (row.contains("examples_to_target") ? std::to_string(int64_t(row["examples_to_target"].get<double>())) : "-");
    o << (row.contains("b_simple") ? std::to_string(row["b_simple"].get<double>()) : "-") << "\n";
  }
  if (sw.contains("fit"))
    o << "fit S = S_min + E_min/B: S_min " << sw["fit"]["s_min"].get<double>() << ", E_min " << sw["fit"]["e_min"].get<double>()
      << ", B_crit " << sw["fit"]["b_crit"].get<double>() << "\n";
  return o.str();
}

}  // namespace sptrain
