// Spec parsing and validation: every bad key is reported as "<key>: <what> (<allowed>)".
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

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
  // An empty name is not a distribution (it was read as one with no entries).
  expect_key_error("[states]\nD = [0.05, 0.5, 2.0]\ninitial = \"\"\n", "states.initial", "'' is not an initial distribution");
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
  expect_key_error("length = \"long\"\n" + kOk, "length", "expected an integer, got a string");
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

namespace {
// Expects parse_spec to throw a UsageError (not necessarily naming a key) whose message contains `fragment`.
void expect_usage_error(const std::string& toml, const std::string& fragment, const std::vector<std::string>& overrides = {}) {
  try {
    parse_spec(toml, overrides);
    ADD_FAILURE() << "no error for:\n" << toml;
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// A scratch directory for config files, removed at the end of the test.
struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    dir = std::filesystem::temp_directory_path() /
          ("sptrain_spec_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
};

// Expects load_train_config to throw a KeyError naming `key` whose message contains `fragment`.
void expect_config_error(const std::string& path, const std::string& key, const std::string& fragment,
                         const std::vector<std::string>& overrides = {}) {
  try {
    load_train_config(path, overrides);
    ADD_FAILURE() << "no error for " << path;
  } catch (const KeyError& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}
const std::string kConfig = "[data]\nspec = \"spec.toml\"\nval_size = 50\ntest_size = 50\n[train]\nbatch = 16\n"
                            "steps_per_epoch = 2\nepochs = 2\n[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"input\"]\n"
                            "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";
const std::string kConfigSpec = "length = 40\n[states]\nsigma = [1.0, 3.0]\n";
}  // namespace

TEST(Spec, ValuesHaveTheirTomlType) {
  expect_key_error("length = \"20\"\n" + kOk, "length", "expected an integer, got a string \"20\"");
  expect_key_error("length = [20]\n" + kOk, "length", "expected an integer, got an array");
  expect_key_error("length = 20.0\n" + kOk, "length", "not an integer");
  expect_key_error("length = true\n" + kOk, "length", "expected an integer, got a boolean");
  expect_key_error("dt = \"0.1\"\n" + kOk, "dt", "expected a number, got a string");
  expect_key_error("[states]\nsigma = 1.0\n", "states.sigma", "expected an array of numbers, got a float");
  expect_key_error("[states]\nsigma = [1.0, \"2\"]\n", "states.sigma", "entry 1: expected a number, got a string");
  expect_key_error(kOk + "[features]\nmean_removal = 1\n", "features.mean_removal", "expected a boolean, got an integer");
  expect_key_error(kOk + "[features]\ncenter = \"yes\"\n", "features.center", "expected a boolean, got a string");
  expect_key_error(kOk + "[features]\nmean_channel = true\n", "features.mean_channel", "needs features.center = true");
  expect_key_error(kOk + "[features]\ncenter_window = 16\n", "features.center_window", "needs features.center = true");
  expect_key_error(kOk + "[features]\ncenter = true\ncenter_window = -1\n", "features.center_window", "is negative");
  expect_key_error(kOk + "[features]\nkind = \"positions\"\nturning = true\n", "features.turning", "needs displacement features");
  expect_key_error(kOk + "[switching]\nmodel = 3\n", "switching.model", "expected a string, got an integer");
  expect_key_error("dt = inf\n" + kOk, "dt", "not finite");
  expect_key_error(kOk + "[switching]\nmodel = \"markov\"\nrate_matrix = [-0.1, 0.1]\n", "switching.rate_matrix[0]",
                   "expected a row");
  // Integers a spec stores as int32 are checked as 64-bit TOML integers before they are narrowed.
  expect_key_error("length = 4294967298\n" + kOk, "length", "too large");
  expect_key_error(kOk + "[noise]\nsubsteps = 4294967297\n", "noise.substeps", "out of range");
  expect_key_error(kOk + "[switching]\nmax_recorded = 4294967297\n", "switching.max_recorded", "out of range");
}

TEST(Spec, ParseErrorsGiveLineAndColumn) {
  expect_usage_error(kOk + "name = \"unterminated\n", "spec <string>:3:");
  expect_usage_error("[states]\nsigma = [1.0, 2.0\n", "spec <string>:");
  expect_usage_error("length = 5\nlength = 6\n" + kOk, "spec <string>:2:");  // a key given twice
  expect_usage_error("[states]\nsigma = [1.0]\n[states]\nD = [1.0]\n", "spec <string>:3:");  // a table given twice
  expect_usage_error(kOk + "[switching]\nmodel = poisson\n", "spec <string>:4:");  // a bare word is no TOML value
  Scratch s;
  auto path = s.write("bad.toml", "length = 10\n[states\nsigma = [1.0]\n");
  try {
    load_spec(path);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("spec " + path + ":2:", 0), 0u) << e.what();
  }
}

TEST(Spec, ByteOrderMarkIsAccepted) {
  auto s = parse_spec("\xEF\xBB\xBFlength = 12\n" + kOk);
  EXPECT_EQ(s.params.length, 12);
  EXPECT_EQ(s.params.n_states, 2);
}

TEST(Spec, OverridesAreTomlValuesOrBareWords) {
  auto s = parse_spec(kOk, {"features.kind=squared_displacements", "switching.model=\"poisson\"", "switching.rate = 0.25",
                            "states.sigma=[2, 3.5]", "features.mean_removal=true"});
  EXPECT_EQ(s.features.kind, FeatureKind::SquaredDisplacements);
  EXPECT_EQ(s.params.switching, SwitchKind::Poisson);
  EXPECT_FLOAT_EQ(s.params.rate, 0.25f);
  EXPECT_FLOAT_EQ(s.params.sigma[1], 3.5f);
  EXPECT_TRUE(s.features.mean_removal);
  expect_key_error(kOk, "length", "expected an integer, got a string", {"length=\"20\""});
  expect_key_error(kOk, "length", "expected an integer, got a string", {"length=long"});
  expect_key_error(kOk, "colour", "unknown key", {"colour=3"});
  expect_usage_error(kOk, "--set length=99999999999999999999", {"length=99999999999999999999"});  // overflows int64
  expect_usage_error(kOk, "--set", {"states.sigma=[1.0"});
  expect_usage_error(kOk, "--set", {"length="});
}

TEST(Spec, Float32ValuesAreBounded) {
  expect_key_error("[states]\nsigma = [1e300]\n", "states.sigma", "too large");
  expect_key_error("[states]\nsigma = [1e39]\n", "states.sigma", "too large");  // finite double, inf as float32
  expect_key_error("[states]\nD = [1e300]\n", "states.D", "too large");
  expect_key_error("[start]\nlow = -1e300\n" + kOk, "start.low", "out of range");
  expect_key_error("[start]\nhigh = 1e7\n" + kOk, "start.high", "out of range");
  expect_key_error("dt = 1e300\n" + kOk, "dt", "out of range");
  expect_key_error("[states]\nprior = \"weibull\"\nscale = 1e300\n", "states.scale", "out of range");
  expect_key_error("[states]\nprior = \"weibull\"\nshape = 0.01\n", "states.shape", "out of range");
  // shape 0.1: sigmas up to 23^10 * scale, beyond float32's sigma^2 for scale 1e6.
  expect_key_error("[states]\nprior = \"weibull\"\nshape = 0.1\nscale = 1e6\n", "states.shape", "draws sigmas up to");
  EXPECT_NO_THROW(parse_spec("[states]\nprior = \"weibull\"\nshape = 0.1\nscale = 1.0\n"));
  expect_key_error("[states]\nprior = \"uniform\"\nlow = 0\nhigh = 1e300\n", "states.high", "out of range");
  expect_key_error(kOk + "[noise]\nlocalization = 1e300\n", "noise.localization", "out of range");
  expect_key_error(kOk + "[features]\nlog_eps = 1e-50\n", "features.log_eps", "out of range");
  auto s = parse_spec("[start]\nlow = -1e6\nhigh = 1e6\n[states]\nsigma = [1e6]\n");
  EXPECT_TRUE(std::isfinite(s.params.start_low) && std::isfinite(s.params.sigma[0]));
}

TEST(Spec, SwitchingWorkIsBounded) {
  const std::string two = "length = 101\n[states]\nsigma = [1.0, 2.0]\n[switching]\nmodel = ";
  expect_key_error(two + "\"poisson\"\nrate = 1e8\n", "switching.rate", "expected switches per trajectory, too many");
  expect_key_error(two + "\"poisson\"\nrate = 1e17\n", "switching.rate", "rate * steps <= 1e+06");
  EXPECT_NO_THROW(parse_spec(two + "\"poisson\"\nrate = 10000.0\n"));  // 100 steps: 1e6 switches, the limit
  expect_key_error(two + "\"poisson\"\nrate = 10000.5\n", "switching.rate", "too many");
  expect_key_error(two + "\"markov\"\nrate_matrix = [[-1e8, 1e8], [0.1, -0.1]]\n", "switching.rate_matrix[0]", "too many");
  EXPECT_NO_THROW(parse_spec(two + "\"markov\"\nrate_matrix = [[-1e4, 1e4], [0.1, -0.1]]\n"));
}

TEST(Spec, SpecFilesAreBoundedAndRegular) {
  try {
    load_spec("/dev/zero");
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  Scratch s;
  EXPECT_THROW(load_spec(s.dir.string()), UsageError);  // a directory
  auto big = s.write("big.toml", kOk + "# " + std::string(size_t(1) << 20, 'x') + "\n");
  try {
    load_spec(big);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("too large (at most 1048576 bytes"), std::string::npos) << e.what();
  }
  auto cfg = s.write("cfg.toml", kConfig);
  s.write("spec.toml", "# " + std::string(size_t(1) << 20, 'x') + "\n" + kConfigSpec);
  EXPECT_THROW(load_train_config(cfg), UsageError);
  EXPECT_THROW(load_train_config("/dev/zero"), UsageError);
  EXPECT_NO_THROW(load_spec(s.write("ok.toml", kOk + "# " + std::string(1000, 'x') + "\n")));
}

TEST(Spec, MemoryIsCheckedBeforeAllocating) {
  // A trajectory of 100000 positions takes ~1.3 MB: a billion of them fit nowhere.
  auto s = parse_spec("length = 100000\n" + kOk);
  try {
    check_trajectory_memory(s.params, 1e9, "--n");
    ADD_FAILURE() << "no error";
  } catch (const KeyError& e) {
    EXPECT_EQ(e.key(), "--n");
    EXPECT_NE(std::string(e.what()).find("--n: needs 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bytes of physical memory available)"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_trajectory_memory(s.params, 10, "--n"));
  EXPECT_GT(trajectory_bytes(s.params), 100000 * 4.0);
}

TEST(TrainConfigLimits, IntegersAreCheckedBeforeNarrowing) {
  Scratch s;
  s.write("spec.toml", kConfigSpec);
  auto cfg = s.write("cfg.toml", kConfig);
  EXPECT_NO_THROW(load_train_config(cfg));
  expect_config_error(cfg, "train.batch", "2147483664 is too large", {"train.batch=2147483664"});
  expect_config_error(cfg, "train.micro_batch", "too large", {"train.micro_batch=4294967296"});
  expect_config_error(cfg, "train.epochs", "too large", {"train.epochs=9000000000000"});
  expect_config_error(cfg, "train.steps_per_epoch", "too large", {"train.steps_per_epoch=9000000000000"});
  expect_config_error(cfg, "layer.out.units", "too large", {"layer.out.units=4294967297"});
  expect_config_error(cfg, "data.seed", "out of range", {"data.seed=-1"});
  expect_config_error(cfg, "train.seed", "out of range", {"train.seed=-5"});
  expect_config_error(cfg, "data.test_size", "too large", {"data.test_size=4294967296"});
  expect_config_error(cfg, "train.batch", "expected an integer, got a string", {"train.batch=\"16\""});
  expect_config_error(cfg, "train.lr", "out of range", {"train.lr=1e300"});
  expect_config_error(cfg, "train.warmup_steps", "too large", {"train.warmup_steps=1152921504606846976"});
  expect_config_error(cfg, "train.optimizer", "not an optimizer", {"train.optimizer=adamw"});  // a bare word
  EXPECT_NO_THROW(load_train_config(cfg, {"train.optimizer=sgd"}));
}

TEST(TrainConfigLimits, MemoryIsCheckedAtConfigLoad) {
  Scratch s;
  s.write("spec.toml", kConfigSpec);
  auto cfg = s.write("cfg.toml", kConfig);
  s.write("big.toml", "length = 10000\n[states]\nsigma = [1.0, 3.0]\n");
  expect_config_error(cfg, "data.test_size", "bytes of physical memory available", {"data.test_size=2147483647", "data.spec=big.toml"});
  expect_config_error(cfg, "data.val_size", "needs ", {"data.val_size=2147483647", "data.spec=big.toml"});
  // One conv1d layer of 65536 filters of width 16384 over 65536 channels: 2^48 weights.
  auto wide = s.write("wide.toml", "[data]\nspec = \"spec.toml\"\nval_size = 50\ntest_size = 50\n[train]\nbatch = 16\n"
                                   "steps_per_epoch = 2\nepochs = 2\n[layer.a]\ntype = \"conv1d\"\ninputs = [\"input\"]\n"
                                   "filters = 65536\nkernel = 1\n[layer.b]\ntype = \"conv1d\"\ninputs = [\"a\"]\nfilters = 65536\n"
                                   "kernel = 16384\npadding = \"same\"\n[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"b\"]\n"
                                   "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n");
  expect_config_error(wide, "layer.b.filters", "needs ");
}

TEST(TrainConfigLimits, RunDirectoryOverridesAreReadWithTheFileChecks) {
  Scratch s;
  s.write("spec.toml", kConfigSpec);
  s.write("config.toml", kConfig);
  s.write("overrides.txt", "train.epochs=3\n");
  EXPECT_EQ(load_run_config(s.dir.string()).epochs, 3);
  std::filesystem::remove(s.dir / "overrides.txt");
  EXPECT_EQ(load_run_config(s.dir.string()).epochs, 2);  // no overrides
  std::filesystem::create_directories(s.dir / "overrides.txt");
  try {
    load_run_config(s.dir.string());
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

// The per-trajectory range keys: parsed into SimParams, and every bad value names its key.
TEST(Spec, BroadPriorKeys) {
  const std::string two = "[states]\nprior = \"loguniform\"\ncount = 2\nlow = 0.1\nhigh = 1.0\n";
  const std::string markov = "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\n";
  SimParams p = parse_spec(two + "order = \"ascending\"\nD_ratio = [4.0, 25.0]\n" + markov +
                           "rate_factor = [0.5, 2.0]\n[noise]\nlocalization_range = [0.05, 0.3]\n"
                           "localization_prior = \"loguniform\"\nexposure_range = [0.2, 0.8]\n")
                    .params;
  EXPECT_EQ(p.sigma_order, 1);
  EXPECT_FLOAT_EQ(p.ratio_low, 2.0f);  // sigma ratio = sqrt(D ratio)
  EXPECT_FLOAT_EQ(p.ratio_high, 5.0f);
  EXPECT_FLOAT_EQ(p.rate_factor_low, 0.5f);
  EXPECT_FLOAT_EQ(p.rate_factor_high, 2.0f);
  EXPECT_EQ(p.noise_prior, PriorKind::LogUniform);
  EXPECT_FLOAT_EQ(p.noise_low, 0.05f);
  EXPECT_FLOAT_EQ(p.loc_noise, 0.3f);  // the upper end, for the readers of the range
  EXPECT_EQ(p.exposure_range, 1);
  EXPECT_FLOAT_EQ(p.exposure, 0.8f);
  EXPECT_TRUE(p.blurred());
  EXPECT_TRUE(p.extras());
  SimParams q = parse_spec(two + "[noise]\nlocalization_range = [0.0, 0.3]\n").params;
  EXPECT_EQ(q.noise_prior, PriorKind::Uniform);
  EXPECT_FALSE(parse_spec(two).params.extras());
  EXPECT_FALSE(parse_spec(two + "order = \"ascending\"\n").params.extras());  // sorting draws nothing new

  expect_key_error(two + "order = \"descending\"\n", "states.order", "not an order");
  expect_key_error("[states]\nsigma = [1.0, 2.0]\norder = \"ascending\"\n", "states.order", "not used");
  expect_key_error("[states]\nsigma = [1.0, 2.0]\nD_ratio = [2.0, 3.0]\n", "states.D_ratio", "not used");
  expect_key_error(two + "D_ratio = [0.5, 3.0]\n", "states.D_ratio", "below 1");
  expect_key_error(two + "D_ratio = [5.0, 3.0]\n", "states.D_ratio", "below low");
  expect_key_error(two + "D_ratio = [5.0]\n", "states.D_ratio", "1 values given");
  expect_key_error("[states]\nprior = \"loguniform\"\nlow = 0.1\nhigh = 1.0\nD_ratio = [2.0, 3.0]\n", "states.D_ratio",
                   "at least 2 states");
  expect_key_error("[states]\nprior = \"loguniform\"\ncount = 8\nlow = 0.1\nhigh = 1e5\nD_ratio = [1e5, 1e6]\n",
                   "states.D_ratio", "too large");
  expect_key_error(two + markov + "rate_factor = [0.0, 2.0]\n", "switching.rate_factor", "not positive");
  expect_key_error(two + markov + "rate_factor = [3.0, 2.0]\n", "switching.rate_factor", "below low");
  expect_key_error(two + markov + "rate_factor = [1.0, 1e9]\n", "switching.rate_factor", "too many");
  expect_key_error(two + "[switching]\nmodel = \"markov\"\ntransition_matrix = [[0.9, 0.1], [0.2, 0.8]]\n"
                         "rate_factor = [0.5, 2.0]\n",
                   "switching.rate_factor", "transition_matrix");
  expect_key_error(two + "[switching]\nmodel = \"single\"\nrate_factor = [0.5, 2.0]\n", "switching.rate_factor",
                   "poisson, or markov");
  expect_key_error(two + "[noise]\nlocalization_range = [-0.1, 0.3]\n", "noise.localization_range", "negative");
  expect_key_error(two + "[noise]\nlocalization_range = [0.0, 0.3]\nlocalization_prior = \"loguniform\"\n",
                   "noise.localization_range", "not positive");
  expect_key_error(two + "[noise]\nlocalization_range = [0.4, 0.3]\n", "noise.localization_range", "below low");
  expect_key_error(two + "[noise]\nlocalization_range = [0.1, 0.3]\nlocalization_prior = \"normal\"\n",
                   "noise.localization_prior", "not a prior");
  expect_key_error(two + "[noise]\nlocalization_prior = \"uniform\"\n", "noise.localization_prior", "not used");
  expect_key_error(two + "[noise]\nlocalization = 0.1\nlocalization_range = [0.1, 0.3]\n", "noise.localization",
                   "not used");
  expect_key_error(two + "[noise]\nexposure_range = [0.5, 1.5]\n", "noise.exposure_range", "inside [0, 1]");
  expect_key_error(two + "[noise]\nexposure_range = [0.0, 0.0]\n", "noise.exposure_range", "high is 0");
  expect_key_error(two + "[noise]\nexposure = 0.3\nexposure_range = [0.1, 0.5]\n", "noise.exposure", "not used");
  expect_key_error(two + "[switching]\nmodel = \"single\"\nblend = \"report_code\"\n[noise]\nexposure_range = [0.1, 0.5]\n",
                   "switching.blend", "report_code");
}
