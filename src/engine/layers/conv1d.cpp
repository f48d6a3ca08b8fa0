// Conv1D: `filters` kernels of width `kernel` over (T, C), with stride, dilation, Keras padding
// (valid, same, causal), an optional bias and a fused activation. Weights (kernel, C_in, filters)
// then the bias (filters).
#include <algorithm>

#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

namespace sptrain::layers {

namespace {

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

Conv1dDesc desc(const LayerSpec& l, const LayerPass& p) {
  return {p.n, p.in[0].T, p.in[0].C, p.out.T, l.filters, l.kernel, l.stride, l.dilation, conv_pads(l, p.in[0].T).left};
}

class Conv1D : public Layer {
 public:
  std::string keras_name() const override { return "Conv1D"; }
  LayerType type() const override { return LayerType::Conv1D; }
  void receptive_field(const LayerSpec& l, int64_t& field, int64_t& jump) const override {
    field += int64_t(l.kernel - 1) * l.dilation * jump;
    jump *= l.stride;
  }
  std::vector<std::string> keys() const override {
    return {"filters", "kernel", "stride", "dilation", "padding", "bias", "activation", "alpha", "init"};
  }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    parse_activation(t, l);
    parse_init(t, l);
    if (!t.has("filters")) throw KeyError(t.key("filters"), "missing", ">= 1");
    l.filters = positive_option(t, "filters", 1);
    l.kernel = positive_option(t, "kernel", 1);
    l.stride = positive_option(t, "stride", 1);
    l.dilation = positive_option(t, "dilation", 1);
    const std::string pad = t.string("padding", "valid");
    if (pad == "valid") l.padding = Padding::Valid;
    else if (pad == "same") l.padding = Padding::Same;
    else if (pad == "causal") l.padding = Padding::Causal;
    else throw KeyError(t.key("padding"), "'" + pad + "' is not a padding", "valid, same or causal");
    l.bias = t.boolean("bias", true);
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    require_positive(l, l.filters, "filters");
    require_positive(l, l.kernel, "kernel");
    require_positive(l, l.stride, "stride");
    require_positive(l, l.dilation, "dilation");
    const Pads pd = conv_pads(l, in[0].T);
    const int span = l.dilation * (l.kernel - 1);
    const int T = (in[0].T + pd.left + pd.right - span - 1);
    if (T < 0)
      throw KeyError(key(l, "kernel"), "receptive field " + std::to_string(span + 1) + " exceeds the input length " +
                                           std::to_string(in[0].T), "a smaller kernel or dilation, or padding");
    return {{T / l.stride + 1, l.filters}, int64_t(l.kernel) * in[0].C * l.filters + (l.bias ? l.filters : 0), 0};
  }
  LayerBuffers buffers(const LayerSpec& l) const override {
    LayerBuffers b;
    return b;
  }
  void init(const LayerSpec& l, const LayerInit& c) const override {  // biases: zeros
    init_weights(c, l.init, int64_t(l.kernel) * c.in[0].C, int64_t(l.kernel) * l.filters, int64_t(l.kernel) * c.in[0].C * l.filters);
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    const Conv1dDesc d = desc(l, p);
    p.be.conv1d_forward(d, p.x[0], p.P, l.bias ? p.P + int64_t(l.kernel) * p.in[0].C * l.filters : nullptr, p.y);
    if (l.activation != Act::Linear) p.be.act_forward(l.activation, l.alpha, p.y, p.y, size_t(p.n) * p.out.T * p.out.C);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec& l, const LayerPass& p) const override {
    if (l.activation != Act::Linear)
      p.be.act_backward(l.activation, l.alpha, p.y, p.dy, p.dy, size_t(p.n) * p.out.T * p.out.C);
    const Conv1dDesc d = desc(l, p);
    const int64_t nw = int64_t(l.kernel) * p.in[0].C * l.filters;
    p.be.conv1d_backward_filter(d, p.x[0], p.dy, p.G, l.bias ? p.G + nw : nullptr);
    if (p.dx[0]) {
      p.be.conv1d_backward_data(d, p.dy, p.P, p.dx_out());
      p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
    }
  }
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    std::vector<onnx::Attr> a = {onnx::attr_ints("strides", {l.stride}), onnx::attr_ints("dilations", {l.dilation})};
    if (l.padding == Padding::Same && l.stride > 1 && e.any_length) {
      a.push_back(onnx::attr_string("auto_pad", "SAME_UPPER"));  // Keras's: the odd step on the right, at any length
    } else {
      const Pads pd = conv_pads(l, e.in[0].T);  // valid, causal and stride-1 same pads do not depend on T
      a.push_back(onnx::attr_ints("pads", {pd.left, pd.right}));
    }
    const int64_t nw = int64_t(l.kernel) * e.in[0].C * l.filters;
    const std::string z = onnx_pre_activation(l, e);
    onnx_conv(l, e, l.kernel, l.filters, e.P, l.bias ? e.P + nw : nullptr, a, z);
    onnx_fused_activation(l, e, z);
  }
};

}  // namespace

std::shared_ptr<const Layer> conv1d_layer() { return std::make_shared<Conv1D>(); }

}  // namespace sptrain::layers
