// Flatten ((T, C) -> (1, T * C)) and Reshape (to [T, C]): views of their input's buffers, so
// forward and backward do nothing (Model aliases the buffers).
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

#include "data/toml_config.hpp"

namespace sptrain::layers {

namespace {

class View : public Layer {
 public:
  // Every output element may come from any input step.
  void receptive_field(const LayerSpec&, int64_t& field, int64_t&) const override { field = kWholeInput; }
  LayerBuffers buffers(const LayerSpec&) const override {
    LayerBuffers b;
    b.alias = true;
    return b;
  }
  void forward(const LayerSpec&, const LayerPass&) const override {}
  void backward(const LayerSpec&, const LayerPass&) const override {}
  // The (T, C) row-major order of sptrain's buffers, reshaped: (N, C, T) -> (N, T, C) -> (N, T', C')
  // -> (N, C', T').
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    onnx::Graph& g = e.g;
    const std::string ntc = g.unique(l.name + ".ntc"), r = g.unique(l.name + ".reshaped");
    g.node("Transpose", {e.x[0]}, {ntc}, {onnx::attr_ints("perm", {0, 2, 1})});
    g.node("Reshape", {ntc, g.constant_int64(l.name + ".shape", {3}, {0, e.out.T, e.out.C})}, {r});
    g.node("Transpose", {r}, {e.y}, {onnx::attr_ints("perm", {0, 2, 1})});
  }
};

class Flatten : public View {
 public:
  std::string keras_name() const override { return "Flatten"; }
  LayerType type() const override { return LayerType::Flatten; }
  bool flat_summary() const override { return true; }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {{1, in[0].T * in[0].C}, 0, 0}; }
};

class Reshape : public View {
 public:
  std::string keras_name() const override { return "Reshape"; }
  LayerType type() const override { return LayerType::Reshape; }
  std::vector<std::string> keys() const override { return {"shape"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    cfg::require(t.has("shape"), t.key("shape"), "missing", "[T, C]");
    const auto v = t.int_list("shape");
    cfg::require(v.size() == 2, t.key("shape"), std::to_string(v.size()) + " values", "[T, C]");
    for (int64_t x : v)
      cfg::require(x >= 1 && x <= (int64_t(1) << 30), t.key("shape"), std::to_string(x) + " is out of range", "[T, C], each 1 to 2^30");
    l.reshape_T = int(v[0]);
    l.reshape_C = int(v[1]);
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    if (int64_t(l.reshape_T) * l.reshape_C != int64_t(in[0].T) * in[0].C || l.reshape_T < 1)
      throw KeyError(key(l, "shape"), "cannot reshape (" + std::to_string(in[0].T) + ", " + std::to_string(in[0].C) +
                                          ") to (" + std::to_string(l.reshape_T) + ", " + std::to_string(l.reshape_C) + ")",
                     "same number of elements");
    return {{l.reshape_T, l.reshape_C}, 0, 0};
  }
};

}  // namespace

std::shared_ptr<const Layer> flatten_layer() { return std::make_shared<Flatten>(); }
std::shared_ptr<const Layer> reshape_layer() { return std::make_shared<Reshape>(); }

}  // namespace sptrain::layers
