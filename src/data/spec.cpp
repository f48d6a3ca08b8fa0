// Trajectory spec: TOML (parsed with toml++) -> validated SimParams.
// Every key is checked; errors read "<key>: <what is wrong> (<allowed>)". docs/spec.md lists the keys
// and the bounds (the limits in sim.hpp), which keep every float32 value finite and the work finite.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data/toml_config.hpp"
#include "sptrain/error.hpp"
#include "sptrain/sim.hpp"

namespace sptrain {
namespace {

using cfg::bound;
using cfg::Items;
using cfg::Reader;
using cfg::forbid;
using cfg::join;
using cfg::require;

// All keys a spec may hold.
const std::vector<std::string> kKeys = {
    "name", "description", "length", "dims", "dt", "start.low", "start.high",
    "states.sigma", "states.D", "states.prior", "states.count", "states.shape", "states.scale", "states.loc",
    "states.low", "states.high", "states.initial", "states.order", "states.D_ratio",
    "switching.model", "switching.rate", "switching.rate_matrix", "switching.transition_matrix", "switching.time",
    "switching.time_min", "switching.time_max", "switching.probability", "switching.blend", "switching.max_recorded",
    "switching.rate_factor",
    "noise.localization", "noise.exposure", "noise.substeps", "noise.localization_range", "noise.localization_prior",
    "noise.exposure_range",
    "features.kind", "features.mean_removal", "features.center", "features.mean_channel", "features.center_window", "features.turning",
    "features.log_eps"};

// Stationary distribution of a row-stochastic (discrete) or generator (continuous) matrix, by
// solving pi A = 0 (A = Q, or P - I) with one equation replaced by sum(pi) = 1.
std::vector<double> stationary(std::vector<std::vector<double>> a, bool discrete) {
  const int K = int(a.size());
  if (discrete)
    for (int i = 0; i < K; ++i) a[i][i] -= 1.0;
  std::vector<std::vector<double>> m(K, std::vector<double>(K + 1, 0.0));  // rows: equations
  for (int j = 0; j < K; ++j)
    for (int i = 0; i < K; ++i) m[j][i] = a[i][j];
  for (int i = 0; i < K; ++i) m[K - 1][i] = 1.0;
  m[K - 1][K] = 1.0;
  for (int c = 0; c < K; ++c) {
    int piv = c;
    for (int r2 = c + 1; r2 < K; ++r2)
      if (std::abs(m[r2][c]) > std::abs(m[piv][c])) piv = r2;
    std::swap(m[c], m[piv]);
    if (std::abs(m[c][c]) < 1e-300) return {};
    for (int r2 = 0; r2 < K; ++r2) {
      if (r2 == c) continue;
      double f = m[r2][c] / m[c][c];
      for (int k = c; k <= K; ++k) m[r2][k] -= f * m[c][k];
    }
  }
  std::vector<double> pi(K);
  for (int i = 0; i < K; ++i) pi[i] = m[i][K] / m[i][i];
  return pi;
}

SimSpec build(const Items& items, const std::string& source) {
  Reader r(items);
  SimSpec spec;
  spec.source = source;
  SimParams& p = spec.params;
  nlohmann::json& out = spec.resolved;
  if (r.has("name")) out["name"] = r.string("name", "");
  if (r.has("description")) out["description"] = r.string("description", "");

  int64_t length = r.integer("length", 100);
  require(length >= 2, "length", std::to_string(length) + " is too small", "an integer >= 2: positions per trajectory");
  require(length <= (int64_t(1) << 30), "length", std::to_string(length) + " is too large", "at most 2^30");
  p.length = int32_t(length);
  int64_t dims = r.integer("dims", 1);
  require(dims >= 1 && dims <= 3, "dims", std::to_string(dims) + " is out of range", "1, 2 or 3");
  p.dims = int32_t(dims);
  double dt = r.number("dt", 1.0);
  require(dt > 0, "dt", Reader::fmt(dt) + " is not positive", "seconds per frame, > 0");
  bound(dt, "dt", 0, kMaxDt, " seconds per frame");
  p.dt = float(dt);
  double lo = r.number("start.low", 0.0, -kMaxPosition, kMaxPosition),
         hi = r.number("start.high", 50.0, -kMaxPosition, kMaxPosition);
  require(hi >= lo, "start.high", Reader::fmt(hi) + " is below start.low = " + Reader::fmt(lo), ">= start.low");
  p.start_low = float(lo);
  p.start_high = float(hi);
  out["length"] = p.length;
  out["dims"] = p.dims;
  out["dt"] = dt;
  out["start"] = {{"low", lo}, {"high", hi}};

  // --- states ---
  const bool has_sigma = r.has("states.sigma"), has_D = r.has("states.D");
  require(!(has_sigma && has_D), "states.D", "given together with states.sigma", "one of sigma or D");
  std::string prior = r.string("states.prior", (has_sigma || has_D) ? "fixed" : "");
  if (prior.empty()) throw KeyError("states.sigma", "missing", "give states.sigma, states.D or states.prior");
  nlohmann::json js;
  js["prior"] = prior;
  int K = 0;
  const std::string kStateRange = "1 to " + std::to_string(kMaxStates) + " states";
  if (prior == "fixed") {
    forbid(r, {"states.count", "states.shape", "states.scale", "states.loc", "states.low", "states.high"},
           "with states.prior = \"fixed\"");
    const std::string key = has_sigma ? "states.sigma" : "states.D";
    if (!has_sigma && !has_D) throw KeyError("states.sigma", "missing", "fixed prior needs states.sigma or states.D");
    auto v = r.list(key);
    require(!v.empty() && int(v.size()) <= kMaxStates, key, std::to_string(v.size()) + " states given", kStateRange);
    K = int(v.size());
    std::vector<double> sig;
    for (double x : v) {
      require(x > 0, key, Reader::fmt(x) + " is not positive", has_sigma ? "step std > 0" : "D > 0");
      sig.push_back(has_sigma ? x : std::sqrt(2.0 * x * dt));
      require(sig.back() <= kMaxSigma, key, Reader::fmt(x) + " is too large",
              has_sigma ? "at most " + Reader::fmt(kMaxSigma) : "sqrt(2 D dt) at most " + Reader::fmt(kMaxSigma));
    }
    for (int k = 0; k < K; ++k) p.sigma[k] = float(sig[k]);
    p.prior = PriorKind::Fixed;
    js["sigma"] = sig;
    if (has_D) js["D"] = v;
  } else {
    forbid(r, {"states.sigma", "states.D"}, "with a random prior (states.prior = \"" + prior + "\")");
    int64_t count = r.integer("states.count", 1);
    require(count >= 1 && count <= kMaxStates, "states.count", std::to_string(count) + " is out of range", kStateRange);
    K = int(count);
    js["count"] = K;
    if (prior == "weibull") {
      forbid(r, {"states.low", "states.high"}, "with states.prior = \"weibull\"");
      double shape = r.number("states.shape", 1.0), scale = r.number("states.scale", 1.0), loc = r.number("states.loc", 0.0);
      require(shape > 0, "states.shape", Reader::fmt(shape) + " is not positive", "Weibull shape > 0");
      require(scale > 0, "states.scale", Reader::fmt(scale) + " is not positive", "Weibull scale > 0");
      require(loc >= 0, "states.loc", Reader::fmt(loc) + " is negative", "offset >= 0");
      bound(shape, "states.shape", kMinWeibullShape, kMaxSigma);
      bound(scale, "states.scale", 0, kMaxSigma);
      bound(loc, "states.loc", 0, kMaxSigma);
      // The largest sigma the prior draws (u >= 2^-32, -log u < 23) must keep sigma^2 finite in float32.
      const double top = loc + scale * std::pow(23.0, 1.0 / shape);
      require(top <= kMaxDrawnSigma, "states.shape", "draws sigmas up to " + Reader::fmt(top) + ", too large",
              "loc + scale * 23^(1/shape) <= " + Reader::fmt(kMaxDrawnSigma) + ": a larger shape or a smaller scale");
      p.prior = PriorKind::Weibull;
      p.prior_a = float(shape);
      p.prior_b = float(scale);
      p.prior_c = float(loc);
      js["shape"] = shape;
      js["scale"] = scale;
      js["loc"] = loc;
    } else if (prior == "uniform" || prior == "loguniform") {
      forbid(r, {"states.shape", "states.scale", "states.loc"}, "with states.prior = \"" + prior + "\"");
      require(r.has("states.low"), "states.low", "missing", "lower bound of sigma");
      require(r.has("states.high"), "states.high", "missing", "upper bound of sigma");
      double a = r.number("states.low", 0), b = r.number("states.high", 0);
      if (prior == "uniform") require(a >= 0, "states.low", Reader::fmt(a) + " is negative", ">= 0");
      else require(a > 0, "states.low", Reader::fmt(a) + " is not positive", "> 0 for a log-uniform prior");
      require(b > a, "states.high", Reader::fmt(b) + " is not above states.low = " + Reader::fmt(a), "> states.low");
      bound(b, "states.high", 0, kMaxSigma);
      p.prior = prior == "uniform" ? PriorKind::Uniform : PriorKind::LogUniform;
      p.prior_a = float(a);
      p.prior_b = float(b);
      js["low"] = a;
      js["high"] = b;
    } else {
      throw KeyError("states.prior", "'" + prior + "' is not a prior", "fixed, weibull, loguniform or uniform");
    }
  }
  p.n_states = K;
  // Ordering of a random prior's states: sorted ascending, or built from state 0 by D ratios.
  if (r.has("states.order") || r.has("states.D_ratio")) {
    const std::string why = "with states.prior = \"fixed\" (the given step sizes keep their order)";
    if (prior == "fixed") forbid(r, {"states.order", "states.D_ratio"}, why);
  }
  std::string order = r.string("states.order", "none");
  if (order == "ascending") p.sigma_order = 1;
  else if (order != "none") throw KeyError("states.order", "'" + order + "' is not an order", "none or ascending");
  if (r.has("states.order")) js["order"] = order;  // absent otherwise: older specs resolve as before
  if (r.has("states.D_ratio")) {
    auto v = r.list("states.D_ratio");
    require(v.size() == 2, "states.D_ratio", std::to_string(v.size()) + " values given", "[low, high]: two D ratios");
    require(v[0] >= 1, "states.D_ratio", "low " + Reader::fmt(v[0]) + " is below 1",
            "1 <= low <= high: each state's D is at least the previous state's");
    require(v[1] >= v[0], "states.D_ratio", "high " + Reader::fmt(v[1]) + " is below low " + Reader::fmt(v[0]),
            "1 <= low <= high");
    require(K >= 2, "states.D_ratio", "needs at least 2 states, the spec has " + std::to_string(K), "states.count >= 2");
    // The largest drawn sigma, the prior's top times sqrt(high)^(K-1), must stay finite in float32.
    double top = p.prior == PriorKind::Weibull ? p.prior_c + p.prior_b * std::pow(23.0, 1.0 / p.prior_a) : p.prior_b;
    top *= std::pow(std::sqrt(v[1]), K - 1);
    require(top <= kMaxDrawnSigma, "states.D_ratio", "draws sigmas up to " + Reader::fmt(top) + ", too large",
            "prior top * sqrt(high)^(count - 1) <= " + Reader::fmt(kMaxDrawnSigma));
    p.ratio_low = float(std::sqrt(v[0]));
    p.ratio_high = float(std::sqrt(v[1]));
    js["D_ratio"] = v;
  }

  // --- switching ---
  std::string model = r.string("switching.model", "none");
  nlohmann::json jsw;
  jsw["model"] = model;
  const std::vector<std::string> poisson_keys = {"switching.rate"},
                                 markov_keys = {"switching.rate_matrix", "switching.transition_matrix"},
                                 single_keys = {"switching.time", "switching.time_min", "switching.time_max",
                                                "switching.probability"};
  const double S = p.steps();
  std::vector<std::vector<double>> chain;  // for a stationary initial distribution
  bool chain_discrete = false;
  if (model == "none") {
    forbid(r, poisson_keys, "with switching.model = \"none\"");
    forbid(r, markov_keys, "with switching.model = \"none\"");
    forbid(r, single_keys, "with switching.model = \"none\"");
    p.switching = SwitchKind::None;
  } else if (model == "poisson") {
    forbid(r, markov_keys, "with switching.model = \"poisson\"");
    forbid(r, single_keys, "with switching.model = \"poisson\"");
    require(K >= 2, "switching.model", "poisson switching needs at least 2 states, the spec has " + std::to_string(K),
            "add states or use model = \"none\"");
    require(r.has("switching.rate"), "switching.rate", "missing", "switches per step, > 0");
    double rate = r.number("switching.rate", 0);
    require(rate > 0, "switching.rate", Reader::fmt(rate) + " is not positive", "switches per step, > 0");
    require(rate * S <= kMaxExpectedSwitches, "switching.rate",
            Reader::fmt(rate) + " gives " + Reader::fmt(rate * S) + " expected switches per trajectory, too many",
            "rate * steps <= " + Reader::fmt(kMaxExpectedSwitches) + ", here rate <= " + Reader::fmt(kMaxExpectedSwitches / S));
    p.switching = SwitchKind::Poisson;
    p.rate = float(rate);
    jsw["rate"] = rate;
  } else if (model == "markov") {
    forbid(r, poisson_keys, "with switching.model = \"markov\"");
    forbid(r, single_keys, "with switching.model = \"markov\"");
    const bool has_q = r.has("switching.rate_matrix"), has_p = r.has("switching.transition_matrix");
    require(has_q != has_p, has_q ? "switching.transition_matrix" : "switching.rate_matrix",
            has_q ? "given together with switching.rate_matrix" : "missing",
            "one of rate_matrix (continuous time, rows sum to 0) or transition_matrix (per frame, rows sum to 1)");
    const std::string key = has_q ? "switching.rate_matrix" : "switching.transition_matrix";
    auto m = r.matrix(key);
    require(int(m.size()) == K, key, std::to_string(m.size()) + " rows for " + std::to_string(K) + " states",
            "a K x K matrix, K = number of states");
    for (int i = 0; i < K; ++i) {
      const std::string rk = key + "[" + std::to_string(i) + "]";
      require(int(m[i].size()) == K, rk, std::to_string(m[i].size()) + " entries", std::to_string(K) + " per row");
      double sum = 0;
      for (int j = 0; j < K; ++j) {
        sum += m[i][j];
        if (has_q && i != j) require(m[i][j] >= 0, rk, "off-diagonal rate " + Reader::fmt(m[i][j]) + " is negative", ">= 0");
        if (has_p) require(m[i][j] >= 0 && m[i][j] <= 1, rk, "probability " + Reader::fmt(m[i][j]) + " outside [0, 1]", "");
      }
      if (has_q) {
        require(std::abs(sum) <= 1e-9 * (1 + std::abs(m[i][i])), rk, "row sums to " + Reader::fmt(sum),
                "rows of a rate matrix sum to 0");
        require(-m[i][i] * S <= kMaxExpectedSwitches, rk,
                "exit rate " + Reader::fmt(-m[i][i]) + " gives " + Reader::fmt(-m[i][i] * S) +
                    " expected switches per trajectory, too many",
                "-Q_ii * steps <= " + Reader::fmt(kMaxExpectedSwitches) + ", here -Q_ii <= " +
                    Reader::fmt(kMaxExpectedSwitches / S));
      } else {
        require(std::abs(sum - 1) <= 1e-9, rk, "row sums to " + Reader::fmt(sum), "rows of a transition matrix sum to 1");
      }
    }
    for (int i = 0; i < K; ++i) {
      double acc = 0, tot = 0;
      for (int j = 0; j < K; ++j) tot += (has_q && j == i) ? 0.0 : m[i][j];
      for (int j = 0; j < K; ++j) {
        double w = (has_q && j == i) ? 0.0 : m[i][j];
        acc += tot > 0 ? w / tot : (j == i ? 1.0 : 0.0);
        p.jump_cdf[i][j] = float(acc);
      }
      p.jump_cdf[i][K - 1] = 1.0f;
      p.exit_rate[i] = has_q ? float(-m[i][i]) : 0.0f;
    }
    p.switching = has_q ? SwitchKind::Markov : SwitchKind::MarkovDiscrete;
    chain = m;
    chain_discrete = has_p;
    jsw[has_q ? "rate_matrix" : "transition_matrix"] = m;
  } else if (model == "single") {
    forbid(r, poisson_keys, "with switching.model = \"single\"");
    forbid(r, markov_keys, "with switching.model = \"single\"");
    require(K >= 2, "switching.model", "a switch needs at least 2 states, the spec has " + std::to_string(K),
            "add states or use model = \"none\"");
    p.switching = SwitchKind::Single;
    const std::string range = "a time in steps inside the trajectory, 0 < t < " + Reader::fmt(S);
    if (r.has("switching.time")) {
      forbid(r, {"switching.time_min", "switching.time_max"}, "with a fixed switching.time");
      double t = r.number("switching.time", 0);
      require(t > 0 && t < S, "switching.time", Reader::fmt(t) + " is outside the trajectory", range);
      p.single_time = float(t);
      jsw["time"] = t;
    } else {
      double a = r.number("switching.time_min", 0), b = r.number("switching.time_max", S);
      require(a >= 0 && a < S, "switching.time_min", Reader::fmt(a) + " is outside the trajectory", "0 <= t < " + Reader::fmt(S));
      require(b > a && b <= S, "switching.time_max", Reader::fmt(b) + " is outside (time_min, steps]",
              "time_min < t <= " + Reader::fmt(S));
      p.single_time = -1;
      p.single_tmin = float(a);
      p.single_tmax = float(b);
      jsw["time_min"] = a;
      jsw["time_max"] = b;
    }
    double pr = r.number("switching.probability", 1.0);
    require(pr >= 0 && pr <= 1, "switching.probability", Reader::fmt(pr) + " is outside [0, 1]", "a probability");
    p.single_prob = float(pr);
    jsw["probability"] = pr;
  } else {
    throw KeyError("switching.model", "'" + model + "' is not a switching model", "none, poisson, markov or single");
  }
  if (r.has("switching.rate_factor")) {
    require(p.switching == SwitchKind::Poisson || p.switching == SwitchKind::Markov, "switching.rate_factor",
            "given with switching.model = \"" + model + "\"" + (model == "markov" ? " and a transition_matrix" : ""),
            "poisson, or markov with a rate_matrix");
    auto v = r.list("switching.rate_factor");
    require(v.size() == 2, "switching.rate_factor", std::to_string(v.size()) + " values given", "[low, high]: two factors");
    require(v[0] > 0, "switching.rate_factor", "low " + Reader::fmt(v[0]) + " is not positive", "0 < low <= high");
    require(v[1] >= v[0], "switching.rate_factor", "high " + Reader::fmt(v[1]) + " is below low " + Reader::fmt(v[0]),
            "0 < low <= high");
    double top = p.rate;
    for (int k = 0; k < K; ++k) top = std::max(top, double(p.exit_rate[k]));
    require(top * v[1] * S <= kMaxExpectedSwitches, "switching.rate_factor",
            "high " + Reader::fmt(v[1]) + " gives " + Reader::fmt(top * v[1] * S) + " expected switches per trajectory, too many",
            "largest rate * high * steps <= " + Reader::fmt(kMaxExpectedSwitches));
    p.rate_factor_low = float(v[0]);
    p.rate_factor_high = float(v[1]);
    jsw["rate_factor"] = v;
  }
  std::string blend = r.string("switching.blend", "exact");
  if (blend == "exact") p.blend = Blend::Exact;
  else if (blend == "report_code") p.blend = Blend::ReportCode;
  else throw KeyError("switching.blend", "'" + blend + "' is not a blend rule", "exact or report_code");
  jsw["blend"] = blend;
  int64_t cap = r.integer("switching.max_recorded", 32);
  require(cap >= 1 && cap <= 1 << 20, "switching.max_recorded", std::to_string(cap) + " is out of range", "1 to 2^20");
  p.max_switch_times = int32_t(cap);
  jsw["max_recorded"] = cap;

  // --- initial state distribution ---
  std::vector<double> init;
  std::string init_name;
  if (r.is_string("states.initial")) {
    init_name = r.string("states.initial", "");
  } else if (r.has("states.initial")) {
    init = r.list("states.initial");
    require(int(init.size()) == K, "states.initial", std::to_string(init.size()) + " entries for " + std::to_string(K) + " states",
            "one probability per state");
    double sum = 0;
    for (double x : init) {
      require(x >= 0, "states.initial", Reader::fmt(x) + " is negative", "probabilities >= 0");
      bound(x, "states.initial", 0, 1);
      sum += x;
    }
    require(std::abs(sum - 1) <= 1e-6, "states.initial", "sums to " + Reader::fmt(sum), "probabilities summing to 1");
  } else {
    init_name = chain.empty() ? "uniform" : "stationary";
  }
  if (init_name == "uniform") {
    init.assign(K, 1.0 / K);
  } else if (init_name == "stationary") {
    require(!chain.empty(), "states.initial", "\"stationary\" needs markov switching", "uniform or a list of probabilities");
    init = stationary(chain, chain_discrete);
    require(!init.empty(), "states.initial", "the chain has no unique stationary distribution", "give the probabilities");
  } else if (init.empty()) {  // any other name, the empty string included
    throw KeyError("states.initial", "'" + init_name + "' is not an initial distribution",
                   "uniform, stationary or a list of probabilities");
  }
  double acc = 0;
  for (int k = 0; k < K; ++k) {
    acc += init[k];
    p.initial_cdf[k] = float(acc);
  }
  p.initial_cdf[K - 1] = 1.0f;
  js["initial"] = init;
  out["states"] = js;
  out["switching"] = jsw;

  // --- noise ---
  double loc = r.number("noise.localization", 0.0);
  require(loc >= 0, "noise.localization", Reader::fmt(loc) + " is negative", "std of the localization error, >= 0");
  bound(loc, "noise.localization", 0, kMaxSigma);
  double expo = r.number("noise.exposure", 0.0);
  require(expo >= 0 && expo <= 1, "noise.exposure", Reader::fmt(expo) + " is outside [0, 1]", "fraction of the frame");
  int64_t sub = r.integer("noise.substeps", 16);
  require(sub >= 1 && sub <= 4096, "noise.substeps", std::to_string(sub) + " is out of range", "1 to 4096");
  nlohmann::json jn = {{"substeps", sub}};
  if (r.has("noise.localization_range")) {
    forbid(r, {"noise.localization"}, "with noise.localization_range");
    auto v = r.list("noise.localization_range");
    std::string np = r.string("noise.localization_prior", "uniform");
    require(np == "uniform" || np == "loguniform", "noise.localization_prior", "'" + np + "' is not a prior",
            "uniform or loguniform");
    require(v.size() == 2, "noise.localization_range", std::to_string(v.size()) + " values given", "[low, high]");
    require(np == "uniform" ? v[0] >= 0 : v[0] > 0, "noise.localization_range",
            "low " + Reader::fmt(v[0]) + (np == "uniform" ? " is negative" : " is not positive"),
            np == "uniform" ? "0 <= low <= high" : "0 < low <= high for a log-uniform prior");
    require(v[1] >= v[0], "noise.localization_range", "high " + Reader::fmt(v[1]) + " is below low " + Reader::fmt(v[0]),
            "low <= high");
    bound(v[1], "noise.localization_range", 0, kMaxSigma);
    p.noise_prior = np == "uniform" ? PriorKind::Uniform : PriorKind::LogUniform;
    p.noise_low = float(v[0]);
    p.noise_high = float(v[1]);
    loc = v[1];
    jn["localization_range"] = v;
    jn["localization_prior"] = np;
  } else {
    forbid(r, {"noise.localization_prior"}, "without noise.localization_range");
    jn["localization"] = loc;
  }
  if (r.has("noise.exposure_range")) {
    forbid(r, {"noise.exposure"}, "with noise.exposure_range");
    auto v = r.list("noise.exposure_range");
    require(v.size() == 2, "noise.exposure_range", std::to_string(v.size()) + " values given", "[low, high]");
    require(v[0] >= 0 && v[1] <= 1 && v[1] >= v[0], "noise.exposure_range",
            "[" + Reader::fmt(v[0]) + ", " + Reader::fmt(v[1]) + "] is not a range inside [0, 1]", "0 <= low <= high <= 1");
    require(v[1] > 0, "noise.exposure_range", "high is 0", "high > 0, or noise.exposure = 0 for no blur");
    p.exposure_range = 1;
    p.exposure_low = float(v[0]);
    p.exposure_high = float(v[1]);
    expo = v[1];
    jn["exposure_range"] = v;
  } else {
    jn["exposure"] = expo;
  }
  if (expo > 0)
    require(p.blend == Blend::Exact, "switching.blend", "report_code cannot be combined with exposure blur",
            "exact, or noise.exposure = 0");
  p.loc_noise = float(loc);
  p.exposure = float(expo);
  p.blur_substeps = int32_t(sub);
  out["noise"] = jn;

  // --- features ---
  FeatureSpec& f = spec.features;
  f.kind = parse_feature_kind(r.string("features.kind", "displacements"));
  f.mean_removal = r.boolean("features.mean_removal", false);
  f.center = r.boolean("features.center", false);
  f.mean_channel = r.boolean("features.mean_channel", false);
  const int64_t window = r.integer("features.center_window", 0);
  require(window >= 0, "features.center_window", std::to_string(window) + " is negative", "0 (the whole track) or more");
  bound(double(window), "features.center_window", 0, 1e6);
  require(window == 0 || f.center, "features.center_window", "needs features.center = true", "0, or features.center = true");
  f.center_window = int32_t(window);
  f.turning = r.boolean("features.turning", false);
  require(!f.turning || (f.kind != FeatureKind::Positions), "features.turning", "needs displacement features",
          "false, or kind displacements, squared_displacements or log_squared_displacements");
  require(!f.mean_channel || f.center, "features.mean_channel", "needs features.center = true (the channel holds the mean centering takes off)",
          "false, or features.center = true");
  double eps = r.number("features.log_eps", 1e-12);
  require(eps > 0, "features.log_eps", Reader::fmt(eps) + " is not positive", "> 0");
  bound(eps, "features.log_eps", kMinLogEps, 1);
  f.log_eps = float(eps);
  out["features"] = {{"kind", feature_kind_name(f.kind)}, {"mean_removal", f.mean_removal}, {"log_eps", eps}};
  if (f.center) out["features"]["center"] = true;  // absent when false, as specs before these keys read
  if (f.mean_channel) out["features"]["mean_channel"] = true;
  if (f.center_window > 0) out["features"]["center_window"] = f.center_window;
  if (f.turning) out["features"]["turning"] = true;
  check_trajectory_memory(p, 1, "length");
  return spec;
}

}  // namespace

double trajectory_bytes(const SimParams& p) {
  const double L = p.length, S = p.steps();
  // positions and their features (N, L, D) as float32, step sigma and state, state sigma, traj
  // sigma, switch count and times, initial state, localization noise, exposure and rate factor.
  return 2 * L * p.dims * 4 + S * (4 + 1) + p.n_states * 4 + 4 + 4 + double(p.max_switch_times) * 4 + 4 + 3 * 4;
}

void check_trajectory_memory(const SimParams& p, double n, const std::string& key) {
  cfg::check_memory(key, n * trajectory_bytes(p));
}

SimSpec parse_spec(const std::string& toml_text, const std::vector<std::string>& overrides, const std::string& source) {
  Items items;
  cfg::read_items(toml_text, items, kKeys, "spec", source);
  for (const auto& ov : overrides) cfg::apply_override(ov, items, kKeys);
  return build(items, source);
}

SimSpec load_spec(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_spec(cfg::read_file(path, "spec"), overrides, path);
}

}  // namespace sptrain
