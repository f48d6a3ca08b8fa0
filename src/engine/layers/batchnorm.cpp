// BatchNormalization (Keras semantics): per channel over (n, T), batch statistics in training
// (running mean and variance updated with `momentum`), the running ones in inference.
// Parameters gamma then beta (C each); state the running mean then variance (C each).
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

#include "data/toml_config.hpp"

namespace sptrain::layers {

namespace {

class BatchNorm : public Layer {
 public:
  std::string keras_name() const override { return "BatchNormalization"; }
  LayerType type() const override { return LayerType::BatchNorm; }
  std::vector<std::string> keys() const override { return {"momentum", "eps"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    const double mom = t.number("momentum", 0.99), eps = t.number("eps", 1e-3);
    cfg::require(mom >= 0 && mom < 1, t.key("momentum"), cfg::fmt(mom) + " is outside [0, 1)", "");
    cfg::require(eps > 0, t.key("eps"), cfg::fmt(eps) + " is not positive", "> 0");
    cfg::bound(eps, t.key("eps"), 1e-30, 1);
    l.momentum = float(mom);
    l.eps = float(eps);
  }
  LayerShape infer(const LayerSpec&, const std::vector<Shape>& in) const override {
    return {in[0], 2 * int64_t(in[0].C), 2 * int64_t(in[0].C)};
  }
  LayerBuffers buffers(const LayerSpec&) const override {
    LayerBuffers b;
    b.saved_stats = true;
    return b;
  }
  void init(const LayerSpec&, const LayerInit& c) const override {
    for (int i = 0; i < c.out.C; ++i) c.w[i] = 1.0f;          // gamma = 1, beta = 0
    for (int i = 0; i < c.out.C; ++i) c.s[c.out.C + i] = 1.0f;  // running var = 1
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    const int C = p.out.C;
    if (p.training)
      p.be.batchnorm_forward_train(p.n * p.out.T, C, p.x[0], p.P, p.P + C, l.eps, l.momentum, p.S, p.S + C, p.y,
                                   p.save_mean, p.save_invstd, p.bn_sync);
    else
      p.be.batchnorm_forward_infer(p.n * p.out.T, C, p.x[0], p.P, p.P + C, p.S, p.S + C, l.eps, p.y);
  }
  bool computes_dx() const override { return true; }
  void backward(const LayerSpec&, const LayerPass& p) const override {
    const int C = p.out.C;
    p.be.batchnorm_backward(p.n * p.out.T, C, p.x[0], p.dy, p.P, p.save_mean, p.save_invstd, p.dx_out(), p.G, p.G + C,
                            p.bn_sync);
    p.add_dx(size_t(p.n) * p.in[0].T * p.in[0].C);
  }
  // The inference form: the running statistics.
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    const int C = e.out.C;
    auto v = [C](const float* p) { return std::vector<float>(p, p + C); };
    e.g.node("BatchNormalization",
             {e.x[0], e.g.constant(l.name + ".gamma", {C}, v(e.P)), e.g.constant(l.name + ".beta", {C}, v(e.P + C)),
              e.g.constant(l.name + ".running_mean", {C}, v(e.S)), e.g.constant(l.name + ".running_var", {C}, v(e.S + C))},
             {e.y}, {onnx::attr_float("epsilon", l.eps)});
  }
};

}  // namespace

std::shared_ptr<const Layer> batchnorm_layer() { return std::make_shared<BatchNorm>(); }

}  // namespace sptrain::layers
