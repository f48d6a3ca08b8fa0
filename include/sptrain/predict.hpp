// `sptrain predict`: a trained run applied to unlabelled tracks of any length (units, gaps), and
// the piece `sptrain eval` shares with it: the run's model loaded from its checkpoint and run on
// host data (the decoding of per-step states both use is in sptrain/decode.hpp).
//
//   Predictor m(load_run_config(run), run, Device::cpu());   // sptrain/predictor.hpp
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
#include "sptrain/predictor.hpp"
#include "sptrain/train.hpp"
#include "sptrain/trajectory_read.hpp"

namespace sptrain {


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
