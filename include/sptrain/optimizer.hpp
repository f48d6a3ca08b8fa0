// Optimizers: objects that own their state slabs (named, for checkpoints) and update a flat
// parameter slab from its gradient slab on a Backend. One file per optimizer in src/engine/optim/,
// chosen by name from the registry (src/engine/optim/registry.cpp): a new optimizer is its file, its
// update body in kernels/optim.cuh with the two backend ops that run it, and one registry line.
//
//   auto opt = make_optimizer("adam", be, settings, layer_params);
//   opt->step(be, params, grads, n, step_scalars);  // lr, t, clip read from the device scalars
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/memory.hpp"

namespace sptrain {

// Hyperparameters every optimizer may read (TrainConfig's train.* keys; docs/train.md). The
// learning rate, the step count t and the clip norm are not here: they change per step and are read
// from the device step scalars (StepScalar), so a step needs no host round trip.
struct OptimizerSettings {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-7;  // Adam, LAMB
  double momentum = 0.0;                          // SGD, LARS
  bool nesterov = false;                          // SGD
  double weight_decay = 0.0;                      // LAMB, LARS
  double lars_eta = 1e-3;                         // LARS trust coefficient
};

class Optimizer {
 public:
  // A state slab of n_params floats, saved in checkpoints as tensor `name`. `legacy` is the name an
  // older version saved it under (read when `name` is absent), or empty.
  struct State {
    std::string name, legacy;
    Buffer<float> buf;
  };

  virtual ~Optimizer() = default;
  // Updates p (n floats) from g in place, reading s[kLr], s[kT], s[kClipNorm] and the squared
  // gradient norm s[kGradSq] (already computed); g may be scaled by the clip. Only asynchronous
  // backend calls (it runs inside a captured CUDA graph).
  virtual void step(Backend& be, float* p, float* g, size_t n, const double* s) = 0;

  std::vector<State>& state() { return state_; }
  const std::vector<State>& state() const { return state_; }

 protected:
  // Adds a zero-filled state slab of n floats.
  float* add_state(Backend& be, const std::string& name, size_t n, const std::string& legacy = "");
  // Adds the zero-filled state slab t of the optimizer's memory account (named t.name).
  float* add_state(Backend& be, const TensorAccount& t, const std::string& legacy = "");
  std::vector<State> state_;
};

// The trainable parameters of each layer, in slab order (ModelInfo::params); layer-wise
// optimizers (LAMB, LARS) take their trust ratios per non-empty layer.
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(Backend&, const OptimizerSettings&,
                                                                  const std::vector<int64_t>& layer_params)>;

// The tensors an optimizer allocates for a model with these layers, in the order it allocates them
// (its state slabs, then its scratch); its constructor allocates from the same list.
using OptimizerMemory = std::function<std::vector<TensorAccount>(const OptimizerSettings&,
                                                                 const std::vector<int64_t>& layer_params)>;

// The optimizer `name` for a model with these layers; UsageError naming the known optimizers.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Backend& be, const OptimizerSettings& s,
                                          const std::vector<int64_t>& layer_params);
// Registered names, in registry order ("adam", "sgd", "lamb", "lars", then any added at run time).
std::vector<std::string> optimizer_names();
// What optimizer `name` allocates (OptimizerMemory); UsageError as make_optimizer.
std::vector<TensorAccount> optimizer_memory(const std::string& name, const OptimizerSettings& s,
                                            const std::vector<int64_t>& layer_params);
// Adds (or replaces) an optimizer at run time, e.g. from a library caller or a test; state_names are
// the checkpoint tensors its State slabs are saved as. `memory` lists what it allocates; when
// null, its account is one slab of the parameter count per state name.
void register_optimizer(const std::string& name, OptimizerFactory factory, std::vector<std::string> state_names,
                        OptimizerMemory memory = nullptr);
// Every checkpoint tensor name an optimizer's state is saved under, now or by older versions (for
// readers that load only the weights and refuse unknown tensors).
std::vector<std::string> optimizer_state_tensors();
// The tensors every optimizer's state was saved as before optimizers named their state
// ("opt_m", "opt_v"; State::legacy names one of them).
const std::vector<std::string>& legacy_optimizer_state();

}  // namespace sptrain
