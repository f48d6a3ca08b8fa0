// A model's ONNX graph (sptrain/onnx.hpp): the graph input, each layer's own nodes
// (Layer::export_onnx) in the spec's order, and the output transposed back to (N, T, C).
#include <map>

#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/onnx.hpp"

namespace sptrain::onnx {

Graph model_graph(const ModelSpec& spec, const std::vector<float>& params, const std::vector<float>& state,
                  bool any_length) {
  const ModelInfo info = analyze(spec);
  if (int64_t(params.size()) != info.trainable || int64_t(state.size()) != info.non_trainable)
    throw UsageError("ONNX export: " + std::to_string(params.size()) + " parameters and " + std::to_string(state.size()) +
                     " state values for a model of " + std::to_string(info.trainable) + " and " +
                     std::to_string(info.non_trainable));
  const Shape out = info.shapes[info.output_index];
  // The output's length follows the input's (per-step outputs) or stays (pooled ones).
  bool out_follows = false;
  if (any_length) {
    ModelSpec longer = spec;
    longer.T_in += 1;
    const ModelInfo o = analyze(longer);
    out_follows = o.shapes[o.output_index].T != out.T;
  }
  const Dim N = Dim::named("N");
  const Dim T_in = any_length ? Dim::named("T") : Dim::fixed(spec.T_in);
  const Dim T_out = out_follows ? Dim::named("T_out") : Dim::fixed(out.T);

  Graph g(spec.name.empty() ? "sptrain" : spec.name);
  const std::vector<std::string> graph_input = {"input"};
  g.input("input", {N, T_in, Dim::fixed(spec.C_in)}, "the model's input features, (batch, time, channel)");
  const std::string output = g.unique("output");  // taken first: a layer may be called "output" too
  std::map<std::string, size_t> index;
  std::vector<std::string> tensor(spec.layers.size());
  int64_t poff = 0, soff = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    std::vector<std::string> xs;
    std::vector<Shape> in;
    if (l.type == LayerType::Input) {
      xs = graph_input;
      in = {Shape{spec.T_in, spec.C_in}};
    } else {
      for (const auto& name : l.inputs) {
        const size_t j = index.at(name);  // analyze() checked every input
        xs.push_back(tensor[j]);
        in.push_back(info.shapes[j]);
      }
    }
    tensor[i] = g.unique(l.name);
    const LayerExport e{g, xs, in, info.shapes[i], tensor[i], params.data() + poff, state.data() + soff, any_length};
    layer_of(l).export_onnx(l, e);
    poff += info.params[i];
    soff += info.state[i];
    index[l.name] = i;
  }
  g.node("Transpose", {tensor[size_t(info.output_index)]}, {output}, {attr_ints("perm", {0, 2, 1})});
  g.output(output, {N, T_out, Dim::fixed(out.C)}, "the model's output, (batch, time, channel)");
  return g;
}

}  // namespace sptrain::onnx
