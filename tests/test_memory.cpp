// The memory account against the allocations: train() on a backend that records every allocation
// must allocate exactly the tensors training_memory lists (names, bytes, order) and peak at its
// total, for the zoo's Model 1 and Model 2 and a per-step segmentation network, at two
// micro-batches. Then the op sequence of one training micro-batch of Model 2 (forward, loss,
// backward), recorded by buffer identity: no zero fill that a single op then only adds into, and
// no tensor written that nothing reads afterwards and that is no output of the step.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "recording_backend.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/model.hpp"
#include "sptrain/optimizer.hpp"
#include "sptrain/train.hpp"
#include "temp_dir.hpp"

using namespace sptrain;
using test::RecordingBackend;

namespace {

std::string experiment(const std::string& name) { return std::string(SPTRAIN_SOURCE_DIR) + "/experiments/" + name; }

// A preset made small: one step of micro-batch m (batch 2m, so the step accumulates), one epoch,
// validation and test sets of 3m (and a fixed training set of 2m).
TrainConfig small(const std::string& preset, int64_t m, const std::vector<std::string>& more = {}) {
  std::vector<std::string> set = {"train.batch=" + std::to_string(2 * m), "train.micro_batch=" + std::to_string(m),
                                  "train.epochs=1", "data.val_size=" + std::to_string(3 * m),
                                  "data.test_size=" + std::to_string(3 * m)};
  if (load_train_config(experiment(preset)).fixed) set.push_back("data.train_size=" + std::to_string(2 * m));
  else set.push_back("train.steps_per_epoch=1");
  set.insert(set.end(), more.begin(), more.end());
  return load_train_config(experiment(preset), set);
}

// Differences between the account and the allocations, in order: name and bytes of each.
std::vector<std::string> mismatches(const MemoryAccount& a, const std::vector<RecordingBackend::Allocation>& rec) {
  std::vector<std::string> out;
  const size_t n = std::max(a.tensors.size(), rec.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string want =
        i < a.tensors.size() ? a.tensors[i].name + " " + std::to_string(a.tensors[i].bytes()) : "(nothing)";
    const std::string got = i < rec.size() ? rec[i].what + " " + std::to_string(rec[i].bytes) : "(nothing)";
    if (want != got) out.push_back("allocation " + std::to_string(i) + ": account " + want + ", allocated " + got);
  }
  return out;
}

struct Recorded {
  std::vector<RecordingBackend::Allocation> allocs;
  size_t peak = 0;
};

Recorded train_recorded(const TrainConfig& c, const std::string& dir) {
  RecordingBackend be(make_backend(Device::cpu()));
  TrainOptions o;
  o.run_dir = dir;
  o.progress = false;
  o.backend = &be;
  train(c, Device::cpu(), o);
  EXPECT_EQ(be.live_bytes(), 0u) << "everything train() allocated is freed";
  return {be.allocations(), be.peak_bytes()};
}

void check_preset(const std::string& preset, const std::vector<std::string>& more = {}) {
  test::TempDir d("memory");
  MemoryAccount acc[2];
  const int64_t ms[2] = {3, 7};
  for (int k = 0; k < 2; ++k) {
    const TrainConfig c = small(preset, ms[k], more);
    acc[k] = training_memory(c);
    const Recorded r = train_recorded(c, (d.path / ("m" + std::to_string(ms[k]))).string());
    // Every allocation, in order: the account's resident tensors, the validation set's chunk, then
    // the test set's (the same chunk again).
    MemoryAccount expected = acc[k];
    const size_t evals = size_t(std::count_if(acc[k].tensors.begin(), acc[k].tensors.end(), [](const TensorAccount& t) {
      return t.role == TensorRole::EvalInput || t.role == TensorRole::EvalTargets;
    }));
    ASSERT_EQ(evals, 2u);
    expected.tensors.insert(expected.tensors.end(), acc[k].tensors.end() - 2, acc[k].tensors.end());
    EXPECT_EQ(mismatches(expected, r.allocs), std::vector<std::string>{}) << preset << " at micro-batch " << ms[k];
    EXPECT_EQ(r.peak, acc[k].total_bytes()) << preset << " at micro-batch " << ms[k];
    // The test is sensitive to each tensor: the account without any one of them no longer matches.
    for (size_t i = 0; i < acc[k].tensors.size(); ++i) {
      MemoryAccount less = expected;
      less.tensors.erase(less.tensors.begin() + long(i));
      EXPECT_FALSE(mismatches(less, r.allocs).empty()) << "without " << acc[k].tensors[i].name;
    }
  }
  // What grows with the micro-batch grows in proportion, and the rest does not change.
  EXPECT_EQ(acc[0].fixed_bytes(), acc[1].fixed_bytes());
  EXPECT_GT(acc[0].batch_bytes(), 0u);
  EXPECT_EQ(acc[0].batch_bytes() * size_t(ms[1]), acc[1].batch_bytes() * size_t(ms[0]));
  EXPECT_DOUBLE_EQ(acc[0].bytes_per_sample(), acc[1].bytes_per_sample());
}

}  // namespace

TEST(MemoryAccount, Model1AllocatesExactlyTheAccount) { check_preset("train-3.1.toml"); }
TEST(MemoryAccount, Model2AllocatesExactlyTheAccount) { check_preset("train-3.4.3-report.toml"); }
TEST(MemoryAccount, SegmentationNetworkAllocatesExactlyTheAccount) { check_preset("train-3.4.1-segnet.toml"); }
// data.lengths: one network per other length over the same slabs (its activations and gradients).
TEST(MemoryAccount, SeveralLengthsAllocateExactlyTheAccount) {
  check_preset("train-broad-2state-2d.toml", {"data.lengths=[20, 60, 400]", "train.steps_per_epoch=3"});
  const MemoryAccount a = training_memory(small("train-broad-2state-2d.toml", 3, {"data.lengths=[20, 60, 400]"}));
  EXPECT_EQ(std::count_if(a.tensors.begin(), a.tensors.end(), [](const TensorAccount& t) { return t.name == "length20/c1/y"; }), 1);
  EXPECT_EQ(std::count_if(a.tensors.begin(), a.tensors.end(), [](const TensorAccount& t) { return t.name.rfind("length400/", 0) == 0; }), 0);
}

TEST(MemoryAccount, ModelTensorsComeFromTheLayers) {
  const ModelSpec s = zoo_model("model2", 50, 1, 2);
  const ModelInfo info = analyze(s);
  const MemoryAccount a = model_memory(s, 10);
  std::map<std::string, const TensorAccount*> by_name;
  for (const TensorAccount& t : a.tensors) EXPECT_TRUE(by_name.emplace(t.name, &t).second) << t.name << " twice";
  EXPECT_EQ(by_name.at("params")->elements, size_t(info.trainable));
  EXPECT_EQ(by_name.at("state")->elements, size_t(info.non_trainable));
  int bn = 0, pools = 0;
  for (size_t i = 1; i < s.layers.size(); ++i) {
    const std::string& n = s.layers[i].name;
    EXPECT_EQ(by_name.at(n + "/y")->elements, size_t(10) * info.shapes[i].T * info.shapes[i].C) << n;
    EXPECT_TRUE(by_name.at(n + "/dy")->per_sample) << n;
    if (s.layers[i].type == LayerType::BatchNorm) {
      ++bn;
      EXPECT_EQ(by_name.at(n + "/save_mean")->elements, size_t(info.shapes[i].C));
      EXPECT_FALSE(by_name.at(n + "/save_invstd")->per_sample);
    }
    if (s.layers[i].type == LayerType::GlobalMaxPool1D) {
      ++pools;
      EXPECT_EQ(by_name.at(n + "/argmax")->element_bytes, sizeof(int32_t));
    }
  }
  EXPECT_GT(bn, 0);
  EXPECT_EQ(pools, 5);
  // Adam keeps two moments of the parameter slab; LAMB adds its direction and per-layer norms.
  const std::vector<TensorAccount> adam = optimizer_memory("adam", {}, info.params);
  ASSERT_EQ(adam.size(), 2u);
  EXPECT_EQ(adam[0].elements, size_t(info.trainable));
  EXPECT_EQ(optimizer_memory("lamb", {}, info.params).size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// The op sequence of one training micro-batch of Model 2.

namespace {

struct StepTrace {
  std::vector<RecordingBackend::Op> ops;
  std::vector<RecordingBackend::Allocation> allocs;
  std::set<int> outputs;  // what a step hands on: step scalars, parameter gradients, running statistics
};

StepTrace trace_model2_step() {
  RecordingBackend be(make_backend(Device::cpu()));
  const int n = 4;
  const ModelSpec s = zoo_model("model2", 40, 1, 2);
  Model m(s, be, n, 1);
  Buffer<float> x = be.alloc<float>(size_t(n) * 40, "x"), y = be.alloc<float>(size_t(n) * 2, "y"),
                g = be.alloc<float>(size_t(n) * 2, "g");
  Buffer<double> acc = be.alloc<double>(1, "loss");
  std::vector<float> hx(size_t(n) * 40), hy(size_t(n) * 2, 0.0f);
  for (size_t i = 0; i < hx.size(); ++i) hx[i] = float((i * 37) % 11) / 11.0f - 0.4f;
  for (int r = 0; r < n; ++r) hy[size_t(r) * 2 + size_t(r % 2)] = 1.0f;
  be.upload(x.get(), hx.data(), hx.size());
  be.upload(y.get(), hy.data(), hy.size());
  be.clear_ops();
  const float* out = m.forward(x.get(), n, true);
  be.loss_accumulate(LossKind::CategoricalCrossEntropy, n, 2, out, y.get(), g.get(), 1.0f, 1.0, acc.get());
  m.backward(g.get());
  StepTrace t{be.ops(), be.allocations(), {be.id_of(acc.get()), be.id_of(m.grads()), be.id_of(m.state())}};
  return t;
}

}  // namespace

// A buffer filled with zeros and then added into by one op alone (before anything reads it) could
// have been written by that op: the fill is wasted work and traffic. Today's Model 2 does this on
// one kind of edge: the concatenation adds its output gradient into each global pooling's output
// gradient, which the model zero-fills first (Model::zero_filled_gradients). The list is asserted
// exactly so that any further such edge fails here.
TEST(StepOps, Model2FillsNoEdgeThatOneOpOnlyAddsInto) {
  const StepTrace t = trace_model2_step();
  std::vector<std::string> single;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    if (t.ops[i].name != "fill" || t.ops[i].fill_value != 0.0f) continue;
    const int b = t.ops[i].writes.at(0);
    std::set<size_t> adders;
    for (size_t j = i + 1; j < t.ops.size(); ++j) {
      const auto& o = t.ops[j];
      const auto has = [b](const std::vector<int>& v) { return std::find(v.begin(), v.end(), b) != v.end(); };
      if (has(o.reads) || has(o.writes)) break;  // read or overwritten: the adds so far end here
      if (has(o.adds)) adders.insert(j);
    }
    if (adders.size() == 1) single.push_back(t.allocs[size_t(b)].what + " <- " + t.ops[*adders.begin()].name);
  }
  std::sort(single.begin(), single.end());
  std::vector<std::string> expected;
  for (const char* k : {"k4", "k2", "k3", "k10", "k20"}) expected.push_back(std::string("gmax_") + k + "/dy <- add2d");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(single, expected);
}

// Every buffer the step writes is read by a later op of the step, or is one of its outputs (the
// loss scalar, the parameter gradients, the running statistics).
TEST(StepOps, Model2WritesNoTensorThatNothingReads) {
  const StepTrace t = trace_model2_step();
  std::vector<std::string> unread;
  std::set<int> reported;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    std::vector<int> written = t.ops[i].writes;
    written.insert(written.end(), t.ops[i].adds.begin(), t.ops[i].adds.end());
    for (const int b : written) {
      if (t.outputs.count(b) || reported.count(b)) continue;
      bool read = false;
      for (size_t j = i + 1; j < t.ops.size() && !read; ++j) {
        const auto& o = t.ops[j];
        read = std::find(o.reads.begin(), o.reads.end(), b) != o.reads.end() ||
               std::find(o.adds.begin(), o.adds.end(), b) != o.adds.end();
        // Overwritten unread ends the search, unless the op writes a block of the buffer (copy2d:
        // the concatenation writes its inputs side by side).
        if (!read && o.name != "copy2d" && std::find(o.writes.begin(), o.writes.end(), b) != o.writes.end()) break;
      }
      if (!read) {
        unread.push_back(t.allocs[size_t(b)].what + " (" + t.ops[i].name + ")");
        reported.insert(b);
      }
    }
  }
  EXPECT_EQ(unread, std::vector<std::string>{});
  // The trace itself is the step's: it reads the input and writes into the gradient slab.
  EXPECT_GT(t.ops.size(), 50u);
}

// Every tensor the model allocates is used by the step (read or written by some op): in Model 2
// every layer that computes an input's whole gradient is its buffer's first writer and writes it
// directly, so the model allocates no scratch.
TEST(StepOps, Model2TouchesEveryTensor) {
  const StepTrace t = trace_model2_step();
  std::set<int> touched;
  for (const auto& o : t.ops)
    for (const std::vector<int>* v : {&o.reads, &o.writes, &o.adds}) touched.insert(v->begin(), v->end());
  std::vector<std::string> untouched;
  for (size_t i = 0; i < t.allocs.size(); ++i)
    if (!touched.count(int(i))) untouched.push_back(t.allocs[i].what);
  EXPECT_EQ(untouched, std::vector<std::string>{});
}

namespace {
bool has_scratch(const ModelSpec& s) {
  const MemoryAccount a = model_memory(s, 4);
  return std::any_of(a.tensors.begin(), a.tensors.end(), [](const TensorAccount& t) { return t.role == TensorRole::Scratch; });
}
LayerSpec conv(const std::string& name, const std::string& in) {
  LayerSpec l = make_layer(name, "conv1d", {in});
  l.filters = 2;
  l.kernel = 3;
  l.padding = Padding::Same;
  return l;
}
}  // namespace

// The scratch exists where a layer computes an input gradient into it: a layer read by two
// others (the second writer adds), or a BatchNorm on the model's input (it computes the input's
// gradient, which nothing needs, in the scratch).
TEST(MemoryAccount, ScratchOnlyWhereALayerComputesIntoIt) {
  EXPECT_FALSE(has_scratch(zoo_model("model2", 30, 1, 2)));
  EXPECT_FALSE(has_scratch(zoo_model("model1", 30, 1, 1)));
  ModelSpec chain{"chain", 10, 1, {make_layer("input", "input", {}), conv("a", "input"), conv("b", "a")}, ""};
  EXPECT_FALSE(has_scratch(chain));
  ModelSpec fan = chain;
  fan.layers.push_back(conv("c", "a"));
  fan.layers.push_back(make_layer("cat", "concatenate", {"b", "c"}));
  EXPECT_TRUE(has_scratch(fan));
  ModelSpec bn{"bn", 10, 1, {make_layer("input", "input", {}), make_layer("n", "batchnorm", {"input"}), conv("a", "n")}, ""};
  EXPECT_TRUE(has_scratch(bn));
  // Both still train: their gradients come out finite through the scratch.
  for (const ModelSpec* s : {&fan, &bn}) {
    RecordingBackend be(make_backend(Device::cpu()));
    Model m(*s, be, 4, 1);
    Buffer<float> x = be.alloc<float>(40), g = be.alloc<float>(size_t(4) * m.output_shape().T * m.output_shape().C);
    std::vector<float> hx(40), hg(g.size(), 0.5f), grads(size_t(m.n_params()));
    for (size_t i = 0; i < hx.size(); ++i) hx[i] = float(i % 7) - 3.0f;
    be.upload(x.get(), hx.data(), hx.size());
    be.upload(g.get(), hg.data(), hg.size());
    m.forward(x.get(), 4, true);
    m.backward(g.get());
    be.download(grads.data(), m.grads(), grads.size());
    double sum = 0;
    for (float v : grads) sum += std::abs(v);
    EXPECT_TRUE(std::isfinite(sum) && sum > 0) << s->name;
  }
}

// `sptrain info --memory` prints the library's account: its JSON equals training_memory's at the
// micro-batch asked, and the table ends with the same total; bad combinations exit 2.
TEST(MemoryAccount, InfoMemoryPrintsTheAccount) {
  auto sh = [](const std::string& cmd, int& code) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int st = p ? pclose(p) : -1;
    code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
  };
  const std::string cfg = experiment("train-3.4.3-report.toml"), cli = SPTRAIN_CLI;
  TrainConfig c = load_train_config(cfg);
  c.micro_batch = 4096;
  const MemoryAccount a = training_memory(c);
  int code = 0;
  const nlohmann::json j = nlohmann::json::parse(sh(cli + " info --memory --json --micro-batch 4096 --config " + cfg, code));
  EXPECT_EQ(code, 0);
  EXPECT_EQ(j["total_bytes"].get<size_t>(), a.total_bytes());
  EXPECT_EQ(j["batch_bytes"].get<size_t>(), a.batch_bytes());
  ASSERT_EQ(j["tensors"].size(), a.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(j["tensors"][i]["name"], a.tensors[i].name);
    EXPECT_EQ(j["tensors"][i]["bytes"].get<size_t>(), a.tensors[i].bytes());
  }
  const std::string table = sh(cli + " info --memory --micro-batch 4096 --config " + cfg, code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(table.find("micro-batch 4096: " + std::to_string(a.total_bytes()) + " bytes"), std::string::npos) << table;
  EXPECT_NE(table.find("conv_k4_1/dy"), std::string::npos);
  sh(cli + " info --memory", code);
  EXPECT_EQ(code, 2);
  sh(cli + " info --config " + cfg, code);
  EXPECT_EQ(code, 2);
  sh(cli + " info --memory --micro-batch -3 --config " + cfg, code);
  EXPECT_EQ(code, 2);
}
