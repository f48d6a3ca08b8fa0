// `sptrain fit`: per-track estimators, the pooled gapped noisy HMM with bootstrap intervals over
// tracks, and the outputs (fit.json, tracks.csv, steps.csv, figures, the stdout table).
#include "engine/seeds.hpp"
#include "sptrain/fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "sptrain/baselines.hpp"
#include "sptrain/error.hpp"
#include "sptrain/io.hpp"
#include "sptrain/plots.hpp"

namespace sptrain {
namespace {

namespace bl = baselines;
namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Fewer tracks than this make a bootstrap over tracks a poor interval (the fit warns).
constexpr std::size_t kFewTracks = 10;

// The q-quantile of finite values (linear interpolation); NaN if none.
double quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(pos));
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

// The HMM quantities reported per state, from one fit.
struct StateNumbers {
  std::vector<double> sigma2, occupancy, exit, dwell;  // [K]
  std::vector<double> rate;                            // [K*K], per frame
  bool exact = true;
};

StateNumbers numbers(const bl::HmmParams& p) {
  const int K = p.states();
  StateNumbers s;
  for (int k = 0; k < K; ++k) s.sigma2.push_back(p.sigma[k] * p.sigma[k]);
  s.occupancy = bl::stationary_distribution(p.trans, K);
  s.rate = bl::transition_generator(p.trans, K, &s.exact);
  for (int k = 0; k < K; ++k) {
    s.exit.push_back(-s.rate[k * K + k]);
    s.dwell.push_back(s.exit.back() > 0 ? 1 / s.exit.back() : std::numeric_limits<double>::infinity());
  }
  return s;
}

void progress(const FitOptions& o, const std::string& msg) {
  if (o.progress) std::cerr << "fit: " << msg << std::endl;
}

}  // namespace

FitResult fit_tracks(const TrajectorySet& t, const FitOptions& opt) {
  if (t.size() == 0) throw UsageError(t.source + ": no tracks to fit (after --min-length)");
  if (opt.max_states < 1 || opt.max_states > 10) throw UsageError("--max-states must lie in 1..10");
  if (opt.states < 0 || opt.states > 10) throw UsageError("--states must lie in 1..10");
  if (!(opt.blur >= 0 && opt.blur <= 0.25)) throw UsageError("--blur must lie in [0, 0.25]");
  if (opt.bootstrap < 0) throw UsageError("--bootstrap must be >= 0");
  FitResult r;
  r.source = t.source;
  r.dims = t.dims;
  r.units.length = t.space_unit;
  if (t.frame_interval > 0) {
    r.units.time = "s";
    r.units.frame_interval = t.frame_interval;
  }
  r.dropped_short = t.dropped_short;
  r.warnings = t.warnings;
  r.blur = opt.blur;
  r.level = opt.level;
  const double dt = r.units.frame_interval;
  const double to_d = 1.0 / (2 * dt);  // D = sigma2 / (2 dt)
  const int dims = t.dims;
  const double lo_q = (1 - opt.level) / 2, hi_q = (1 + opt.level) / 2;

  try {
    // Displacements of every track.
    std::vector<bl::GappedSteps> steps(t.size());
    std::vector<bl::GappedView> views(t.size());
    r.tracks.resize(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      steps[i] = bl::track_steps(t.positions[i], t.frames[i], dims);
      views[i] = bl::view_of(steps[i]);
      TrackFit& tf = r.tracks[i];
      tf.id = t.ids[i];
      tf.n = t.length(i);
      tf.gap = steps[i].gap;
      for (int g : steps[i].gap)
        if (g > 1) ++tf.gaps, tf.missing_frames += g - 1;
      r.n_localizations += tf.n;
      r.n_steps += steps[i].steps();
      r.n_gaps += tf.gaps;
    }
    bool moves = false;
    for (const auto& s : steps)
      for (float v : s.dx) moves = moves || v != 0;
    if (!moves) throw UsageError(t.source + ": no track moves (every displacement is 0): nothing to fit");

    // Pooled localization noise and D from the CVE.
    progress(opt, "pooled CVE over " + std::to_string(t.size()) + " tracks");
    const auto pooled = bl::cve_gapped_pooled(views, dims, opt.blur, opt.level);
    r.loc2 = std::isfinite(pooled.loc2) ? std::max(pooled.loc2, 0.0) : 0.0;
    if (!std::isfinite(pooled.loc2))
      r.warnings.push_back("no two successive one-frame displacements: localization noise taken as 0");
    else if (pooled.loc2 < 0)
      r.warnings.push_back("the pooled CVE gives a negative localization variance (" + std::to_string(pooled.loc2) +
                           "): taken as 0 (motion blur R may be larger than --blur)");
    r.d_pooled_cve = {pooled.sigma2 * to_d, pooled.lo * to_d, pooled.hi * to_d};

    // Per track.
    for (std::size_t i = 0; i < t.size(); ++i) {
      TrackFit& tf = r.tracks[i];
      const auto m = bl::mle_gapped(views[i], dims, r.loc2, opt.blur, opt.level);
      tf.d_mle = {m.sigma2 * to_d, m.lo * to_d, m.hi * to_d};
      const auto c = bl::cve_gapped(views[i], dims, opt.blur, opt.level);
      tf.d_cve = {c.sigma2 * to_d, c.lo * to_d, c.hi * to_d};
      tf.loc_noise = c.loc2 >= 0 ? std::sqrt(c.loc2) : kNaN;
      const std::int64_t span = t.frames[i].back() - t.frames[i].front();
      const int L = int(std::clamp<std::int64_t>(span / 4, 2, 10));
      const auto curve = bl::msd_by_frame_lag(t.positions[i], t.frames[i], dims, L);
      tf.msd_lag = curve.lag;
      tf.msd = curve.msd;
      tf.alpha = bl::fit_msd_power_law(curve).alpha;
    }

    // The HMM: K by BIC (or given), then the bootstrap over tracks.
    const bl::NoiseModel noise{r.loc2, opt.blur};
    bl::EmOptions em;
    em.restarts = std::max(1, opt.em_restarts);
    em.seed = opt.seed;
    em.max_iter = 300;
    em.tol = 1e-7;
    bl::EmFit best;
    if (opt.states > 0) {
      progress(opt, "EM with K = " + std::to_string(opt.states));
      best = bl::fit_hmm_gapped(views, dims, opt.states, noise, em);
      r.k_by_bic = false;
    } else {
      // select_states_bic_gapped's criterion, one K at a time so that progress can be shown.
      const double logn = std::log(double(r.n_steps));
      for (int k = 1; k <= opt.max_states; ++k) {
        progress(opt, "EM with K = " + std::to_string(k) + " of 1.." + std::to_string(opt.max_states));
        bl::EmFit f = bl::fit_hmm_gapped(views, dims, k, noise, em);
        r.bic.push_back(-2.0 * f.loglik + bl::hmm_parameter_count(k) * logn);
        if (k == 1 || r.bic.back() < *std::min_element(r.bic.begin(), r.bic.end() - 1)) best = std::move(f);
      }
    }
    const bl::HmmParams& p = best.params;
    const int K = r.K = p.states();
    r.loglik = best.loglik;
    r.trans = p.trans;
    const StateNumbers base = numbers(p);
    r.rates_exact = base.exact;
    if (!base.exact)
      r.warnings.push_back("the transition matrix has no valid matrix logarithm: rates from the dwell form");

    std::vector<StateNumbers> boot;
    if (opt.bootstrap > 0 && t.size() >= 2) {
      std::mt19937_64 rng(bl::trajectory_seed(opt.seed, seeds::kBootstrap));
      std::uniform_int_distribution<std::size_t> pick(0, t.size() - 1);
      bl::EmOptions bem = em;
      bem.max_iter = 100;
      bem.tol = 1e-7;
      for (int b = 0; b < opt.bootstrap; ++b) {
        std::vector<bl::GappedView> sample(t.size());
        for (auto& v : sample) v = views[pick(rng)];
        bl::NoiseModel bn = noise;
        const auto pc = bl::cve_gapped_pooled(sample, dims, opt.blur, opt.level);
        bn.loc2 = std::isfinite(pc.loc2) ? std::max(pc.loc2, 0.0) : 0.0;
        try {
          boot.push_back(numbers(bl::fit_hmm_gapped_from(sample, dims, p, bn, bem).params));
        } catch (const std::invalid_argument&) {
          // A resample with no movement at all: left out.
        }
        if (opt.progress && (b + 1) % std::max(1, opt.bootstrap / 10) == 0)
          progress(opt, "bootstrap " + std::to_string(b + 1) + "/" + std::to_string(opt.bootstrap));
      }
    } else if (opt.bootstrap > 0) {
      r.warnings.push_back("one track: no bootstrap over tracks, the HMM has no intervals");
    }
    const std::size_t n_tracks = t.size();
    if (opt.bootstrap > 0 && n_tracks > 1 && n_tracks < kFewTracks)
      r.warnings.push_back("only " + std::to_string(n_tracks) + " tracks: the HMM's intervals (a bootstrap over tracks) "
                           "are unreliable below " + std::to_string(kFewTracks) + " tracks and can even miss the estimate");
    r.bootstrap = int(boot.size());
    auto ci = [&](double value, auto get) {
      Estimate e{value, kNaN, kNaN};
      if (boot.empty()) return e;
      std::vector<double> v;
      for (const auto& s : boot) v.push_back(get(s));
      e.lo = quantile(v, lo_q);
      e.hi = quantile(v, hi_q);
      return e;
    };
    r.states.resize(K);
    for (int k = 0; k < K; ++k) {
      StateFit& s = r.states[k];
      s.d = ci(base.sigma2[k] * to_d, [&](const StateNumbers& x) { return x.sigma2[k] * to_d; });
      s.occupancy = ci(base.occupancy[k], [&](const StateNumbers& x) { return x.occupancy[k]; });
      s.exit_rate = ci(base.exit[k] / dt, [&](const StateNumbers& x) { return x.exit[k] / dt; });
      s.dwell = ci(base.dwell[k] * dt, [&](const StateNumbers& x) { return x.dwell[k] * dt; });
      s.rate_to.resize(K);
      for (int j = 0; j < K; ++j)
        s.rate_to[j] = j == k ? Estimate{kNaN, kNaN, kNaN}
                              : ci(base.rate[k * K + j] / dt, [&](const StateNumbers& x) { return x.rate[k * K + j] / dt; });
    }

    // Per track: Viterbi path, posteriors, state fractions, observed dwell times.
    progress(opt, "Viterbi paths and state probabilities");
    std::vector<double> frac_sum(K, 0.0);
    for (std::size_t i = 0; i < t.size(); ++i) {
      TrackFit& tf = r.tracks[i];
      tf.viterbi = bl::viterbi_gapped(views[i], dims, p, noise).states;
      tf.gamma = bl::forward_backward_gapped(views[i], dims, p, noise).gamma;
      tf.state_fraction.assign(K, 0.0);
      for (int s : tf.viterbi) tf.state_fraction[s] += 1.0 / double(tf.viterbi.size());
      for (std::size_t e = 0; e < tf.gamma.size(); ++e) frac_sum[e % K] += tf.gamma[e];
      // Runs of one state with a switch at both ends; duration in frames spanned.
      std::size_t a = 0;
      const auto& v = tf.viterbi;
      while (a < v.size()) {
        std::size_t b = a;
        std::int64_t frames = 0;
        while (b < v.size() && v[b] == v[a]) frames += tf.gap[b++];
        if (a > 0 && b < v.size()) r.states[v[a]].dwell_observed.push_back(double(frames) * dt);
        a = b;
      }
    }
    for (int k = 0; k < K; ++k) r.states[k].fraction_of_steps = frac_sum[k] / double(r.n_steps);
  } catch (const std::invalid_argument& e) {
    throw UsageError(t.source + ": " + e.what());
  }
  return r;
}

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
nlohmann::json pair(const Estimate& e) { return {num(e.lo), num(e.hi)}; }

std::string csv(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream o;
  o << std::setprecision(9) << v;
  return o.str();
}

}  // namespace

nlohmann::json fit_json(const FitResult& r) {
  const FitUnits& u = r.units;
  const std::string D = "D_" + u.d_key(), Dci = "D_ci_" + u.d_key();
  nlohmann::json j;
  j["source"] = r.source;
  j["units"] = {{"length", u.length},
                {"time", u.time},
                {"D", u.d_text()},
                {"rate", u.rate_text()},
                {"frame_interval_s", u.time == "s" ? num(u.frame_interval) : nlohmann::json(nullptr)},
                {"pixel_size_um", r.pixel_size > 0 ? num(r.pixel_size) : nlohmann::json(nullptr)},
                {"D_definition", "D = sigma2 / (2 frame_interval), sigma2 the variance of one displacement component per frame"}};
  j["confidence_level"] = r.level;
  j["dims"] = r.dims;
  j["n_tracks"] = r.tracks.size();
  j["n_localizations"] = r.n_localizations;
  j["n_steps"] = r.n_steps;
  j["n_gaps"] = r.n_gaps;
  j["dropped_short"] = r.dropped_short;
  j["warnings"] = r.warnings;
  j["blur_R"] = r.blur;
  j["localization"] = {{"loc2_" + u.length + "2", num(r.loc2)},
                       {"loc_noise_" + u.length, num(std::sqrt(r.loc2))},
                       {"method", "pooled CVE over all tracks (consecutive frames), clamped at 0"}};
  j["pooled_cve"] = {{D, num(r.d_pooled_cve.value)}, {Dci, pair(r.d_pooled_cve)}};
  nlohmann::json h;
  h["K"] = r.K;
  h["K_selected_by"] = r.k_by_bic ? "BIC" : "--states";
  if (!r.bic.empty()) h["bic"] = r.bic;
  h["loglik"] = r.loglik;
  std::vector<std::vector<double>> P(r.K, std::vector<double>(r.K));
  for (int a = 0; a < r.K; ++a)
    for (int b = 0; b < r.K; ++b) P[a][b] = r.trans[a * r.K + b];
  h["transition_matrix_per_frame"] = P;
  h["rates_from"] = r.rates_exact ? "matrix logarithm of the per-frame transition matrix" : "dwell form -ln(P_ii)";
  h["bootstrap_resamples"] = r.bootstrap;
  h["emission_model"] = "var = sigma2_k (g - 2 R) + 2 loc2 per dimension for a displacement over g frames";
  nlohmann::json states = nlohmann::json::array();
  for (int k = 0; k < r.K; ++k) {
    const StateFit& s = r.states[k];
    nlohmann::json to = nlohmann::json::array(), to_ci = nlohmann::json::array();
    for (const auto& e : s.rate_to) to.push_back(num(e.value)), to_ci.push_back(pair(e));
    states.push_back({{"state", k},
                      {D, num(s.d.value)},
                      {Dci, pair(s.d)},
                      {"occupancy", num(s.occupancy.value)},
                      {"occupancy_ci", pair(s.occupancy)},
                      {"fraction_of_steps", num(s.fraction_of_steps)},
                      {"exit_rate_" + u.rate_key(), num(s.exit_rate.value)},
                      {"exit_rate_ci_" + u.rate_key(), pair(s.exit_rate)},
                      {"mean_dwell_" + u.time_key(), num(s.dwell.value)},
                      {"mean_dwell_ci_" + u.time_key(), pair(s.dwell)},
                      {"rate_to_" + u.rate_key(), to},
                      {"rate_to_ci_" + u.rate_key(), to_ci},
                      {"observed_dwells", s.dwell_observed.size()}});
  }
  h["states"] = states;
  j["hmm"] = h;
  nlohmann::json tr = nlohmann::json::array();
  for (const auto& t : r.tracks) {
    nlohmann::json m = nlohmann::json::array();
    for (double v : t.msd) m.push_back(num(v));
    tr.push_back({{"id", t.id},
                  {"n", t.n},
                  {"gaps", t.gaps},
                  {"missing_frames", t.missing_frames},
                  {"D_mle_" + u.d_key(), num(t.d_mle.value)},
                  {"D_mle_ci_" + u.d_key(), pair(t.d_mle)},
                  {"D_cve_" + u.d_key(), num(t.d_cve.value)},
                  {"D_cve_ci_" + u.d_key(), pair(t.d_cve)},
                  {"loc_noise_" + u.length, num(t.loc_noise)},
                  {"alpha", num(t.alpha)},
                  {"msd_lag_frames", t.msd_lag},
                  {"msd_" + u.length + "2", m},
                  {"state_fractions", t.state_fraction},
                  {"viterbi", t.viterbi}});
  }
  j["tracks"] = tr;
  return j;
}

std::string tracks_csv(const FitResult& r) {
  const FitUnits& u = r.units;
  const std::string d = u.d_key();
  std::ostringstream o;
  o << "track,n,gaps,missing_frames,D_mle_" << d << ",D_mle_lo_" << d << ",D_mle_hi_" << d << ",D_cve_" << d
    << ",D_cve_lo_" << d << ",D_cve_hi_" << d << ",loc_noise_" << u.length << ",alpha";
  for (int k = 0; k < r.K; ++k) o << ",frac_state_" << k;
  o << "\n";
  for (const auto& t : r.tracks) {
    o << t.id << "," << t.n << "," << t.gaps << "," << t.missing_frames << "," << csv(t.d_mle.value) << ","
      << csv(t.d_mle.lo) << "," << csv(t.d_mle.hi) << "," << csv(t.d_cve.value) << "," << csv(t.d_cve.lo) << ","
      << csv(t.d_cve.hi) << "," << csv(t.loc_noise) << "," << csv(t.alpha);
    for (double f : t.state_fraction) o << "," << csv(f);
    o << "\n";
  }
  return o.str();
}

std::string steps_csv(const FitResult& r, const TrajectorySet& t) {
  const char* axes[] = {"dx", "dy", "dz"};
  std::ostringstream o;
  o << "track,frame,frame_next";
  for (int d = 0; d < r.dims; ++d) o << "," << (d < 3 ? axes[d] : "d" + std::to_string(d)) << "_" << r.units.length;
  o << ",state";
  for (int k = 0; k < r.K; ++k) o << ",p_state_" << k;
  o << "\n";
  for (std::size_t i = 0; i < r.tracks.size(); ++i) {
    const auto& tf = r.tracks[i];
    const auto& pos = t.positions[i];
    for (std::size_t s = 0; s < tf.viterbi.size(); ++s) {
      o << tf.id << "," << t.frames[i][s] << "," << t.frames[i][s + 1];
      for (int d = 0; d < r.dims; ++d) o << "," << csv(double(pos[(s + 1) * r.dims + d]) - pos[s * r.dims + d]);
      o << "," << tf.viterbi[s];
      for (int k = 0; k < r.K; ++k) o << "," << csv(tf.gamma[s * r.K + k]);
      o << "\n";
    }
  }
  return o.str();
}

std::string format_fit_table(const FitResult& r) {
  const FitUnits& u = r.units;
  std::ostringstream o;
  auto g = [](double v, int p = 4) {
    if (!std::isfinite(v)) return std::string("-");
    std::ostringstream s;
    s << std::setprecision(p) << v;
    return s.str();
  };
  auto ci = [&](const Estimate& e) { return g(e.value) + " [" + g(e.lo) + ", " + g(e.hi) + "]"; };
  o << "fit of " << r.tracks.size() << " tracks (" << r.n_localizations << " localizations, " << r.n_steps
    << " displacements, " << r.n_gaps << " gaps; " << r.dropped_short << " short tracks left out) from " << r.source
    << "\n";
  o << "units: length " << u.length << ", time " << u.time;
  if (u.time == "s") o << " (frame interval " << g(u.frame_interval) << " s)";
  if (r.pixel_size > 0) o << ", pixel size " << g(r.pixel_size) << " um";
  o << "; D in " << u.d_text() << ", rates in " << u.rate_text() << "; intervals " << g(100 * r.level) << " %\n";
  for (const auto& w : r.warnings) o << "warning: " << w << "\n";
  o << "localization noise (pooled CVE): " << g(std::sqrt(r.loc2)) << " " << u.length << "; pooled D (CVE) "
    << ci(r.d_pooled_cve) << " " << u.d_text() << "\n";
  o << "HMM: K = " << r.K << (r.k_by_bic ? " by BIC" : " (--states)");
  if (!r.bic.empty()) {
    o << " (BIC";
    for (std::size_t k = 0; k < r.bic.size(); ++k) o << " K=" << k + 1 << ": " << std::fixed << std::setprecision(1) << r.bic[k];
    o << std::defaultfloat << ")";
  }
  o << "; " << r.bootstrap << " bootstrap resamples over tracks\n";
  o << std::left << std::setw(6) << "state" << std::setw(34) << ("D " + u.d_text()) << std::setw(28) << "occupancy"
    << std::setw(34) << ("exit rate " + u.rate_text()) << ("mean dwell " + u.time_key()) << "\n";
  for (int k = 0; k < r.K; ++k) {
    const auto& s = r.states[k];
    o << std::setw(6) << k << std::setw(34) << ci(s.d) << std::setw(28) << ci(s.occupancy) << std::setw(34)
      << ci(s.exit_rate) << ci(s.dwell) << "\n";
  }
  const std::size_t shown = r.tracks.size() <= 30 ? r.tracks.size() : 20;
  o << std::setw(10) << "track" << std::setw(7) << "n" << std::setw(6) << "gaps" << std::setw(34)
    << ("D_mle " + u.d_text()) << std::setw(34) << ("D_cve " + u.d_text()) << std::setw(12) << ("loc " + u.length)
    << "alpha\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& t = r.tracks[i];
    o << std::setw(10) << t.id << std::setw(7) << t.n << std::setw(6) << t.gaps << std::setw(34) << ci(t.d_mle)
      << std::setw(34) << ci(t.d_cve) << std::setw(12) << g(t.loc_noise, 3) << g(t.alpha, 3) << "\n";
  }
  if (shown < r.tracks.size()) o << "... " << r.tracks.size() - shown << " more tracks in tracks.csv\n";
  return o.str();
}

FitResult run_fit(const FitRequest& req) {
  if (req.out_dir.empty()) throw UsageError("fit: give --out-dir DIR");
  if (req.input.empty()) throw UsageError("fit: give --input FILE");
  if (fs::exists(req.out_dir) && !fs::is_directory(req.out_dir))
    throw UsageError("--out-dir " + req.out_dir + ": exists and is not a directory");
  if (fs::exists(req.out_dir) && !fs::is_empty(req.out_dir) && !req.force)
    throw UsageError("--out-dir " + req.out_dir + ": exists and is not empty (use --force)");
  ReadOptions ro = req.read;
  ro.allow_gaps = true;
  progress(req.fit, "reading " + req.input);
  const TrajectorySet t = read_trajectories(req.input, ro);
  FitResult r = fit_tracks(t, req.fit);
  r.pixel_size = ro.pixel_size;
  fs::create_directories(req.out_dir);
  const std::string dir = req.out_dir;
  nlohmann::json j = fit_json(r);

  if (req.plots) {
    progress(req.fit, "figures");
    const FitUnits& u = r.units;
    nlohmann::json pl = nlohmann::json::array();
    std::string why;
    auto note = [&](const std::string& name, bool ok) { pl.push_back({{"name", name}, {"png", ok}}); };
    std::vector<std::string> names;
    for (int k = 0; k < r.K; ++k) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.3g", r.states[k].d.value);
      names.push_back("state " + std::to_string(k) + " (D " + buf + " " + u.d_text() + ")");
    }
    if (r.dims >= 2) {
      std::vector<plots::StateTrack> st(t.size());
      for (std::size_t i = 0; i < t.size(); ++i) {
        for (std::int64_t l = 0; l < t.length(i); ++l) {
          st[i].x.push_back(t.positions[i][l * r.dims]);
          st[i].y.push_back(t.positions[i][l * r.dims + 1]);
        }
        st[i].state = r.tracks[i].viterbi;
      }
      note("tracks_by_state", plots::tracks_by_state(dir, "tracks_by_state", st, names, "x (" + u.length + ")",
                                                      "y (" + u.length + ")", "tracks coloured by Viterbi state", &why));
    }
    std::vector<double> dm;
    for (const auto& tf : r.tracks) dm.push_back(tf.d_mle.value);
    std::vector<plots::Mark> marks;
    for (int k = 0; k < r.K; ++k) marks.push_back({"state " + std::to_string(k), r.states[k].d.value});
    note("d_histogram", plots::log_histogram(dir, "d_histogram", dm, 30, marks, "D per track, MLE (" + u.d_text() + ")",
                                             "per-track D with the HMM state D marked", &why));
    std::vector<std::vector<double>> dw;
    std::vector<double> rates;
    for (const auto& s : r.states) dw.push_back(s.dwell_observed), rates.push_back(s.exit_rate.value);
    note("dwell_times", plots::dwell_times(dir, "dwell_times", dw, rates, names, "dwell time (" + u.time_key() + ")",
                                           "Viterbi dwell times with the fitted exponential", &why));
    std::vector<plots::Series> thin;
    std::vector<double> sum, cnt;
    for (const auto& tf : r.tracks) {
      plots::Series s{"track " + std::to_string(tf.id), {}, {}};
      for (std::size_t l = 0; l < tf.msd.size(); ++l) {
        s.x.push_back(tf.msd_lag[l] * u.frame_interval);
        s.y.push_back(tf.msd[l]);
        if (sum.size() <= l) sum.push_back(0), cnt.push_back(0);
        if (std::isfinite(tf.msd[l])) sum[l] += tf.msd[l], cnt[l] += 1;
      }
      thin.push_back(std::move(s));
    }
    plots::Series mean{"mean over tracks", {}, {}};
    for (std::size_t l = 0; l < sum.size(); ++l) {
      mean.x.push_back(double(l + 1) * u.frame_interval);
      mean.y.push_back(cnt[l] > 0 ? sum[l] / cnt[l] : kNaN);
    }
    note("msd_curves", plots::loglog_curves(dir, "msd_curves", thin, {mean}, "lag (" + u.time_key() + ")",
                                            "MSD per dimension (" + u.length + "^2)", "MSD curves", &why));
    j["plots"] = pl;
    if (!why.empty()) j["plots_note"] = why;
  }
  io::write_file_atomic(dir + "/tracks.csv", tracks_csv(r));
  io::write_file_atomic(dir + "/steps.csv", steps_csv(r, t));
  io::write_file_atomic(dir + "/fit.json", j.dump(2) + "\n");
  return r;
}

}  // namespace sptrain
