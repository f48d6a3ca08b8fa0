// Models: a graph of layers on (N, T, C) tensors, described in TOML ([layer.NAME] sections in
// order) or taken from the zoo (the 2020 report's Model 1 and Model 2), run on a Backend.
//
//   ModelSpec spec = zoo_model("model1", /*T_in=*/100, /*C_in=*/1, /*outputs=*/1);
//   Model m(spec, backend, /*max_batch=*/300, /*seed=*/1);
//   const float* y = m.forward(x_device, n, /*training=*/true);   // (n, T_out, C_out)
//   m.backward(dy_device);                                         // gradients accumulate in m.grads()
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/memory.hpp"

namespace sptrain {

struct LayerPass;

// The built-in layer types (each in src/engine/layers/), for code that recognises them; a layer
// registered outside the library (sptrain/layer.hpp) is Custom and named by LayerSpec::kind.
enum class LayerType {
  Input, Conv1D, Dense, Activation, MaxPool1D, GlobalMaxPool1D, BatchNorm, Concatenate, Flatten, Reshape, Softmax,
  Custom
};
enum class Padding { Valid, Same, Causal };
// Mean: every weight 1/fan_in, so a unit starts as the average of its inputs (a windowed mean).
enum class Init { GlorotUniform, HeNormal, Zeros, Mean };

// Options a registered layer parses for itself (derive, and cast back in the layer).
struct LayerOptions {
  virtual ~LayerOptions() = default;
};

// One layer of a graph: its name, type, inputs and options. kind is the registry name ("conv1d",
// ..., "input"; make_layer() sets it and type); when empty, the built-in type names the layer.
struct LayerSpec {
  std::string name;
  LayerType type = LayerType::Input;
  std::string kind;
  std::vector<std::string> inputs;
  // Options of the built-in layers (each layer's file says which it reads):
  // Conv1D / Dense
  int filters = 0;  // Conv1D filters, Dense units
  int kernel = 1, stride = 1, dilation = 1;
  Padding padding = Padding::Valid;
  bool bias = true;
  Act activation = Act::Linear;  // fused after Conv1D / Dense, or the Activation layer's function
  float alpha = 0;               // ELU alpha / LeakyReLU slope
  Init init = Init::GlorotUniform;
  // MaxPool1D
  int pool = 2, pool_stride = 0;  // 0: stride = pool
  // BatchNorm (Keras defaults)
  float momentum = 0.99f, eps = 1e-3f;
  // Concatenate
  bool concat_time = false;  // false: along channels (Keras axis=-1); true: along time (axis=1)
  // Reshape target (T, C)
  int reshape_T = 0, reshape_C = 0;
  // A registered layer's own options (its parse() sets them), shared by copies of the spec.
  std::shared_ptr<const LayerOptions> options;
};

struct ModelSpec {
  std::string name;
  int T_in = 0, C_in = 0;
  std::vector<LayerSpec> layers;  // topological order; layers[0] is the input
  std::string output;             // name of the output layer (default: the last)
};

// The report's models: "model1" (input T_in positions, C_in = 1; 1 output with ReLU),
// "model2" (Granik et al.: T_in displacements; `outputs` classes with softmax, or 1 output with
// ReLU for regression when outputs == 1 and `regression`), "model2_nobn" (the same without
// BatchNorm). Throws UsageError for an unknown name.
ModelSpec zoo_model(const std::string& name, int T_in, int C_in, int outputs, bool regression = false);
std::vector<std::string> zoo_names();

struct Shape {
  int T = 0, C = 0;
};

// Shapes, parameter counts and checks of a spec, without a backend (throws KeyError naming
// "layer.NAME.key" for any inconsistency: unknown input, shape mismatch, bad sizes).
struct ModelInfo {
  std::vector<Shape> shapes;          // per layer output
  std::vector<int64_t> params;        // trainable parameters per layer
  std::vector<int64_t> state;         // non-trainable (BatchNorm running statistics) per layer
  int64_t trainable = 0, non_trainable = 0;
  int output_index = 0;
};
ModelInfo analyze(const ModelSpec& spec);
// Keras-style table: layer (type), output shape, params, inputs; totals.
std::string summary(const ModelSpec& spec);
// Every tensor Model(spec, be, max_batch, seed) allocates, in the order it allocates them: the
// parameter, gradient and running-statistics slabs, the scratch (only where a layer computes an
// input gradient that it adds rather than writes, or the model has a registered layer, which may
// use it), then per layer its output,
// output gradient, pooling indices and saved BatchNorm statistics (Layer::buffers; none for an
// alias). Throws as analyze() does.
MemoryAccount model_memory(const ModelSpec& spec, int64_t max_batch);

class Model {
 public:
  Model(const ModelSpec& spec, Backend& backend, int max_batch, uint64_t init_seed);
  // The same network at another input length (spec: `base`'s with another T_in), sharing base's
  // parameter, gradient and running-statistics slabs (not owned; base must outlive it): a forward
  // and backward here train base's weights. Throws UsageError when the parameter layout differs
  // (the network does not run at that length). Its buffers are allocated under name_prefix + the
  // account's names (training_memory's "length<L>/").
  Model(const ModelSpec& spec, Model& base, int max_batch, const std::string& name_prefix = "");
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // x: device (n, T_in, C_in), n <= max_batch. Returns the output (n, T_out, C_out) on the device,
  // valid until the next forward. training: BatchNorm uses (and updates) batch statistics.
  const float* forward(const float* x, int n, bool training);
  // dy: device (n, T_out, C_out) for the last forward's n. Parameter gradients accumulate.
  void backward(const float* dy);

  Shape output_shape() const { return info_.shapes[info_.output_index]; }
  const ModelSpec& spec() const { return spec_; }
  const ModelInfo& info() const { return info_; }

  // Flat slabs on the device: trainable parameters and their gradients; BatchNorm running
  // statistics (mean then variance per BatchNorm layer).
  float* params() { return p_; }
  float* grads() { return g_; }
  float* state() { return s_; }
  int64_t n_params() const { return info_.trainable; }
  int64_t n_state() const { return info_.non_trainable; }
  void zero_grads();
  // Training passes from now on combine their BatchNorm statistics over the ranks of `sync`
  // (dist.batchnorm = "sync"); null, the default: each batch's own. Not owned.
  void set_batchnorm_sync(BatchNormSync* sync) { bn_sync_ = sync; }
  // The layers whose output gradient backward() zero-fills before the pass: those some layer adds
  // into. The others are written whole by the first layer that reads them (or, for the output,
  // copied from dy).
  std::vector<std::string> zero_filled_gradients() const;

 private:
  struct Node;
  Model(const ModelSpec& spec, Backend& backend, int max_batch, Model* base, const std::string& prefix);
  void init_params(uint64_t seed);
  LayerPass pass(Node& nd, bool training);  // the views handed to nd's Layer
  ModelSpec spec_;
  ModelInfo info_;
  Backend& be_;
  int max_batch_;
  int n_ = 0;
  Buffer<float> params_, grads_, state_;  // empty in a model that shares another's slabs
  float* p_ = nullptr;
  float* g_ = nullptr;
  float* s_ = nullptr;
  std::vector<Buffer<float>> owned_;      // per-layer outputs, gradients and BatchNorm saves
  std::vector<Buffer<int32_t>> owned_i32_;  // per-layer pooling argmax
  std::vector<Node> nodes_;
  const float* input_ = nullptr;
  BatchNormSync* bn_sync_ = nullptr;
  // The largest activation, for input gradients that are added, not written (and for registered
  // layers); not allocated when no layer needs it (model_memory).
  Buffer<float> scratch_;
};

}  // namespace sptrain
