// Softmax over the channels at every time step.
#include "engine/layers/common.hpp"

namespace sptrain::layers {

namespace {

class Softmax : public Layer {
 public:
  std::string keras_name() const override { return "Softmax"; }
  LayerType type() const override { return LayerType::Softmax; }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {in[0], 0, 0}; }
  void forward(const LayerSpec&, const LayerPass& p) const override {
    p.be.softmax_forward(p.n * p.out.T, p.out.C, p.x[0], p.y);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec&, const LayerPass& p) const override {
    if (!p.dx[0]) return;
    p.be.softmax_backward(p.n * p.out.T, p.out.C, p.y, p.dy, p.dx_out());
    p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
  }
  void export_onnx(const LayerSpec&, const LayerExport& e) const override {
    e.g.node("Softmax", {e.x[0]}, {e.y}, {onnx::attr_int("axis", 1)});  // the channels of (N, C, T)
  }
};

}  // namespace

std::shared_ptr<const Layer> softmax_layer() { return std::make_shared<Softmax>(); }

}  // namespace sptrain::layers
