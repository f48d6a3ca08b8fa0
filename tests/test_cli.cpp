// The `sptrain` executable end to end: exit codes, messages, outputs and what numpy reads.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sptrain/checkpoint.hpp"
#include "sptrain/io.hpp"
#include "sptrain/metrics_log.hpp"
#include "sptrain/trajectory_read.hpp"

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

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A command started in the background (`exec`ed by sh, so signals reach it), output to `log`.
pid_t spawn(const std::string& cmd, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >" + log.string() + " 2>&1").c_str(), (char*)nullptr);
    _exit(127);
  }
  return pid;
}

// Exit status of a spawned command (-1 if a signal killed it).
int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Waits (up to a minute) until `path` has at least `lines` complete lines.
bool wait_lines(const fs::path& path, int lines) {
  for (int i = 0; i < 60000; ++i) {
    const std::string t = slurp(path);
    if (std::count(t.begin(), t.end(), '\n') >= lines) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Names in a directory that look like temporaries ("*.tmp-*").
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}

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

// A model-1 run on 100-step trajectories: long enough (tens of ms a step on a CPU) to be signalled
// while it trains.
void write_model1_config(const fs::path& dir, int epochs, int steps, int batch = 64) {
  std::ofstream(dir / "spec.toml") << "length = 100\n[states]\nsigma = [1.0, 10.0]\n[features]\nkind = \"positions\"\n";
  std::ofstream(dir / "m1.toml") << "[data]\nspec = \"spec.toml\"\nval_size = 100\ntest_size = 100\n[model]\nzoo = \"model1\"\n"
                                    "[train]\nbatch = " << batch << "\nmicro_batch = 32\nsteps_per_epoch = " << steps
                                 << "\nepochs = " << epochs << "\nloss = \"mse\"\n";
}

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
  EXPECT_EQ(header, "particle,frame,x,y,state,step_sigma,sigma,n_switches,has_switch,localization,exposure,rate_factor");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 20 * 10);
}

// The CSV's per-trajectory columns localization, exposure and rate_factor hold the NPZ's values for
// the same (spec, seed), on every row of a track, and the readers take the file with its labels.
TEST_F(Cli, CsvCarriesTheDrawnParametersOfTheNpz) {
  auto s = spec("length = 12\ndims = 2\n[states]\nsigma = [1.0, 4.0]\n[switching]\nmodel = \"poisson\"\n"
                "rate = 0.1\nrate_factor = [0.5, 4.0]\n[noise]\nlocalization_range = [0.05, 0.5]\n"
                "exposure_range = [0.1, 0.9]\n");
  const std::string npy = (dir / "t.npy").string(), csv = (dir / "t.csv").string();
  ASSERT_EQ(sh(simulate(s, "--out " + npy)).code, 0);
  ASSERT_EQ(sh(simulate(s, "--out " + csv)).code, 0);
  auto labels = sptrain::io::read_npz((dir / "t.labels.npz").string());
  const char* names[] = {"localization", "exposure", "rate_factor"};
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) header.push_back(c);
  ASSERT_EQ(header.size(), 12u) << line;
  // Columns 9, 10, 11 follow the existing ones, which keep their places.
  for (int k = 0; k < 3; ++k) ASSERT_EQ(header[size_t(9 + k)], names[k]) << line;
  std::vector<std::vector<float>> seen(3);  // per column, the value of each track
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string v; std::getline(ss, v, ',');) f.push_back(v);
    ASSERT_EQ(f.size(), 12u) << line;
    const size_t r = std::stoul(f[0]);
    ASSERT_LT(r, 20u);
    for (int k = 0; k < 3; ++k) {
      const sptrain::io::Array& a = labels.at(names[k]);
      ASSERT_EQ(a.shape, (std::vector<int64_t>{20}));
      // Nine significant digits give back the float32 exactly.
      EXPECT_EQ(std::strtof(f[size_t(9 + k)].c_str(), nullptr), a.as<float>()[r]) << names[k] << ": " << line;
      if (f[1] == "0") seen[size_t(k)].push_back(a.as<float>()[r]);
    }
    ++rows;
  }
  EXPECT_EQ(rows, 20 * 12);
  // The prior is broad: 20 continuous draws are all distinct (a float32 collision among them has
  // probability below 1e-4) and inside their ranges.
  const float lo[] = {0.05f, 0.1f, 0.5f}, hi[] = {0.5f, 0.9f, 4.0f};
  for (int k = 0; k < 3; ++k) {
    auto v = seen[size_t(k)];
    ASSERT_EQ(v.size(), 20u);
    for (float x : v) EXPECT_TRUE(x >= lo[k] && x <= hi[k]) << names[k] << " " << x;
    std::sort(v.begin(), v.end());
    EXPECT_EQ(std::unique(v.begin(), v.end()) - v.begin(), 20) << names[k];
  }
  // The table reader takes the file (the new columns are no labels it reads) with the labels and
  // positions of the NPY it matches.
  const sptrain::TrajectorySet a = sptrain::read_trajectories(csv), b = sptrain::read_trajectories(npy);
  ASSERT_EQ(a.size(), 20u);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.positions, b.positions);
  EXPECT_EQ(a.sigma, b.sigma);
  EXPECT_EQ(a.n_switches, b.n_switches);
  EXPECT_EQ(a.step_state, b.step_state);
  // And so do the commands that read tracks.
  auto ev = sh(cli() + " eval --baselines-only --no-plots --input " + csv + " --out-dir " + (dir / "ev").string());
  EXPECT_EQ(ev.code, 0) << ev.out;
  auto fit = sh(cli() + " fit --input " + csv + " --bootstrap 0 --no-plots --out-dir " + (dir / "fit").string());
  EXPECT_EQ(fit.code, 0) << fit.out;
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

TEST_F(Cli, ForceReplacesOnlyARunDirectoryAndKeepsAConfigStoredInIt) {
  std::ofstream(dir / "spec.toml") << "length = 40\n[states]\nsigma = [1.0, 3.0]\n[features]\nkind = \"displacements\"\n";
  const std::string cfg = "[data]\nspec = \"spec.toml\"\nval_size = 20\ntest_size = 20\n[train]\nbatch = 8\n"
                          "steps_per_epoch = 1\nepochs = 1\n[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"input\"]\n"
                          "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";
  std::ofstream(dir / "ok.toml") << cfg;
  const std::string train = cli() + " train --device cpu --quiet ";
  const fs::path run = dir / "run";
  ASSERT_EQ(sh(train + "--config " + (dir / "ok.toml").string() + " --run-dir " + run.string()).code, 0);
  EXPECT_TRUE(fs::exists(run / "sptrain-run.json"));
  // Retrain from the run's own config.toml (whose spec.toml is the run's copy) with --force.
  auto r = sh(train + "--config " + (run / "config.toml").string() + " --run-dir " + run.string() + " --force");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(slurp(run / "config.toml"), cfg);
  EXPECT_TRUE(fs::exists(run / "results.json"));

  // A directory that is not a run (here the current directory, ".") is refused even with --force.
  fs::create_directories(dir / "home");
  std::ofstream(dir / "home" / "thesis.tex") << "precious";
  auto f = sh("cd " + (dir / "home").string() + " && " + train + "--config " + (dir / "ok.toml").string() +
              " --run-dir . --force");
  EXPECT_EQ(f.code, 2) << f.out;
  EXPECT_NE(f.out.find("error: .: not empty and not a run directory"), std::string::npos) << f.out;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "home"), fs::directory_iterator{}), 1);
  EXPECT_EQ(slurp(dir / "home" / "thesis.tex"), "precious");
}

// A second writer is refused while a run holds its directory; SIGTERM then stops the run at a
// step boundary with the requeue status (75) and a checkpoint that resumes.
TEST_F(Cli, ARunInUseRefusesASecondWriterAndSigtermLeavesItResumable) {
  write_model1_config(dir, 50, 20);
  const fs::path run = dir / "run";
  const std::string args = " train --device cpu --quiet --config " + (dir / "m1.toml").string() + " --run-dir " + run.string();
  const pid_t first = spawn(cli() + args, dir / "first.log");
  ASSERT_TRUE(wait_lines(run / "metrics.jsonl", 1)) << slurp(dir / "first.log");
  const std::string config = slurp(run / "config.toml");
  auto second = sh(cli() + args + " --force");
  EXPECT_EQ(second.code, 2) << second.out;
  EXPECT_NE(second.out.find("error: " + run.string() + ": in use by process " + std::to_string(first)), std::string::npos)
      << second.out;
  auto resume = sh(cli() + " train --device cpu --quiet --resume " + run.string());
  EXPECT_EQ(resume.code, 2) << resume.out;
  EXPECT_NE(resume.out.find("in use by process"), std::string::npos) << resume.out;
  EXPECT_EQ(slurp(run / "config.toml"), config);
  EXPECT_TRUE(fs::exists(run / "spec.toml"));
  EXPECT_TRUE(fs::exists(run / "metrics.jsonl"));

  kill(first, SIGTERM);
  EXPECT_EQ(wait_exit(first), 75) << slurp(dir / "first.log");
  EXPECT_NE(slurp(dir / "first.log").find("continue with: sptrain train --resume"), std::string::npos)
      << slurp(dir / "first.log");
  EXPECT_TRUE(temporaries(run).empty());
  auto more = sh(cli() + " train --device cpu --quiet --max-epochs 1 --resume " + run.string());
  EXPECT_EQ(more.code, 0) << more.out;
}

// --requeue under Slurm: SIGTERM checkpoints, then `scontrol requeue $SLURM_JOB_ID` runs (a stand-in
// scontrol first on PATH records its arguments) and the exit status is the requeue status. Without
// scontrol on PATH the message says the job was not requeued, with the same status.
TEST_F(Cli, RequeueOnSigtermCallsScontrolWithTheJobId) {
  write_model1_config(dir, 50, 20);
  fs::create_directories(dir / "bin");
  const fs::path called = dir / "scontrol.args";
  std::ofstream(dir / "bin" / "scontrol") << "#!/bin/sh\necho \"$@\" >" << called.string() << "\n";
  fs::permissions(dir / "bin" / "scontrol", fs::perms::owner_all);
  auto stop_run = [&](const std::string& path, const std::string& name) {
    const fs::path run = dir / name, log = dir / (name + ".log");
    const pid_t pid = spawn("env PATH=" + path + " SLURM_JOB_ID=4242 " + cli() + " train --device cpu --quiet --requeue --config " +
                                (dir / "m1.toml").string() + " --run-dir " + run.string(),
                            log);
    EXPECT_TRUE(wait_lines(run / "metrics.jsonl", 1)) << slurp(log);
    kill(pid, SIGTERM);
    EXPECT_EQ(wait_exit(pid), 75) << slurp(log);
    EXPECT_TRUE(fs::exists(run / "last.safetensors"));
    return slurp(log);
  };
  const std::string with = stop_run((dir / "bin").string() + ":/usr/bin:/bin", "with");
  EXPECT_EQ(slurp(called), "requeue 4242\n") << with;
  EXPECT_NE(with.find("requeued Slurm job 4242"), std::string::npos) << with;
  fs::remove(called);
  const std::string without = stop_run((dir / "empty").string(), "without");
  EXPECT_FALSE(fs::exists(called));
  EXPECT_NE(without.find("--requeue: scontrol not found on PATH, Slurm job 4242 was not requeued"), std::string::npos)
      << without;
}

// SIGINT during epoch 2: exit 130 with a checkpoint of that step; the resumed run's losses and
// final weights equal an uninterrupted run's bitwise.
TEST_F(Cli, SigintCheckpointsAndTheResumedRunEqualsAnUninterruptedOne) {
  write_model1_config(dir, 4, 300);  // epochs of 300 steps: 40 ms stays inside epoch 2 on a fast idle machine
  const std::string base = cli() + " train --device cpu --quiet ";
  const fs::path full = dir / "full", cut = dir / "cut";
  ASSERT_EQ(sh(base + "--config " + (dir / "m1.toml").string() + " --run-dir " + full.string()).code, 0);
  const pid_t pid = spawn(base + "--config " + (dir / "m1.toml").string() + " --run-dir " + cut.string(), dir / "cut.log");
  ASSERT_TRUE(wait_lines(cut / "metrics.jsonl", 1)) << slurp(dir / "cut.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(40));  // a few steps into epoch 2
  kill(pid, SIGINT);
  ASSERT_EQ(wait_exit(pid), 130) << slurp(dir / "cut.log");
  EXPECT_NE(slurp(dir / "cut.log").find("interrupted: checkpoint of step"), std::string::npos) << slurp(dir / "cut.log");
  EXPECT_FALSE(fs::exists(cut / "results.json"));
  auto r = sh(base + "--resume " + cut.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto a = sptrain::read_metrics(full.string()), b = sptrain::read_metrics(cut.string());
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(a[e]["loss"].get<double>(), b[e]["loss"].get<double>()) << "epoch " << e + 1;
    EXPECT_EQ(a[e]["val_loss"].get<double>(), b[e]["val_loss"].get<double>()) << "epoch " << e + 1;
  }
  auto pa = sptrain::ckpt::load((full / "last.safetensors").string()).get<float>("params");
  auto pb = sptrain::ckpt::load((cut / "last.safetensors").string()).get<float>("params");
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)));
  EXPECT_TRUE(fs::exists(cut / "results.json"));
}

// A second signal does not wait for the step: it exits at once, removing temporaries. (Epochs of
// one step of 65,536 trajectories, a few tenths of a second even on a fast machine, so that the
// second signal comes while the first one waits for the step; one step per epoch keeps the first
// epoch short under the sanitizers.)
TEST_F(Cli, ASecondSignalExitsAtOnce) {
  write_model1_config(dir, 50, 1, 65536);
  const fs::path run = dir / "run";
  const pid_t pid = spawn(cli() + " train --device cpu --quiet --config " + (dir / "m1.toml").string() + " --run-dir " +
                              run.string(),
                          dir / "log");
  ASSERT_TRUE(wait_lines(run / "metrics.jsonl", 1)) << slurp(dir / "log");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // inside a step of epoch 2
  kill(pid, SIGINT);
  ASSERT_TRUE(wait_lines(dir / "log", 2)) << slurp(dir / "log");  // "\ninterrupted: stopping at the next step ..."
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << slurp(dir / "log");
  EXPECT_NE(slurp(dir / "log").find("partial outputs removed"), std::string::npos) << slurp(dir / "log");
  EXPECT_EQ(slurp(dir / "log").find("checkpoint of step"), std::string::npos) << slurp(dir / "log");
  EXPECT_TRUE(temporaries(run).empty());
}

TEST_F(Cli, ZeroEpochsSetARunUpThatResumes) {
  write_model1_config(dir, 1, 2);
  const fs::path run = dir / "run";
  auto r = sh(cli() + " train --device cpu --config " + (dir / "m1.toml").string() + " --run-dir " + run.string() +
              " --max-epochs 0");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("continue with: sptrain train --resume"), std::string::npos) << r.out;
  auto res = sh(cli() + " train --device cpu --quiet --resume " + run.string());
  EXPECT_EQ(res.code, 0) << res.out;
  EXPECT_TRUE(fs::exists(run / "results.json"));
  EXPECT_EQ(sh(cli() + " train --device cpu --config " + (dir / "m1.toml").string() + " --run-dir " + run.string() +
               " --max-epochs -2 --force").code,
            2);
}

// Learning rates that blow the weights up. The run stops with exit 1 naming the step and phase;
// no checkpoint of non-finite weights is written, there are no results and no "best checkpoint".
TEST_F(Cli, DivergenceStopsTheRunNamingStepAndPhase) {
  write_model1_config(dir, 3, 1);
  // A linear model after one Adam step at lr 1e30: its validation loss is infinite.
  std::ofstream(dir / "lin.toml") << "[data]\nspec = \"spec.toml\"\nval_size = 50\ntest_size = 50\n[train]\nbatch = 16\n"
                                     "steps_per_epoch = 1\nepochs = 2\nloss = \"mse\"\nlr = 1e30\n"
                                     "[layer.g]\ntype = \"global_maxpool1d\"\ninputs = [\"input\"]\n"
                                     "[layer.out]\ntype = \"dense\"\ninputs = [\"g\"]\nunits = 1\n";
  const fs::path run = dir / "lin";
  auto r = sh(cli() + " train --device cpu --quiet --config " + (dir / "lin.toml").string() + " --run-dir " + run.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: training diverged at step 1 (epoch 1, validation): non-finite loss (inf)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("no checkpoint was written"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("best checkpoint"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(run / "best.safetensors"));
  EXPECT_FALSE(fs::exists(run / "last.safetensors"));
  EXPECT_FALSE(fs::exists(run / "results.json"));
  // Model 1 at lr 1e30: epoch 1 still validates, step 2's gradient is not finite.
  auto t = sh(cli() + " train --device cpu --quiet --config " + (dir / "m1.toml").string() + " --run-dir " +
              (dir / "m1").string() + " --set train.lr=1e30");
  EXPECT_EQ(t.code, 1) << t.out;
  EXPECT_NE(t.out.find("error: training diverged at step 2 (epoch 2, training): non-finite gradient norm"),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("last.safetensors keeps the state of step 1"), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("best checkpoint"), std::string::npos) << t.out;
  EXPECT_FALSE(fs::exists(dir / "m1" / "results.json"));
}

// A full disk (a small tmpfs, where this test may mount one): exit 1 naming the file, no
// temporaries left.
TEST_F(Cli, AFullDiskIsAnErrorNamingTheFile) {
  write_model1_config(dir, 1, 1);
  const fs::path mnt = dir / "small";
  fs::create_directories(mnt);
  const std::string sim = cli() + " simulate --spec " + (dir / "spec.toml").string() + " --n 2000 --device cpu --out " +
                          (mnt / "t.npy").string();
  const std::string train = cli() + " train --device cpu --quiet --config " + (dir / "m1.toml").string() + " --run-dir " +
                            (mnt / "run").string();
  auto r = sh("unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs " + mnt.string() + " || exit 77; " + sim +
              "; echo simulate=$?; ls -a " + mnt.string() + "; " + train + "; echo train=$?; ls -a " +
              (mnt / "run").string() + "'");
  if (r.code == 77) GTEST_SKIP() << "cannot mount a tmpfs here: " << r.out;
  EXPECT_NE(r.out.find("simulate=1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: writing " + (mnt / "t").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": no space left on device"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train=1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("safetensors: no space left on device"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(".tmp-"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("iostream error"), std::string::npos) << r.out;
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
