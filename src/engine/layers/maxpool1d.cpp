// MaxPooling1D: the maximum over windows of `pool` steps, every `stride` (default: pool) steps;
// the argmax is kept for backward.
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

namespace sptrain::layers {

namespace {

int pool_stride(const LayerSpec& l) { return l.pool_stride > 0 ? l.pool_stride : l.pool; }

class MaxPool1D : public Layer {
 public:
  std::string keras_name() const override { return "MaxPooling1D"; }
  LayerType type() const override { return LayerType::MaxPool1D; }
  void receptive_field(const LayerSpec& l, int64_t& field, int64_t& jump) const override {
    field += int64_t(l.pool - 1) * jump;
    jump *= pool_stride(l);
  }
  std::vector<std::string> keys() const override { return {"pool", "stride"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    l.pool = positive_option(t, "pool", 2);
    l.pool_stride = positive_option(t, "stride", l.pool);
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    require_positive(l, l.pool, "pool");
    require_positive(l, pool_stride(l), "stride");
    if (in[0].T < l.pool)
      throw KeyError(key(l, "pool"), "pool " + std::to_string(l.pool) + " exceeds the input length " + std::to_string(in[0].T), "");
    return {{(in[0].T - l.pool) / pool_stride(l) + 1, in[0].C}, 0, 0};
  }
  LayerBuffers buffers(const LayerSpec&) const override {
    LayerBuffers b;
    b.argmax = true;
    return b;
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    p.be.maxpool1d_forward(p.n, p.in[0].T, p.in[0].C, l.pool, pool_stride(l), p.x[0], p.y, p.argmax);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec&, const LayerPass& p) const override {
    if (!p.dx[0]) return;
    p.be.maxpool1d_backward(p.n, p.in[0].T, p.out.T, p.in[0].C, p.argmax, p.dy, p.dx_out());
    p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
  }
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    e.g.node("MaxPool", {e.x[0]}, {e.y}, {onnx::attr_ints("kernel_shape", {l.pool}), onnx::attr_ints("strides", {pool_stride(l)})});
  }
};

}  // namespace

std::shared_ptr<const Layer> maxpool1d_layer() { return std::make_shared<MaxPool1D>(); }

}  // namespace sptrain::layers
