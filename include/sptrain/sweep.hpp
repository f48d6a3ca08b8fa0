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
};

struct CriticalBatchFit {
  double s_min = 0, e_min = 0, b_crit = 0;
  bool ok = false;
};
// Least squares of S = S_min + E_min / B over the points (B_i, S_i).
CriticalBatchFit fit_critical_batch(const std::vector<double>& B, const std::vector<double>& S);

// Runs the sweep; writes out_dir/{sweep.json, sweep.csv, runs/B<b>_s<seed>/..., S_of_B.png, E_of_B.png}.
nlohmann::json run_sweep(const SweepRequest& r);
std::string format_sweep_table(const nlohmann::json& sweep);

}  // namespace sptrain
