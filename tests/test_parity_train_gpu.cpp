// CPU vs GPU parity of training (ctest label `gpu`): 20 Adam steps of the report's Model 1 (MSE)
// and Model 2 (categorical cross-entropy), same init seed and the same fixed batches on both
// backends; the per-step loss curves and the final parameters are compared. Also the device batch
// source against the host one, and whole training runs (CUDA graphs) on both devices. Without a device the
// CPU half still runs (the loss must fall) and the test skips. Tolerances are in
// parity_tolerances.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/batch_source.hpp"
#include "parity_tolerances.hpp"
#include "sptrain/backend.hpp"
#include "sptrain/device.hpp"
#include "sptrain/features.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/model.hpp"
#include "sptrain/train.hpp"

using namespace sptrain;

namespace {

using Vec = std::vector<float>;

bool have_gpu() { return built_with_cuda() && !list_gpus().empty(); }

constexpr int kSteps = 20;
constexpr uint64_t kInitSeed = 2020;
constexpr float kLearningRate = 1e-3f;

struct Batches {
  std::vector<Vec> x, y;  // per step: (batch, T_in, 1) inputs and (batch, C) targets
};

// Model 1: positions of random walks with step std sigma in [0.5, 3], starting at 0; target sigma.
Batches walks(int batch, int T) {
  std::mt19937 g(11);
  std::uniform_real_distribution<float> sig(0.5f, 3.0f);
  std::normal_distribution<float> z(0.0f, 1.0f);
  Batches b;
  for (int s = 0; s < kSteps; ++s) {
    Vec x(size_t(batch) * T), y(static_cast<size_t>(batch));
    for (int n = 0; n < batch; ++n) {
      const float sigma = sig(g);
      float pos = 0;
      for (int t = 0; t < T; ++t) x[size_t(n) * T + t] = pos += t ? sigma * z(g) : 0.0f;
      y[size_t(n)] = sigma;
    }
    b.x.push_back(std::move(x));
    b.y.push_back(std::move(y));
  }
  return b;
}

// Model 2: displacements with std 1 (class 0) or 1.25 (class 1); one-hot targets.
Batches displacements(int batch, int T) {
  std::mt19937 g(12);
  std::normal_distribution<float> z(0.0f, 1.0f);
  Batches b;
  for (int s = 0; s < kSteps; ++s) {
    Vec x(size_t(batch) * T), y(size_t(batch) * 2, 0.0f);
    for (int n = 0; n < batch; ++n) {
      const int cls = int((g() >> 7) & 1u);
      for (int t = 0; t < T; ++t) x[size_t(n) * T + t] = (cls ? 1.25f : 1.0f) * z(g);
      y[size_t(n) * 2 + cls] = 1.0f;
    }
    b.x.push_back(std::move(x));
    b.y.push_back(std::move(y));
  }
  return b;
}

struct Trained {
  std::vector<double> loss;    // per step, before the step's update
  Vec init, params;            // parameters at init and after the last step
  Vec init_state, state;       // BatchNorm running statistics, likewise
};

// One training run, the same code on either backend: forward, loss with dpred, backward, Adam.
Trained train(Backend& be, const ModelSpec& spec, int batch, LossKind kind, const Batches& data) {
  Model m(spec, be, batch, kInitSeed);
  const size_t np = size_t(m.n_params());
  const Shape out = m.output_shape();
  const int rows = batch * out.T;
  Trained r;
  r.init.resize(np);
  be.download(r.init.data(), m.params(), np);
  r.init_state.resize(size_t(m.n_state()));
  if (!r.init_state.empty()) be.download(r.init_state.data(), m.state(), r.init_state.size());
  const Buffer<float> momb = be.alloc<float>(np), velb = be.alloc<float>(np);
  float *mom = momb.get(), *vel = velb.get();
  be.fill(mom, 0.0f, np);
  be.fill(vel, 0.0f, np);
  const Buffer<float> xb = be.alloc<float>(data.x[0].size()), yb = be.alloc<float>(data.y[0].size()),
                      db = be.alloc<float>(size_t(rows) * out.C);
  float *x = xb.get(), *y = yb.get(), *dpred = db.get();
  const Buffer<double> scalars = be.alloc<double>(kStepScalars);
  for (int s = 0; s < kSteps; ++s) {
    m.zero_grads();
    be.upload(x, data.x[size_t(s)].data(), data.x[size_t(s)].size());
    be.upload(y, data.y[size_t(s)].data(), data.y[size_t(s)].size());
    const float* pred = m.forward(x, batch, true);
    r.loss.push_back(be.loss(kind, rows, out.C, pred, y, dpred, 1.0f));
    m.backward(dpred);
    double sc[kStepScalars] = {};
    sc[kLr] = kLearningRate, sc[kT] = double(s + 1);
    be.upload_f64(scalars.get(), sc, kStepScalars);
    be.adam_step_dev(m.params(), m.grads(), mom, vel, np, 0.9f, 0.999f, 1e-7f, scalars.get());
  }
  r.params.resize(np);
  be.download(r.params.data(), m.params(), np);
  r.state.resize(size_t(m.n_state()));
  if (!r.state.empty()) be.download(r.state.data(), m.state(), r.state.size());
  return r;
}

double rms_diff(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s / double(std::max<size_t>(a.size(), 1)));
}

// cpu_half_alone: run the CPU half without a device too (it checks that the case trains).
void train_parity(const ModelSpec& spec, int batch, LossKind kind, const Batches& data, bool cpu_half_alone) {
  SCOPED_TRACE(spec.name);
  if (!cpu_half_alone && !have_gpu()) GTEST_SKIP() << "no CUDA device";
  Trained cpu;
  {
    auto be = make_backend(Device::cpu());
    cpu = train(*be, spec, batch, kind, data);
  }
  for (double l : cpu.loss) ASSERT_TRUE(std::isfinite(l));
  // The case trains (otherwise the comparison below proves little).
  EXPECT_LT(cpu.loss.back(), cpu.loss.front()) << "CPU loss did not fall over " << kSteps << " steps";
  const double moved = rms_diff(cpu.params, cpu.init);
  EXPECT_GT(moved, 0.0);
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device (the CPU half ran)";

  Trained gpu;
  {
    auto be = make_backend(Device::cuda(0), MathMode::Fp32);
    gpu = train(*be, spec, batch, kind, data);
  }
  // Initialization happens on the host: identical bits.
  ASSERT_EQ(cpu.init.size(), gpu.init.size());
  EXPECT_TRUE(cpu.init == gpu.init) << "initial parameters differ";
  for (int s = 0; s < kSteps; ++s)
    EXPECT_NEAR(gpu.loss[size_t(s)], cpu.loss[size_t(s)], test::train_loss_rel(s) * std::fabs(cpu.loss[size_t(s)]))
        << "step " << s;
  ASSERT_EQ(cpu.params.size(), gpu.params.size());
  const double apart = rms_diff(gpu.params, cpu.params);
  EXPECT_LE(apart, test::kTrainParamsApart * moved) << "rms CPU-GPU difference " << apart << ", rms move " << moved;
  double worst = 0;
  for (size_t i = 0; i < cpu.params.size(); ++i)
    worst = std::max(worst, std::fabs(double(gpu.params[i]) - cpu.params[i]));
  EXPECT_LE(worst, test::adam_reach(kSteps, kLearningRate)) << "largest parameter difference";
  // BatchNorm running statistics: the same comparison against how far they moved from (0, 1).
  ASSERT_EQ(cpu.state.size(), gpu.state.size());
  if (!cpu.state.empty()) {
    EXPECT_LE(rms_diff(gpu.state, cpu.state), test::kTrainParamsApart * rms_diff(cpu.state, cpu.init_state))
        << "BatchNorm statistics";
  }
}

}  // namespace

TEST(ParityTrainGpu, Model1Mse) {
  train_parity(zoo_model("model1", 100, 1, 1), 64, LossKind::MSE, walks(64, 100), true);
}

TEST(ParityTrainGpu, Model2CategoricalCrossEntropy) {
  // The CPU half takes ~20 s on two cores: only with a device to compare against.
  train_parity(zoo_model("model2", 999, 1, 2), 32, LossKind::CategoricalCrossEntropy, displacements(32, 999), false);
}

// The CUDA batch source (simulate, features and targets in device memory, counter in device
// memory) against the host source, for a per-trajectory and a per-step label: same trajectories,
// so inputs agree to the simulator's rounding (kTransRel on increments, accumulated in positions:
// log features near zero displacements amplify it, hence the feature tolerance below) and the
// targets are equal except where rounding moved a switch across a step boundary.

namespace {
std::string preset(const std::string& name) { return std::string(SPTRAIN_SOURCE_DIR) + "/experiments/" + name; }

void compare_sources(const TrainConfig& c, int64_t first, int64_t m) {
  auto cpu = make_backend(Device::cpu());
  auto gpu = make_backend(Device::cuda(0));
  const size_t nx = size_t(m) * c.model.T_in * c.model.C_in, ny = size_t(m) * c.target_elems();
  Vec xs[2], ys[2];
  Backend* bes[2] = {cpu.get(), gpu.get()};
  for (int b = 0; b < 2; ++b) {
    auto src = make_batch_source(c, c.data_seed, *bes[b], m);
    const Buffer<float> xb = bes[b]->alloc<float>(nx), yb = bes[b]->alloc<float>(ny);
    float *x = xb.get(), *y = yb.get();
    src->set_first(first);
    src->next(m, x, y);
    xs[b].resize(nx);
    ys[b].resize(ny);
    bes[b]->download(xs[b].data(), x, nx);
    bes[b]->download(ys[b].data(), y, ny);
  }
  size_t flips = 0, far = 0;
  for (size_t i = 0; i < ny; ++i) flips += ys[0][i] != ys[1][i] && std::abs(ys[0][i] - ys[1][i]) > 1e-5f * std::abs(ys[0][i]);
  // Log squared displacements are compared as displacements |dx| = sqrt(exp(x)): the log of a
  // displacement near zero turns the positions' absolute rounding into an unbounded difference
  // (17 of 63,936 features on an H200, 2026-11-29), while |dx| keeps it at kFeatureAbs.
  const bool log_dx = c.spec.features.kind == FeatureKind::LogSquaredDisplacements;
  for (size_t i = 0; i < nx; ++i) {
    const double a = log_dx ? std::sqrt(std::exp(double(xs[0][i]))) : xs[0][i];
    const double b = log_dx ? std::sqrt(std::exp(double(xs[1][i]))) : xs[1][i];
    far += !(std::abs(a - b) <= test::kFeatureAbs + 1e-3 * std::abs(a));
  }
  EXPECT_LE(flips, size_t(test::kMaxLabelFlips * double(ny)) + 2) << c.source;
  EXPECT_LE(far, size_t(1e-4 * double(nx)) + 2) << c.source;
}
}  // namespace

TEST(ParityTrainGpu, DeviceBatchesMatchHostBatches) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  compare_sources(load_train_config(preset("train-3.2-better.toml")), 12345, 500);
  compare_sources(load_train_config(preset("train-3.4.1-segnet.toml")), 777, 64);
  compare_sources(load_train_config(preset("train-3.4.3-windows.toml")), 0, 256);
}

// The whole trainer on both devices (device-side batches, micro-batches replayed as CUDA graphs,
// device-scalar optimizer step): per-epoch training loss and the test metric agree within the
// tolerance of 20 steps of training (train_loss_rel at the run's step count, doubled for the
// data's rounding differences).
TEST(ParityTrainGpu, TrainerRunsTheSameOnBothDevices) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const std::vector<std::string> set = {"train.epochs=2", "train.steps_per_epoch=10", "train.batch=256",
                                        "train.micro_batch=64", "data.val_size=256", "data.test_size=256",
                                        "early_stopping.patience=0"};
  nlohmann::json res[2];
  std::vector<double> loss[2];
  const Device devs[2] = {Device::cpu(), Device::cuda(0)};
  for (int b = 0; b < 2; ++b) {
    TrainConfig c = load_train_config(preset("train-3.2-better.toml"), set);
    TrainOptions o;
    o.run_dir = (std::filesystem::temp_directory_path() / ("sptrain_parity_train_" + std::to_string(b))).string();
    o.progress = false;
    std::filesystem::remove_all(o.run_dir);
    res[b] = train(c, devs[b], o);
    for (const auto& rec : read_metrics(o.run_dir)) loss[b].push_back(rec["loss"].get<double>());
    std::filesystem::remove_all(o.run_dir);
  }
  ASSERT_EQ(loss[0].size(), loss[1].size());
  for (size_t e = 0; e < loss[0].size(); ++e)
    EXPECT_NEAR(loss[1][e], loss[0][e], 2 * test::train_loss_rel(20) * std::abs(loss[0][e])) << "epoch " << e + 1;
  const double m0 = res[0]["test"]["mape"], m1 = res[1]["test"]["mape"];
  EXPECT_NEAR(m1, m0, 2 * test::train_loss_rel(20) * m0);
}
