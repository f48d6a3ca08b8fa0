// `sptrain sweep`: the large-batch study. For each batch size (and seed) a run trains until a
// target metric or an example budget, at one learning rate per batch size or over a grid of them;
// the sweep records steps S(B) and examples E(B) = B S(B) to target (per batch size: the best
// learning rate of the grid), success rate, the metric at a fixed example and a fixed step budget,
// samples/s, wall time and the gradient noise scale B_simple, and fits S(B) = S_min + E_min / B, i.e. (S/S_min - 1)(E/E_min - 1) = 1, whose
// critical batch is B_crit = E_min / S_min (McCandlish et al. 2018).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/backend.hpp"
#include "sptrain/device.hpp"

namespace sptrain {

namespace dist {
class Communicator;
}

struct SweepRequest {
  std::string config;                  // training config (its [train] batch and lr are the base)
  std::vector<std::string> set;        // config overrides
  std::vector<int64_t> batches;        // batch sizes to run
  std::vector<uint64_t> seeds = {1};   // init and data seeds per batch size
  std::string lr_rule = "fixed";       // fixed, linear or sqrt: lr = base_lr * (B/base_batch)^{0, 1, 1/2}
  std::vector<double> lr_factors = {1.0};  // learning-rate grid: each B runs at rule_lr(B) * factor
  bool continue_after_target = false;  // train on to max_examples (budget metrics for every run)
  int64_t budget_examples = 0;         // report the metric after this many examples (0: max_examples)
  int64_t budget_steps = 0;            // ... and after this many steps (0: none)
  bool resume = false;                 // keep finished runs of out_dir, resume interrupted ones
  int64_t base_batch = 0;              // 0: the config's batch
  int64_t warmup_examples = 0;         // linear warmup over this many examples (0: none)
  int64_t micro_batch = 0;             // cap on the micro-batch, which is B/2 (>= 1) so B_simple is measured
  std::string target_monitor = "val_loss";
  double target_value = 0;
  bool target_max = false;
  int64_t eval_examples = 10000;       // examples between validations (a target is checked there)
  int64_t max_examples = 1000000;      // budget per run
  std::string out_dir;
  bool force = false;
  Device device;
  MathMode math = MathMode::Fp32;  // GPU compute precision of every run
  // Spreading the runs (docs/distributed.md#sweeps): with a distributed communicator, rank r of R
  // trains runs i with i % R == r and rank 0 writes the summary once all are done; with task >= 0
  // (a Slurm array task) this process trains run `task` alone and writes the summary only if it
  // finished the last. Both keep finished runs and resume interrupted ones.
  dist::Communicator* comm = nullptr;
  int64_t task = -1;
};

struct CriticalBatchFit {
  double s_min = 0, e_min = 0, b_crit = 0;
  bool ok = false;
};
// Least squares of S = S_min + E_min / B over the points (B_i, S_i).
CriticalBatchFit fit_critical_batch(const std::vector<double>& B, const std::vector<double>& S);

// Runs the sweep (or this process's share of it); writes out_dir/{sweep_plan.json, sweep.json,
// sweep.csv, runs/B<b>_s<seed>/..., S_of_B.png, E_of_B.png}. A rank other than 0, or an array task
// that leaves runs unfinished, returns without the summary ({"rank": r} or {"task": t, ...}).
nlohmann::json run_sweep(const SweepRequest& r);
// The summary of the sweep in out_dir from its finished runs (sweep_plan.json names them); throws
// UsageError listing the runs (and array tasks) that have not finished.
nlohmann::json merge_sweep(const std::string& out_dir);
std::string format_sweep_table(const nlohmann::json& sweep);

}  // namespace sptrain
