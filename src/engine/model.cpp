// Model graph: shape inference and parameter counting (analyze), the Keras-style summary, and
// forward/backward over the layers on a Backend. Each layer's input gradients are added into the
// gradient buffer of the node it reads, so fan-out (parallel branches on one input) sums correctly.
#include "sptrain/model.hpp"

#include "engine/layer_scope.hpp"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "philox_normal.cuh"
#include "sptrain/error.hpp"

namespace sptrain {

namespace {

const char* type_name(LayerType t) {
  switch (t) {
    case LayerType::Input: return "InputLayer";
    case LayerType::Conv1D: return "Conv1D";
    case LayerType::Dense: return "Dense";
    case LayerType::Activation: return "Activation";
    case LayerType::MaxPool1D: return "MaxPooling1D";
    case LayerType::GlobalMaxPool1D: return "GlobalMaxPooling1D";
    case LayerType::BatchNorm: return "BatchNormalization";
    case LayerType::Concatenate: return "Concatenate";
    case LayerType::Flatten: return "Flatten";
    case LayerType::Reshape: return "Reshape";
    case LayerType::Softmax: return "Softmax";
  }
  return "?";
}

struct Pads {
  int left = 0, right = 0;
};

Pads conv_pads(const LayerSpec& l, int T) {
  const int span = l.dilation * (l.kernel - 1);
  switch (l.padding) {
    case Padding::Valid: return {0, 0};
    case Padding::Causal: return {span, 0};
    case Padding::Same: {  // Keras: out = ceil(T / stride); (total)//2 on the left, the rest right
      int out = (T + l.stride - 1) / l.stride;
      int total = std::max((out - 1) * l.stride + span + 1 - T, 0);
      return {total / 2, total - total / 2};
    }
  }
  return {};
}

int pool_stride(const LayerSpec& l) { return l.pool_stride > 0 ? l.pool_stride : l.pool; }

std::string key(const LayerSpec& l, const std::string& k) { return "layer." + l.name + "." + k; }

}  // namespace

ModelInfo analyze(const ModelSpec& spec) {
  ModelInfo info;
  std::map<std::string, int> index;
  if (spec.layers.empty() || spec.layers[0].type != LayerType::Input)
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
    Shape out;
    int64_t p = 0, st = 0;
    auto need_inputs = [&](size_t lo, size_t hi) {
      if (in.size() < lo || in.size() > hi)
        throw KeyError(key(l, "inputs"), std::to_string(in.size()) + " inputs",
                       lo == hi ? "exactly " + std::to_string(lo) : "at least " + std::to_string(lo));
    };
    auto positive = [&](int v, const std::string& k) {
      if (v < 1) throw KeyError(key(l, k), std::to_string(v) + " is not positive", ">= 1");
    };
    switch (l.type) {
      case LayerType::Input:
        if (i != 0) throw KeyError(key(l, "type"), "only the first layer is the input", "");
        out = {spec.T_in, spec.C_in};
        break;
      case LayerType::Conv1D: {
        need_inputs(1, 1);
        positive(l.filters, "filters");
        positive(l.kernel, "kernel");
        positive(l.stride, "stride");
        positive(l.dilation, "dilation");
        Pads pd = conv_pads(l, in[0].T);
        int span = l.dilation * (l.kernel - 1);
        int T = (in[0].T + pd.left + pd.right - span - 1);
        if (T < 0)
          throw KeyError(key(l, "kernel"), "receptive field " + std::to_string(span + 1) + " exceeds the input length " +
                                               std::to_string(in[0].T), "a smaller kernel or dilation, or padding");
        out = {T / l.stride + 1, l.filters};
        p = int64_t(l.kernel) * in[0].C * l.filters + (l.bias ? l.filters : 0);
        break;
      }
      case LayerType::Dense:
        need_inputs(1, 1);
        positive(l.filters, "units");
        out = {in[0].T, l.filters};
        p = int64_t(in[0].C) * l.filters + (l.bias ? l.filters : 0);
        break;
      case LayerType::Activation:
      case LayerType::Softmax:
        need_inputs(1, 1);
        out = in[0];
        break;
      case LayerType::MaxPool1D: {
        need_inputs(1, 1);
        positive(l.pool, "pool");
        positive(pool_stride(l), "stride");
        if (in[0].T < l.pool)
          throw KeyError(key(l, "pool"), "pool " + std::to_string(l.pool) + " exceeds the input length " + std::to_string(in[0].T), "");
        out = {(in[0].T - l.pool) / pool_stride(l) + 1, in[0].C};
        break;
      }
      case LayerType::GlobalMaxPool1D:
        need_inputs(1, 1);
        out = {1, in[0].C};
        break;
      case LayerType::BatchNorm:
        need_inputs(1, 1);
        out = in[0];
        p = 2 * int64_t(in[0].C);
        st = 2 * int64_t(in[0].C);
        break;
      case LayerType::Concatenate: {
        need_inputs(2, 1 << 20);
        out = in[0];
        for (size_t j = 1; j < in.size(); ++j) {
          if (l.concat_time) {
            if (in[j].C != in[0].C)
              throw KeyError(key(l, "inputs"), "shape mismatch: '" + l.inputs[j] + "' has " + std::to_string(in[j].C) +
                                                   " channels, '" + l.inputs[0] + "' " + std::to_string(in[0].C),
                             "equal channels to concatenate along time");
            out.T += in[j].T;
          } else {
            if (in[j].T != in[0].T)
              throw KeyError(key(l, "inputs"), "shape mismatch: '" + l.inputs[j] + "' has length " + std::to_string(in[j].T) +
                                                   ", '" + l.inputs[0] + "' " + std::to_string(in[0].T),
                             "equal lengths to concatenate along channels");
            out.C += in[j].C;
          }
        }
        break;
      }
      case LayerType::Flatten:
        need_inputs(1, 1);
        out = {1, in[0].T * in[0].C};
        break;
      case LayerType::Reshape:
        need_inputs(1, 1);
        if (int64_t(l.reshape_T) * l.reshape_C != int64_t(in[0].T) * in[0].C || l.reshape_T < 1)
          throw KeyError(key(l, "shape"), "cannot reshape (" + std::to_string(in[0].T) + ", " + std::to_string(in[0].C) +
                                              ") to (" + std::to_string(l.reshape_T) + ", " + std::to_string(l.reshape_C) + ")",
                         "same number of elements");
        out = {l.reshape_T, l.reshape_C};
        break;
    }
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
    if (l.type == LayerType::Flatten || l.type == LayerType::GlobalMaxPool1D) shape = "(None, " + std::to_string(info.shapes[i].C) + ")";
    std::string inputs;
    for (const auto& nm : l.inputs) inputs += (inputs.empty() ? "" : ", ") + nm;
    o << " " << std::setw(33) << (l.name + " (" + type_name(l.type) + ")") << std::setw(20) << shape << std::setw(12)
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
  Shape in, out;  // in: first input's shape
  std::vector<int> inputs;
  int consumers = 0;
  Pads pads;
  int64_t poff = 0, soff = 0;
  // Raw views of buffers Model owns (owned_, owned_i32_), or of the input's for aliases.
  float* y = nullptr;      // output (max_batch, T, C)
  float* z = nullptr;      // pre-activation (Conv1D / Dense with an activation), else == y
  float* dy = nullptr;     // gradient w.r.t. y
  bool alias = false;      // Flatten / Reshape: y and dy are the input's
  bool needs_grad = true;  // false for the input and aliases of it
  int32_t* argmax = nullptr;
  float* save_mean = nullptr;
  float* save_invstd = nullptr;
};

Model::Model(const ModelSpec& spec, Backend& backend, int max_batch, uint64_t init_seed)
    : spec_(spec), info_(analyze(spec)), be_(backend), max_batch_(max_batch) {
  if (max_batch < 1) throw UsageError("model: batch size must be >= 1");
  std::map<std::string, int> index;
  nodes_.resize(spec_.layers.size());
  int64_t poff = 0, soff = 0;
  size_t largest = 0;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    Node& nd = nodes_[i];
    nd.l = &spec_.layers[i];
    nd.out = info_.shapes[i];
    for (const auto& nm : nd.l->inputs) {
      nd.inputs.push_back(index.at(nm));
      nodes_[index.at(nm)].consumers++;
    }
    if (!nd.inputs.empty()) nd.in = nodes_[nd.inputs[0]].out;
    nd.poff = poff;
    nd.soff = soff;
    poff += info_.params[i];
    soff += info_.state[i];
    index[nd.l->name] = int(i);
    largest = std::max(largest, size_t(max_batch) * nd.out.T * nd.out.C);
  }
  params_ = be_.alloc<float>(std::max<int64_t>(info_.trainable, 1));
  grads_ = be_.alloc<float>(std::max<int64_t>(info_.trainable, 1));
  state_ = be_.alloc<float>(std::max<int64_t>(info_.non_trainable, 1));
  scratch_ = be_.alloc<float>(largest);
  // Per-layer buffers are owned by owned_ / owned_i32_; nodes hold their raw pointers.
  auto own = [&](size_t n) { return owned_.emplace_back(be_.alloc<float>(n)).get(); };
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Node& nd = nodes_[i];
    const size_t sz = size_t(max_batch) * nd.out.T * nd.out.C;
    const LayerType t = nd.l->type;
    if (t == LayerType::Flatten || t == LayerType::Reshape) {
      nd.alias = true;
      continue;
    }
    nd.y = own(sz);
    nd.dy = own(sz);
    nd.z = nd.y;
    if ((t == LayerType::Conv1D || t == LayerType::Dense) && nd.l->activation != Act::Linear) nd.z = own(sz);
    if (t == LayerType::Conv1D) nd.pads = conv_pads(*nd.l, nd.in.T);
    if (t == LayerType::MaxPool1D || t == LayerType::GlobalMaxPool1D) nd.argmax = owned_i32_.emplace_back(be_.alloc<int32_t>(sz)).get();
    if (t == LayerType::BatchNorm) {
      nd.save_mean = own(nd.out.C);
      nd.save_invstd = own(nd.out.C);
    }
  }
  // Aliases take their input's buffers (resolved in order, so chains work).
  nodes_[0].needs_grad = false;
  for (size_t i = 1; i < nodes_.size(); ++i)
    if (nodes_[i].alias) {
      const Node& src = nodes_[nodes_[i].inputs[0]];
      nodes_[i].y = nodes_[i].z = src.y;  // null for an alias of the input: set per forward
      nodes_[i].dy = src.dy;
      nodes_[i].needs_grad = src.needs_grad;
    }
  init_params(init_seed);
}

Model::~Model() = default;

void Model::init_params(uint64_t seed) {
  std::vector<float> p(std::max<int64_t>(info_.trainable, 1), 0.0f), s(std::max<int64_t>(info_.non_trainable, 1), 0.0f);
  const rng::PhiloxKey key = rng::philox_key(seed ^ 0x5eed1a17e5ull);
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const Node& nd = nodes_[i];
    const LayerSpec& l = *nd.l;
    float* w = p.data() + nd.poff;
    if (l.type == LayerType::Conv1D || l.type == LayerType::Dense) {
      const int64_t fan_in = (l.type == LayerType::Conv1D ? l.kernel : 1) * int64_t(nd.in.C);
      const int64_t fan_out = (l.type == LayerType::Conv1D ? l.kernel : 1) * int64_t(l.filters);
      const int64_t nw = fan_in * l.filters;
      uint64_t draw = 0;
      for (int64_t j = 0; j < nw; ++j) {
        switch (l.init) {
          case Init::GlorotUniform: {  // U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))
            float limit = std::sqrt(6.0f / float(fan_in + fan_out));
            w[j] = limit * (2.0f * rng::uniform_at(key, i, draw++) - 1.0f);
            break;
          }
          case Init::HeNormal: {  // Keras: truncated normal (2 std), std = sqrt(2/fan_in) / 0.8796
            float sd = std::sqrt(2.0f / float(fan_in)) / 0.87962566103423978f, z;
            do z = rng::normal_at(key, i, draw++);
            while (std::abs(z) > 2.0f);
            w[j] = sd * z;
            break;
          }
          case Init::Zeros: w[j] = 0; break;
          case Init::Mean: w[j] = 1.0f / float(fan_in); break;
        }
      }
      // biases: zeros
    } else if (l.type == LayerType::BatchNorm) {
      for (int c = 0; c < nd.out.C; ++c) w[c] = 1.0f;  // gamma = 1, beta = 0
      for (int c = 0; c < nd.out.C; ++c) s[nd.soff + nd.out.C + c] = 1.0f;  // running var = 1
    }
  }
  be_.upload(params_.get(), p.data(), p.size());
  be_.upload(state_.get(), s.data(), s.size());
  zero_grads();
}

void Model::zero_grads() { be_.fill(grads_.get(), 0.0f, std::max<int64_t>(info_.trainable, 1)); }

const float* Model::forward(const float* x, int n, bool training) {
  if (n < 1 || n > max_batch_)
    throw std::logic_error("model forward: batch " + std::to_string(n) + " outside [1, " + std::to_string(max_batch_) + "]");
  n_ = n;
  input_ = x;
  auto out_of = [&](int j) -> const float* { return j == 0 ? input_ : nodes_[j].y; };
  for (size_t i = 1; i < nodes_.size(); ++i) {
    Node& nd = nodes_[i];
    const LayerSpec& l = *nd.l;
    const ScopedLayer scope(l.name.c_str());  // names the layer in device errors
    const float* in = out_of(nd.inputs[0]);
    float* P = params_.get() + nd.poff;
    const size_t out_n = size_t(n) * nd.out.T * nd.out.C;
    switch (l.type) {
      case LayerType::Input: break;
      case LayerType::Conv1D: {
        Conv1dDesc d{n, nd.in.T, nd.in.C, nd.out.T, l.filters, l.kernel, l.stride, l.dilation, nd.pads.left};
        be_.conv1d_forward(d, in, P, l.bias ? P + int64_t(l.kernel) * nd.in.C * l.filters : nullptr, nd.z);
        if (l.activation != Act::Linear) be_.act_forward(l.activation, l.alpha, nd.z, nd.y, out_n);
        break;
      }
      case LayerType::Dense:
        be_.dense_forward(n * nd.in.T, nd.in.C, l.filters, in, P, l.bias ? P + int64_t(nd.in.C) * l.filters : nullptr, nd.z);
        if (l.activation != Act::Linear) be_.act_forward(l.activation, l.alpha, nd.z, nd.y, out_n);
        break;
      case LayerType::Activation: be_.act_forward(l.activation, l.alpha, in, nd.y, out_n); break;
      case LayerType::Softmax: be_.softmax_forward(n * nd.out.T, nd.out.C, in, nd.y); break;
      case LayerType::MaxPool1D:
        be_.maxpool1d_forward(n, nd.in.T, nd.in.C, l.pool, pool_stride(l), in, nd.y, nd.argmax);
        break;
      case LayerType::GlobalMaxPool1D: be_.global_maxpool_forward(n, nd.in.T, nd.in.C, in, nd.y, nd.argmax); break;
      case LayerType::BatchNorm: {
        const int C = nd.out.C;
        float* S = state_.get() + nd.soff;
        if (training)
          be_.batchnorm_forward_train(n * nd.out.T, C, in, P, P + C, l.eps, l.momentum, S, S + C, nd.y, nd.save_mean,
                                      nd.save_invstd);
        else
          be_.batchnorm_forward_infer(n * nd.out.T, C, in, P, P + C, S, S + C, l.eps, nd.y);
        break;
      }
      case LayerType::Concatenate: {
        int off = 0;
        for (int j : nd.inputs) {
          const Shape s = nodes_[j].out;
          if (l.concat_time)
            be_.copy2d(n, s.T * s.C, out_of(j), s.T * s.C, nd.y + int64_t(off) * s.C, nd.out.T * nd.out.C), off += s.T;
          else
            be_.copy2d(n * s.T, s.C, out_of(j), s.C, nd.y + off, nd.out.C), off += s.C;
        }
        break;
      }
      case LayerType::Flatten:
      case LayerType::Reshape:  // aliases: the same buffer as the input
        nd.y = nd.z = const_cast<float*>(in);
        break;
    }
  }
  return nodes_[info_.output_index].y;
}

void Model::backward(const float* dy_out) {
  const int n = n_;
  // Zero all gradient buffers; the output's gradient is the loss gradient.
  for (size_t i = 1; i < nodes_.size(); ++i)
    if (!nodes_[i].alias) be_.fill(nodes_[i].dy, 0.0f, size_t(n) * nodes_[i].out.T * nodes_[i].out.C);
  const Node& on = nodes_[info_.output_index];
  be_.copy(on.dy, dy_out, size_t(n) * on.out.T * on.out.C);
  auto out_of = [&](int j) -> const float* { return j == 0 ? input_ : nodes_[j].y; };
  // Adds a computed input gradient (in scratch_) into node j's gradient; the input needs none.
  auto add_into = [&](int j, size_t count) {
    if (nodes_[j].needs_grad) be_.axpy(1.0f, scratch_.get(), nodes_[j].dy, count);
  };
  for (size_t i = nodes_.size() - 1; i >= 1; --i) {
    Node& nd = nodes_[i];
    const LayerSpec& l = *nd.l;
    if (nd.alias) continue;  // shares its input's gradient buffer
    const ScopedLayer scope(l.name.c_str());
    const int j0 = nd.inputs[0];
    const bool need_dx = nodes_[j0].needs_grad;
    const float* in = out_of(j0);
    float* P = params_.get() + nd.poff;
    float* G = grads_.get() + nd.poff;
    const size_t out_n = size_t(n) * nd.out.T * nd.out.C, in_n = size_t(n) * nd.in.T * nd.in.C;
    switch (l.type) {
      case LayerType::Input: break;
      case LayerType::Conv1D: {
        if (l.activation != Act::Linear) be_.act_backward(l.activation, l.alpha, nd.z, nd.y, nd.dy, nd.dy, out_n);
        Conv1dDesc d{n, nd.in.T, nd.in.C, nd.out.T, l.filters, l.kernel, l.stride, l.dilation, nd.pads.left};
        const int64_t nw = int64_t(l.kernel) * nd.in.C * l.filters;
        be_.conv1d_backward_filter(d, in, nd.dy, G, l.bias ? G + nw : nullptr);
        if (need_dx) {
          be_.conv1d_backward_data(d, nd.dy, P, scratch_.get());
          add_into(j0, in_n);
        }
        break;
      }
      case LayerType::Dense: {
        if (l.activation != Act::Linear) be_.act_backward(l.activation, l.alpha, nd.z, nd.y, nd.dy, nd.dy, out_n);
        const int64_t nw = int64_t(nd.in.C) * l.filters;
        be_.dense_backward(n * nd.in.T, nd.in.C, l.filters, in, P, nd.dy, need_dx ? scratch_.get() : nullptr, G,
                           l.bias ? G + nw : nullptr);
        add_into(j0, in_n);
        break;
      }
      case LayerType::Activation:
        if (need_dx) {
          be_.act_backward(l.activation, l.alpha, in, nd.y, nd.dy, scratch_.get(), out_n);
          add_into(j0, in_n);
        }
        break;
      case LayerType::Softmax:
        if (need_dx) {
          be_.softmax_backward(n * nd.out.T, nd.out.C, nd.y, nd.dy, scratch_.get());
          add_into(j0, in_n);
        }
        break;
      case LayerType::MaxPool1D:
        if (need_dx) {
          be_.maxpool1d_backward(n, nd.in.T, nd.out.T, nd.in.C, nd.argmax, nd.dy, scratch_.get());
          add_into(j0, in_n);
        }
        break;
      case LayerType::GlobalMaxPool1D:
        if (need_dx) {
          be_.global_maxpool_backward(n, nd.in.T, nd.in.C, nd.argmax, nd.dy, scratch_.get());
          add_into(j0, in_n);
        }
        break;
      case LayerType::BatchNorm: {
        const int C = nd.out.C;
        be_.batchnorm_backward(n * nd.out.T, C, in, nd.dy, P, nd.save_mean, nd.save_invstd, scratch_.get(), G, G + C);
        add_into(j0, in_n);
        break;
      }
      case LayerType::Concatenate: {
        int off = 0;
        for (int j : nd.inputs) {
          const Shape s = nodes_[j].out;
          if (nodes_[j].needs_grad) {
            if (l.concat_time)
              be_.add2d(n, s.T * s.C, nd.dy + int64_t(off) * s.C, nd.out.T * nd.out.C, nodes_[j].dy, s.T * s.C);
            else
              be_.add2d(n * s.T, s.C, nd.dy + off, nd.out.C, nodes_[j].dy, s.C);
          }
          off += l.concat_time ? s.T : s.C;
        }
        break;
      }
      case LayerType::Flatten:
      case LayerType::Reshape: break;
    }
  }
}

}  // namespace sptrain
