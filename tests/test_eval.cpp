// sptrain eval: the baselines reach the statistical limits of docs/limits.md on small
// samples, outputs are complete, and the model path scores a trained run.
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/evaluate.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/trajectory_io.hpp"
#include "sptrain/train.hpp"
#include "stat_bounds.hpp"
#include "tiny_run.hpp"
#include "usage_error.hpp"

using namespace sptrain;
using test::train_run;
namespace fs = std::filesystem;

namespace {
struct Tmp : test::TempDir {
  Tmp() : test::TempDir("eval") {}
  const fs::path& p = path;
};

std::string preset(const std::string& name) { return std::string(SPTRAIN_SOURCE_DIR) + "/experiments/" + name; }

nlohmann::json baselines(const std::string& spec, int64_t n, const fs::path& out, bool plots = false) {
  EvalRequest r;
  r.baselines_only = true;
  r.spec_path = preset(spec);
  r.n = n;
  r.seed = 11;
  r.out_dir = out.string();
  r.plots = plots;
  return run_eval(r);
}

bool is_png(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  return in && std::string(sig, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
}
}  // namespace

TEST(Eval, SigmaMleReachesTheLimitOnTask32) {
  Tmp t;
  auto ev = baselines("report-3.2-code.toml", 2000, t.p / "e", true);
  const double mape = ev["methods"]["mle"]["metrics"]["mape"];
  // Limit ~5.66 %; the per-trajectory absolute percentage error has std ~4.3 %, so the mean over
  // 2000 has a standard error of 0.096 %: 5.5 standard errors is 0.53 %.
  EXPECT_TRUE(test::within_z(mape, 5.66, 0.096)) << mape;
  EXPECT_TRUE(fs::exists(t.p / "e" / "eval.json"));
  std::ifstream csv(t.p / "e" / "predictions.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 2001);
  EXPECT_TRUE(fs::exists(t.p / "e" / "scatter_mle_sigma.dat"));
  if (ev["plots"].size() > 0 && ev["plots"][0]["png"].get<bool>()) {
    EXPECT_TRUE(is_png(t.p / "e" / "scatter_mle_sigma.png"));
  }
}

TEST(Eval, HasSwitchClassifierReachesTheLimits) {
  Tmp t;
  // Report text variant: step sizes 1 and 10 are always told apart (limit 100 %).
  auto a = baselines("report-3.4.3-text.toml", 300, t.p / "a");
  EXPECT_GE(a["methods"]["bayes_switch_classifier"]["metrics"]["accuracy"].get<double>(), 0.99);
  // Code variant: limit ~94.4 %; binomial standard error on 600 is 0.0094, 5.5 of them 0.052.
  auto b = baselines("report-3.4.3-code.toml", 600, t.p / "b");
  const double acc = b["methods"]["bayes_switch_classifier"]["metrics"]["accuracy"];
  EXPECT_TRUE(test::within_z(acc, 0.944, 0.0094)) << acc;
}

TEST(Eval, HmmCountsSwitchesNearTheLimit) {
  Tmp t;
  auto ev = baselines("report-3.4.1-text.toml", 300, t.p / "c");
  const auto& m = ev["methods"]["hmm_count_map"]["metrics"];
  // Limit ~70 % exact (binomial SE on 300: 0.026; 5.5 SE = 0.145) and per-step state ~99.4 %.
  EXPECT_TRUE(test::within_z(m["exact_accuracy"].get<double>(), 0.70, 0.0265)) << m.dump();
  EXPECT_GT(m["per_step_state_accuracy"].get<double>(), 0.98);
  EXPECT_LT(m["mae"].get<double>(), 1.0);
}

TEST(Eval, ScoresATrainedModelBesideTheBaselines) {
  Tmp t;
  train_run(t.p, test::kSigmaSpec, test::kSigmaConfig);
  EvalRequest r;
  r.run_dir = (t.p / "run").string();
  r.n = 500;
  r.out_dir = (t.p / "ev").string();
  r.plots = false;
  auto ev = run_eval(r);
  ASSERT_TRUE(ev["methods"].contains("model")) << ev.dump();
  const double model = ev["methods"]["model"]["metrics"]["mape"], mle = ev["methods"]["mle"]["metrics"]["mape"];
  EXPECT_LT(model, 1.5 * mle) << "a trained sqrt(w . dx^2) model is close to the MLE (here 7.5 % vs 7.2 %)";
  // Outputs exist: a second eval into the same directory needs force.
  EXPECT_THROW(run_eval(r), UsageError);
  r.force = true;
  EXPECT_NO_THROW(run_eval(r));
}

// A per-step (step_state) model trains, and eval decodes its path: per-step accuracy well above
// chance, and a prohibitive switch penalty leaves one state per trajectory, so the decoded count is
// 0 everywhere (count MAE = the mean true count, has-switch accuracy = the share without switches).
TEST(Eval, SegmentationModelIsDecodedIntoCountsAndTimes) {
  Tmp t;
  const std::string spec = "length = 80\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.03\n"
                           "[features]\nkind = \"log_squared_displacements\"\n";
  std::ofstream(t.p / "spec.toml") << spec;
  std::ofstream(t.p / "c.toml") << "[data]\nspec = \"spec.toml\"\nlabel = \"step_state\"\nval_size = 100\ntest_size = 100\n"
                                   "[train]\nbatch = 32\nsteps_per_epoch = 50\nepochs = 3\nlr = 1e-2\n"
                                   "[layer.c]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 4\nkernel = 5\n"
                                   "padding = \"same\"\nactivation = \"relu\"\ninit = \"he_normal\"\n"
                                   "[layer.s]\ntype = \"conv1d\"\ninputs = [\"c\"]\nfilters = 2\n";
  EXPECT_EQ(load_train_config((t.p / "c.toml").string()).target_steps(), 79);
  auto res = train_run(t.p);
  // One step of std 1 or 10 seen through 5-step windows: > 90 % of steps right (chance: ~50 %).
  EXPECT_GT(res["test"]["acc"].get<double>(), 0.9) << res.dump();
  EvalRequest r;
  r.run_dir = (t.p / "run").string();
  r.n = 400;
  r.seed = 5;
  r.out_dir = (t.p / "ev").string();
  r.plots = true;  // the example-trajectory figure gets the model's states beside the HMM's
  auto ev = run_eval(r);
  EXPECT_TRUE(fs::exists(t.p / "ev" / "example_trajectories.dat")) << ev.dump();
  r.plots = false;
  const auto& m = ev["methods"]["model"]["metrics"];
  EXPECT_GT(m["per_step_state_accuracy"].get<double>(), 0.9) << m.dump();
  ASSERT_TRUE(m.contains("count_mae"));
  TrajectoryBatch b;
  simulate(parse_spec(spec).params, 5, 0, 400, Device::cpu(), b);
  double mean_count = 0, none = 0;
  for (int64_t i = 0; i < b.n; ++i) {
    mean_count += b.n_switches[i] / 400.0;
    none += (b.n_switches[i] == 0) / 400.0;
  }
  r.switch_penalty = 1e9;
  r.out_dir = (t.p / "ev2").string();
  auto ev2 = run_eval(r);
  const auto& m2 = ev2["methods"]["model"]["metrics"];
  EXPECT_NEAR(m2["count_mae"].get<double>(), mean_count, 1e-9);
  EXPECT_NEAR(m2["has_switch_accuracy"].get<double>(), none, 1e-9);
}

TEST(Eval, InputFilesWithoutLabelsOrWrongShapesAreRejected) {
  Tmp t;
  std::ofstream(t.p / "tracks.csv") << "particle,frame,x,y\n0,0,1.0,2.0\n0,1,1.5,2.1\n0,2,1.7,2.0\n";
  EvalRequest r;
  r.baselines_only = true;
  r.input = (t.p / "tracks.csv").string();
  r.out_dir = (t.p / "o").string();
  EXPECT_HAS(test::usage_error([&] { run_eval(r); }), "nothing to score against");
  std::ofstream(t.p / "ragged.csv") << "particle,frame,x,sigma\n0,0,1.0,1\n0,1,1.5,1\n0,2,1.7,1\n1,0,1.0,1\n1,1,2.0,1\n";
  r.input = (t.p / "ragged.csv").string();
  EXPECT_HAS(test::usage_error([&] { run_eval(r); }), "one length");
}

// Bad input is a UsageError naming the file, line and track, found before any work: tracks too
// short for the MSD fit, displacements that overflow float32, immobile tracks; and a checkpoint
// with non-finite weights.
TEST(Eval, BadTrajectoriesAreUsageErrorsNamingFileLineAndTrack) {
  Tmp t;
  auto eval_error = [&](const std::string& name, const std::string& csv) {
    std::ofstream(t.p / name) << csv;
    EvalRequest r;
    r.baselines_only = true;
    r.input = (t.p / name).string();
    r.out_dir = (t.p / ("o-" + name)).string();
    try {
      run_eval(r);
    } catch (const UsageError& e) {
      EXPECT_FALSE(fs::exists(r.out_dir)) << "checked before any output";
      return std::string(e.what());
    }
    ADD_FAILURE() << name << ": no UsageError";
    return std::string();
  };
  const std::string head = "particle,frame,x,sigma\n";
  std::string four;
  for (int f = 0; f < 4; ++f) four += "7," + std::to_string(f) + "," + std::to_string(f * 0.5) + ",1\n";
  std::string msg = eval_error("short.csv", head + four);
  EXPECT_NE(msg.find(":2: track 7 has 4 positions (3 steps); the MSD fit over 4 lags needs at least 5"), std::string::npos)
      << msg;
  std::string huge = head;
  for (int f = 0; f < 6; ++f) huge += "2," + std::to_string(f) + "," + (f % 2 ? "3e38" : "-3e38") + ",1\n";
  msg = eval_error("huge.csv", huge);
  EXPECT_NE(msg.find("huge.csv:2: track 2: the displacement at step 0 overflows float32"), std::string::npos) << msg;
  std::string still = head;
  for (int f = 0; f < 6; ++f) still += "0," + std::to_string(f) + ",1.5,1\n";
  for (int f = 0; f < 6; ++f) still += "1," + std::to_string(f) + "," + std::to_string(f) + ",1\n";
  msg = eval_error("still.csv", "particle,frame,x,n_switches\n" + still.substr(head.size()));
  EXPECT_NE(msg.find("still.csv:2: track 0 never moves"), std::string::npos) << msg;
}

TEST(Eval, CheckpointWithNonFiniteWeightsIsRefusedNamingTheTensor) {
  Tmp t;
  train_run(t.p, test::kOneStepSpec, test::kOneStepConfig);
  test::edit_params(t.p / "run", [](std::vector<char>& bytes) {
    const float inf = INFINITY;
    std::memcpy(bytes.data() + 4, &inf, 4);
  });
  EvalRequest r;
  r.run_dir = (t.p / "run").string();
  r.n = 20;
  r.out_dir = (t.p / "ev").string();
  r.plots = false;
  try {
    run_eval(r);
    FAIL() << "non-finite weights accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'params' holds an infinity at element 1"), std::string::npos)
        << e.what();
  }
}

// The largest switch count a file may hold is scored without int32 overflow (MAPE on count + 1).
TEST(Eval, LargestSwitchCountIsScoredWithoutOverflow) {
  Tmp t;
  std::string csv = "particle,frame,x,n_switches\n";
  for (int f = 0; f < 8; ++f) csv += "0," + std::to_string(f) + "," + std::to_string((f * 7) % 5) + ",2147483647\n";
  std::ofstream(t.p / "max.csv") << csv;
  EvalRequest r;
  r.baselines_only = true;
  r.input = (t.p / "max.csv").string();
  r.out_dir = (t.p / "o").string();
  r.plots = false;
  auto ev = run_eval(r);
  const double mape = ev["methods"]["hmm_em_viterbi"]["metrics"]["mape_plus_one"];
  EXPECT_GT(mape, 99.0) << "a count of at most 7 against 2^31 - 1 is ~100 % off";
  EXPECT_LE(mape, 100.0);
}

// A one-switch run scored from a file decodes with the single change point, as from its spec: the
// same trajectories (the spec's seed 5, written to NPY with their labels) give the same decoding
// and the same switch-time MAE either way.
TEST(Eval, OneSwitchRunDecodesFilesAsItsSpec) {
  Tmp t;
  const std::string spec = "length = 60\n[states]\nsigma = [1.0, 6.0]\n[switching]\nmodel = \"single\"\n"
                           "time_min = 5\ntime_max = 54\n[features]\nkind = \"log_squared_displacements\"\n";
  std::ofstream(t.p / "spec.toml") << spec;
  std::ofstream(t.p / "c.toml") << "[data]\nspec = \"spec.toml\"\nlabel = \"step_state\"\nval_size = 100\ntest_size = 100\n"
                                   "[train]\nbatch = 32\nsteps_per_epoch = 40\nepochs = 2\nlr = 1e-2\n"
                                   "[layer.c]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 4\nkernel = 5\n"
                                   "padding = \"same\"\nactivation = \"relu\"\ninit = \"he_normal\"\n"
                                   "[layer.s]\ntype = \"conv1d\"\ninputs = [\"c\"]\nfilters = 2\n";
  train_run(t.p);
  EvalRequest r;
  r.run_dir = (t.p / "run").string();
  r.n = 300;
  r.seed = 5;
  r.out_dir = (t.p / "from_spec").string();
  r.plots = false;
  auto a = run_eval(r);
  TrajectoryBatch b;
  simulate(parse_spec(spec).params, 5, 0, 300, Device::cpu(), b);
  write_batch_npy(b, (t.p / "same.npy").string(), "{}");
  r.input = (t.p / "same.npy").string();
  r.out_dir = (t.p / "from_file").string();
  auto f = run_eval(r);
  const auto& ma = a["methods"]["model"], mf = f["methods"]["model"];
  EXPECT_EQ(ma["decoding"], "best single change point");
  EXPECT_EQ(mf["decoding"], "best single change point");
  ASSERT_TRUE(mf["metrics"].contains("switch_time_mae")) << mf.dump();
  EXPECT_DOUBLE_EQ(mf["metrics"]["switch_time_mae"].get<double>(), ma["metrics"]["switch_time_mae"].get<double>());
  EXPECT_DOUBLE_EQ(mf["metrics"]["per_step_state_accuracy"].get<double>(),
                   ma["metrics"]["per_step_state_accuracy"].get<double>());
  // Steps of std 1 and 6 are told apart nearly always: the single change point lands within a few
  // steps of the true switch (the penalized path at penalty 0 splits tracks into many pieces).
  EXPECT_LT(mf["metrics"]["switch_time_mae"].get<double>(), 3.0) << mf.dump();
}

// A file with has_switch labels alone is scored (the counts are not needed), and the fitted HMM's
// per-step states are scored against a file's per-step states.
TEST(Eval, HasSwitchOnlyFilesScoreAndFittedHmmStatesAreScored) {
  Tmp t;
  const std::string spec = "length = 100\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"single\"\n"
                           "probability = 0.5\ntime_min = 10\ntime_max = 89\n";
  TrajectoryBatch b;
  simulate(parse_spec(spec).params, 9, 0, 200, Device::cpu(), b);
  write_batch_csv(b, (t.p / "full.csv").string());
  // Keep particle, frame, x and one label column: has_switch (8th) or state (4th).
  auto keep = [&](const std::string& out, int col) {
    std::ifstream in(t.p / "full.csv");
    std::ofstream o(t.p / out);
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> c;
      std::stringstream ss(line);
      for (std::string v; std::getline(ss, v, ',');) c.push_back(v);
      c.resize(9);
      o << c[0] << "," << c[1] << "," << c[2] << "," << c[size_t(col)] << "\n";
    }
  };
  keep("has.csv", 7);
  keep("state.csv", 3);
  EvalRequest r;
  r.baselines_only = true;
  r.plots = false;
  r.input = (t.p / "has.csv").string();
  r.out_dir = (t.p / "o1").string();
  auto ev = run_eval(r);
  // Steps of std 1 and 10 on either side of a switch at least 10 steps from the ends: the fitted
  // two-state HMM finds (or rules out) the switch in well over 95 % of 200 tracks.
  const auto& m = ev["methods"]["hmm_em_viterbi"];
  ASSERT_TRUE(m.contains("metrics")) << m.dump();
  EXPECT_GT(m["metrics"]["has_switch_accuracy"].get<double>(), 0.95) << m.dump();
  std::ifstream pred(t.p / "o1" / "predictions.csv");
  std::string header;
  std::getline(pred, header);
  EXPECT_NE(header.find("true_has_switch"), std::string::npos) << header;
  r.input = (t.p / "state.csv").string();
  r.out_dir = (t.p / "o2").string();
  auto ev2 = run_eval(r);
  const auto& m2 = ev2["methods"]["hmm_em_viterbi"];
  ASSERT_TRUE(m2.contains("metrics")) << m2.dump();
  // Per step, std 1 against 10 is told apart with error ~1e-3: > 98 % under the best matching.
  EXPECT_GT(m2["metrics"]["per_step_state_accuracy"].get<double>(), 0.98) << m2.dump();
}
