// GlobalMaxPooling1D: the maximum over all time steps per channel, (T, C) -> (1, C); the argmax is
// kept for backward.
#include "engine/layers/common.hpp"

namespace sptrain::layers {

namespace {

class GlobalMaxPool1D : public Layer {
 public:
  std::string keras_name() const override { return "GlobalMaxPooling1D"; }
  LayerType type() const override { return LayerType::GlobalMaxPool1D; }
  void receptive_field(const LayerSpec&, int64_t& field, int64_t&) const override { field = kWholeInput; }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override { return {{1, in[0].C}, 0, 0}; }
  LayerBuffers buffers(const LayerSpec&) const override {
    LayerBuffers b;
    b.argmax = true;
    return b;
  }
  bool flat_summary() const override { return true; }
  void forward(const LayerSpec&, const LayerPass& p) const override {
    p.be.global_maxpool_forward(p.n, p.in[0].T, p.in[0].C, p.x[0], p.y, p.argmax);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec&, const LayerPass& p) const override {
    if (!p.dx[0]) return;
    p.be.global_maxpool_backward(p.n, p.in[0].T, p.in[0].C, p.argmax, p.dy, p.dx_out());
    p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
  }
  void export_onnx(const LayerSpec&, const LayerExport& e) const override { e.g.node("GlobalMaxPool", {e.x[0]}, {e.y}); }
};

}  // namespace

std::shared_ptr<const Layer> global_maxpool1d_layer() { return std::make_shared<GlobalMaxPool1D>(); }

}  // namespace sptrain::layers
