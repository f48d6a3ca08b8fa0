// The model zoo: the 2020 report's architectures (docs/train.md, `zoo`).
//   model1: four parallel Conv1D (1 filter, kernels 2/3/4/10, valid, ReLU) on the positions, each
//           MaxPool(2, 2); concatenated along time (191), flattened; Dense 50 ReLU; Dense 1 ReLU.
//           9,674 parameters for 100 input positions.
//   model2: Granik et al.'s classifier: five branches of 32-filter causal convolutions (kernels
//           4, 2, 3 with dilations 1/2/4; kernel 10 with dilations 1/4/8; one kernel-20 'same'),
//           each conv followed by ReLU then BatchNorm (momentum 0.99, eps 1e-3), He-normal init,
//           global max pooling per branch, concatenated (160); Dense 512 ReLU; Dense 128 ReLU;
//           output Dense (logits: the softmax is part of the cross-entropy loss; or 1 ReLU unit
//           for regression). 189,762 trainable + 832 BatchNorm statistics with 2 classes.
//   model2_nobn: model2 without BatchNorm (the report's 3.4.2 notebook: 188,801 parameters with one
//           regression output); model2_nobn_nok20: also without the kernel-20 branch (3.4.1: 171,745).
#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/model.hpp"

namespace sptrain {

namespace {

LayerSpec input_layer() { return make_layer("input", "input", {}); }

LayerSpec conv(std::string name, std::string in, int filters, int kernel, int dilation, Padding pad, Act act, Init init) {
  LayerSpec l = make_layer(name, "conv1d", {std::move(in)});
  l.filters = filters;
  l.kernel = kernel;
  l.dilation = dilation;
  l.padding = pad;
  l.activation = act;
  l.init = init;
  return l;
}

LayerSpec dense(std::string name, std::string in, int units, Act act, Init init) {
  LayerSpec l = make_layer(name, "dense", {std::move(in)});
  l.filters = units;
  l.activation = act;
  l.init = init;
  return l;
}

ModelSpec model1(int T_in, int C_in) {
  ModelSpec m;
  m.name = "model1";
  m.T_in = T_in;
  m.C_in = C_in;
  m.layers.push_back(input_layer());
  std::vector<std::string> pooled;
  for (int k : {2, 3, 4, 10}) {
    std::string c = "conv_k" + std::to_string(k), p = "pool_k" + std::to_string(k);
    m.layers.push_back(conv(c, "input", 1, k, 1, Padding::Valid, Act::ReLU, Init::GlorotUniform));
    LayerSpec pool = make_layer(p, "maxpool1d", {c});
    pool.pool = 2;
    pool.pool_stride = 2;
    m.layers.push_back(pool);
    pooled.push_back(p);
  }
  LayerSpec cat = make_layer("concat", "concatenate", pooled);
  cat.concat_time = true;
  m.layers.push_back(cat);
  m.layers.push_back(make_layer("flatten", "flatten", {"concat"}));
  m.layers.push_back(dense("dense_50", "flatten", 50, Act::ReLU, Init::GlorotUniform));
  m.layers.push_back(dense("output", "dense_50", 1, Act::ReLU, Init::GlorotUniform));
  return m;
}

ModelSpec model2(int T_in, int C_in, int outputs, bool regression, bool batchnorm, bool k20 = true) {
  ModelSpec m;
  m.name = batchnorm ? "model2" : (k20 ? "model2_nobn" : "model2_nobn_nok20");
  m.T_in = T_in;
  m.C_in = C_in;
  m.layers.push_back(input_layer());
  struct Branch {
    int kernel;
    std::vector<int> dilations;
    Padding pad;
  };
  const Branch branches[] = {{4, {1, 2, 4}, Padding::Causal},
                             {2, {1, 2, 4}, Padding::Causal},
                             {3, {1, 2, 4}, Padding::Causal},
                             {10, {1, 4, 8}, Padding::Causal},
                             {20, {1}, Padding::Same}};
  std::vector<std::string> pooled;
  for (const auto& b : branches) {
    if (b.kernel == 20 && !k20) continue;
    std::string prev = "input";
    for (size_t i = 0; i < b.dilations.size(); ++i) {
      std::string tag = "k" + std::to_string(b.kernel) + "_" + std::to_string(i + 1);
      std::string c = "conv_" + tag;
      m.layers.push_back(conv(c, prev, 32, b.kernel, b.dilations[i], b.pad, Act::ReLU, Init::HeNormal));
      prev = c;
      if (batchnorm) {
        LayerSpec bn = make_layer("bn_" + tag, "batchnorm", {c});
        m.layers.push_back(bn);
        prev = bn.name;
      }
    }
    std::string g = "gmax_k" + std::to_string(b.kernel);
    m.layers.push_back(make_layer(g, "global_maxpool1d", {prev}));
    pooled.push_back(g);
  }
  m.layers.push_back(make_layer("concat", "concatenate", pooled));
  m.layers.push_back(dense("dense_512", "concat", 512, Act::ReLU, Init::HeNormal));
  m.layers.push_back(dense("dense_128", "dense_512", 128, Act::ReLU, Init::HeNormal));
  m.layers.push_back(dense("output", "dense_128", outputs, regression ? Act::ReLU : Act::Linear, Init::HeNormal));
  return m;
}

}  // namespace

std::vector<std::string> zoo_names() { return {"model1", "model2", "model2_nobn", "model2_nobn_nok20"}; }

ModelSpec zoo_model(const std::string& name, int T_in, int C_in, int outputs, bool regression) {
  if (name == "model1") {
    if (outputs != 1) throw KeyError("model.zoo", "model1 has one output", "a regression label");
    return model1(T_in, C_in);
  }
  if (name == "model2") return model2(T_in, C_in, outputs, regression, true);
  if (name == "model2_nobn") return model2(T_in, C_in, outputs, regression, false);
  if (name == "model2_nobn_nok20") return model2(T_in, C_in, outputs, regression, false, false);
  throw KeyError("model.zoo", "'" + name + "' is not in the zoo", "model1, model2, model2_nobn or model2_nobn_nok20");
}

}  // namespace sptrain
