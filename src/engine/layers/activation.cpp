// Activation: an element-wise function (relu, elu, ..., see Act) as a layer of its own.
#include "engine/layers/common.hpp"

namespace sptrain::layers {

namespace {

class Activation : public Layer {
 public:
  std::string keras_name() const override { return "Activation"; }
  LayerType type() const override { return LayerType::Activation; }
  std::vector<std::string> keys() const override { return {"activation", "alpha"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override { parse_activation(t, l); }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {in[0], 0, 0}; }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    p.be.act_forward(l.activation, l.alpha, p.x[0], p.y, size_t(p.n) * p.out.T * p.out.C);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec& l, const LayerPass& p) const override {
    if (!p.dx[0]) return;
    p.be.act_backward(l.activation, l.alpha, p.y, p.dy, p.dx_out(), size_t(p.n) * p.out.T * p.out.C);
    p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
  }
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    onnx_activation(e, l.activation, l.alpha, e.x[0], e.y);
  }
};

}  // namespace

std::shared_ptr<const Layer> activation_layer() { return std::make_shared<Activation>(); }

}  // namespace sptrain::layers
