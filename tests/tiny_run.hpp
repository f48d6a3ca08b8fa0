// Tiny trained runs for the tests of eval and predict: a run directory (config.toml, spec.toml,
// checkpoints, metrics) trained on the CPU in about a second, as `sptrain train` leaves it.
#pragma once
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/checkpoint.hpp"
#include "sptrain/device.hpp"
#include "sptrain/train.hpp"

namespace sptrain::test {

// A step-size estimator sqrt(w . dx^2) over 60 positions with log-uniform step sizes 0.5-5
// (MAPE about 7.5 % after training, beside the MLE's 7.2 %).
inline const char* const kSigmaSpec =
    "length = 60\n[states]\nprior = \"loguniform\"\nlow = 0.5\nhigh = 5.0\n"
    "[features]\nkind = \"squared_displacements\"\n";
inline const char* const kSigmaConfig =
    "[data]\nspec = \"spec.toml\"\nval_size = 200\ntest_size = 200\n[train]\nbatch = 200\n"
    "steps_per_epoch = 25\nepochs = 8\nloss = \"mape\"\nlr = 1e-2\n"
    "[layer.f]\ntype = \"flatten\"\ninputs = [\"input\"]\n"
    "[layer.s]\ntype = \"dense\"\ninputs = [\"f\"]\nunits = 1\nactivation = \"sqrt\"\n";

// The same estimator over 30 positions of one fixed step size, trained for a single step: a
// checkpoint to tamper with.
inline const char* const kOneStepSpec =
    "length = 30\n[states]\nsigma = [1.0]\n[features]\nkind = \"squared_displacements\"\n";
inline const char* const kOneStepConfig =
    "[data]\nspec = \"spec.toml\"\nval_size = 16\ntest_size = 16\n[train]\nbatch = 16\n"
    "steps_per_epoch = 1\nepochs = 1\nloss = \"mape\"\nlr = 1e-3\n"
    "[layer.f]\ntype = \"flatten\"\ninputs = [\"input\"]\n"
    "[layer.s]\ntype = \"dense\"\ninputs = [\"f\"]\nunits = 1\nactivation = \"sqrt\"\n";

// Trains dir/c.toml (with dir/spec.toml) into dir/run; returns the training results.
inline nlohmann::json train_run(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  auto cfg = load_train_config((dir / "c.toml").string());
  TrainOptions o;
  o.run_dir = (dir / "run").string();
  o.progress = false;
  fs::create_directories(o.run_dir);
  fs::copy_file(dir / "c.toml", dir / "run" / "config.toml");
  fs::copy_file(dir / "spec.toml", dir / "run" / "spec.toml");
  return train(cfg, Device::cpu(), o);
}

// Writes spec and config as dir/spec.toml and dir/c.toml and trains them into dir/run.
inline nlohmann::json train_run(const std::filesystem::path& dir, const std::string& spec, const std::string& config) {
  std::ofstream(dir / "spec.toml") << spec;
  std::ofstream(dir / "c.toml") << config;
  return train_run(dir);
}

// Rewrites the trainable parameters (float32 bytes, little-endian) of the run's best and last
// checkpoints, whichever exist, with edit.
inline void edit_params(const std::filesystem::path& run, const std::function<void(std::vector<char>&)>& edit) {
  for (const char* name : {"best.safetensors", "last.safetensors"}) {
    const std::string path = (run / name).string();
    if (!std::filesystem::exists(path)) continue;
    ckpt::Checkpoint c = ckpt::load(path);
    for (auto& ten : c.tensors)
      if (ten.name == "params") edit(ten.bytes);
    ckpt::save(c, path);
  }
}

}  // namespace sptrain::test
