// Option parsing and weight initialization shared by the built-in layers.
#include "engine/layers/common.hpp"

#include <cmath>

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

}  // namespace sptrain::layers
