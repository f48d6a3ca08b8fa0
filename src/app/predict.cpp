// sptrain predict: the model of a trained run on unlabelled tracks of any length.
//
// Tracks are split at their gaps into segments of consecutive frames (a network reads a regular
// series of displacements; the displacement across a gap is never scored). A model whose
// parameters do not depend on the input length runs on each segment at its own length (segments of
// one length batched together); any other model runs on windows of its training length: from the
// start of the segment without overlap, the last one aligned to the segment's end. Per-step
// probabilities of steps two windows cover are averaged. The run's training spec sets the decoding
// of per-step states and the ranges the input is checked against.
#include "sptrain/predict.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>

#include "sptrain/checkpoint.hpp"
#include "sptrain/error.hpp"
#include "sptrain/layer.hpp"
#include "sptrain/optimizer.hpp"
#include "sptrain/features.hpp"
#include "sptrain/io.hpp"
#include "sptrain/plots.hpp"

namespace sptrain {

namespace fs = std::filesystem;

// predict ------------------------------------------------------------------------------------------

namespace {

// A number for the CSV files: NaN and infinities spelled out (a model output that is not finite is
// reported, not dropped).
std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream o;
  o << std::setprecision(7) << v;
  return o.str();
}

std::string fmt(double v, int prec = 3) {
  std::ostringstream o;
  o << std::setprecision(prec) << v;
  return o.str();
}

// The range of one-frame step sizes (per axis) the training spec produces: the prior's range of
// sigma, with the localization noise (variance 2 loc^2 per displacement) and the motion blur
// (variance factor 1 - exposure / 3) folded in.
struct SigmaRange {
  double lo = 0, hi = 0;
  std::string what;  // e.g. "fixed step sizes 1, 10"
};
SigmaRange training_sigma_range(const SimParams& p) {
  SigmaRange r;
  double lo = 0, hi = 0;
  std::ostringstream w;
  switch (p.prior) {
    case PriorKind::Fixed:
      lo = hi = p.sigma[0];
      for (int k = 0; k < p.n_states; ++k) lo = std::min(lo, double(p.sigma[k])), hi = std::max(hi, double(p.sigma[k]));
      w << "fixed step sizes";
      for (int k = 0; k < p.n_states; ++k) w << (k ? ", " : " ") << fmt(p.sigma[k]);
      break;
    case PriorKind::Uniform:
    case PriorKind::LogUniform:
      lo = p.prior_a, hi = p.prior_b;
      w << (p.prior == PriorKind::Uniform ? "uniform" : "log-uniform") << " step sizes " << fmt(lo) << "-" << fmt(hi);
      break;
    case PriorKind::Weibull: {  // the 0.1 % and 99.9 % quantiles
      auto q = [&](double u) { return p.prior_c + p.prior_b * std::pow(-std::log(1 - u), 1.0 / p.prior_a); };
      lo = q(0.001), hi = q(0.999);
      w << "Weibull step sizes (99.8 % within " << fmt(lo) << "-" << fmt(hi) << ")";
      break;
    }
  }
  // Per-trajectory ratios between neighbouring states (states.D_ratio): the first state is drawn
  // from the prior, each next one r times larger, so the states span lo * r_low^(K-1) to
  // hi * r_high^(K-1).
  if (p.ratio_low > 0 && p.n_states > 1) {
    const int k = p.n_states - 1;
    lo = std::min(lo, lo * std::pow(double(p.ratio_low), k));
    hi = std::max(hi, hi * std::pow(double(p.ratio_high), k));
    w << ", step-size ratio between states " << fmt(p.ratio_low) << "-" << fmt(p.ratio_high);
  }
  // Noise and blur drawn per trajectory: the smallest apparent step size has the least noise and
  // the most blur, the largest the most noise and no more blur than the least drawn exposure.
  const bool noise_drawn = p.noise_prior != PriorKind::Fixed, exposure_drawn = p.exposure_range != 0;
  const double noise_lo = noise_drawn ? p.noise_low : p.loc_noise, noise_hi = noise_drawn ? p.noise_high : p.loc_noise;
  const double exp_lo = exposure_drawn ? p.exposure_low : p.exposure, exp_hi = exposure_drawn ? p.exposure_high : p.exposure;
  r.lo = std::sqrt(lo * lo * (1.0 - exp_hi / 3.0) + 2.0 * noise_lo * noise_lo);
  r.hi = std::sqrt(hi * hi * (1.0 - exp_lo / 3.0) + 2.0 * noise_hi * noise_hi);
  if (noise_drawn) w << ", localization noise " << fmt(noise_lo) << "-" << fmt(noise_hi);
  else if (p.loc_noise > 0) w << ", localization noise " << fmt(p.loc_noise);
  if (exposure_drawn) w << ", exposure " << fmt(exp_lo) << "-" << fmt(exp_hi);
  else if (p.exposure > 0) w << ", exposure " << fmt(p.exposure);
  r.what = w.str();
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// One run of the model: positions [start, start + len) of a track.
struct Piece {
  size_t track = 0;
  int64_t start = 0;
  int len = 0;
};

const char* label_name(LabelKind k) {
  switch (k) {
    case LabelKind::Sigma: return "sigma";
    case LabelKind::NSwitches: return "n_switches";
    case LabelKind::NSwitchesPlusOne: return "n_switches_plus_one";
    case LabelKind::SwitchTime: return "switch_time";
    case LabelKind::HasSwitch: return "has_switch";
    case LabelKind::InitialState: return "initial_state";
    case LabelKind::StepState: return "step_state";
  }
  return "?";
}

std::vector<double> softmax(const float* z, int K) {
  std::vector<double> p(K);
  const float mx = *std::max_element(z, z + K);
  double s = 0;
  for (int k = 0; k < K; ++k) s += p[k] = std::exp(double(z[k]) - mx);
  for (auto& v : p) v /= s;
  return p;
}

}  // namespace

nlohmann::json run_predict(const PredictRequest& r) {
  if (r.run_dir.empty()) throw UsageError("predict: give --run RUN_DIR");
  if (r.input.empty()) throw UsageError("predict: give --input FILE");
  if (r.out_dir.empty()) throw UsageError("predict: give --out-dir DIR");
  if (fs::exists(r.out_dir) && !fs::is_empty(r.out_dir) && !r.force)
    throw UsageError("--out-dir " + r.out_dir + ": exists and is not empty (use --force)");
  if (!(r.switch_penalty >= 0) || !std::isfinite(r.switch_penalty))
    throw UsageError("--switch-penalty: must be a finite number >= 0");
  const TrainConfig cfg = load_run_config(r.run_dir);
  const SimParams& sp = cfg.spec.params;
  const bool per_step = cfg.label == LabelKind::StepState;
  const int K = cfg.outputs();

  // The decoding rule.
  DecodeRule rule = default_decode_rule(sp, K);
  std::string rule_from = "the training spec";
  if (r.decode == "argmax") rule = DecodeRule::Argmax, rule_from = "--decode";
  else if (r.decode == "single") rule = DecodeRule::Single, rule_from = "--decode";
  else if (r.decode == "chain") {
    if (!(is_chain(sp) && sp.n_states == K))
      throw UsageError("--decode chain: the run's spec " + cfg.spec.source +
                       " does not switch as a Poisson or Markov chain between the model's " + std::to_string(K) + " states");
    rule = DecodeRule::Chain, rule_from = "--decode";
  } else if (r.decode != "auto")
    throw UsageError("--decode: '" + r.decode + "' is not auto, argmax, single or chain");
  if (r.switch_penalty > 0 && rule != DecodeRule::Argmax)
    throw UsageError("--switch-penalty applies to --decode argmax only (the decoding is " + decode_rule_name(rule) + ")");
  const baselines::HmmParams hp = rule == DecodeRule::Chain ? chain_hmm(sp, std::vector<double>(K, 1.0)) : baselines::HmmParams{};

  // The tracks.
  const ReadOptions ro = r.read.as_tracks();
  const TrajectorySet ts = read_trajectories(r.input, ro);
  if (ts.size() == 0)
    throw UsageError(r.input + ": no tracks of at least " + std::to_string(ro.min_length) + " localizations (" +
                     std::to_string(ts.dropped_short) + " shorter ones left out)");
  if (ts.dims != sp.dims)
    throw UsageError(r.input + ": tracks in " + std::to_string(ts.dims) + "-D, the model of " + r.run_dir +
                     " was trained in " + std::to_string(sp.dims) + "-D");
  const int dims = ts.dims;
  const std::string unit = ts.space_unit;
  // What the model reads: the positions as read, or (--model-units px) those positions divided by
  // the pixel size again, for a model trained in pixels on tracks reported in micrometres.
  double to_model = 1;
  std::string model_unit = unit + " (the input's unit)";
  if (r.model_units == "px") {
    if (!(ro.pixel_size > 0))
      throw UsageError("--model-units px: give --pixel-size (the model reads positions in pixels, the outputs are in um)");
    to_model = 1.0 / ro.pixel_size;
    model_unit = "px (the positions divided by the pixel size " + fmt(ro.pixel_size) + " um)";
  } else if (r.model_units != "input") {
    throw UsageError("--model-units: '" + r.model_units + "' is not input or px");
  }
  const double fi = ts.frame_interval;
  std::vector<std::string> warnings(ts.warnings);

  Predictor model(cfg, r.run_dir, r.device);
  const int L = model.train_length();

  // Segments of consecutive frames, and the pieces the model runs on.
  const size_t N = ts.size();
  std::vector<std::vector<std::pair<int64_t, int64_t>>> segs(N);  // [a, b) position indices
  std::vector<int64_t> gaps(N, 0);
  for (size_t i = 0; i < N; ++i) {
    int64_t a = 0;
    const auto& f = ts.frames[i];
    for (int64_t j = 1; j <= ts.length(i); ++j)
      if (j == ts.length(i) || f[j] - f[j - 1] != 1) {
        segs[i].push_back({a, j});
        if (j < ts.length(i)) ++gaps[i];
        a = j;
      }
  }
  std::vector<Piece> pieces;
  int64_t short_segments = 0, n_segments = 0, thin_segments = 0;
  const int64_t rf = receptive_field(cfg.model);
  // Trained on several lengths (data.lengths): segments as short as the shortest were seen in
  // training, zero-padded context included.
  const int64_t shortest_trained = cfg.lengths.empty() ? L : *std::min_element(cfg.lengths.begin(), cfg.lengths.end());
  const std::string trained_on =
      cfg.lengths.empty() ? std::to_string(L - 1) + " steps"
                          : "tracks of " + std::to_string(shortest_trained) + " to " +
                                std::to_string(*std::max_element(cfg.lengths.begin(), cfg.lengths.end())) + " positions";
  const std::string window_rule =
      model.any_length() ? "each gap-free segment at its own length"
                         : "windows of " + std::to_string(L) +
                               " positions (the training length) from the start of each gap-free segment, without "
                               "overlap; the last window aligned to the segment's end";
  for (size_t i = 0; i < N; ++i)
    for (const auto& [a, b] : segs[i]) {
      ++n_segments;
      const int64_t len = b - a;
      if (model.any_length()) {
        if (len < model.min_length()) {
          ++short_segments;
          continue;
        }
        if (rf < Layer::kWholeInput && len - 1 < rf && (cfg.lengths.empty() || len < shortest_trained)) ++thin_segments;
        pieces.push_back({i, a, int(len)});
      } else {
        if (len < L) {
          ++short_segments;
          continue;
        }
        int64_t s = a;
        for (; s + L <= b; s += L) pieces.push_back({i, s, L});
        if (s < b) pieces.push_back({i, b - L, L});
      }
    }
  if (short_segments > 0)
    warnings.push_back(std::to_string(short_segments) + " of " + std::to_string(n_segments) +
                       " gap-free segments are shorter than the " +
                       std::to_string(model.any_length() ? model.min_length() : L) +
                       " positions the model needs and are not scored" +
                       (model.any_length() ? "" : " (the model has a fixed input length: it was trained on " +
                                                      std::to_string(L) + " positions)"));
  if (thin_segments > 0)
    warnings.push_back(std::to_string(thin_segments) + " of " + std::to_string(n_segments) +
                       " segments have fewer steps than the model's receptive field (" + std::to_string(rf) +
                       " steps; it was trained on " + trained_on + "): their states are predicted with zero-padded context");
  if (pieces.empty())
    throw UsageError(r.input + ": no gap-free segment of at least " +
                     std::to_string(model.any_length() ? model.min_length() : L) + " positions: nothing the model of " +
                     r.run_dir + " can run on");

  // Input checks against the training spec: the step size and the localization noise per track.
  // Displacements over g frames are divided by sqrt(g) (their variance is g times one frame's).
  std::vector<double> track_sigma(N), track_loc2(N);
  double loc_num = 0, loc_den = 0;
  for (size_t i = 0; i < N; ++i) {
    const auto& x = ts.positions[i];
    const auto& f = ts.frames[i];
    double ss = 0, cross = 0;
    int64_t cnt = 0, pairs = 0;
    for (int64_t j = 0; j + 1 < ts.length(i); ++j) {
      const double g = double(f[j + 1] - f[j]);
      for (int d = 0; d < dims; ++d) {
        const double dx = double(x[(j + 1) * dims + d]) - x[j * dims + d];
        ss += dx * dx / g;
        ++cnt;
        if (j + 2 < ts.length(i) && g == 1 && f[j + 2] - f[j + 1] == 1) {
          cross += dx * (double(x[(j + 2) * dims + d]) - x[(j + 1) * dims + d]);
          ++pairs;
        }
      }
    }
    track_sigma[i] = cnt ? std::sqrt(ss / double(cnt)) : std::nan("");
    track_loc2[i] = pairs ? -cross / double(pairs) : std::nan("");
    loc_num += cross;
    loc_den += double(pairs);
  }
  const SigmaRange range = training_sigma_range(sp);
  std::vector<int> in_range(N, 1);
  int64_t out_of_range = 0;
  double smin = 1e300, smax = -1e300;
  std::vector<double> model_sigma(N);  // step sizes in what the model reads
  for (size_t i = 0; i < N; ++i) {
    model_sigma[i] = track_sigma[i] * to_model;
    smin = std::min(smin, model_sigma[i]), smax = std::max(smax, model_sigma[i]);
    // A track mixes states, so its step size lies within the states' range; a factor 2 beyond it
    // leaves room for a short track's estimation error (relative std 1/sqrt(2 n dims)).
    in_range[i] = model_sigma[i] >= range.lo / 2 && model_sigma[i] <= range.hi * 2;
    out_of_range += !in_range[i];
  }
  const double sig_med = median(model_sigma);
  const std::string mu = to_model == 1 ? unit : std::string("px");
  if (out_of_range > 0 || !(sig_med >= range.lo && sig_med <= range.hi))
    warnings.push_back("step sizes " + fmt(smin) + "-" + fmt(smax) + " " + mu + " per frame (median " + fmt(sig_med) +
                       ", " + std::to_string(out_of_range) + " of " + std::to_string(N) +
                       " tracks outside half to twice the training range); the model was trained on " + fmt(range.lo) +
                       "-" + fmt(range.hi) + " (spec units per frame, noise included; " + range.what +
                       "): pass --pixel-size (with --model-units px for a model trained in pixels) or rescale the positions to the "
                       "spec's units");
  const double loc_hat = loc_den > 0 ? to_model * std::sqrt(std::max(0.0, -loc_num / loc_den)) : std::nan("");
  if (std::isfinite(loc_hat) && loc_hat > 2 * double(sp.loc_noise) && loc_hat > 0.2 * range.lo)
    warnings.push_back("localization noise about " + fmt(loc_hat) + " " + mu +
                       " (from the covariance of successive displacements, pooled), more than twice the " +
                       fmt(sp.loc_noise) + " the model was trained with (spec units)");

  // Run the model, pieces of one length batched together.
  const int C = model.output_shape(L).C;
  std::map<int, std::vector<size_t>> by_len;
  for (size_t p = 0; p < pieces.size(); ++p) by_len[pieces[p].len].push_back(p);
  std::vector<std::vector<float>> piece_out(pieces.size());
  for (const auto& [len, idx] : by_len) {
    std::vector<float> pos;
    pos.reserve(idx.size() * size_t(len) * dims);
    for (size_t p : idx) {
      const auto& x = ts.positions[pieces[p].track];
      pos.insert(pos.end(), x.begin() + pieces[p].start * dims, x.begin() + (pieces[p].start + len) * dims);
    }
    if (to_model != 1)
      for (auto& v : pos) v = float(double(v) * to_model);
    auto y = model.forward(pos.data(), int64_t(idx.size()), len);
    const size_t per = y.size() / idx.size();
    for (size_t q = 0; q < idx.size(); ++q) piece_out[idx[q]].assign(y.begin() + q * per, y.begin() + (q + 1) * per);
  }

  fs::create_directories(r.out_dir);
  nlohmann::json pj;
  pj["run"] = r.run_dir;
  pj["checkpoint"] = model.checkpoint();
  pj["input"] = r.input;
  pj["label"] = label_name(cfg.label);
  pj["model"] = {{"any_length", model.any_length()},
                 {"training_length", L},
                 {"training_lengths", cfg.lengths.empty() ? nlohmann::json::array({L}) : nlohmann::json(cfg.lengths)},
                 {"minimum_length", model.any_length() ? model.min_length() : L},
                 {"receptive_field_steps", rf < Layer::kWholeInput ? nlohmann::json(rf) : nlohmann::json("whole input")},
                 {"dims", sp.dims},
                 {"runs_on", window_rule}};
  pj["units"] = {{"space", unit},
                 {"frame_interval_s", fi > 0 ? nlohmann::json(fi) : nlohmann::json(nullptr)},
                 {"time", fi > 0 ? "s" : "frame"},
                 {"model_reads", model_unit},
                 {"model_spec", "the training spec's own units (" + cfg.spec.source +
                                    "): step sizes per frame, compared with what the model reads"}};
  pj["input_checks"] = {{"tracks", N},
                        {"dropped_short", ts.dropped_short},
                        {"segments", n_segments},
                        {"gaps", std::accumulate(gaps.begin(), gaps.end(), int64_t(0))},
                        {"segments_not_scored", short_segments},
                        {"step_sigma_unit", mu},
                        {"step_sigma_median", sig_med},
                        {"step_sigma_min", smin},
                        {"step_sigma_max", smax},
                        {"training_step_sigma_range", {range.lo, range.hi}},
                        {"training_prior", range.what},
                        {"localization_noise_estimate", std::isfinite(loc_hat) ? nlohmann::json(loc_hat) : nlohmann::json(nullptr)},
                        {"training_localization_noise", sp.loc_noise}};
  const std::string D_col = "D_" + unit + "2_per_" + (fi > 0 ? "s" : "frame");
  const double dt = fi > 0 ? fi : 1.0;
  nlohmann::json summary;

  std::vector<std::string> track_rows;  // tracks.csv lines after the header
  std::string track_header = "track,n,gaps,segments,step_sigma_" + unit + "," + D_col + ",in_training_range";

  if (per_step) {
    pj["decoding"] = {{"rule", decode_rule_name(rule)}, {"from", rule_from},
                      {"description", decode_rule_description(rule, r.switch_penalty)}};
    if (rule == DecodeRule::Chain) {
      pj["decoding"]["transition_matrix_per_frame"] = hp.trans;
      pj["decoding"]["initial"] = hp.init;
      pj["decoding"]["note"] = "the spec's rates are per frame: the matrix is applied per frame of the input";
    }
    if (rule == DecodeRule::Single)
      pj["decoding"]["note"] = "one change point over all scored steps of a track (segments joined across gaps)";
    // Per-step probabilities: the mean over the pieces covering each step.
    std::vector<std::vector<double>> psum(N);
    std::vector<std::vector<int>> pcnt(N);
    for (size_t i = 0; i < N; ++i) {
      psum[i].assign(size_t(std::max<int64_t>(0, ts.length(i) - 1)) * K, 0.0);
      pcnt[i].assign(size_t(std::max<int64_t>(0, ts.length(i) - 1)), 0);
    }
    for (size_t p = 0; p < pieces.size(); ++p) {
      const Piece& pc = pieces[p];
      const int64_t S = pc.len - 1;
      auto lp = log_softmax_rows(piece_out[p].data(), S, K);
      for (int64_t t = 0; t < S; ++t) {
        for (int k = 0; k < K; ++k) psum[pc.track][size_t(pc.start + t) * K + k] += std::exp(lp[t * K + k]);
        ++pcnt[pc.track][size_t(pc.start + t)];
      }
    }
    // Decode each track; write steps.csv.
    io::AtomicFile sf(r.out_dir + "/steps.csv");
    auto& so = sf.stream();
    so << "track,frame,frame_next,state";
    for (int k = 0; k < K; ++k) so << ",p_state_" << k;
    so << "\n";
    std::vector<int64_t> state_steps(K, 0), state_runs(K, 0);
    std::vector<double> state_ss(K, 0.0);
    int64_t total_switches = 0, scored_steps = 0;
    std::vector<plots::StateTrack> fig_tracks;  // x-y with the decoded state of every step (-1: not scored)
    std::vector<std::vector<double>> ex_pos;
    std::vector<std::vector<int>> ex_state;
    track_header += ",steps_scored,switches,first_switch_frame";
    for (int k = 0; k < K; ++k) track_header += ",fraction_state_" + std::to_string(k);
    for (size_t i = 0; i < N; ++i) {
      const auto& f = ts.frames[i];
      const auto& x = ts.positions[i];
      // Runs of scored steps (within segments).
      std::vector<std::pair<int64_t, int64_t>> runs;
      for (int64_t t = 0; t < int64_t(pcnt[i].size());) {
        if (!pcnt[i][t]) {
          ++t;
          continue;
        }
        int64_t u = t;
        while (u < int64_t(pcnt[i].size()) && pcnt[i][u]) ++u;
        runs.push_back({t, u});
        t = u;
      }
      std::vector<int> state(pcnt[i].size(), -1);
      auto lp_of = [&](int64_t t0, int64_t t1) {
        std::vector<double> lp(size_t(t1 - t0) * K);
        for (int64_t t = t0; t < t1; ++t)
          for (int k = 0; k < K; ++k)
            lp[size_t(t - t0) * K + k] = std::log(std::max(psum[i][t * K + k] / pcnt[i][t], 1e-300));
        return lp;
      };
      if (rule == DecodeRule::Single) {
        std::vector<double> lp;
        std::vector<int64_t> at;
        for (const auto& [t0, t1] : runs) {
          auto part = lp_of(t0, t1);
          lp.insert(lp.end(), part.begin(), part.end());
          for (int64_t t = t0; t < t1; ++t) at.push_back(t);
        }
        std::vector<int> path;
        decode_single_switch(lp, int64_t(at.size()), K, path);
        for (size_t q = 0; q < at.size(); ++q) state[at[q]] = path[q];
      } else {
        for (const auto& [t0, t1] : runs) {
          std::vector<int> path;
          decode(rule, lp_of(t0, t1), t1 - t0, K, hp, r.switch_penalty, path);
          for (int64_t t = t0; t < t1; ++t) state[t] = path[t - t0];
        }
      }
      int64_t sw = 0, scored = 0;
      double first = std::nan("");
      std::vector<int64_t> occ(K, 0);
      int prev = -1;
      for (int64_t t = 0; t < int64_t(state.size()); ++t) {
        if (state[t] < 0) {
          prev = -1;
          continue;
        }
        const int s = state[t];
        ++scored;
        ++occ[s];
        if (prev >= 0 && s != prev) {
          ++sw;
          if (std::isnan(first)) first = double(f[t]);
        }
        if (s != prev) ++state_runs[s];
        prev = s;
        double ss = 0;
        for (int d = 0; d < dims; ++d) {
          const double dx = double(x[(t + 1) * dims + d]) - x[t * dims + d];
          ss += dx * dx;
        }
        state_ss[s] += ss;
        ++state_steps[s];
        so << ts.ids[i] << "," << f[t] << "," << f[t + 1] << "," << s;
        for (int k = 0; k < K; ++k) so << "," << num(psum[i][t * K + k] / pcnt[i][t]);
        so << "\n";
      }
      total_switches += sw;
      scored_steps += scored;
      if (dims >= 2 && r.plots) {
        plots::StateTrack st;
        for (int64_t t = 0; t < ts.length(i); ++t) st.x.push_back(x[t * dims]), st.y.push_back(x[t * dims + 1]);
        st.state = state;
        fig_tracks.push_back(std::move(st));
      }
      std::ostringstream row;
      row << ts.ids[i] << "," << ts.length(i) << "," << gaps[i] << "," << segs[i].size() << "," << num(track_sigma[i])
          << "," << num(track_sigma[i] * track_sigma[i] / (2 * dt)) << "," << in_range[i] << "," << scored << "," << sw
          << "," << (std::isnan(first) ? "" : num(first));
      for (int k = 0; k < K; ++k) row << "," << (scored ? num(double(occ[k]) / double(scored)) : "");
      track_rows.push_back(row.str());
      if (ex_pos.size() < plots::kMaxTrajectoryPanels) {
        std::vector<double> px(size_t(ts.length(i)));
        for (int64_t t = 0; t < ts.length(i); ++t) px[t] = x[t * dims];
        ex_pos.push_back(px);
        ex_state.push_back(state);
      }
    }
    sf.commit();
    nlohmann::json states = nlohmann::json::array();
    for (int k = 0; k < K; ++k) {
      const double s2 = state_steps[k] ? state_ss[k] / (double(state_steps[k]) * dims) : std::nan("");
      nlohmann::json st = {{"state", k},
                           {"steps", state_steps[k]},
                           {"fraction", scored_steps ? double(state_steps[k]) / double(scored_steps) : 0.0},
                           {"step_sigma_" + unit, std::isfinite(s2) ? nlohmann::json(std::sqrt(s2)) : nlohmann::json(nullptr)},
                           {D_col, std::isfinite(s2) ? nlohmann::json(s2 / (2 * dt)) : nlohmann::json(nullptr)},
                           {std::string("mean_dwell_") + (fi > 0 ? "s" : "frames"),
                            state_runs[k] ? nlohmann::json(double(state_steps[k]) / double(state_runs[k]) * dt)
                                          : nlohmann::json(nullptr)}};
      states.push_back(st);
    }
    summary = {{"tracks", N}, {"steps_scored", scored_steps}, {"switches", total_switches}, {"states", states},
               {"note", "per state: the apparent step size and D of the steps decoded into it (MLE; localization noise "
                        "and blur included, not removed); mean dwell counts runs cut by track ends and gaps as "
                        "whole runs"}};
    if (r.plots) {
      std::string why;
      nlohmann::json pl = nlohmann::json::array();
      std::vector<std::string> names;
      for (int k = 0; k < K; ++k) names.push_back("state " + std::to_string(k));
      if (dims >= 2)
        pl.push_back({{"name", "tracks_xy"},
                      {"png", plots::tracks_by_state(r.out_dir, "tracks_xy", fig_tracks, names, "x (" + unit + ")",
                                                     "y (" + unit + ")", "tracks coloured by predicted state", &why)}});
      std::vector<std::vector<int>> none(ex_pos.size());
      pl.push_back({{"name", "tracks_states"},
                    {"png", plots::example_trajectories(r.out_dir, "tracks_states", ex_pos, none, ex_state, &why)}});
      pj["plots"] = pl;
      if (!why.empty()) pj["plots_note"] = why;
    }
  } else {
    // One output row per piece (windows.csv), aggregated per track.
    const bool cls = cfg.classification();
    std::vector<std::vector<size_t>> of_track(N);
    for (size_t p = 0; p < pieces.size(); ++p) of_track[pieces[p].track].push_back(p);
    const bool last_softmax = cfg.model.layers.back().type == LayerType::Softmax;
    auto probs = [&](size_t p) {
      return last_softmax ? std::vector<double>(piece_out[p].begin(), piece_out[p].end()) : softmax(piece_out[p].data(), C);
    };
    io::AtomicFile wf(r.out_dir + "/windows.csv");
    auto& wo = wf.stream();
    std::string out_col;
    switch (cfg.label) {
      case LabelKind::Sigma: out_col = "step_sigma_" + unit; break;
      case LabelKind::SwitchTime: out_col = "switch_frame"; break;
      default: out_col = label_name(cfg.label);
    }
    wo << "track,frame_first,frame_last," << out_col;
    if (cls)
      for (int k = 0; k < C; ++k) wo << ",p_class_" << k;
    wo << "\n";
    int64_t bad = 0;
    std::vector<double> agg(N, std::nan(""));
    for (size_t p = 0; p < pieces.size(); ++p) {
      const Piece& pc = pieces[p];
      const auto& f = ts.frames[pc.track];
      wo << ts.ids[pc.track] << "," << f[pc.start] << "," << f[pc.start + pc.len - 1] << ",";
      if (cls) {
        auto pr = probs(p);
        wo << int(std::max_element(pr.begin(), pr.end()) - pr.begin());
        for (double v : pr) wo << "," << num(v);
      } else {
        double v = piece_out[p][0];
        if (cfg.label == LabelKind::SwitchTime) v = double(f[pc.start]) + v;
        if (cfg.label == LabelKind::Sigma) v /= to_model;  // back in the input's unit
        wo << num(v);
      }
      wo << "\n";
    }
    wf.commit();
    switch (cfg.label) {
      case LabelKind::Sigma: track_header += ",model_step_sigma_" + unit + ",model_" + D_col; break;
      case LabelKind::NSwitches:
      case LabelKind::NSwitchesPlusOne: track_header += ",model_n_switches"; break;
      case LabelKind::SwitchTime: track_header += ",model_switch_frame"; break;
      case LabelKind::HasSwitch: track_header += ",model_has_switch,model_p_switch"; break;
      case LabelKind::InitialState: track_header += ",model_initial_state"; break;
      case LabelKind::StepState: break;
    }
    track_header += ",windows";
    for (size_t i = 0; i < N; ++i) {
      std::ostringstream row;
      row << ts.ids[i] << "," << ts.length(i) << "," << gaps[i] << "," << segs[i].size() << "," << num(track_sigma[i])
          << "," << num(track_sigma[i] * track_sigma[i] / (2 * dt)) << "," << in_range[i];
      const auto& ps = of_track[i];
      if (ps.empty()) {
        row << (cfg.label == LabelKind::Sigma || cfg.label == LabelKind::HasSwitch ? ",," : ",") << ",0";
        track_rows.push_back(row.str());
        continue;
      }
      switch (cfg.label) {
        case LabelKind::Sigma: {  // the step-weighted mean over the pieces
          double s = 0, w = 0;
          for (size_t p : ps) s += double(piece_out[p][0]) / to_model * (pieces[p].len - 1), w += pieces[p].len - 1;
          agg[i] = s / w;
          row << "," << num(agg[i]) << "," << num(agg[i] * agg[i] / (2 * dt));
          break;
        }
        case LabelKind::NSwitches:
        case LabelKind::NSwitchesPlusOne: {  // summed; an end-aligned window counts for its new steps
          double s = 0;
          int64_t covered_to = -1;
          for (size_t p : ps) {
            const int64_t a = pieces[p].start, b = a + pieces[p].len - 1;  // steps [a, b)
            const double c = double(piece_out[p][0]) - (cfg.label == LabelKind::NSwitchesPlusOne ? 1 : 0);
            const double share = a < covered_to ? double(b - covered_to) / double(b - a) : 1.0;
            s += c * share;
            covered_to = std::max(covered_to, b);
          }
          agg[i] = s;
          row << "," << num(s);
          break;
        }
        case LabelKind::SwitchTime:  // the first piece's
          agg[i] = double(ts.frames[i][pieces[ps[0]].start]) + piece_out[ps[0]][0];
          row << "," << num(agg[i]);
          break;
        case LabelKind::HasSwitch: {  // a switch in any piece is a switch of the track
          double none = 1;
          int any = 0;
          for (size_t p : ps) {
            auto pr = probs(p);
            none *= pr[0];
            any |= pr[1] > pr[0];
          }
          agg[i] = any;
          row << "," << any << "," << num(1 - none);
          break;
        }
        case LabelKind::InitialState: {  // the first piece's
          auto pr = probs(ps[0]);
          agg[i] = double(std::max_element(pr.begin(), pr.end()) - pr.begin());
          row << "," << int(agg[i]);
          break;
        }
        case LabelKind::StepState: break;
      }
      row << "," << ps.size();
      track_rows.push_back(row.str());
    }
    for (size_t p = 0; p < pieces.size() && !cls; ++p) {
      const float v = piece_out[p][0];
      bad += !std::isfinite(v) || (v < 0 && cfg.label != LabelKind::SwitchTime);
    }
    if (bad > 0)
      warnings.push_back(std::to_string(bad) + " of " + std::to_string(pieces.size()) + " model outputs (" + out_col +
                         ") are negative or not finite: the input is outside what the model was trained on (" +
                         range.what + ")");
    pj["aggregation"] =
        cls ? (cfg.label == LabelKind::HasSwitch ? "has_switch: 1 when any window predicts a switch; p_switch = 1 - "
                                                   "product of the windows' P(no switch)"
                                                 : "the first window's class")
            : (cfg.label == LabelKind::Sigma
                   ? "the mean over windows, weighted by their steps"
                   : (cfg.label == LabelKind::SwitchTime ? "the first window's switch, in frames"
                                                         : "the sum over windows; a window overlapping the previous "
                                                           "one counts for the share of its steps that are new"));
    std::vector<double> fin;
    for (double v : agg)
      if (std::isfinite(v)) fin.push_back(v);
    summary = {{"tracks", N}, {"windows", pieces.size()}, {"median_" + out_col, fin.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(fin))}};
    if (cfg.label == LabelKind::Sigma && !fin.empty()) {
      const double m = median(fin);
      summary["median_model_" + D_col] = m * m / (2 * dt);
    }
  }

  {
    io::AtomicFile tf(r.out_dir + "/tracks.csv");
    tf.stream() << track_header << "\n";
    for (const auto& row : track_rows) tf.stream() << row << "\n";
    tf.commit();
  }
  pj["summary"] = summary;
  pj["warnings"] = warnings;
  io::write_file_atomic(r.out_dir + "/predict.json", pj.dump(2) + "\n");
  if (!r.quiet) {
    if (per_step)
      std::cerr << "predict: decoding " << decode_rule_description(rule, r.switch_penalty) << " (from " << rule_from << ")\n";
    for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  }
  pj["tracks_table"] = {{"header", track_header}, {"rows", track_rows}};  // for the stdout table only
  return pj;
}

std::string format_predict_table(const nlohmann::json& pj) {
  std::ostringstream o;
  const auto& u = pj["units"];
  o << "predict: " << pj["run"].get<std::string>() << " (" << pj["label"].get<std::string>() << ") on "
    << pj["input"].get<std::string>() << "; positions in " << u["space"].get<std::string>() << ", time in "
    << u["time"].get<std::string>();
  if (!u["frame_interval_s"].is_null()) o << " (" << u["frame_interval_s"].get<double>() << " s per frame)";
  o << "\n";
  if (pj.contains("decoding")) o << "decoding: " << pj["decoding"]["description"].get<std::string>() << "\n";
  if (pj.contains("tracks_table")) {
    std::vector<std::string> cols;
    std::stringstream h(pj["tracks_table"]["header"].get<std::string>());
    for (std::string c; std::getline(h, c, ',');) cols.push_back(c);
    std::vector<size_t> w(cols.size());
    for (size_t c = 0; c < cols.size(); ++c) w[c] = std::max<size_t>(cols[c].size(), 6) + 2;
    for (size_t c = 0; c < cols.size(); ++c) o << std::left << std::setw(int(w[c])) << cols[c];
    o << "\n";
    const auto& rows = pj["tracks_table"]["rows"];
    const size_t show = std::min<size_t>(rows.size(), 25);
    for (size_t i = 0; i < show; ++i) {
      std::stringstream rs(rows[i].get<std::string>());
      size_t c = 0;
      for (std::string v; std::getline(rs, v, ',') && c < cols.size(); ++c) o << std::setw(int(w[c])) << v;
      o << "\n";
    }
    if (rows.size() > show) o << "... " << rows.size() - show << " more tracks in tracks.csv\n";
  }
  if (pj["summary"].contains("states"))
    for (const auto& st : pj["summary"]["states"]) {
      o << "state " << st["state"].get<int>() << ":";
      for (const auto& [k, v] : st.items())
        if (k != "state") o << "  " << k << " " << (v.is_null() ? std::string("-") : v.dump());
      o << "\n";
    }
  if (!pj["warnings"].empty()) o << pj["warnings"].size() << " warning(s): on stderr and in predict.json\n";
  return o.str();
}

}  // namespace sptrain
