// Dense: `units` outputs from the last axis (applied at every time step), an optional bias and a
// fused activation. Weights (C_in, units) then the bias (units).
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

namespace sptrain::layers {

namespace {

class Dense : public Layer {
 public:
  std::string keras_name() const override { return "Dense"; }
  LayerType type() const override { return LayerType::Dense; }
  std::vector<std::string> keys() const override { return {"units", "bias", "activation", "alpha", "init"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    parse_activation(t, l);
    parse_init(t, l);
    if (!t.has("units")) throw KeyError(t.key("units"), "missing", ">= 1");
    l.filters = positive_option(t, "units", 1);
    l.bias = t.boolean("bias", true);
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    require_positive(l, l.filters, "units");
    return {{in[0].T, l.filters}, int64_t(in[0].C) * l.filters + (l.bias ? l.filters : 0), 0};
  }
  LayerBuffers buffers(const LayerSpec& l) const override {
    LayerBuffers b;
    return b;
  }
  void init(const LayerSpec& l, const LayerInit& c) const override {  // biases: zeros
    init_weights(c, l.init, c.in[0].C, l.filters, int64_t(c.in[0].C) * l.filters);
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    const int C = p.in[0].C;
    p.be.dense_forward(p.n * p.in[0].T, C, l.filters, p.x[0], p.P, l.bias ? p.P + int64_t(C) * l.filters : nullptr, p.y);
    if (l.activation != Act::Linear) p.be.act_forward(l.activation, l.alpha, p.y, p.y, size_t(p.n) * p.out.T * p.out.C);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec& l, const LayerPass& p) const override {
    if (l.activation != Act::Linear)
      p.be.act_backward(l.activation, l.alpha, p.y, p.dy, p.dy, size_t(p.n) * p.out.T * p.out.C);
    const int C = p.in[0].C;
    const int64_t nw = int64_t(C) * l.filters;
    p.be.dense_backward(p.n * p.in[0].T, C, l.filters, p.x[0], p.P, p.dy, p.dx[0] ? p.dx_out() : nullptr, p.G,
                        l.bias ? p.G + nw : nullptr);
    p.add_dx(size_t(p.n) * p.in[0].T * C);
  }
  // A width-1 convolution: the same units at every time step of (N, C, T).
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    const std::string z = onnx_pre_activation(l, e);
    onnx_conv(l, e, 1, l.filters, e.P, l.bias ? e.P + int64_t(e.in[0].C) * l.filters : nullptr, {}, z);
    onnx_fused_activation(l, e, z);
  }
};

}  // namespace

std::shared_ptr<const Layer> dense_layer() { return std::make_shared<Dense>(); }

}  // namespace sptrain::layers
