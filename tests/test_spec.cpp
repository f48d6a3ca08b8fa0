// Spec parsing and validation: every bad key is reported as "<key>: <what> (<allowed>)".
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "sptrain/error.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"

using namespace sptrain;

namespace {
// Expects parse_spec to throw a KeyError naming `key` whose message contains `fragment`.
void expect_key_error(const std::string& toml, const std::string& key, const std::string& fragment,
                      const std::vector<std::string>& overrides = {}) {
  try {
    parse_spec(toml, overrides);
    ADD_FAILURE() << "no error for:\n" << toml;
  } catch (const KeyError& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind(key + ": ", 0), 0u) << e.what();
  }
}
const std::string kOk = "[states]\nsigma = [1.0, 10.0]\n";
}  // namespace

TEST(Spec, DefaultsAndDiffusionConstants) {
  auto s = parse_spec("dt = 0.1\n[states]\nD = [0.5, 50.0]\n");
  EXPECT_EQ(s.params.length, 100);
  EXPECT_EQ(s.params.dims, 1);
  EXPECT_EQ(s.params.n_states, 2);
  EXPECT_NEAR(s.params.sigma[0], std::sqrt(0.1), 1e-6);  // sigma^2 = 2 D dt
  EXPECT_NEAR(s.params.sigma[1], std::sqrt(10.0), 1e-5);
  EXPECT_EQ(s.params.switching, SwitchKind::None);
  EXPECT_NEAR(s.params.initial_cdf[0], 0.5, 1e-7);
  EXPECT_EQ(s.resolved["states"]["prior"], "fixed");
}

TEST(Spec, OverridesReplaceFileValues) {
  auto s = parse_spec(kOk + "[switching]\nmodel = \"poisson\"\nrate = 0.01\n", {"switching.rate=0.5", "length=7", "states.sigma=[2.0, 3.0, 4.0]"});
  EXPECT_FLOAT_EQ(s.params.rate, 0.5f);
  EXPECT_EQ(s.params.length, 7);
  EXPECT_EQ(s.params.n_states, 3);
}

TEST(Spec, TransitionMatrixAndStationaryInitial) {
  auto s = parse_spec(kOk + "[switching]\nmodel = \"markov\"\ntransition_matrix = [[0.9, 0.1], [0.3, 0.7]]\n");
  EXPECT_EQ(s.params.switching, SwitchKind::MarkovDiscrete);
  EXPECT_NEAR(s.params.initial_cdf[0], 0.75, 1e-6);  // pi = (0.75, 0.25)
}

TEST(Spec, BadInputNamesTheKey) {
  expect_key_error(kOk + "[switching]\nrat = 0.1\n", "switching.rat", "unknown key");
  expect_key_error("lenght = 5\n" + kOk, "lenght", "unknown key");
  expect_key_error("length = 0\n" + kOk, "length", "too small");
  expect_key_error("length = -3\n" + kOk, "length", "too small");
  expect_key_error("length = 2.5\n" + kOk, "length", "not an integer");
  expect_key_error("dims = 4\n" + kOk, "dims", "1, 2 or 3");
  expect_key_error("dims = 0\n" + kOk, "dims", "1, 2 or 3");
  expect_key_error("dt = 0\n" + kOk, "dt", "not positive");
  expect_key_error("[states]\nsigma = [1.0, -2.0]\n", "states.sigma", "not positive");
  expect_key_error("[states]\nsigma = [0.0]\n", "states.sigma", "not positive");
  expect_key_error("[states]\nD = [-1.0]\n", "states.D", "not positive");
  expect_key_error("[states]\nsigma = [1.0]\nD = [1.0]\n", "states.D", "together");
  expect_key_error("[states]\nprior = \"gamma\"\n", "states.prior", "not a prior");
  expect_key_error("[states]\nprior = \"weibull\"\nshape = -0.7\n", "states.shape", "not positive");
  expect_key_error("[states]\nprior = \"weibull\"\nscale = 0\n", "states.scale", "not positive");
  expect_key_error("[states]\nprior = \"uniform\"\nlow = 3.0\nhigh = 2.0\n", "states.high", "not above");
  expect_key_error("[states]\nprior = \"loguniform\"\nlow = 0.0\nhigh = 2.0\n", "states.low", "not positive");
  expect_key_error("[states]\nprior = \"uniform\"\ncount = 9\nlow = 0\nhigh = 1\n", "states.count", "out of range");
  expect_key_error(kOk + "[switching]\nmodel = \"poisson\"\nrate = -0.1\n", "switching.rate", "not positive");
  expect_key_error(kOk + "[switching]\nmodel = \"poisson\"\nrate = 0\n", "switching.rate", "not positive");
  expect_key_error(kOk + "[switching]\nmodel = \"poisson\"\n", "switching.rate", "missing");
  expect_key_error(kOk + "[switching]\nmodel = \"teleport\"\n", "switching.model", "not a switching model");
  expect_key_error("[states]\nsigma = [1.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.1\n", "switching.model", "at least 2 states");
  expect_key_error(kOk + "[switching]\nrate = 0.1\n", "switching.rate", "not used");
  expect_key_error(kOk + "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.1, 0.1], [0.2, -0.1]]\n",
                   "switching.rate_matrix[1]", "sum to 0");
  expect_key_error(kOk + "[switching]\nmodel = \"markov\"\nrate_matrix = [[0.1, -0.1], [0.2, -0.2]]\n",
                   "switching.rate_matrix[0]", "negative");
  expect_key_error(kOk + "[switching]\nmodel = \"markov\"\ntransition_matrix = [[0.5, 0.4], [0.2, 0.8]]\n",
                   "switching.transition_matrix[0]", "sum to 1");
  expect_key_error(kOk + "[switching]\nmodel = \"markov\"\ntransition_matrix = [[0.5, 0.5]]\n",
                   "switching.transition_matrix", "1 rows for 2 states");
  expect_key_error(kOk + "[switching]\nmodel = \"single\"\ntime = 150\n", "switching.time", "outside the trajectory");
  expect_key_error(kOk + "[switching]\nmodel = \"single\"\ntime = 0\n", "switching.time", "outside the trajectory");
  expect_key_error(kOk + "[switching]\nmodel = \"single\"\ntime_max = 500\n", "switching.time_max", "outside");
  expect_key_error(kOk + "[switching]\nmodel = \"single\"\nprobability = 1.5\n", "switching.probability", "outside [0, 1]");
  expect_key_error(kOk + "[noise]\nlocalization = -1\n", "noise.localization", "negative");
  expect_key_error(kOk + "[noise]\nexposure = 2\n", "noise.exposure", "outside [0, 1]");
  expect_key_error(kOk + "[noise]\nsubsteps = 0\n", "noise.substeps", "out of range");
  expect_key_error(kOk + "[features]\nkind = \"velocity\"\n", "features.kind", "not a feature");
  expect_key_error("[states]\nsigma = [1.0, 2.0]\ninitial = [0.3, 0.3]\n", "states.initial", "sums to");
  expect_key_error("length = \"long\"\n" + kOk, "length", "not a number");
  expect_key_error(kOk, "length", "too small", {"length=1"});
}

TEST(Spec, MissingStatesAndUnparsableText) {
  expect_key_error("length = 10\n", "states.sigma", "missing");
  EXPECT_THROW(load_spec("/nonexistent/spec.toml"), UsageError);
  EXPECT_THROW(parse_spec(kOk, {"novalue"}), UsageError);
}

TEST(Spec, EveryPresetInExperimentsParses) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SPTRAIN_SOURCE_DIR) + "/experiments")) {
    if (e.path().extension() != ".toml") continue;
    if (e.path().filename().string().rfind("train-", 0) == 0) {
      EXPECT_NO_THROW(load_train_config(e.path().string())) << e.path();
    } else {
      EXPECT_NO_THROW(load_spec(e.path().string())) << e.path();
      ++n;
    }
  }
  EXPECT_GE(n, 9);
  auto s = load_spec(std::string(SPTRAIN_SOURCE_DIR) + "/experiments/report-3.4.3-code.toml");
  EXPECT_EQ(s.params.prior, PriorKind::Uniform);
  EXPECT_FLOAT_EQ(s.params.single_time, 500.0f);
  EXPECT_FLOAT_EQ(s.params.single_prob, 0.5f);
  EXPECT_EQ(s.params.blend, Blend::ReportCode);
}
