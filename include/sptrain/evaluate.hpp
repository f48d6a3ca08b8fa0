// `sptrain eval`: a trained model and the classical baselines scored side by side on the same
// trajectories (generated from a spec, or read from a file), with tables, JSON, CSV and plots.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/device.hpp"
#include "sptrain/sim.hpp"

namespace sptrain {

// Trajectories of equal length with whatever labels are known (empty vectors when not).
struct EvalData {
  std::string source;
  int64_t n = 0;
  int length = 0, dims = 1;
  std::vector<float> positions;        // (n, length, dims)
  std::vector<int64_t> ids;            // (n)
  std::vector<float> sigma;            // (n)
  std::vector<int32_t> n_switches;     // (n)
  std::vector<uint8_t> has_switch;     // (n) only when n_switches is not known (a file with has_switch alone)
  std::vector<float> switch_time;      // (n) first switch (continuous steps), NaN if none
  std::vector<uint8_t> step_state;     // (n, length - 1)
};
EvalData eval_data_from_batch(const TrajectoryBatch& b, const std::string& source);

struct EvalRequest {
  std::string run_dir;                 // trained run (its config, spec and best checkpoint); empty: baselines only
  bool baselines_only = false;
  std::string spec_path;               // generate from this spec (default: the run's spec) ...
  std::vector<std::string> spec_set;
  int64_t n = 10000;
  uint64_t seed = 0;                   // 0: a seed disjoint from the run's training, validation and test seeds
  std::string input;                   // ... or read these trajectories
  std::string out_dir;
  bool force = false;
  bool plots = true;
  Device device;
  // Per-step (segmentation) models: the decoded path maximizes sum_t log p_t(state_t) minus this
  // penalty per change of state (0: the per-step argmax).
  double switch_penalty = 0;
};

// Runs everything, writes out_dir/{eval.json, predictions.csv, *.png, *.dat}; returns eval.json.
nlohmann::json run_eval(const EvalRequest& r);
// The table printed on stdout for an eval.json.
std::string format_eval_table(const nlohmann::json& eval);

}  // namespace sptrain
