// sptrain predict: decoders, per-step models at any length on tracks with gaps, fixed-length models
// on windows, range checks and errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/predict.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"
#include "sptrain/trajectory_io.hpp"
#include "temp_dir.hpp"
#include "tiny_run.hpp"
#include "usage_error.hpp"

using namespace sptrain;
using test::train_run;
namespace fs = std::filesystem;

namespace {
struct Tmp : test::TempDir {
  Tmp() : test::TempDir("predict") {}
  const fs::path& p = path;
};

std::vector<std::vector<std::string>> read_csv(const fs::path& f) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(f);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string v; std::getline(ss, v, ',');) c.push_back(v);
    rows.push_back(c);
  }
  return rows;
}

size_t col(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

// Whether one of predict.json's warnings holds part.
bool warned(const nlohmann::json& pj, const std::string& part) {
  for (const auto& w : pj["warnings"])
    if (w.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

// A quiet request without figures: the run dir/run on dir/input, outputs in dir/out.
PredictRequest request(const fs::path& dir, const std::string& input) {
  PredictRequest r;
  r.run_dir = (dir / "run").string();
  r.input = (dir / input).string();
  r.out_dir = (dir / "out").string();
  r.plots = false;
  r.quiet = true;
  return r;
}

// Log-probabilities (S x 2) favouring state 1 from step `at` on, with single flipped steps.
std::vector<double> two_state_lp(int64_t S, int64_t at, const std::vector<int64_t>& flips) {
  std::vector<double> lp(size_t(S) * 2);
  for (int64_t t = 0; t < S; ++t) {
    int s = t >= at;
    for (int64_t f : flips) s ^= f == t;
    lp[t * 2 + s] = std::log(0.8);
    lp[t * 2 + 1 - s] = std::log(0.2);
  }
  return lp;
}

const char* kSegSpec =
    "length = 80\ndims = 2\n[states]\nsigma = [0.5, 3.0]\ninitial = \"stationary\"\n[switching]\nmodel = \"markov\"\n"
    "rate_matrix = [[-0.03, 0.03], [0.05, -0.05]]\n[features]\nkind = \"log_squared_displacements\"\n";
const char* kSegConfig =
    "[data]\nspec = \"spec.toml\"\nlabel = \"step_state\"\nval_size = 100\ntest_size = 100\n"
    "[train]\nbatch = 32\nsteps_per_epoch = 60\nepochs = 3\nlr = 1e-2\n"
    "[layer.c]\ntype = \"conv1d\"\ninputs = [\"input\"]\nfilters = 8\nkernel = 5\npadding = \"same\"\n"
    "activation = \"relu\"\ninit = \"he_normal\"\n"
    "[layer.d]\ntype = \"conv1d\"\ninputs = [\"c\"]\nfilters = 8\nkernel = 3\ndilation = 2\npadding = \"same\"\n"
    "activation = \"relu\"\ninit = \"he_normal\"\n"
    "[layer.s]\ntype = \"conv1d\"\ninputs = [\"d\"]\nfilters = 2\n";
}  // namespace

TEST(Predict, DecodersFindOneSwitchAndSmoothWithTheChain) {
  std::vector<int> path;
  // Argmax keeps the flipped steps; one switch puts the change at step 30 exactly.
  auto lp = two_state_lp(60, 30, {5, 44});
  decode_path(lp, 60, 2, 0, path);
  EXPECT_EQ(path[5], 1);
  EXPECT_EQ(path[44], 0);
  decode_single_switch(lp, 60, 2, path);
  for (int64_t t = 0; t < 60; ++t) EXPECT_EQ(path[t], t >= 30 ? 1 : 0) << t;
  // A sticky chain (stay 0.99) removes single flips (log 0.8/0.2 = 1.4 < 2 log 99 = 9.2) and keeps
  // the sustained change.
  decode_chain(lp, 60, 2, {0.99, 0.01, 0.01, 0.99}, {0.5, 0.5}, path);
  for (int64_t t = 0; t < 60; ++t) EXPECT_EQ(path[t], t >= 30 ? 1 : 0) << t;
  // A chain that switches every step follows the evidence instead.
  decode_chain(lp, 60, 2, {0.5, 0.5, 0.5, 0.5}, {0.5, 0.5}, path);
  EXPECT_EQ(path[5], 1);
  // One step: no room for a change.
  decode_single_switch(two_state_lp(1, 0, {}), 1, 2, path);
  EXPECT_EQ(path, std::vector<int>{1});
  // The rules a spec implies.
  EXPECT_EQ(default_decode_rule(parse_spec("length = 50\n[states]\nsigma = [1.0, 5.0]\n[switching]\nmodel = \"single\"\n").params, 2),
            DecodeRule::Single);
  EXPECT_EQ(default_decode_rule(parse_spec(kSegSpec).params, 2), DecodeRule::Chain);
  EXPECT_EQ(default_decode_rule(parse_spec("length = 50\n[states]\nsigma = [1.0, 5.0]\n[switching]\nmodel = \"single\"\n"
                                           "probability = 0.5\n").params, 2),
            DecodeRule::Argmax);
}

// A per-step model trained on 80 positions runs at every length of tracks with gaps: each gap-free
// segment is scored at its own length, steps.csv joins the true states on (track, frame), and the
// decoding follows the training spec (a Markov chain).
TEST(Predict, PerStepModelRunsAtAnyLengthAcrossGaps) {
  Tmp t;
  std::ofstream(t.p / "spec.toml") << kSegSpec;
  std::ofstream(t.p / "c.toml") << kSegConfig;
  train_run(t.p);
  // 12 tracks of 300 positions; every 23rd localization removed (gaps of one frame), and the
  // first 260 positions of track 0 removed (38 positions left: frames 264 and 287 go too).
  SimSpec s = parse_spec(kSegSpec, {"length=300"});
  TrajectoryBatch b;
  simulate(s.params, 21, 0, 12, Device::cpu(), b);
  write_batch_csv(b, (t.p / "full.csv").string());
  auto full = read_csv(t.p / "full.csv");
  std::map<std::pair<std::string, std::string>, std::string> truth;  // (track, frame) -> state
  {
    std::ofstream o(t.p / "gaps.csv");
    o << "particle,frame,x,y\n";
    for (size_t r = 1; r < full.size(); ++r) {
      truth[{full[r][0], full[r][1]}] = full[r][4];
      const int frame = std::stoi(full[r][1]);
      if (frame % 23 == 11 || (full[r][0] == "0" && frame < 260)) continue;
      o << full[r][0] << "," << full[r][1] << "," << full[r][2] << "," << full[r][3] << "\n";
    }
  }
  PredictRequest r = request(t.p, "gaps.csv");
  auto pj = run_predict(r);
  EXPECT_EQ(pj["decoding"]["rule"], "chain");
  EXPECT_EQ(pj["decoding"]["from"], "the training spec");
  EXPECT_TRUE(pj["model"]["any_length"].get<bool>());
  EXPECT_EQ(pj["units"]["space"], "px");
  EXPECT_GT(pj["input_checks"]["gaps"].get<int64_t>(), 100);
  auto steps = read_csv(t.p / "out" / "steps.csv");
  ASSERT_GT(steps.size(), 1u);
  const size_t ct = col(steps[0], "track"), cf = col(steps[0], "frame"), cn = col(steps[0], "frame_next"),
               cs = col(steps[0], "state");
  int64_t right = 0, total = 0;
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_EQ(std::stoi(steps[i][cn]), std::stoi(steps[i][cf]) + 1) << "a step across a gap is never scored";
    auto it = truth.find({steps[i][ct], steps[i][cf]});
    ASSERT_NE(it, truth.end());
    right += it->second == steps[i][cs];
    ++total;
  }
  // Steps: 11 tracks of 300 positions (299 steps) lose 2 steps per removed frame, track 0 keeps 38
  // positions; every within-segment step is scored.
  int64_t expect = 0;
  {
    auto kept = read_csv(t.p / "gaps.csv");
    for (size_t i = 2; i < kept.size(); ++i)
      expect += kept[i][0] == kept[i - 1][0] && std::stoi(kept[i][1]) == std::stoi(kept[i - 1][1]) + 1;
  }
  EXPECT_EQ(total, expect);
  // Step stds 0.5 and 3.0 in 2-D: the trained model (test accuracy ~0.95 at its 80 positions)
  // gets > 85 % of 3000+ steps right at other lengths and across gaps (chance 50-60 %).
  EXPECT_GT(double(right) / double(total), 0.85) << right << " of " << total;
  std::cout << "per-step accuracy across gaps: " << right << " of " << total << "\n";
  auto tracks = read_csv(t.p / "out" / "tracks.csv");
  EXPECT_EQ(tracks.size(), 13u);
  EXPECT_EQ(tracks[1][col(tracks[0], "n")], "38");
  EXPECT_NE(tracks[0][col(tracks[0], "step_sigma_px")], "");
  EXPECT_NE(std::find(tracks[0].begin(), tracks[0].end(), "D_px2_per_frame"), tracks[0].end());
  // The same tracks in micrometres with a frame interval: units follow, D per second.
  r.read.pixel_size = 0.1;
  r.read.frame_interval = 0.02;
  r.out_dir = (t.p / "um").string();
  auto pu = run_predict(r);
  EXPECT_EQ(pu["units"]["space"], "um");
  EXPECT_TRUE(pu["summary"]["states"][0].contains("D_um2_per_s")) << pu["summary"].dump();
  // ... and outside the training range of step sizes (0.5-3 per frame; now 0.05-0.3): a warning
  // naming both.
  EXPECT_TRUE(warned(pu, "the model was trained on")) << pu["warnings"].dump();
  EXPECT_FALSE(warned(pj, "the model was trained on")) << pj["warnings"].dump();
  // A model trained in pixels on tracks in micrometres: --model-units px feeds it pixels again,
  // so the states are those of the pixel run (up to float rounding), without the warning, and the
  // outputs stay in micrometres.
  r.model_units = "px";
  r.out_dir = (t.p / "um_px").string();
  auto pp = run_predict(r);
  EXPECT_EQ(pp["units"]["space"], "um");
  for (const auto& w : pp["warnings"])
    EXPECT_EQ(w.get<std::string>().find("the model was trained on"), std::string::npos) << w;
  auto s_px = read_csv(t.p / "out" / "steps.csv"), s_um = read_csv(t.p / "um_px" / "steps.csv");
  ASSERT_EQ(s_px.size(), s_um.size());
  int64_t same = 0;
  for (size_t i = 1; i < s_px.size(); ++i) same += s_px[i][cs] == s_um[i][cs];
  EXPECT_GE(double(same), 0.999 * double(s_px.size() - 1)) << same;
  r.model_units = "input";
  // Outputs exist: again only with force. Another decoding on request, said so.
  EXPECT_THROW(run_predict(r), UsageError);
  r.force = true;
  r.decode = "single";
  auto p1 = run_predict(r);
  EXPECT_EQ(p1["decoding"]["rule"], "single");
  auto t1 = read_csv(t.p / "um" / "tracks.csv");
  for (size_t i = 1; i < t1.size(); ++i) EXPECT_LE(std::stoi(t1[i][col(t1[0], "switches")]), 1);
  // A 1-D file for a 2-D model is an error naming both.
  std::ofstream(t.p / "one_d.csv") << "particle,frame,x\n0,0,1\n0,1,2\n0,2,4\n";
  r.input = (t.p / "one_d.csv").string();
  try {
    run_predict(r);
    FAIL() << "1-D tracks accepted by a 2-D model";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("1-D"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2-D"), std::string::npos) << e.what();
  }
}

// A model with a dense layer over the flattened input runs only at its training length: on
// windows of 60 positions (non-overlapping from the start, the last aligned to the end), the
// per-track estimate the step-weighted mean over them; shorter tracks are not scored, with a
// warning naming the length.
TEST(Predict, FixedLengthModelRunsOnWindows) {
  Tmp t;
  train_run(t.p, test::kSigmaSpec, test::kSigmaConfig);
  {
    Predictor m(load_run_config((t.p / "run").string()), (t.p / "run").string(), Device::cpu());
    EXPECT_FALSE(m.any_length());
    EXPECT_TRUE(m.runs_at(60));
    EXPECT_FALSE(m.runs_at(61));
  }
  // Track 0: 150 positions of step std 2 (windows at 0, 60 and 90); track 1: 40 positions.
  TrajectoryBatch b;
  SimSpec s = parse_spec("length = 150\n[states]\nsigma = [2.0]\n");
  simulate(s.params, 4, 0, 1, Device::cpu(), b);
  {
    std::ofstream o(t.p / "tracks.csv");
    o << "particle,frame,x\n";
    for (int f = 0; f < 150; ++f) o << "0," << f << "," << b.positions[f] << "\n";
    for (int f = 0; f < 40; ++f) o << "1," << f << "," << 0.5 * f << "\n";
  }
  PredictRequest r = request(t.p, "tracks.csv");
  auto pj = run_predict(r);
  auto w = read_csv(t.p / "out" / "windows.csv");
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[1][1], "0");
  EXPECT_EQ(w[2][1], "60");
  EXPECT_EQ(w[3][1], "90");
  EXPECT_EQ(w[3][2], "149");
  auto tr = read_csv(t.p / "out" / "tracks.csv");
  ASSERT_EQ(tr.size(), 3u);
  const double est = std::stod(tr[1][col(tr[0], "model_step_sigma_px")]);
  // A trained windowed estimator (MAPE ~8 % on 59 steps) averaged over 3 windows: within 25 % of 2.
  EXPECT_NEAR(est, 2.0, 0.5) << tr[1][col(tr[0], "model_step_sigma_px")];
  EXPECT_EQ(tr[2][col(tr[0], "windows")], "0");
  EXPECT_TRUE(warned(pj, "60 positions")) << pj["warnings"].dump();
  // Only tracks too short for any window: an error naming the length.
  std::ofstream(t.p / "short.csv") << "particle,frame,x\n0,0,1\n0,1,2\n0,2,4\n";
  r.input = (t.p / "short.csv").string();
  r.out_dir = (t.p / "out2").string();
  EXPECT_HAS(test::usage_error([&] { run_predict(r); }), "60 positions");
}

// The CLI: a table on stdout, outputs in the directory, exit 2 with `error:` on bad input.
TEST(Predict, CliWritesOutputsAndRefusesBadInput) {
  Tmp t;
  auto sh = [](const std::string& cmd, std::string* out) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    const int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  std::ofstream(t.p / "spec.toml") << kSegSpec;
  std::ofstream(t.p / "c.toml") << kSegConfig;
  train_run(t.p);
  const std::string cli = SPTRAIN_CLI;
  std::string out;
  EXPECT_EQ(sh(cli + " simulate --spec " + (t.p / "spec.toml").string() + " --n 3 --seed 2 --set length=120 --out " +
                   (t.p / "tr.csv").string(),
               &out),
            0)
      << out;
  out.clear();
  EXPECT_EQ(sh(cli + " predict --run " + (t.p / "run").string() + " --input " + (t.p / "tr.csv").string() +
                   " --frame-interval 0.05 --out-dir " + (t.p / "o").string(),
               &out),
            0)
      << out;
  EXPECT_NE(out.find("decoding: chain"), std::string::npos) << out;
  EXPECT_NE(out.find("D_px2_per_s"), std::string::npos) << out;
  for (const char* f : {"predict.json", "tracks.csv", "steps.csv", "tracks_states.dat", "tracks_xy.dat"})
    EXPECT_TRUE(fs::exists(t.p / "o" / f)) << f;
  out.clear();
  EXPECT_EQ(sh(cli + " predict --run " + (t.p / "nothing").string() + " --input " + (t.p / "tr.csv").string() +
                   " --out-dir " + (t.p / "o2").string(),
               &out),
            2)
      << out;
  EXPECT_NE(out.find("error:"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(sh(cli + " predict --run " + (t.p / "run").string() + " --input " + (t.p / "tr.csv").string() +
                   " --decode argmax --switch-penalty -1 --out-dir " + (t.p / "o3").string(),
               &out),
            2)
      << out;
  EXPECT_FALSE(fs::exists(t.p / "o3" / "predict.json"));
}

// A regression output that is negative is written as it is and counted in a warning, never
// clipped or dropped: a sigma model whose weights are all set to -1 outputs sign(x) sqrt(|x|) < 0.
TEST(Predict, NegativeRegressionOutputIsReported) {
  Tmp t;
  train_run(t.p, test::kOneStepSpec, test::kOneStepConfig);
  test::edit_params(t.p / "run", [](std::vector<char>& bytes) {
    const float minus_one = -1.0f;
    for (size_t off = 0; off + 4 <= bytes.size(); off += 4) std::memcpy(bytes.data() + off, &minus_one, 4);
  });
  std::ofstream o(t.p / "tracks.csv");
  o << "particle,frame,x\n";
  for (int f = 0; f < 30; ++f) o << "0," << f << "," << (f % 2) << "\n";
  o.close();
  PredictRequest r = request(t.p, "tracks.csv");
  auto pj = run_predict(r);
  auto tr = read_csv(t.p / "out" / "tracks.csv");
  ASSERT_EQ(tr.size(), 2u);
  EXPECT_LT(std::stod(tr[1][col(tr[0], "model_step_sigma_px")]), 0.0);
  EXPECT_TRUE(warned(pj, "1 of 1 model outputs (step_sigma_px) are negative or not finite")) << pj["warnings"].dump();
}

// The training range of step sizes covers the whole broad prior: tracks drawn from the broad model's
// own spec (states a D ratio of 3-30 apart, localization noise and blur drawn per track) raise no
// step-size warning. Before the ratio and the drawn noise and blur were counted, 19 of these 400
// tracks were reported outside the range.
TEST(Predict, TracksFromTheTrainingPriorAreInItsRange) {
  const fs::path model = fs::path(SPTRAIN_SOURCE_DIR) / "models" / "broad-2state-2d";
  Tmp t;
  SimSpec s = load_spec((model / "spec.toml").string());
  TrajectoryBatch b;
  simulate(s.params, 9, 0, 400, Device::cpu(), b);
  write_batch_csv(b, (t.p / "broad.csv").string());
  PredictRequest r = request(t.p, "broad.csv");
  r.run_dir = model.string();
  const nlohmann::json pj = run_predict(r);
  EXPECT_FALSE(warned(pj, "the model was trained on")) << pj["warnings"].dump();
}
