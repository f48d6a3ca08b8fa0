// The `sptrain` executable end to end: exit codes, messages, outputs and what numpy reads.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string out;
};

Result sh(const std::string& cmd) {
  Result r{-1, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string cli() { return std::string(SPTRAIN_CLI); }

class Cli : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() / ("sptrain_cli_" + std::to_string(getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string spec(const std::string& text) {
    auto p = dir / "spec.toml";
    std::ofstream(p) << text;
    return p.string();
  }
  std::string simulate(const std::string& spec_path, const std::string& extra) {
    return cli() + " simulate --spec " + spec_path + " --n 20 --seed 3 --device cpu " + extra;
  }
};

// Python with numpy, or "" (Debian's python3-numpy lives in /usr/bin/python3's path).
std::string python_with_numpy() {
  for (const char* py : {"python3", "/usr/bin/python3"})
    if (sh(std::string(py) + " -c 'import numpy'").code == 0) return py;
  return "";
}

}  // namespace

TEST_F(Cli, BadSpecKeysExit2WithTheKeyAndWriteNothing) {
  const std::string good = "length = 50\n[states]\nsigma = [1.0, 10.0]\n";
  struct Case {
    std::string toml, set, message;
  } cases[] = {
      {"colour = 3\n" + good, "", "error: colour: unknown key"},
      {good, "length=0", "error: length: 0 is too small"},
      {good, "dims=4", "error: dims: 4 is out of range (1, 2 or 3)"},
      {good, "states.sigma=[1.0, -1.0]", "error: states.sigma: -1 is not positive"},
      {good + "[switching]\nmodel = \"poisson\"\nrate = -0.5\n", "", "error: switching.rate: -0.5 is not positive"},
      {good + "[switching]\nmodel = \"markov\"\nrate_matrix = [[-1.0, 0.5], [1.0, -1.0]]\n", "",
       "error: switching.rate_matrix[0]: row sums to -0.5 (rows of a rate matrix sum to 0)"},
      {good + "[switching]\nmodel = \"markov\"\ntransition_matrix = [[0.9, 0.2], [0.5, 0.5]]\n", "",
       "error: switching.transition_matrix[0]: row sums to 1.1"},
      {good + "[switching]\nmodel = \"single\"\ntime = 60\n", "", "error: switching.time: 60 is outside the trajectory"},
  };
  for (const auto& c : cases) {
    auto out = (dir / "o.npy").string();
    auto r = sh(simulate(spec(c.toml), "--out " + out + (c.set.empty() ? "" : " --set '" + c.set + "'")));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << r.out;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1) << "only the spec may exist";
  }
}

TEST_F(Cli, BadFlagsExit2) {
  auto s = spec("[states]\nsigma = [1.0]\n");
  EXPECT_EQ(sh(simulate(s, "--n 0 --stdout-summary")).code, 2);
  EXPECT_EQ(sh(simulate(s, "--out " + (dir / "x.txt").string())).code, 2);
  EXPECT_EQ(sh(simulate(s, "")).code, 2);  // nothing to do
  EXPECT_EQ(sh(simulate(s, "--bogus")).code, 2);
  EXPECT_EQ(sh(cli() + " simulate --spec " + s + " --n 5 --device gpu --stdout-summary").code, 2);
  auto r = sh(cli() + " simulate --spec " + (dir / "missing.toml").string() + " --n 5 --stdout-summary");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("cannot open"), std::string::npos) << r.out;
}

TEST_F(Cli, ExistingOutputNeedsForce) {
  auto s = spec("[states]\nsigma = [1.0]\n");
  auto out = (dir / "t.npy").string();
  ASSERT_EQ(sh(simulate(s, "--out " + out)).code, 0);
  auto before = fs::last_write_time(out);
  auto r = sh(simulate(s, "--out " + out));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("exists"), std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(out), before);
  EXPECT_EQ(sh(simulate(s, "--out " + out + " --force")).code, 0);
}

TEST_F(Cli, NpyOutputOpensWithNumpy) {
  auto py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with numpy";
  auto s = spec("length = 30\ndims = 2\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.1\n"
                "[features]\nkind = \"log_squared_displacements\"\n");
  auto out = (dir / "t.npy").string();
  auto r = sh(simulate(s, "--out " + out + " --features"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto check = py + " -c \"import numpy as np, json\n"
                    "x = np.load('" + out + "'); l = np.load('" + (dir / "t.labels.npz").string() + "')\n"
                    "f = np.load('" + (dir / "t.features.npy").string() + "')\n"
                    "assert x.shape == (20, 30, 2) and x.dtype == np.float32, x.shape\n"
                    "assert l['step_state'].shape == (20, 29) and l['step_sigma'].shape == (20, 29)\n"
                    "assert l['state_sigma'].shape == (20, 2) and l['n_switches'].dtype == np.int32\n"
                    "assert (l['has_switch'] == (l['n_switches'] > 0)).all()\n"
                    "assert f.shape == (20, 29, 1)\n"
                    "d = np.diff(x, axis=1); assert np.allclose(f[..., 0], np.log((d**2).sum(-1) + 1e-12), atol=1e-4)\n"
                    "meta = json.loads(l['spec_json'].tobytes()); assert meta['spec']['length'] == 30 and meta['seed'] == 3\n"
                    "print('ok')\"";
  auto c = sh(check);
  EXPECT_EQ(c.code, 0) << c.out;
}

TEST_F(Cli, CsvIsTrackpyLayout) {
  auto s = spec("length = 10\ndims = 2\n[states]\nsigma = [1.0]\n");
  auto out = (dir / "t.csv").string();
  ASSERT_EQ(sh(simulate(s, "--out " + out)).code, 0);
  std::ifstream in(out);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "particle,frame,x,y,state,step_sigma,sigma,n_switches,has_switch");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 20 * 10);
}

TEST_F(Cli, SummaryAndInfo) {
  auto s = spec("length = 100\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.05\n");
  auto r = sh(simulate(s, "--stdout-summary"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("switches per trajectory"), std::string::npos) << r.out;
  auto i = sh(cli() + " info");
  EXPECT_EQ(i.code, 0) << i.out;
  EXPECT_NE(i.out.find("CPU threads"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("devices:"), std::string::npos) << i.out;
}

TEST_F(Cli, TrainAndModelCommands) {
  auto m = sh(cli() + " model --zoo model1");
  EXPECT_EQ(m.code, 0) << m.out;
  EXPECT_NE(m.out.find("Trainable params: 9674"), std::string::npos) << m.out;
  auto m2 = sh(cli() + " model --zoo model2 --length 999 --outputs 2");
  EXPECT_NE(m2.out.find("Non-trainable params: 832"), std::string::npos) << m2.out;

  std::ofstream(dir / "spec.toml") << "length = 40\n[states]\nsigma = [1.0, 3.0]\n[features]\nkind = \"displacements\"\n";
  std::ofstream(dir / "bad.toml") << "[data]\nspec = \"spec.toml\"\n[train]\nsteps_per_epoch = 1\n"
                                     "[layer.a]\ntype = \"lstm\"\ninputs = [\"input\"]\n";
  auto r = sh(cli() + " train --config " + (dir / "bad.toml").string() + " --run-dir " + (dir / "run").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: layer.a.type: 'lstm' is not a layer type"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "run"));

  std::ofstream(dir / "ok.toml") << "[data]\nspec = \"spec.toml\"\nval_size = 50\ntest_size = 50\n[train]\nbatch = 16\n"
                                    "steps_per_epoch = 2\nepochs = 2\n[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"input\"]\n"
                                    "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";
  auto t = sh(cli() + " train --device cpu --quiet --config " + (dir / "ok.toml").string() + " --run-dir " +
              (dir / "run").string() + " --max-epochs 1");
  EXPECT_EQ(t.code, 0) << t.out;
  EXPECT_EQ(sh(cli() + " train --config " + (dir / "ok.toml").string() + " --run-dir " + (dir / "run").string()).code, 2)
      << "an existing run directory needs --force or --resume";
  auto res = sh(cli() + " train --device cpu --quiet --resume " + (dir / "run").string());
  EXPECT_EQ(res.code, 0) << res.out;
  EXPECT_NE(res.out.find("baseline mle"), std::string::npos) << res.out;
  EXPECT_TRUE(fs::exists(dir / "run" / "results.json"));
}

TEST_F(Cli, EvalOnFilesAndBadInput) {
  auto s = spec("length = 50\n[states]\nsigma = [1.0, 4.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.05\n");
  auto csv = (dir / "t.csv").string();
  ASSERT_EQ(sh(simulate(s, "--out " + csv)).code, 0);
  auto ok = sh(cli() + " eval --baselines-only --input " + csv + " --out-dir " + (dir / "ev").string() + " --no-plots");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("mle"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("hmm_em_viterbi"), std::string::npos) << ok.out;
  EXPECT_TRUE(fs::exists(dir / "ev" / "predictions.csv"));
  std::ofstream(dir / "bad.csv") << "particle,frame,x\n0,0,1.0\n0,1,abc\n";
  auto bad = sh(cli() + " eval --baselines-only --input " + (dir / "bad.csv").string() + " --out-dir " + (dir / "ev2").string());
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad.csv:3"), std::string::npos) << bad.out;
  auto again = sh(cli() + " eval --baselines-only --input " + csv + " --out-dir " + (dir / "ev").string());
  EXPECT_EQ(again.code, 2) << "a non-empty output directory needs --force: " << again.out;
}

TEST_F(Cli, SeedsAreUnsigned64BitIntegers) {
  auto s = spec("length = 10\n[states]\nsigma = [1.0]\n");
  const std::string base = cli() + " simulate --spec " + s + " --n 2 --device cpu --stdout-summary";
  for (const std::string bad : {"-1", "18446744073709551616", "99999999999999999999999", "1e3", "+5", "0x10", "abc"}) {
    auto r = sh(base + " --seed " + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("--seed"), std::string::npos) << r.out;
  }
  EXPECT_NE(sh(base + " --seed -1").out.find("'-1' is not a seed"), std::string::npos);
  EXPECT_NE(sh(base + " --seed 18446744073709551616").out.find("too large for a seed"), std::string::npos);
  auto out = (dir / "t.npy").string();
  auto ok = sh(cli() + " simulate --spec " + s + " --n 2 --device cpu --seed 18446744073709551615 --out " + out);
  EXPECT_EQ(ok.code, 0) << ok.out;
  auto py = python_with_numpy();
  if (!py.empty()) {
    auto c = sh(py + " -c \"import numpy as np, json\nl = np.load('" + (dir / "t.labels.npz").string() +
                "')\nassert json.loads(l['spec_json'].tobytes())['seed'] == 18446744073709551615\"");
    EXPECT_EQ(c.code, 0) << c.out;
  }
  auto ev = sh(cli() + " eval --baselines-only --spec " + s + " --n 5 --seed -1 --no-plots --out-dir " + (dir / "ev").string());
  EXPECT_EQ(ev.code, 2) << ev.out;
  EXPECT_NE(ev.out.find("'-1' is not a seed"), std::string::npos) << ev.out;
  EXPECT_FALSE(fs::exists(dir / "ev"));
}

TEST_F(Cli, HugeRequestsAreRefusedBeforeAllocating) {
  auto s = spec("length = 100000\n[states]\nsigma = [1.0]\n");
  auto out = (dir / "t.npy").string();
  auto r = sh(cli() + " simulate --spec " + s + " --n 1000000000 --seed 3 --device cpu --out " + out);  // ~1.3 PB
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: --n: needs 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" bytes of physical memory available)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  auto ev = sh(cli() + " eval --baselines-only --spec " + s + " --n 1000000000 --no-plots --out-dir " + (dir / "ev").string());
  EXPECT_EQ(ev.code, 2) << ev.out;
  EXPECT_NE(ev.out.find("error: --n: needs 1"), std::string::npos) << ev.out;
  auto zero = sh(cli() + " simulate --spec /dev/zero --n 2 --device cpu --stdout-summary");
  EXPECT_EQ(zero.code, 2) << zero.out;
  EXPECT_NE(zero.out.find("error: spec: '/dev/zero' is not a regular file"), std::string::npos) << zero.out;
  auto inf = sh(simulate(spec("[states]\nsigma = [1e300]\n"), "--stdout-summary"));
  EXPECT_EQ(inf.code, 2) << inf.out;
  EXPECT_NE(inf.out.find("error: states.sigma: 1e+300 is too large"), std::string::npos) << inf.out;
  auto low = sh(simulate(spec("[start]\nlow = -1e300\n[states]\nsigma = [1.0]\n"), "--stdout-summary"));
  EXPECT_EQ(low.code, 2) << low.out;
  EXPECT_NE(low.out.find("error: start.low: -1e+300 is out of range"), std::string::npos) << low.out;
  auto rate = sh(simulate(spec("[states]\nsigma = [1.0, 2.0]\n[switching]\nmodel = \"poisson\"\nrate = 1e8\n"), "--stdout-summary"));
  EXPECT_EQ(rate.code, 2) << rate.out;
  EXPECT_NE(rate.out.find("error: switching.rate: 1e+08 gives"), std::string::npos) << rate.out;
}
