// Model graph: shape inference and parameter counting (analyze), the Keras-style summary, and
// forward/backward over the layers on a Backend. The graph runner owns the buffers, the order and
// the gradient edges; what each layer computes is its Layer's (src/engine/layers/). Each layer's
// input gradients are added into the gradient buffer of the node it reads, so fan-out (parallel
// branches on one input) sums correctly.
#include "sptrain/model.hpp"
#include "sptrain/layer.hpp"

#include "engine/layer_scope.hpp"
#include "engine/layers/common.hpp"
#include "engine/seeds.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "philox_normal.cuh"
#include "sptrain/error.hpp"

namespace sptrain {

using layers::key;

float LayerInit::uniform(uint64_t draw) const { return rng::uniform_at(rng::philox_key(key), index, draw); }
float LayerInit::normal(uint64_t draw) const { return rng::normal_at(rng::philox_key(key), index, draw); }

ModelInfo analyze(const ModelSpec& spec) {
  ModelInfo info;
  std::map<std::string, int> index;
  if (spec.layers.empty() || layer_of(spec.layers[0]).type() != LayerType::Input)
    throw KeyError("layer", "the first layer must be the input", "the input is added automatically");
  if (spec.T_in < 1 || spec.C_in < 1)
    throw KeyError("model.input", "input shape (" + std::to_string(spec.T_in) + ", " + std::to_string(spec.C_in) + ") is empty",
                   "T >= 1 and C >= 1");
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (index.count(l.name)) throw KeyError("layer." + l.name, "name used twice", "unique layer names");
    std::vector<Shape> in;
    for (const auto& nm : l.inputs) {
      auto it = index.find(nm);
      if (it == index.end())
        throw KeyError(key(l, "inputs"), "'" + nm + "' is not an earlier layer", "names of layers defined above, or \"input\"");
      in.push_back(info.shapes[it->second]);
    }
    const Layer& layer = layer_of(l);
    if (layer.type() == LayerType::Input) {
      if (i != 0) throw KeyError(key(l, "type"), "only the first layer is the input", "");
      in = {Shape{spec.T_in, spec.C_in}};
    } else {
      const size_t lo = size_t(layer.min_inputs()), hi = size_t(layer.max_inputs());
      if (in.size() < lo || in.size() > hi)
        throw KeyError(key(l, "inputs"), std::to_string(in.size()) + " inputs",
                       lo == hi ? "exactly " + std::to_string(lo) : "at least " + std::to_string(lo));
    }
    const LayerShape ls = layer.infer(l, in);
    const Shape out = ls.out;
    const int64_t p = ls.params, st = ls.state;
    info.shapes.push_back(out);
    info.params.push_back(p);
    info.state.push_back(st);
    info.trainable += p;
    info.non_trainable += st;
    index[l.name] = int(i);
  }
  if (spec.output.empty()) {
    info.output_index = int(spec.layers.size()) - 1;
  } else {
    auto it = index.find(spec.output);
    if (it == index.end()) throw KeyError("model.output", "'" + spec.output + "' is not a layer", "a layer name");
    info.output_index = it->second;
  }
  return info;
}

std::string summary(const ModelSpec& spec) {
  ModelInfo info = analyze(spec);
  std::ostringstream o;
  o << "Model: \"" << spec.name << "\"\n";
  const std::string rule(98, '_'), dbl(98, '=');
  o << rule << "\n"
    << std::left << std::setw(34) << " Layer (type)" << std::setw(20) << "Output Shape" << std::setw(12) << "Param #"
    << "Connected to\n"
    << dbl << "\n";
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& l = spec.layers[i];
    std::string shape = "(None, " + std::to_string(info.shapes[i].T) + ", " + std::to_string(info.shapes[i].C) + ")";
    const Layer& layer = layer_of(l);
    if (layer.flat_summary()) shape = "(None, " + std::to_string(info.shapes[i].C) + ")";
    std::string inputs;
    for (const auto& nm : l.inputs) inputs += (inputs.empty() ? "" : ", ") + nm;
    o << " " << std::setw(33) << (l.name + " (" + layer.keras_name() + ")") << std::setw(20) << shape << std::setw(12)
      << (info.params[i] + info.state[i]) << inputs << "\n";
  }
  o << dbl << "\n"
    << "Total params: " << info.trainable + info.non_trainable << "\n"
    << "Trainable params: " << info.trainable << "\n"
    << "Non-trainable params: " << info.non_trainable << "\n"
    << rule << "\n";
  return o.str();
}

// ---------------------------------------------------------------------------------------------

struct Model::Node {
  const LayerSpec* l = nullptr;
  const Layer* layer = nullptr;
  std::vector<Shape> in;  // input shapes
  Shape out;
  std::vector<int> inputs;
  int consumers = 0;
  int64_t poff = 0, soff = 0;
  // Raw views of buffers Model owns (owned_, owned_i32_), or of the input's for aliases.
  float* y = nullptr;      // output (max_batch, T, C)
  float* dy = nullptr;     // gradient w.r.t. y
  bool alias = false;      // Flatten / Reshape: y and dy are the input's
  bool needs_grad = true;  // false for the input and aliases of it
  bool dx_direct = false;  // backward writes its input's gradient buffer first, directly
  bool fill_dy = true;     // dy is zero-filled before a backward pass (nothing writes it whole)
  int32_t* argmax = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
  // Per-pass views handed to the layer: input outputs and gradient buffers (null: none needed).
  std::vector<const float*> x;
  std::vector<float*> dx;
};

namespace {

// How the backward pass treats the gradient edges, from the graph alone (Model's constructor and
// model_memory both follow it). A layer's output gradient buffer belongs to the layer, or for an
// alias (Flatten, Reshape) to the layer its input's buffers belong to; the input has none. The
// first writer of a buffer in the backward pass (the last layer reading it, aliases seen through)
// computes into it directly when it computes its single input's whole gradient: that buffer then
// needs no zero fill and the layer no add. The output's gradient is copied in whole.
struct GradientPlan {
  std::vector<int> owner;    // per layer: whose buffers it uses (-1: the input's, none)
  std::vector<char> direct;  // per layer: writes its input's gradient buffer directly
  std::vector<char> fill;    // per layer: its gradient buffer is zero-filled before a backward pass
  bool scratch = false;      // some layer computes an input gradient in the scratch, or may use it
};

GradientPlan plan_gradients(const ModelSpec& spec, const ModelInfo& info) {
  const size_t L = spec.layers.size();
  GradientPlan g;
  g.owner.assign(L, -1);
  g.direct.assign(L, 0);
  g.fill.assign(L, 0);
  std::map<std::string, int> index;
  std::vector<std::vector<int>> inputs(L);
  for (size_t i = 0; i < L; ++i) {
    const LayerSpec& l = spec.layers[i];
    for (const auto& nm : l.inputs) inputs[i].push_back(index.at(nm));
    index[l.name] = int(i);
    if (i > 0) g.owner[i] = layer_of(l).buffers(l).alias ? g.owner[size_t(inputs[i][0])] : int(i);
  }
  const int out = g.owner[size_t(info.output_index)];
  std::set<int> written, direct;
  for (size_t i = L - 1; i >= 1; --i) {
    if (g.owner[i] != int(i)) continue;  // an alias: it shares its input's gradient buffer
    const Layer& layer = layer_of(spec.layers[i]);
    bool input_gradient = false;
    for (const int k : inputs[i]) {
      const int b = g.owner[size_t(k)];
      if (b < 0) continue;
      input_gradient = true;
      if (inputs[i].size() == 1 && layer.computes_dx() && b != out && !written.count(b)) {
        g.direct[i] = 1;
        direct.insert(b);
      }
      written.insert(b);
    }
    // A layer that computes its input's gradient and is not its buffer's first writer computes it
    // in the scratch (and adds it). Where the input needs no gradient the built-in layers compute
    // none, but BatchNorm, whose one backward op computes it with the parameter gradients, still
    // writes it into the scratch. A registered layer may use the scratch as it likes.
    if ((layer.computes_dx() && !g.direct[i] && (input_gradient || layer.type() == LayerType::BatchNorm)) ||
        layer.type() == LayerType::Custom)
      g.scratch = true;
  }
  for (size_t i = 1; i < L; ++i) g.fill[i] = g.owner[i] == int(i) && g.owner[i] != out && !direct.count(g.owner[i]);
  return g;
}

}  // namespace

MemoryAccount model_memory(const ModelSpec& spec, int64_t max_batch) {
  const ModelInfo info = analyze(spec);
  const GradientPlan plan = plan_gradients(spec, info);
  MemoryAccount a;
  a.micro_batch = max_batch;
  auto add = [&](std::string name, TensorRole role, int layer, size_t elements, size_t element_bytes, bool per_sample) {
    a.tensors.push_back({std::move(name), role, layer, std::max<size_t>(elements, 1), element_bytes, per_sample});
  };
  const size_t B = size_t(max_batch);
  size_t largest = 0;
  for (const Shape& s : info.shapes) largest = std::max(largest, size_t(s.T) * size_t(s.C));
  add("params", TensorRole::Parameters, -1, size_t(info.trainable), sizeof(float), false);
  add("grads", TensorRole::ParameterGradients, -1, size_t(info.trainable), sizeof(float), false);
  add("state", TensorRole::RunningStats, -1, size_t(info.non_trainable), sizeof(float), false);
  if (plan.scratch) add("scratch", TensorRole::Scratch, -1, B * largest, sizeof(float), true);
  for (size_t i = 1; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const LayerBuffers b = layer_of(l).buffers(l);
    if (b.alias) continue;
    const size_t sz = B * info.shapes[i].T * info.shapes[i].C;
    add(l.name + "/y", TensorRole::Activation, int(i), sz, sizeof(float), true);
    add(l.name + "/dy", TensorRole::Gradient, int(i), sz, sizeof(float), true);
    if (b.argmax) add(l.name + "/argmax", TensorRole::PoolIndices, int(i), sz, sizeof(int32_t), true);
    if (b.saved_stats) {
      add(l.name + "/save_mean", TensorRole::SavedStats, int(i), size_t(info.shapes[i].C), sizeof(float), false);
      add(l.name + "/save_invstd", TensorRole::SavedStats, int(i), size_t(info.shapes[i].C), sizeof(float), false);
    }
  }
  return a;
}

Model::Model(const ModelSpec& spec, Backend& backend, int max_batch, uint64_t init_seed)
    : Model(spec, backend, max_batch, nullptr, "") {
  init_params(init_seed);
}

Model::Model(const ModelSpec& spec, Model& base, int max_batch, const std::string& name_prefix)
    : Model(spec, base.be_, max_batch, &base, name_prefix) {}

// base: share its slabs (null: allocate them); prefix: before every buffer's name.
Model::Model(const ModelSpec& spec, Backend& backend, int max_batch, Model* base, const std::string& prefix)
    : spec_(spec), info_(analyze(spec)), be_(backend), max_batch_(max_batch) {
  if (base) {
    const ModelInfo& b = base->info_;
    if (info_.trainable != b.trainable || info_.non_trainable != b.non_trainable || info_.params != b.params ||
        info_.state != b.state)
      throw UsageError("model: its parameters at input length " + std::to_string(spec.T_in) +
                       " differ from those at " + std::to_string(base->spec_.T_in) +
                       " (only a network whose weights do not depend on the length runs at several)");
    p_ = base->p_;
    g_ = base->g_;
    s_ = base->s_;
  }
  if (max_batch < 1) throw UsageError("model: batch size must be >= 1");
  std::map<std::string, int> index;
  nodes_.resize(spec_.layers.size());
  int64_t poff = 0, soff = 0;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    Node& nd = nodes_[i];
    nd.l = &spec_.layers[i];
    nd.layer = &layer_of(*nd.l);
    nd.out = info_.shapes[i];
    for (const auto& nm : nd.l->inputs) {
      nd.inputs.push_back(index.at(nm));
      nodes_[index.at(nm)].consumers++;
      nd.in.push_back(nodes_[index.at(nm)].out);
    }
    if (i == 0) nd.in = {Shape{spec_.T_in, spec_.C_in}};
    nd.x.assign(nd.inputs.size(), nullptr);
    nd.dx.assign(nd.inputs.size(), nullptr);
    nd.poff = poff;
    nd.soff = soff;
    poff += info_.params[i];
    soff += info_.state[i];
    index[nd.l->name] = int(i);
    nd.alias = i > 0 && nd.layer->buffers(*nd.l).alias;
  }
  // Every buffer is the memory account's (model_memory), allocated in its order under its name;
  // per-layer buffers are owned by owned_ / owned_i32_, and the nodes hold their raw pointers.
  for (const TensorAccount& t : model_memory(spec_, max_batch).tensors) {
    const std::string named = prefix + t.name;
    const char* what = named.c_str();
    Node* nd = t.layer >= 0 ? &nodes_[size_t(t.layer)] : nullptr;
    auto own = [&] { return owned_.emplace_back(be_.alloc<float>(t.elements, what)).get(); };
    switch (t.role) {
      case TensorRole::Parameters:
        if (!base) {
          params_ = be_.alloc<float>(t.elements, what);
          p_ = params_.get();
        }
        break;
      case TensorRole::ParameterGradients:
        if (!base) {
          grads_ = be_.alloc<float>(t.elements, what);
          g_ = grads_.get();
        }
        break;
      case TensorRole::RunningStats:
        if (!base) {
          state_ = be_.alloc<float>(t.elements, what);
          s_ = state_.get();
        }
        break;
      case TensorRole::Scratch: scratch_ = be_.alloc<float>(t.elements, what); break;
      case TensorRole::Activation: nd->y = own(); break;
      case TensorRole::Gradient: nd->dy = own(); break;
      case TensorRole::PoolIndices: nd->argmax = owned_i32_.emplace_back(be_.alloc<int32_t>(t.elements, what)).get(); break;
      case TensorRole::SavedStats: (nd->save_mean ? nd->save_invstd : nd->save_mean) = own(); break;
      default: throw std::logic_error("model_memory: " + t.name + " is no model tensor");
    }
  }
  // Aliases take their input's buffers (resolved in order, so chains work).
  nodes_[0].needs_grad = false;
  for (size_t i = 1; i < nodes_.size(); ++i)
    if (nodes_[i].alias) {
      const Node& src = nodes_[nodes_[i].inputs[0]];
      nodes_[i].y = src.y;  // null for an alias of the input: set per forward
      nodes_[i].dy = src.dy;
      nodes_[i].needs_grad = src.needs_grad;
    }
  for (size_t i = 1; i < nodes_.size(); ++i)
    for (size_t k = 0; k < nodes_[i].inputs.size(); ++k) {
      const Node& src = nodes_[nodes_[i].inputs[k]];
      nodes_[i].dx[k] = src.needs_grad ? src.dy : nullptr;
    }
  const GradientPlan plan = plan_gradients(spec_, info_);
  for (size_t i = 1; i < nodes_.size(); ++i) {
    nodes_[i].dx_direct = plan.direct[i];
    nodes_[i].fill_dy = plan.fill[i];
  }
}

Model::~Model() = default;

void Model::init_params(uint64_t seed) {
  std::vector<float> p(std::max<int64_t>(info_.trainable, 1), 0.0f), s(std::max<int64_t>(info_.non_trainable, 1), 0.0f);
  LayerInit c;
  c.key = seed ^ seeds::kInit;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const Node& nd = nodes_[i];
    c.index = i;
    c.in = nd.in;
    c.out = nd.out;
    c.w = p.data() + nd.poff;
    c.s = s.data() + nd.soff;
    nd.layer->init(*nd.l, c);
  }
  be_.upload(p_, p.data(), p.size());
  be_.upload(s_, s.data(), s.size());
  zero_grads();
}

std::vector<std::string> Model::zero_filled_gradients() const {
  std::vector<std::string> names;
  for (size_t i = 1; i < nodes_.size(); ++i)
    if (!nodes_[i].alias && nodes_[i].fill_dy) names.push_back(nodes_[i].l->name);
  return names;
}

void Model::zero_grads() { be_.fill(g_, 0.0f, std::max<int64_t>(info_.trainable, 1)); }

const float* Model::forward(const float* x, int n, bool training) {
  if (n < 1 || n > max_batch_)
    throw std::logic_error("model forward: batch " + std::to_string(n) + " outside [1, " + std::to_string(max_batch_) + "]");
  n_ = n;
  input_ = x;
  auto out_of = [&](int j) -> const float* { return j == 0 ? input_ : nodes_[j].y; };
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Node& nd = nodes_[i];
    for (size_t k = 0; k < nd.inputs.size(); ++k) nd.x[k] = out_of(nd.inputs[k]);
    if (nd.alias) {  // the same buffer as the input
      nd.y = const_cast<float*>(nd.x[0]);
      continue;
    }
    const ScopedLayer scope(nd.l->name.c_str());  // names the layer in device errors
    nd.layer->forward(*nd.l, pass(nd, training));
  }
  return nodes_[info_.output_index].y;
}

void Model::backward(const float* dy_out) {
  const int n = n_;
  // Zero the gradient buffers that layers add into; the output's gradient is the loss gradient.
  for (size_t i = 1; i < nodes_.size(); ++i)
    if (!nodes_[i].alias && nodes_[i].fill_dy) be_.fill(nodes_[i].dy, 0.0f, size_t(n) * nodes_[i].out.T * nodes_[i].out.C);
  const Node& on = nodes_[info_.output_index];
  be_.copy(on.dy, dy_out, size_t(n) * on.out.T * on.out.C);
  for (size_t i = nodes_.size() - 1; i >= 1; --i) {
    Node& nd = nodes_[i];
    if (nd.alias) continue;  // shares its input's gradient buffer
    const ScopedLayer scope(nd.l->name.c_str());
    nd.layer->backward(*nd.l, pass(nd, true));
  }
}

LayerPass Model::pass(Node& nd, bool training) {
  return LayerPass{be_,     n_,          training,        nd.x,         nd.in,        nd.out,
                   nd.y,    nd.dy,           nd.dx,        scratch_.get(), p_ + nd.poff,
                   g_ + nd.poff, s_ + nd.soff, nd.argmax, nd.save_mean, nd.save_invstd,
                   nd.dx_direct,       training ? bn_sync_ : nullptr};
}

}  // namespace sptrain
