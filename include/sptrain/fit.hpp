// `sptrain fit`: classical analysis of tracked trajectories (any length, gaps allowed), no network.
// Per track: D by the gap-bridging MLE and by the CVE with intervals, localization noise, the MSD
// curve and its exponent alpha. Pooled: an HMM fitted by EM with K chosen by BIC, localization
// noise and motion blur in its emission model, per state D, occupancy, transition rates and dwell
// times with bootstrap intervals over tracks; per track its Viterbi path, per step the state
// probabilities. docs/fit.md describes the model and every output.
//
//   sptrain::TrajectorySet t = sptrain::read_trajectories("tracks.csv", {.pixel_size = 0.16, ...});
//   sptrain::FitResult r = sptrain::fit_tracks(t, {});
//   std::cout << sptrain::format_fit_table(r);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/trajectory_read.hpp"

namespace sptrain {

struct FitOptions {
  int max_states = 4;     // BIC chooses K in 1..max_states
  int states = 0;         // > 0: fit exactly this K (no BIC)
  double blur = 0;        // motion-blur coefficient R in [0, 1/4] (1/6 for full-frame exposure)
  int bootstrap = 200;    // resamples of the tracks for the HMM intervals (0: none)
  std::uint64_t seed = 0; // bootstrap resampling and EM restarts
  double level = 0.95;    // confidence level of every interval
  int em_restarts = 3;    // EM starts per K (the first deterministic)
  bool progress = false;  // progress lines on stderr
};

// The units every output states: lengths in `length` ("um" or "px"), times in `time` ("s", or
// "frame" when the frame interval is unknown).
struct FitUnits {
  std::string length = "px";
  std::string time = "frame";
  double frame_interval = 1;  // time units per frame (1 when the time unit is the frame)
  // Key suffixes: "um2_per_s", "per_s", "s", "um" (or px / frame).
  std::string d_key() const { return length + "2_per_" + time; }
  std::string rate_key() const { return "per_" + time; }
  std::string time_key() const { return time == "frame" ? "frames" : time; }
  std::string d_text() const { return length + "^2/" + time; }
  std::string rate_text() const { return "1/" + time; }
};

struct Estimate {
  double value = 0, lo = 0, hi = 0;  // NaN where there is no value
};

struct TrackFit {
  std::int64_t id = 0;
  std::int64_t n = 0;               // localizations
  std::int64_t gaps = 0;            // displacements that skip frames
  std::int64_t missing_frames = 0;  // frames skipped in all
  Estimate d_mle, d_cve;            // D in the units' D unit
  double loc_noise = 0;             // sqrt(CVE loc2), length unit; NaN if the CVE gives loc2 < 0
  double alpha = 0;                 // MSD exponent (NaN if it cannot be fitted)
  std::vector<int> msd_lag;         // frames
  std::vector<double> msd;          // per dimension, squared length unit
  std::vector<int> viterbi;         // per displacement
  std::vector<double> gamma;        // [steps, K]
  std::vector<int> gap;             // per displacement, frames
  std::vector<double> state_fraction;  // Viterbi fraction of displacements per state
};

struct StateFit {
  Estimate d;             // D
  Estimate occupancy;     // stationary probability of the fitted chain
  Estimate exit_rate;     // rate of leaving the state
  Estimate dwell;         // mean dwell time, 1 / exit rate
  std::vector<Estimate> rate_to;  // [K]: rate i -> j (NaN on the diagonal)
  double fraction_of_steps = 0;   // mean posterior probability over all displacements
  std::vector<double> dwell_observed;  // Viterbi runs bounded by switches on both sides, time unit
};

struct FitResult {
  std::string source;
  int dims = 1;
  FitUnits units;
  double pixel_size = 0;  // as given (0: not given)
  std::int64_t n_localizations = 0, n_steps = 0, n_gaps = 0, dropped_short = 0;
  std::vector<std::string> warnings;
  double blur = 0, level = 0.95;
  double loc2 = 0;        // pooled CVE localization variance (clamped at 0), squared length unit
  Estimate d_pooled_cve;  // one D for all tracks
  int K = 0;
  bool k_by_bic = true;
  std::vector<double> bic;  // [max_states] when by BIC
  double loglik = 0;
  std::vector<double> trans;  // K x K per frame
  bool rates_exact = true;    // matrix logarithm (else the dwell form)
  int bootstrap = 0;          // resamples that produced a fit
  std::vector<StateFit> states;
  std::vector<TrackFit> tracks;
};

// Fits everything; throws UsageError (naming t.source) for data nothing can be fitted to.
FitResult fit_tracks(const TrajectorySet& t, const FitOptions& opt = {});

nlohmann::json fit_json(const FitResult& r);
std::string tracks_csv(const FitResult& r);
// One row per displacement: track, frame, frame_next, dx.., state, p_state_0..K-1.
std::string steps_csv(const FitResult& r, const TrajectorySet& t);
std::string format_fit_table(const FitResult& r);

struct FitRequest {
  std::string input;
  ReadOptions read;
  FitOptions fit;
  std::string out_dir;
  bool force = false;
  bool plots = true;
};
// Reads, fits and writes fit.json, tracks.csv, steps.csv and the figures into out_dir (each file
// atomically; a non-empty out_dir is refused without force).
FitResult run_fit(const FitRequest& req);

}  // namespace sptrain
