// Layers as objects: what one layer type does (its [layer.NAME] keys, shape inference, parameter
// and state counts, initialization, forward and backward on a Backend, its name in the summary,
// the buffers it needs), and the registry that maps a TOML `type` name to it. Model runs the graph
// (buffers, order, gradient edges) and asks each node's Layer for the rest.
//
// A new layer type is a class deriving from Layer plus one register_layer() call; library users
// and tests may register their own:
//
//   struct Scale : Layer { ... };                       // per-channel y = a_c * x
//   register_layer("scale", std::make_shared<Scale>());
//   // [layer.s]  type = "scale"  inputs = ["input"]
//
// Layers are stateless (their options live in LayerSpec, their tensors in the Model's buffers),
// so one instance serves every model that uses the type.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/model.hpp"

namespace sptrain {

namespace cfg {
class Reader;
}
namespace onnx {
class Graph;
}

// The keys of one [layer.NAME] table, read with the config's checks (types, ranges) and errors
// naming "layer.NAME.key". k below is the key inside the table ("filters").
class LayerTable {
 public:
  LayerTable(const cfg::Reader& r, std::string name) : r_(r), name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  std::string key(const std::string& k) const { return "layer." + name_ + "." + k; }  // for errors
  bool has(const std::string& k) const;
  double number(const std::string& k, double def) const;
  double number(const std::string& k, double def, double lo, double hi) const;
  int64_t integer(const std::string& k, int64_t def) const;
  std::string string(const std::string& k, const std::string& def) const;
  bool boolean(const std::string& k, bool def) const;
  std::vector<int64_t> int_list(const std::string& k) const;

 private:
  const cfg::Reader& r_;
  std::string name_;
};

// Result of shape inference for one layer.
struct LayerShape {
  Shape out;
  int64_t params = 0;  // trainable parameters
  int64_t state = 0;   // non-trainable state (running statistics)
};

// Per-layer buffers beyond the output y and its gradient dy, each (max_batch, T_out, C_out)
// unless said otherwise.
struct LayerBuffers {
  bool alias = false;           // y and dy are the (single) input's: Flatten, Reshape
  bool argmax = false;          // int32 indices, for pooling backward
  bool saved_stats = false;     // save_mean, save_invstd: C_out floats each (BatchNorm)
};

// Initialization of one layer's slices of the parameter and state slabs (host memory, zero on
// entry). Random draws are counter-based: draw i of layer `index` is the same on every machine.
struct LayerInit {
  uint64_t key = 0;    // derived from the model's init seed
  uint64_t index = 0;  // the layer's position in the graph
  std::vector<Shape> in;
  Shape out;
  float* w = nullptr;  // this layer's parameters (params() entries)
  float* s = nullptr;  // this layer's state (state() entries)
  float uniform(uint64_t draw) const;  // U[0, 1)
  float normal(uint64_t draw) const;   // N(0, 1)
};

// One forward or backward call of one layer, on the backend's memory. n rows (examples).
struct LayerPass {
  Backend& be;
  int n = 0;
  bool training = false;
  const std::vector<const float*>& x;  // inputs, (n, in[k].T, in[k].C)
  const std::vector<Shape>& in;
  Shape out;
  float* y = nullptr;   // output (n, out.T, out.C)
  float* dy = nullptr;  // gradient w.r.t. y (backward; may be overwritten, e.g. through an activation)
  // Gradient buffers of the inputs (backward): add into them; null where an input needs none.
  const std::vector<float*>& dx;
  float* scratch = nullptr;  // room for the largest activation (null in a model of built-in layers that needs none)
  float* P = nullptr;        // this layer's parameters
  float* G = nullptr;        // their gradients (accumulate)
  float* S = nullptr;        // this layer's state
  int32_t* argmax = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
  // True when this layer is the first in the backward pass to write the first input's gradient
  // (set by the model for layers whose Layer::computes_dx() is true): dx[0] then holds nothing
  // yet, is not zero-filled, and the layer computes into it directly.
  bool dx_direct = false;
  // Training passes of a data-parallel run with dist.batchnorm = "sync": the ranks whose BatchNorm
  // statistics are combined (null: each batch's own).
  BatchNormSync* bn_sync = nullptr;
  // Where to compute the first input's whole gradient: dx[0] itself when dx_direct, else scratch,
  // which add_dx() then adds into dx[0] (so gradients of an input read by several layers sum).
  float* dx_out() const { return dx_direct ? dx[0] : scratch; }
  void add_dx(size_t count) const {
    if (dx[0] && !dx_direct) be.axpy(1.0f, scratch, dx[0], count);
  }
};

// One layer's part of an exported ONNX graph (sptrain/onnx.hpp). Tensors in the graph are laid out
// (N, C, T), as ONNX's Conv and pooling want them; the exporter transposes the model's input and
// output once. The weights are host copies in the layer's slab order.
struct LayerExport {
  onnx::Graph& g;
  const std::vector<std::string>& x;  // input tensors, (N, in[k].C, in[k].T)
  const std::vector<Shape>& in;
  Shape out;
  const std::string& y;  // the tensor to write, (N, out.C, out.T)
  const float* P = nullptr;  // this layer's parameters
  const float* S = nullptr;  // this layer's state
  // The time axis is sized at run time: no node may depend on in[k].T or out.T (the shapes are
  // those of the trained length).
  bool any_length = false;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // "Conv1D", as the Keras summary names it.
  virtual std::string keras_name() const = 0;
  // The built-in type, for readers of a spec that recognise them; Custom for registered layers.
  virtual LayerType type() const { return LayerType::Custom; }
  // Number of inputs accepted.
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }
  // The [layer.NAME] keys it reads, besides `type` and `inputs` (others are refused).
  virtual std::vector<std::string> keys() const { return {}; }
  // Reads its keys into l (built-in options, or l.options for a layer's own).
  virtual void parse(const LayerTable& t, LayerSpec& l) const {
    (void)t;
    (void)l;
  }
  // Output shape and counts from the input shapes; throws KeyError naming "layer.NAME.key".
  virtual LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const = 0;
  virtual LayerBuffers buffers(const LayerSpec& l) const {
    (void)l;
    return {};
  }
  // Receptive field through this layer: on entry the largest (field, jump) of its inputs (field:
  // input steps one output step sees; jump: input steps between neighbouring output steps); a
  // layer widens them. The default is a per-step layer (no change); a layer whose outputs see the
  // whole input (global pooling, flatten) sets field to kWholeInput.
  static constexpr int64_t kWholeInput = int64_t(1) << 40;
  virtual void receptive_field(const LayerSpec& l, int64_t& field, int64_t& jump) const {
    (void)l;
    (void)field;
    (void)jump;
  }
  // The summary prints "(None, C)" instead of "(None, T, C)".
  virtual bool flat_summary() const { return false; }
  virtual void init(const LayerSpec& l, const LayerInit& c) const {
    (void)l;
    (void)c;
  }
  virtual void forward(const LayerSpec& l, const LayerPass& p) const = 0;
  // Parameter gradients into p.G (accumulate), input gradients into p.dx (add into them; a layer
  // with computes_dx() computes its input's whole gradient at p.dx_out(), then calls add_dx()).
  virtual void backward(const LayerSpec& l, const LayerPass& p) const = 0;
  // True when backward computes the (single) input's whole gradient at p.dx_out() and then calls
  // p.add_dx(): the model may then let it write the gradient buffer directly, without a zero fill
  // and an add, where it is the buffer's first writer. False (the default): backward adds into
  // p.dx, which the model zero-fills first.
  virtual bool computes_dx() const { return false; }
  // Its nodes of an ONNX graph, computing e.y from e.x in inference mode. The default throws
  // UsageError naming the layer: a layer without an ONNX form cannot be exported.
  virtual void export_onnx(const LayerSpec& l, const LayerExport& e) const;
};

// The registry. register_layer throws UsageError if the name is taken. Types are listed in
// registration order (the built-ins first).
void register_layer(const std::string& type, std::shared_ptr<const Layer> layer);
const Layer* find_layer(const std::string& type);  // null if unknown
std::vector<std::string> layer_types();              // the names a config may use (not "input")
// Every key some registered layer reads (its keys(), besides type and inputs), once each.
std::vector<std::string> layer_keys();
// The Layer of a spec: by l.kind, or by the built-in l.type when kind is empty. Throws KeyError
// ("layer.NAME.type") for an unknown kind.
const Layer& layer_of(const LayerSpec& l);
// Input steps one output step of the model sees (Layer::kWholeInput when every one).
int64_t receptive_field(const ModelSpec& spec);
// A spec of the registered type `type` (kind and type set), named, with its inputs.
LayerSpec make_layer(const std::string& name, const std::string& type, std::vector<std::string> inputs);

}  // namespace sptrain
