// Option parsing and weight initialization shared by the built-in layers.
#include "engine/layers/common.hpp"

#include <cmath>

#include "activation.cuh"
#include "sptrain/error.hpp"
#include "sptrain/train.hpp"

namespace sptrain::layers {

int positive_option(const LayerTable& t, const std::string& k, int64_t def) {
  const int64_t v = t.integer(k, def);
  if (v < 1) throw KeyError(t.key(k), std::to_string(v) + " is not positive", ">= 1");
  const bool channels = k == "filters" || k == "units";
  const int64_t hi = channels ? kMaxChannels : kMaxWindow;
  if (v > hi) throw KeyError(t.key(k), std::to_string(v) + " is too large", "at most " + std::to_string(hi));
  return int(v);
}

void require_positive(const LayerSpec& l, int v, const std::string& k) {
  if (v < 1) throw KeyError(key(l, k), std::to_string(v) + " is not positive", ">= 1");
}

namespace {
Act parse_act(const std::string& k, const std::string& s) {
  if (s == "linear") return Act::Linear;
  if (s == "relu") return Act::ReLU;
  if (s == "elu") return Act::ELU;
  if (s == "leaky_relu") return Act::LeakyReLU;
  if (s == "tanh") return Act::Tanh;
  if (s == "sigmoid") return Act::Sigmoid;
  if (s == "softplus") return Act::Softplus;
  if (s == "sqrt") return Act::Sqrt;
  if (s == "log") return Act::Log;
  throw KeyError(k, "'" + s + "' is not an activation", "linear, relu, elu, leaky_relu, tanh, sigmoid, softplus, sqrt or log");
}
}  // namespace

void parse_activation(const LayerTable& t, LayerSpec& l) {
  l.activation = parse_act(t.key("activation"), t.string("activation", "linear"));
  l.alpha = float(t.number("alpha", l.activation == Act::ELU ? 1.0 : 0.3, -kMaxScalar, kMaxScalar));
}

void parse_init(const LayerTable& t, LayerSpec& l) {
  const std::string init = t.string("init", "glorot_uniform");
  if (init == "glorot_uniform") l.init = Init::GlorotUniform;
  else if (init == "he_normal") l.init = Init::HeNormal;
  else if (init == "zeros") l.init = Init::Zeros;
  else if (init == "mean") l.init = Init::Mean;
  else throw KeyError(t.key("init"), "'" + init + "' is not an initializer", "glorot_uniform, he_normal, zeros or mean");
}

void init_weights(const LayerInit& c, Init init, int64_t fan_in, int64_t fan_out, int64_t nw) {
  float* w = c.w;
  uint64_t draw = 0;
  for (int64_t j = 0; j < nw; ++j) {
    switch (init) {
      case Init::GlorotUniform: {  // U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))
        float limit = std::sqrt(6.0f / float(fan_in + fan_out));
        w[j] = limit * (2.0f * c.uniform(draw++) - 1.0f);
        break;
      }
      case Init::HeNormal: {  // Keras: truncated normal (2 std), std = sqrt(2/fan_in) / 0.8796
        float sd = std::sqrt(2.0f / float(fan_in)) / 0.87962566103423978f, z;
        do z = c.normal(draw++);
        while (std::abs(z) > 2.0f);
        w[j] = sd * z;
        break;
      }
      case Init::Zeros: w[j] = 0; break;
      case Init::Mean: w[j] = 1.0f / float(fan_in); break;
    }
  }
}

void onnx_activation(const LayerExport& e, Act act, float alpha, const std::string& x, const std::string& y) {
  onnx::Graph& g = e.g;
  switch (act) {
    case Act::Linear: g.node("Identity", {x}, {y}); return;
    case Act::ReLU: g.node("Relu", {x}, {y}); return;
    case Act::ELU: g.node("Elu", {x}, {y}, {onnx::attr_float("alpha", alpha)}); return;
    case Act::LeakyReLU: g.node("LeakyRelu", {x}, {y}, {onnx::attr_float("alpha", alpha)}); return;
    case Act::Tanh: g.node("Tanh", {x}, {y}); return;
    case Act::Sigmoid: g.node("Sigmoid", {x}, {y}); return;
    case Act::Softplus: g.node("Softplus", {x}, {y}); return;
    case Act::Sqrt: {  // the signed square root: sign(x) sqrt(|x|)
      const std::string a = g.unique(y + ".abs"), r = g.unique(y + ".sqrt"), s = g.unique(y + ".sign");
      g.node("Abs", {x}, {a});
      g.node("Sqrt", {a}, {r});
      g.node("Sign", {x}, {s});
      g.node("Mul", {s, r}, {y});
      return;
    }
    case Act::Log: {  // log(max(x, floor))
      const std::string floor = g.constant(y + ".floor", {}, {ops::kLogFloor}), m = g.unique(y + ".max");
      g.node("Max", {x, floor}, {m});
      g.node("Log", {m}, {y});
      return;
    }
  }
  throw std::logic_error("onnx_activation: unknown activation");
}

void onnx_conv(const LayerSpec& l, const LayerExport& e, int K, int F, const float* w, const float* b,
               std::vector<onnx::Attr> attrs, const std::string& z) {
  const int C = e.in[0].C;
  std::vector<float> wt(size_t(F) * C * K);
  for (int k = 0; k < K; ++k)
    for (int c = 0; c < C; ++c)
      for (int f = 0; f < F; ++f) wt[(size_t(f) * C + c) * K + k] = w[(size_t(k) * C + c) * F + f];
  std::vector<std::string> in = {e.x[0], e.g.constant(l.name + ".weight", {F, C, K}, wt)};
  if (b) in.push_back(e.g.constant(l.name + ".bias", {F}, std::vector<float>(b, b + F)));
  attrs.push_back(onnx::attr_ints("kernel_shape", {K}));
  e.g.node("Conv", in, {z}, attrs);
}

std::string onnx_pre_activation(const LayerSpec& l, const LayerExport& e) {
  return l.activation == Act::Linear ? e.y : e.g.unique(l.name + ".linear");
}

void onnx_fused_activation(const LayerSpec& l, const LayerExport& e, const std::string& z) {
  if (l.activation != Act::Linear) onnx_activation(e, l.activation, l.alpha, z, e.y);
}

}  // namespace sptrain::layers
