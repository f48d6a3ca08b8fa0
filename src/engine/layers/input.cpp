// The model input: the first layer of every graph, (T_in, C_in) from the spec; Model hands the
// caller's x on as its output.
#include "engine/layers/common.hpp"

namespace sptrain::layers {

namespace {

class Input : public Layer {
 public:
  std::string keras_name() const override { return "InputLayer"; }
  LayerType type() const override { return LayerType::Input; }
  int min_inputs() const override { return 0; }
  int max_inputs() const override { return 0; }
  // in: the model's input shape, given by Model.
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {in[0], 0, 0}; }
  void forward(const LayerSpec&, const LayerPass&) const override {}
  void backward(const LayerSpec&, const LayerPass&) const override {}
  // e.x: the graph input itself, (N, T, C).
  void export_onnx(const LayerSpec&, const LayerExport& e) const override {
    e.g.node("Transpose", {e.x[0]}, {e.y}, {onnx::attr_ints("perm", {0, 2, 1})});
  }
};

}  // namespace

std::shared_ptr<const Layer> input_layer() { return std::make_shared<Input>(); }

}  // namespace sptrain::layers
