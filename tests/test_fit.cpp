// Tests of `sptrain fit`: fit_tracks on simulated 2-state tracks with gaps, localization noise and
// lengths 20-500 (the HMM recovers D, occupancy and rates in physical units; BIC picks K = 2),
// per-track MLE interval coverage, the units in every output, and the CLI (outputs, exit 2 on
// bad input).
//
// Statistical tests use fixed seeds (deterministic); each states the probability that it would
// fail with a random seed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gapped_sim.hpp"
#include "sptrain/error.hpp"
#include "sptrain/fit.hpp"
#include "sptrain/plots.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using sptrain::test::SimModel;
using sptrain::test::simulate_track;

namespace {

// n tracks of 20-500 frames in micrometres, frame interval dt seconds.
sptrain::TrajectorySet simulated_set(std::uint64_t seed, const SimModel& m, int n, double dt) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> len(20, 500);
  sptrain::TrajectorySet t;
  t.source = "simulated";
  t.dims = m.dims;
  t.space_unit = "um";
  t.frame_interval = dt;
  for (int i = 0; i < n; ++i) {
    auto s = simulate_track(rng, m, len(rng), 1000 * i);
    t.ids.push_back(i + 1);
    t.positions.push_back(s.positions);
    t.frames.push_back(s.frames);
  }
  return t;
}

// D 0.05 and 0.5 um^2/s at dt = 0.02 s (sigma2 = 2 D dt), rates 0 -> 1 2/s and 1 -> 0 3/s
// (0.04 and 0.06 per frame), localization std 0.03 um, 10 % of frames missing.
SimModel two_state() {
  SimModel m;
  m.sigma2 = {0.002, 0.02};
  m.Q = {-0.04, 0.04, 0.06, -0.06};
  m.loc2 = 0.0009;
  m.drop = 0.1;
  return m;
}

struct Run {
  int code = -1;
  std::string out;
};
Run run(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// 150 tracks (about 39,000 displacements). Tolerances as in the baselines' HMM test (BIC K = 2 on
// 20 of 20 other seeds; D within 20 %, >= 4.4 sd of the slow state's spread; occupancy within
// 0.05, 5 sd; rates within 25 %, 5 sd beyond their +4.5 % bias): false-failure probability < 1e-4.
// The bootstrap intervals (15 resamples here) must bracket the estimate and be narrower than the
// estimate itself for D (a 95 % interval of a 20 % error would have to be wider by far to fail).
TEST(FitTracks, RecoversTwoStatesInPhysicalUnits) {
  const auto t = simulated_set(21, two_state(), 150, 0.02);
  sptrain::FitOptions o;
  o.max_states = 3;
  o.bootstrap = 15;
  o.seed = 5;
  o.em_restarts = 2;
  const auto r = sptrain::fit_tracks(t, o);
  ASSERT_EQ(r.K, 2);
  EXPECT_TRUE(r.k_by_bic);
  EXPECT_EQ(r.units.d_key(), "um2_per_s");
  EXPECT_NEAR(std::sqrt(r.loc2), 0.03, 0.006);
  const double D[] = {0.05, 0.5}, occ[] = {0.6, 0.4}, exit[] = {2.0, 3.0};
  for (int k = 0; k < 2; ++k) {
    const auto& s = r.states[k];
    EXPECT_NEAR(s.d.value / D[k], 1.0, 0.2) << k;
    EXPECT_NEAR(s.occupancy.value, occ[k], 0.05) << k;
    EXPECT_NEAR(s.exit_rate.value / exit[k], 1.0, 0.25) << k;
    EXPECT_NEAR(s.dwell.value * exit[k], 1.0, 0.25) << k;
    EXPECT_NEAR(s.rate_to[1 - k].value / exit[k], 1.0, 0.25) << k;
    EXPECT_LE(s.d.lo, s.d.value);
    EXPECT_GE(s.d.hi, s.d.value);
    EXPECT_LT(s.d.hi - s.d.lo, s.d.value);
    EXPECT_LE(s.exit_rate.lo, s.exit_rate.value);
    EXPECT_GE(s.exit_rate.hi, s.exit_rate.value);
  }
  EXPECT_EQ(r.bootstrap, 15);
  ASSERT_EQ(r.tracks.size(), 150u);
  std::int64_t gaps = 0;
  for (const auto& tr : r.tracks) {
    gaps += tr.gaps;
    EXPECT_EQ(tr.viterbi.size() + 1, size_t(tr.n));
    EXPECT_EQ(tr.gamma.size(), tr.viterbi.size() * 2);
  }
  EXPECT_GT(gaps, 1000);
  EXPECT_EQ(gaps, r.n_gaps);
}

// Per-track MLE intervals cover the true D at 95 % on one-state tracks with gaps (no noise: the
// pooled CVE finds loc2 close to 0): between 91.5 % and 98.5 % of 400 tracks (binomial sd 1.1 %,
// 3.2 sd each side: false-failure probability about 1.5e-3). The D is in um^2/s: 0.25 um^2/s at
// dt = 0.02 s is sigma2 = 0.01 um^2.
TEST(FitTracks, PerTrackMleIntervalsCover) {
  SimModel m;
  m.sigma2 = {0.01};
  m.Q = {0.0};
  m.drop = 0.2;
  const auto t = simulated_set(22, m, 400, 0.02);
  sptrain::FitOptions o;
  o.max_states = 1;
  o.bootstrap = 0;
  const auto r = sptrain::fit_tracks(t, o);
  int covered = 0, cve_has = 0;
  for (const auto& tr : r.tracks) {
    covered += tr.d_mle.lo <= 0.25 && 0.25 <= tr.d_mle.hi;
    cve_has += std::isfinite(tr.d_cve.value);
  }
  EXPECT_GE(covered, 0.915 * 400);
  EXPECT_LE(covered, 0.985 * 400);
  EXPECT_EQ(cve_has, 400);
  EXPECT_NEAR(r.d_pooled_cve.value / 0.25, 1.0, 0.05);  // about 90,000 steps: se ~1 %
}

TEST(FitTracks, UnitsWithoutFrameIntervalArePerFrame) {
  auto t = simulated_set(23, two_state(), 20, 0.0);
  t.space_unit = "px";
  sptrain::FitOptions o;
  o.states = 2;
  o.bootstrap = 5;
  const auto r = sptrain::fit_tracks(t, o);
  EXPECT_FALSE(r.k_by_bic);
  const auto j = sptrain::fit_json(r);
  EXPECT_EQ(j["units"]["D"], "px^2/frame");
  EXPECT_TRUE(j["hmm"]["states"][0].contains("D_px2_per_frame"));
  EXPECT_TRUE(j["hmm"]["states"][0].contains("exit_rate_per_frame"));
  EXPECT_TRUE(j["hmm"]["states"][0].contains("mean_dwell_frames"));
  EXPECT_TRUE(j["tracks"][0].contains("D_mle_px2_per_frame"));
  EXPECT_NE(sptrain::tracks_csv(r).find("D_cve_px2_per_frame"), std::string::npos);
  const auto steps = sptrain::steps_csv(r, t);
  EXPECT_EQ(steps.substr(0, steps.find('\n')), "track,frame,frame_next,dx_px,dy_px,state,p_state_0,p_state_1");
  // A frame interval of 0.02 s: D = sigma2 / (2 dt) is 50 times the per-frame value sigma2 / 2.
  t.frame_interval = 0.02;
  const auto r2 = sptrain::fit_tracks(t, o);
  EXPECT_NEAR(r2.tracks[0].d_mle.value, 50 * r.tracks[0].d_mle.value, 1e-9 * r2.tracks[0].d_mle.value);
  EXPECT_NEAR(r2.states[1].exit_rate.value, 50 * r.states[1].exit_rate.value, 1e-6 * r2.states[1].exit_rate.value);
}

TEST(FitTracks, WarnsThatABootstrapOverFewTracksIsUnreliable) {
  auto has_warning = [](const sptrain::FitResult& r) {
    for (const auto& w : r.warnings)
      if (w.find("unreliable below 10 tracks") != std::string::npos) return true;
    return false;
  };
  sptrain::FitOptions o;
  o.states = 2;
  o.bootstrap = 5;
  EXPECT_TRUE(has_warning(sptrain::fit_tracks(simulated_set(29, two_state(), 4, 0.0), o)));
  EXPECT_FALSE(has_warning(sptrain::fit_tracks(simulated_set(29, two_state(), 12, 0.0), o)));
}

TEST(FitTracks, RefusesWhatCannotBeFitted) {
  sptrain::TrajectorySet t;
  t.source = "empty.csv";
  EXPECT_THROW(sptrain::fit_tracks(t), sptrain::UsageError);
  t.dims = 2;
  t.ids = {1};
  t.positions = {{1, 1, 1, 1, 1, 1}};
  t.frames = {{0, 1, 2}};
  try {
    sptrain::fit_tracks(t);
    FAIL() << "an immobile track was fitted";
  } catch (const sptrain::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.csv"), std::string::npos);
  }
}

TEST(FitCli, WritesOutputsWithUnitsAndRefusesBadInput) {
  sptrain::test::TempDir dir("fit");
  const auto t = simulated_set(24, two_state(), 30, 0.02);
  {
    std::ofstream f(dir.path / "tracks.csv");
    f << "particle,frame,x,y\n";
    for (size_t i = 0; i < t.size(); ++i)
      for (size_t l = 0; l < t.frames[i].size(); ++l)
        f << t.ids[i] << "," << t.frames[i][l] << "," << t.positions[i][2 * l] / 0.16 << ","
          << t.positions[i][2 * l + 1] / 0.16 << "\n";
  }
  const std::string cli = SPTRAIN_CLI;
  const std::string in = (dir.path / "tracks.csv").string(), out = (dir.path / "out").string();
  auto r = run(cli + " fit --input " + in + " --pixel-size 0.16 --frame-interval 0.02 --bootstrap 10 --max-states 3 --out-dir " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("um^2/s"), std::string::npos);
  EXPECT_NE(r.out.find("pixel size 0.16 um"), std::string::npos);
  for (const char* f : {"fit.json", "tracks.csv", "steps.csv", "d_histogram.dat", "dwell_times.dat", "msd_curves.dat",
                        "tracks_by_state.dat"})
    EXPECT_TRUE(fs::exists(dir.path / "out" / f)) << f;
  const std::string json = slurp(dir.path / "out" / "fit.json");
  EXPECT_NE(json.find("\"D_um2_per_s\""), std::string::npos);
  EXPECT_NE(json.find("\"exit_rate_per_s\""), std::string::npos);
  EXPECT_NE(json.find("\"frame_interval_s\": 0.02"), std::string::npos);
  EXPECT_NE(slurp(dir.path / "out" / "tracks.csv").find("D_mle_um2_per_s"), std::string::npos);
  EXPECT_NE(slurp(dir.path / "out" / "steps.csv").find("dx_um"), std::string::npos);
  // A non-empty output directory needs --force.
  r = run(cli + " fit --input " + in + " --no-plots --bootstrap 0 --out-dir " + out);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--force"), std::string::npos);
  r = run(cli + " fit --input " + in + " --no-plots --bootstrap 0 --force --out-dir " + out);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("px^2/frame"), std::string::npos);  // no units given: pixels and frames
  // Bad input: a missing file, a bad flag value, a file that is not tracks.
  r = run(cli + " fit --input " + (dir.path / "missing.csv").string() + " --out-dir " + (dir.path / "o2").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error:"), std::string::npos);
  r = run(cli + " fit --input " + in + " --blur 0.5 --out-dir " + (dir.path / "o3").string());
  EXPECT_EQ(r.code, 2) << r.out;
  {
    std::ofstream f(dir.path / "bad.csv");
    f << "particle,frame,x,y\n1,0,0.5,0.5\n1,1,zz,1\n";
  }
  r = run(cli + " fit --input " + (dir.path / "bad.csv").string() + " --out-dir " + (dir.path / "o4").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("bad.csv"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "o4" / "fit.json"));
}

namespace {

bool is_png(const fs::path& p) {
  const std::string s = slurp(p);
  return s.size() > 8 && s.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

// Draws all four fit figures into dir, from the given data (possibly empty); returns how many PNGs.
int draw_all(const std::string& dir, bool empty) {
  std::vector<sptrain::plots::StateTrack> tr;
  std::vector<double> d;
  std::vector<std::vector<double>> dw(2);
  std::vector<sptrain::plots::Series> thin;
  if (!empty) {
    tr.push_back({{0, 1, 2, 2.5}, {0, 0.5, 0.2, 1}, {0, 1, -1}});
    d = {0.01, 0.03, 0.1, 0.2, -1, NAN};
    dw = {{0.02, 0.04, 0.1}, {0.02}};
    thin.push_back({"t1", {0.02, 0.04, 0.06}, {0.001, 0.002, 0.0035}});
  }
  const sptrain::plots::Series mean{"mean", thin.empty() ? std::vector<double>{} : thin[0].x,
                                    thin.empty() ? std::vector<double>{} : thin[0].y};
  int n = 0;
  n += sptrain::plots::tracks_by_state(dir, "tracks_by_state", tr, {"state 0", "state 1"}, "x (um)", "y (um)", "t");
  n += sptrain::plots::log_histogram(dir, "d_histogram", d, 10, {{"state 0", 0.02}, {"state 1", 0.3}}, "D (um^2/s)", "t");
  n += sptrain::plots::dwell_times(dir, "dwell_times", dw, {5.0, 30.0}, {"state 0", "state 1"}, "dwell (s)", "t");
  n += sptrain::plots::loglog_curves(dir, "msd_curves", thin, {mean}, "lag (s)", "MSD (um^2)", "t");
  return n;
}

}  // namespace

// The four figures: .dat always (with the documented columns), PNG where gnuplot runs, also for
// empty data; inconsistent input is std::invalid_argument.
TEST(FitPlots, DataFilesFiguresAndBadInput) {
  sptrain::test::TempDir dir("fitplots");
  const std::string d = dir.path.string();
  const int png = draw_all(d, false);
  for (const char* f : {"tracks_by_state", "d_histogram", "dwell_times", "msd_curves"}) {
    EXPECT_TRUE(fs::exists(dir.path / (std::string(f) + ".dat"))) << f;
    if (sptrain::plots::gnuplot_available()) {
      EXPECT_TRUE(is_png(dir.path / (std::string(f) + ".png"))) << f;
    }
  }
  if (sptrain::plots::gnuplot_available()) {
    EXPECT_EQ(png, 4);
  }
  const std::string tracks = slurp(dir.path / "tracks_by_state.dat");
  EXPECT_NE(tracks.find("# track x y x_next y_next state\n0 0 0 1 0.5 0\n0 1 0.5 2 0.2 1\n0 2 0.2 2.5 1 -1\n"),
            std::string::npos);
  const std::string hist = slurp(dir.path / "d_histogram.dat");
  EXPECT_NE(hist.find("2 non-positive or non-finite skipped"), std::string::npos);
  EXPECT_NE(hist.find("# mark 0.3 state 1"), std::string::npos);
  EXPECT_NE(slurp(dir.path / "dwell_times.dat").find("# state 1: 1 dwells, fitted exit rate 30"), std::string::npos);
  sptrain::test::TempDir empty("fitplots_empty");
  const int png_empty = draw_all(empty.path.string(), true);
  if (sptrain::plots::gnuplot_available()) {
    EXPECT_EQ(png_empty, 4);
  }
  EXPECT_THROW(sptrain::plots::tracks_by_state(d, "x", {{{0, 1}, {0, 1}, {}}}, {}, "x", "y", "t"), std::invalid_argument);
  EXPECT_THROW(sptrain::plots::dwell_times(d, "x", {{1.0}}, {}, {"a"}, "x", "t"), std::invalid_argument);
  EXPECT_THROW(sptrain::plots::log_histogram(d, "x", {1.0}, 0, {}, "x", "t"), std::invalid_argument);
  EXPECT_THROW(sptrain::plots::loglog_curves(d, "x", {{"a", {1.0}, {}}}, {}, "x", "y", "t"), std::invalid_argument);
}

// End to end with the library's own simulator: `sptrain simulate` of experiments/markov-3state-noise
// (D 0.05, 0.5, 2 per second at dt 0.05 s, exit rates 0.01, 0.02, 0.01 per step = 0.2, 0.4, 0.2 per
// second, localization std 0.03), 200 tracks of 500 positions, then `sptrain fit`. Bounds from the
// bootstrap spread of this fit (sd about 0.005, 0.007 and 0.01 for the three D, 0.009, 0.018 and
// 0.01 per second for the rates): D within 40 %, 8 % and 4 %, rates within 30 %, each >= 3.8 sd
// (false-failure probability < 1e-3 in all).
TEST(FitCli, SimulatedThreeStateSpecEndToEnd) {
  sptrain::test::TempDir dir("fit3");
  const std::string cli = SPTRAIN_CLI;
  const std::string npy = (dir.path / "m3.npy").string(), out = (dir.path / "out").string();
  auto r = run(cli + " simulate --spec " + std::string(SPTRAIN_SOURCE_DIR) +
               "/experiments/markov-3state-noise.toml --n 200 --seed 3 --device cpu --out " + npy);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(cli + " fit --input " + npy + " --frame-interval 0.05 --bootstrap 0 --no-plots --out-dir " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(slurp(dir.path / "out" / "fit.json"));
  ASSERT_EQ(j["hmm"]["K"], 3);
  const double D[] = {0.05, 0.5, 2.0}, tolD[] = {0.4, 0.08, 0.04}, exit[] = {0.2, 0.4, 0.2};
  for (int k = 0; k < 3; ++k) {
    const auto& s = j["hmm"]["states"][k];
    EXPECT_NEAR(s["D_px2_per_s"].get<double>() / D[k], 1.0, tolD[k]) << k;
    EXPECT_NEAR(s["exit_rate_per_s"].get<double>() / exit[k], 1.0, 0.3) << k;
  }
  EXPECT_NEAR(j["localization"]["loc_noise_px"].get<double>(), 0.03, 0.005);
}
