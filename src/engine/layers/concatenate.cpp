// Concatenate: two or more inputs joined along the channels (Keras axis=-1: equal lengths) or along
// time (axis=1: equal channels). Backward adds each slice of the gradient into its input's.
#include "engine/layers/common.hpp"
#include "sptrain/error.hpp"

namespace sptrain::layers {

namespace {

class Concatenate : public Layer {
 public:
  std::string keras_name() const override { return "Concatenate"; }
  LayerType type() const override { return LayerType::Concatenate; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 1 << 20; }
  std::vector<std::string> keys() const override { return {"axis"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    const std::string axis = t.string("axis", "channels");
    if (axis != "channels" && axis != "time") throw KeyError(t.key("axis"), "'" + axis + "' is not an axis", "channels or time");
    l.concat_time = axis == "time";
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    Shape out = in[0];
    for (size_t j = 1; j < in.size(); ++j) {
      if (l.concat_time) {
        if (in[j].C != in[0].C)
          throw KeyError(key(l, "inputs"), "shape mismatch: '" + l.inputs[j] + "' has " + std::to_string(in[j].C) +
                                               " channels, '" + l.inputs[0] + "' " + std::to_string(in[0].C),
                         "equal channels to concatenate along time");
        out.T += in[j].T;
      } else {
        if (in[j].T != in[0].T)
          throw KeyError(key(l, "inputs"), "shape mismatch: '" + l.inputs[j] + "' has length " + std::to_string(in[j].T) +
                                               ", '" + l.inputs[0] + "' " + std::to_string(in[0].T),
                         "equal lengths to concatenate along channels");
        out.C += in[j].C;
      }
    }
    return {out, 0, 0};
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override {
    int off = 0;
    for (size_t j = 0; j < p.x.size(); ++j) {
      const Shape s = p.in[j];
      if (l.concat_time)
        p.be.copy2d(p.n, s.T * s.C, p.x[j], s.T * s.C, p.y + int64_t(off) * s.C, p.out.T * p.out.C), off += s.T;
      else
        p.be.copy2d(p.n * s.T, s.C, p.x[j], s.C, p.y + off, p.out.C), off += s.C;
    }
  }
  void backward(const LayerSpec& l, const LayerPass& p) const override {
    int off = 0;
    for (size_t j = 0; j < p.x.size(); ++j) {
      const Shape s = p.in[j];
      if (p.dx[j]) {
        if (l.concat_time)
          p.be.add2d(p.n, s.T * s.C, p.dy + int64_t(off) * s.C, p.out.T * p.out.C, p.dx[j], s.T * s.C);
        else
          p.be.add2d(p.n * s.T, s.C, p.dy + off, p.out.C, p.dx[j], s.C);
      }
      off += l.concat_time ? s.T : s.C;
    }
  }
  void export_onnx(const LayerSpec& l, const LayerExport& e) const override {
    e.g.node("Concat", e.x, {e.y}, {onnx::attr_int("axis", l.concat_time ? 2 : 1)});  // (N, C, T)
  }
};

}  // namespace

std::shared_ptr<const Layer> concatenate_layer() { return std::make_shared<Concatenate>(); }

}  // namespace sptrain::layers
