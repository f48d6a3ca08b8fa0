// The scorers of `sptrain eval`: one small unit per family of methods (the run's model by its label
// kind, the step-size estimators, the HMM fitted by EM, the single-switch detectors, the HMM of a
// known chain). Each says from the spec and the labels whether it applies and scores the data into
// its eval.json "methods" entries and its predictions.csv columns; run_eval loops over them.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/baselines.hpp"
#include "sptrain/evaluate.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"

namespace sptrain::eval {

// What every scorer reads.
struct Context {
  const EvalRequest& req;
  const EvalData& d;
  const TrainConfig& cfg;               // the run's (default-constructed without a run)
  const SimSpec* spec = nullptr;        // the generating spec; null for trajectories read from a file
  const std::vector<float>* model_out = nullptr;  // the model's outputs (n, T_out, C_out); null without a model
  std::string checkpoint;               // the checkpoint model_out came from
  baselines::SeriesBatch batch;         // the displacements (n, S, dims)
  int64_t S = 0;                        // steps per trajectory
};

// What a scorer adds.
struct Scores {
  nlohmann::json methods = nlohmann::json::object();   // eval.json "methods" entries
  std::map<std::string, std::vector<double>> columns;  // predictions.csv columns, one value per trajectory
  std::vector<std::vector<int>> example_states;        // per-step states of the first trajectories (the
                                                       // example figure takes the first scorer's)
};

struct Scorer {
  const char* name;
  bool (*applies)(const Context&);
  Scores (*score)(const Context&);
};

// Every scorer, in the order they run.
const std::vector<Scorer>& scorers();

// Whether the step-size estimators run (sigma labels, a one-state spec, or a file without a spec):
// they set the shortest trajectory eval accepts.
bool sigma_estimators_apply(const EvalData& d, const SimSpec* spec);

}  // namespace sptrain::eval
