// The Predictor: a trained model loaded from its run directory's checkpoint and run on host data
// in chunks, shared by `sptrain eval`, `sptrain predict`, the Python package and the trainer's
// evaluation passes (forward_in_chunks); one loader of a checkpoint's weights (check_weights).
//
//   Predictor m(load_run_config(run), run, Device::cpu());
//   std::vector<float> y = m.forward(positions, n, length);   // (n, T_out, C_out)
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/checkpoint.hpp"
#include "sptrain/device.hpp"
#include "sptrain/model.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

// The model of a run directory (config, spec, best.safetensors or else last.safetensors), ready
// to run on host positions. A model whose parameters do not depend on its input length (only
// convolutions, pooling, per-step dense layers and global pooling: no flatten, reshape or
// concatenation along time, and an output length that follows the input) runs at any length; any
// other model only at the length it was trained on.
class Predictor {
 public:
  Predictor(const TrainConfig& cfg, const std::string& run_dir, const Device& dev);
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  const std::string& checkpoint() const { return checkpoint_; }
  // The checkpoint's weights (host): trainable parameters and state, in the model's slab order.
  const std::vector<float>& params() const { return params_; }
  const std::vector<float>& state() const { return state_; }
  const TrainConfig& config() const { return cfg_; }
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

// Runs `model` in inference mode over n inputs (n, T_in, C_in) in host memory, in chunks of at most
// `chunk` (<= the model's batch capacity): for each chunk, each(out, off, m) gets the device output
// (m, T_out, C_out) of inputs [off, off + m), valid until the next chunk.
void forward_in_chunks(Model& model, Backend& be, const float* x, int64_t n, int64_t chunk,
                       const std::function<void(const float* out, int64_t off, int64_t m)>& each);

// Checks a checkpoint's weights against a model before anything is uploaded: `params` and `state`
// F32 vectors of exactly the lengths `info` needs, finite (UsageError naming the tensor otherwise).
void check_weights(const ckpt::Checkpoint& ck, const ModelInfo& info);

}  // namespace sptrain
