// `sptrain predict`: a trained run applied to unlabelled tracks of any length (units, gaps), and
// the piece `sptrain eval` shares with it: the run's model loaded from its checkpoint and run on
// host data (the decoding of per-step states both use is in sptrain/decode.hpp).
//
//   RunModel m(load_run_config(run), run, Device::cpu());
//   std::vector<float> y = m.forward(positions, n, length);   // (n, T_out, C_out)
//   auto lp = log_softmax_rows(y.data(), steps, K);
//   decode(DecodeRule::Single, lp, steps, K, {}, 0, path);
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/backend.hpp"
#include "sptrain/baselines.hpp"
#include "sptrain/decode.hpp"
#include "sptrain/device.hpp"
#include "sptrain/model.hpp"
#include "sptrain/train.hpp"
#include "sptrain/trajectory_read.hpp"

namespace sptrain {

// The model of a run directory (config, spec, best.safetensors or else last.safetensors), ready
// to run on host positions. A model whose parameters do not depend on its input length (only
// convolutions, pooling, per-step dense layers and global pooling: no flatten, reshape or
// concatenation along time, and an output length that follows the input) runs at any length; any
// other model only at the length it was trained on.
class RunModel {
 public:
  RunModel(const TrainConfig& cfg, const std::string& run_dir, const Device& dev);
  ~RunModel();
  RunModel(const RunModel&) = delete;
  RunModel& operator=(const RunModel&) = delete;

  const std::string& checkpoint() const { return checkpoint_; }
  // Whether the model runs at any input length (see above).
  bool any_length() const { return any_length_; }
  // Positions per trajectory the model was trained on.
  int train_length() const { return cfg_.spec.params.length; }
  // Whether `length` positions can be run: the trained length, or for an any-length model every
  // length whose layers fit (a valid-padded kernel or a pool needs a minimum length).
  bool runs_at(int length) const;
  // The shortest length runs_at accepts (2..train_length()).
  int min_length() const { return min_length_; }
  // Outputs (n, T_out, C_out) for positions (n, length, dims) on the host, computed in chunks
  // with the run's features. Throws UsageError when !runs_at(length).
  std::vector<float> forward(const float* positions, int64_t n, int length);
  Shape output_shape(int length) const;

 private:
  ModelSpec spec_at(int length) const;
  TrainConfig cfg_;
  std::unique_ptr<Backend> be_;
  std::unique_ptr<Model> model_;  // the model built for model_length_ positions
  int model_length_ = 0, model_chunk_ = 0;
  std::vector<float> params_, state_;
  std::string checkpoint_;
  bool any_length_ = false;
  int min_length_ = 2;
};

struct PredictRequest {
  std::string run_dir;  // trained run of `sptrain train`
  std::string input;    // tracks (any format read_trajectories reads)
  ReadOptions read;     // units, minimum length; gaps are allowed
  std::string out_dir;
  bool force = false;
  bool plots = true;
  Device device;
  std::string decode = "auto";  // auto, argmax, single, chain
  double switch_penalty = 0;    // argmax only: log-probability cost per change of state
  // "input": the model reads the positions as read (after --pixel-size); "px": divided by the
  // pixel size again (a model trained in pixels, outputs in micrometres). Needs read.pixel_size.
  std::string model_units = "input";
  bool quiet = false;           // no notes on stderr
};

// Runs the model on every track, writes out_dir/{predict.json, tracks.csv, steps.csv (per-step
// models), windows.csv (fixed-length models), figures}; returns predict.json plus "tracks_table"
// (header and rows of tracks.csv, for the stdout table).
nlohmann::json run_predict(const PredictRequest& r);
// The table printed on stdout for a predict.json.
std::string format_predict_table(const nlohmann::json& pj);

}  // namespace sptrain
