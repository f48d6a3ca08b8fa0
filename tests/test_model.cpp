// Model graph: the report's parameter counts and shapes, config errors naming the key, forward and
// backward through the CPU backend (gradient of the whole graph against finite differences), and a
// layer type defined in this file, added through the layer registry alone, parsed from a config,
// checked against finite differences and trained (CPU; CUDA when a device exists).
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/model.hpp"
#include "sptrain/train.hpp"

using namespace sptrain;
namespace fs = std::filesystem;

TEST(Zoo, ReportParameterCounts) {
  auto m1 = analyze(zoo_model("model1", 100, 1, 1));
  EXPECT_EQ(m1.trainable, 9674);
  EXPECT_EQ(m1.non_trainable, 0);
  auto m2 = analyze(zoo_model("model2", 999, 1, 2));
  EXPECT_EQ(m2.trainable, 189762);
  EXPECT_EQ(m2.non_trainable, 832);
  auto m3 = analyze(zoo_model("model2", 999, 1, 3));
  EXPECT_EQ(m3.trainable, 189891);
  EXPECT_EQ(m3.non_trainable, 832);
  EXPECT_EQ(analyze(zoo_model("model2_nobn", 999, 1, 1, true)).trainable, 188801);         // report 3.4.2
  EXPECT_EQ(analyze(zoo_model("model2_nobn_nok20", 999, 1, 1, true)).trainable, 171745);   // report 3.4.1
}

TEST(Zoo, OutputShapesFor100And999Steps) {
  for (int T : {100, 999}) {
    auto i1 = analyze(zoo_model("model1", T, 1, 1));
    EXPECT_EQ(i1.shapes[i1.output_index].T, 1);
    EXPECT_EQ(i1.shapes[i1.output_index].C, 1);
    auto i2 = analyze(zoo_model("model2", T, 1, 2));
    EXPECT_EQ(i2.shapes[i2.output_index].T, 1);
    EXPECT_EQ(i2.shapes[i2.output_index].C, 2);
  }
  // Model 1's pooled branch lengths for 100 positions: 49, 49, 48, 45 -> 191 along time.
  auto spec = zoo_model("model1", 100, 1, 1);
  auto info = analyze(spec);
  for (size_t i = 0; i < spec.layers.size(); ++i)
    if (spec.layers[i].name == "concat") {
      EXPECT_EQ(info.shapes[i].T, 191);
    }
  // The report's Fig. 9 branch lengths stay 999 (causal and same padding).
  auto s2 = zoo_model("model2", 999, 1, 2);
  auto i2 = analyze(s2);
  for (size_t i = 0; i < s2.layers.size(); ++i)
    if (s2.layers[i].type == LayerType::Conv1D) {
      EXPECT_EQ(i2.shapes[i].T, 999) << s2.layers[i].name;
    }
  EXPECT_NE(summary(s2).find("Trainable params: 189762"), std::string::npos);
}

namespace {
struct TmpDir : test::TempDir {
  const fs::path& p = path;
  TmpDir() : test::TempDir("model") {
    std::ofstream(p / "spec.toml") << "length = 50\n[states]\nsigma = [1.0, 3.0]\n[features]\nkind = \"displacements\"\n";
  }
  std::string config(const std::string& body) {
    std::ofstream(p / "c.toml") << "[data]\nspec = \"spec.toml\"\n[train]\nsteps_per_epoch = 2\n" << body;
    return (p / "c.toml").string();
  }
};

void expect_key(const std::string& path, const std::string& key, const std::string& fragment) {
  try {
    load_train_config(path);
    ADD_FAILURE() << "no error";
  } catch (const KeyError& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(ModelConfig, CustomGraphParses) {
  TmpDir d;
  auto c = load_train_config(d.config(
      "[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 4\nkernel = 3\npadding = \"same\"\nactivation = \"elu\"\n"
      "[layer.b]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 2\nkernel = 5\ndilation = 2\npadding = \"causal\"\n"
      "[layer.cat]\ntype = \"concatenate\"\ninputs = [\"a\", \"b\"]\n"
      "[layer.bn]\ntype = \"batchnorm\"\ninputs = [\"cat\"]\n"
      "[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"bn\"]\n"
      "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n"));
  auto info = analyze(c.model);
  EXPECT_EQ(c.model.layers.size(), 7u);
  EXPECT_EQ(info.shapes[3].C, 6);   // concatenated channels
  EXPECT_EQ(info.shapes[3].T, 49);  // same and causal keep the length
  EXPECT_EQ(info.trainable, (3 * 1 * 4 + 4) + (5 * 1 * 2 + 2) + 12 + 7);
}

TEST(ModelConfig, BadConfigsNameTheKey) {
  TmpDir d;
  expect_key(d.config("[layer.a]\ntype = \"lstm\"\ninputs = [\"input\"]\n"), "layer.a.type", "not a layer type");
  expect_key(d.config("[layer.a]\ntype = \"dense\"\ninputs = [\"nowhere\"]\nunits = 1\n"), "layer.a.inputs", "not an earlier layer");
  expect_key(d.config("[layer.a]\ntype = \"dense\"\nunits = 1\n"), "layer.a.inputs", "missing");
  expect_key(d.config("[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = -2\n"), "layer.a.filters", "not positive");
  expect_key(d.config("[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 2\nkernel = 0\n"), "layer.a.kernel", "not positive");
  expect_key(d.config("[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 2\nkernel = 60\n"), "layer.a.kernel",
             "exceeds the input length");
  expect_key(d.config("[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 2\nkernel = 3\n"
                      "[layer.b]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 2\nkernel = 1\n"
                      "[layer.c]\ntype = \"concatenate\"\ninputs = [\"a\", \"b\"]\n"),
             "layer.c.inputs", "shape mismatch");
  expect_key(d.config("[layer.a]\ntype = \"dense\"\ninputs = [\"input\"]\nunits = 1\nkernel = 3\n"), "layer.a.kernel", "not used by a dense layer");
  expect_key(d.config("[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 1\n"), "model.output", "does not fit the label");
  expect_key(d.config("[model]\nzoo = \"resnet\"\n"), "model.zoo", "not in the zoo");
  expect_key(d.config("[model]\nzoo = \"model1\"\n[early_stopping]\npatience = 3\n"), "early_stopping.mode", "missing");
  expect_key(d.config("[model]\nzoo = \"model1\"\n[dist]\nreduce = \"fast\"\n"), "dist.reduce", "not a reduction");
  expect_key(d.config("[model]\nzoo = \"model1\"\n[dist]\ntimeout_s = 0\n"), "dist.timeout_s", "out of range");
  expect_key(d.config("[model]\nzoo = \"model1\"\n[dist]\nbatchnorm = \"global\"\n"), "dist.batchnorm",
             "not a BatchNorm mode");
}

namespace {
// Loss of the model on (x, y) with the current parameters (double accumulation in the backend).
double model_loss(Model& m, Backend& be, const std::vector<float>& x, const std::vector<float>& y, int n, LossKind k,
                  float* xd, float* yd) {
  be.upload(xd, x.data(), x.size());
  be.upload(yd, y.data(), y.size());
  const float* out = m.forward(xd, n, true);
  Shape s = m.output_shape();
  return be.loss(k, n * s.T, s.C, out, yd, nullptr, 1.0f);
}

// Central finite differences of the whole graph against backward(), on a sample of parameters.
void check_graph_gradient(const ModelSpec& spec, LossKind kind, int outs, double tol, const Device& dev = Device::cpu()) {
  auto be = make_backend(dev);
  const int n = 3;
  Model m(spec, *be, n, 7);
  std::vector<float> x(size_t(n) * spec.T_in * spec.C_in), y(size_t(n) * outs);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.37 * double(i)) * 2.0 + 0.1 * double(i % 7));
  for (int r = 0; r < n; ++r) {
    if (kind == LossKind::CategoricalCrossEntropy) y[r * outs + r % outs] = 1.0f;
    else y[r] = 1.5f + r;
  }
  const Buffer<float> xb = be->alloc<float>(x.size()), yb = be->alloc<float>(y.size()), gb = be->alloc<float>(y.size());
  float *xd = xb.get(), *yd = yb.get(), *gd = gb.get();
  m.zero_grads();
  be->upload(xd, x.data(), x.size());
  be->upload(yd, y.data(), y.size());
  const float* out = m.forward(xd, n, true);
  be->loss(kind, n, outs, out, yd, gd, 1.0f);
  m.backward(gd);
  std::vector<float> g(m.n_params()), p(m.n_params());
  be->download(g.data(), m.grads(), g.size());
  be->download(p.data(), m.params(), p.size());
  int checked = 0;
  for (int64_t i = 0; i < m.n_params(); i += std::max<int64_t>(1, m.n_params() / 40)) {
    const float h = 1e-2f * std::max(1.0f, std::abs(p[i]));
    auto at = [&](float v) {
      std::vector<float> q = p;
      q[i] = v;
      be->upload(m.params(), q.data(), q.size());
      return model_loss(m, *be, x, y, n, kind, xd, yd);
    };
    const double num = (at(p[i] + h) - at(p[i] - h)) / (2.0 * h);
    EXPECT_NEAR(g[i], num, tol * (1.0 + std::abs(num))) << spec.name << " parameter " << i;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}
}  // namespace

TEST(ModelGradient, Model1WholeGraphMatchesFiniteDifferences) {
  // Float forward passes: central differences with h = 1e-2 have truncation error O(h^2 * f''')
  // and rounding error ~1e-7 * |loss| / h; 2e-2 relative covers both for these smooth-ish losses
  // (a ReLU kink crossed by +-h can break one sample: the sample avoids exact kinks by its inputs).
  check_graph_gradient(zoo_model("model1", 30, 1, 1), LossKind::MSE, 1, 2e-2);
}

TEST(ModelGradient, Model2WholeGraphMatchesFiniteDifferences) {
  check_graph_gradient(zoo_model("model2", 24, 1, 2), LossKind::CategoricalCrossEntropy, 2, 2e-2);
}

// A hidden layer read by two layers, a concatenation and a flatten (an alias of its input): the
// backward pass writes a gradient buffer directly where its first writer computes the whole input
// gradient (h's, through b; cat's, through out via the flatten) and zero-fills only the buffers
// layers add into (a's and b's, which the concatenation adds into). Both paths must give the
// finite-difference gradient.
const char* kFanOutGraph =
    "[layer.h]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 3\nkernel = 3\npadding = \"same\"\nactivation = \"tanh\"\n"
    "[layer.a]\ntype = \"conv1d\"\ninputs = [\"h\"]\nfilters = 2\nkernel = 2\npadding = \"causal\"\nactivation = \"elu\"\n"
    "[layer.b]\ntype = \"dense\"\ninputs = [\"h\"]\nunits = 2\nactivation = \"sigmoid\"\n"
    "[layer.cat]\ntype = \"concatenate\"\ninputs = [\"a\", \"b\"]\n"
    "[layer.g]\ntype = \"flatten\"\ninputs = [\"cat\"]\n"
    "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";

TEST(ModelGradient, FanOutGraphMatchesFiniteDifferences) {
  TmpDir d;
  check_graph_gradient(load_train_config(d.config(kFanOutGraph)).model, LossKind::MSE, 1, 2e-2);
}

TEST(ModelGradient, BackwardZeroFillsOnlyTheBuffersLayersAddInto) {
  TmpDir d;
  auto be = make_backend(Device::cpu());
  const Model m(load_train_config(d.config(kFanOutGraph)).model, *be, 2, 3);
  // a and b (the concatenation adds into them); not h and cat (written whole by b, and by out
  // through the flatten) nor out (the loss gradient is copied in)
  EXPECT_EQ(m.zero_filled_gradients(), (std::vector<std::string>{"a", "b"}));
  // In the report's Model 2 only the concatenations' inputs are zero-filled.
  const ModelSpec s2 = zoo_model("model2", 24, 1, 2);
  std::set<std::string> cat_inputs;
  for (const LayerSpec& l : s2.layers)
    if (l.type == LayerType::Concatenate) cat_inputs.insert(l.inputs.begin(), l.inputs.end());
  const std::vector<std::string> filled = Model(s2, *be, 2, 3).zero_filled_gradients();
  EXPECT_FALSE(filled.empty());
  for (const std::string& name : filled) EXPECT_TRUE(cat_inputs.count(name)) << name;
  EXPECT_LT(filled.size(), s2.layers.size() / 2);
}

// ---------------------------------------------------------------------------------------------
// A layer from outside the library: time reversal within blocks of `block` steps (default: the
// whole sequence), y[t] = x[b + block - 1 - (t - b)] for t in block [b, b + block). Built from
// copy2d, one time step at a time; its gradient is the same reversal of dy.

namespace {

struct ReverseOptions : LayerOptions {
  int block = 0;  // 0: the whole input length
};

class TimeReverse : public Layer {
 public:
  std::string keras_name() const override { return "TimeReverse"; }
  std::vector<std::string> keys() const override { return {"block"}; }
  void parse(const LayerTable& t, LayerSpec& l) const override {
    auto o = std::make_shared<ReverseOptions>();
    o->block = int(t.integer("block", 0));
    if (o->block < 0) throw KeyError(t.key("block"), std::to_string(o->block) + " is negative", ">= 1, or 0 for the whole length");
    l.options = o;
  }
  static int block(const LayerSpec& l, int T) {
    const auto* o = dynamic_cast<const ReverseOptions*>(l.options.get());
    return o && o->block > 0 ? o->block : T;
  }
  LayerShape infer(const LayerSpec& l, const std::vector<Shape>& in) const override {
    if (in[0].T % block(l, in[0].T) != 0)
      throw KeyError("layer." + l.name + ".block", "does not divide the input length " + std::to_string(in[0].T), "a divisor");
    return {in[0], 0, 0};
  }
  // Copies (n, C) slices of src at each step t to dst at the reversed step.
  static void reverse(Backend& be, const LayerSpec& l, int n, Shape s, const float* src, float* dst) {
    const int B = block(l, s.T);
    for (int t = 0; t < s.T; ++t) {
      const int b = t - t % B, r = b + B - 1 - (t - b);
      be.copy2d(n, s.C, src + int64_t(t) * s.C, s.T * s.C, dst + int64_t(r) * s.C, s.T * s.C);
    }
  }
  void forward(const LayerSpec& l, const LayerPass& p) const override { reverse(p.be, l, p.n, p.out, p.x[0], p.y); }
  void backward(const LayerSpec& l, const LayerPass& p) const override {
    if (!p.dx[0]) return;
    reverse(p.be, l, p.n, p.out, p.dy, p.scratch);
    p.add_dx(size_t(p.n) * p.out.T * p.out.C);
  }
};

const bool kRegistered = [] {
  register_layer("time_reverse", std::make_shared<TimeReverse>());
  return true;
}();

// Causal convolutions read the past; reversed in between, the second one reads the future. Flatten
// rather than global pooling before the output, so finite differences cross no argmax change.
const char* kReversedGraph =
    "[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 3\nkernel = 3\npadding = \"causal\"\nactivation = \"elu\"\n"
    "[layer.rev]\ntype = \"time_reverse\"\ninputs = [\"a\"]\n"
    "[layer.b]\ntype = \"conv1d\"\ninputs = [\"rev\"]\nfilters = 2\nkernel = 4\npadding = \"causal\"\nactivation = \"elu\"\n"
    "[layer.g]\ntype = \"flatten\"\ninputs = [\"b\"]\n"
    "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";

bool have_gpu() { return built_with_cuda() && !list_gpus().empty(); }

}  // namespace

TEST(LayerRegistry, ARegisteredLayerIsParsedCheckedAndSummarized) {
  ASSERT_TRUE(kRegistered);
  EXPECT_THROW(register_layer("time_reverse", std::make_shared<TimeReverse>()), UsageError);
  EXPECT_THROW(register_layer("dense", std::make_shared<TimeReverse>()), UsageError);
  TmpDir d;
  auto c = load_train_config(d.config(kReversedGraph));
  ASSERT_EQ(c.model.layers.size(), 6u);
  EXPECT_EQ(c.model.layers[2].kind, "time_reverse");
  EXPECT_EQ(c.model.layers[2].type, LayerType::Custom);
  EXPECT_NE(summary(c.model).find("rev (TimeReverse)"), std::string::npos) << summary(c.model);
  // Its own key, its own shape check, and the keys it does not read.
  auto c7 = load_train_config(d.config(kReversedGraph), {"layer.rev.block=7"});
  EXPECT_EQ(analyze(c7.model).shapes[2].T, 49);
  const std::string path = d.config(kReversedGraph);
  try {
    load_train_config(path, {"layer.rev.block=10"});
    ADD_FAILURE() << "no error";
  } catch (const KeyError& err) {
    EXPECT_EQ(err.key(), "layer.rev.block") << err.what();
  }
  try {
    load_train_config(path, {"layer.rev.kernel=3"});
    ADD_FAILURE() << "no error";
  } catch (const KeyError& err) {
    EXPECT_NE(std::string(err.what()).find("not used by a time_reverse layer"), std::string::npos) << err.what();
  }
}

namespace {
ModelSpec reversed_model() {
  TmpDir d;
  return load_train_config(d.config(kReversedGraph), {"layer.rev.block=7"}).model;
}

// Loss falls over 4 epochs of Adam on `dev`.
void expect_reversed_model_trains(const Device& dev) {
  TmpDir d;
  auto c = load_train_config(d.config(kReversedGraph), {"train.epochs=4", "train.steps_per_epoch=5", "train.batch=32",
                                                         "train.lr=1e-2", "data.val_size=64", "data.test_size=64"});
  TrainOptions o;
  o.run_dir = (d.p / "run").string();
  o.progress = false;
  train(c, dev, o);
  auto m = read_metrics(o.run_dir);
  ASSERT_EQ(m.size(), 4u);
  const double first = m.front()["loss"], last = m.back()["loss"];
  EXPECT_LT(last, first) << dev.str();
}
}  // namespace

TEST(LayerRegistry, ARegisteredLayerMatchesFiniteDifferences) {
  check_graph_gradient(reversed_model(), LossKind::MSE, 1, 2e-2);
}

TEST(LayerRegistry, ARegisteredLayerMatchesFiniteDifferencesOnCuda) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  check_graph_gradient(reversed_model(), LossKind::MSE, 1, 2e-2, Device::cuda(0));
}

TEST(LayerRegistry, ARegisteredLayerTrains) { expect_reversed_model_trains(Device::cpu()); }

TEST(LayerRegistry, ARegisteredLayerTrainsOnCuda) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  expect_reversed_model_trains(Device::cuda(0));
}

// The receptive field is each layer's own: conv kernel 3 dilation 2 (field 1 + 2*2 = 5), then a
// pool of 2 stride 2 (5 + 1 = 6, jump 2), then conv kernel 2 (6 + 1*2 = 8); a global pool sees all.
TEST(Model, ReceptiveFieldComposesPerLayer) {
  ModelSpec s;
  s.T_in = 64;
  s.C_in = 1;
  s.layers.push_back(make_layer("input", "input", {}));
  LayerSpec c1 = make_layer("c1", "conv1d", {"input"});
  c1.filters = 4, c1.kernel = 3, c1.dilation = 2;
  LayerSpec p = make_layer("p", "maxpool1d", {"c1"});
  p.pool = 2, p.pool_stride = 2;
  LayerSpec c2 = make_layer("c2", "conv1d", {"p"});
  c2.filters = 4, c2.kernel = 2;
  s.layers.insert(s.layers.end(), {c1, p, c2});
  EXPECT_EQ(receptive_field(s), 8);
  s.layers.push_back(make_layer("g", "global_maxpool1d", {"c2"}));
  EXPECT_EQ(receptive_field(s), Layer::kWholeInput);
}
