// Single-switch detection on zero-mean Gaussian displacements: the likelihood-ratio scan over every
// split point, the Bayesian posterior of a continuous switch time with known stds (the step that
// contains the switch has the blended variance f s_before^2 + (1-f) s_after^2, f integrated by
// 16-point Gauss-Legendre), the profile likelihood-ratio test at a fixed step, and Bayes
// classifiers for "switch at t0" with known stds or stds ~ U(0, sigma_max).
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <string>
#include <utility>

#include "detail.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {
namespace {

using detail::fail;
using detail::kLog2Pi;
using detail::kNegInf;

// --- 16-point Gauss-Legendre rule on [-1, 1], nodes found by Newton's method on P_16 ---
struct GaussLegendre {
  static constexpr int N = 16;
  std::array<double, N> x{}, w{};
  GaussLegendre() {
    const double pi = std::acos(-1.0);
    for (int i = 0; i < N; ++i) {
      double z = std::cos(pi * (i + 0.75) / (N + 0.5));  // initial guess for the i-th root
      double dp = 0;
      for (int it = 0; it < 100; ++it) {
        // P_k by the three-term recurrence k P_k = (2k-1) z P_{k-1} - (k-1) P_{k-2}.
        double p0 = 1, p1 = z;
        for (int k = 2; k <= N; ++k) {
          const double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
          p0 = p1;
          p1 = p2;
        }
        dp = N * (z * p1 - p0) / (z * z - 1.0);  // P_N'(z)
        const double dz = p1 / dp;
        z -= dz;
        if (std::abs(dz) < 1e-15) break;
      }
      x[i] = z;
      w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
  }
};
const GaussLegendre& gauss_legendre() {
  static const GaussLegendre g;
  return g;
}

// Profile log-likelihood of m zero-mean Gaussian values with sum of squares s at the MLE variance
// s/m: -(m/2) (ln(2 pi s/m) + 1). s is floored so an all-zero segment stays finite.
double profile_ll(double s, double m) {
  return -0.5 * m * (kLog2Pi + std::log(std::max(s, m * DBL_MIN) / m) + 1.0);
}

// Log-likelihood of m values with sum of squares s under N(0, sigma^2).
double gauss_ll(double s, double m, double sigma) {
  return -0.5 * m * (kLog2Pi + 2.0 * std::log(sigma)) - 0.5 * s / (sigma * sigma);
}

void check_sigma(const char* fn, const char* name, double s) {
  if (!(std::isfinite(s) && s > 0))
    fail(fn, std::string(name) + " must be finite and > 0 (got " + std::to_string(s) + ")");
}

void check_t0(const char* fn, std::int64_t t0, std::int64_t n) {
  if (t0 < 1 || t0 > n - 1)
    fail(fn, "switch step t0 = " + std::to_string(t0) + " must lie in [1, n-1] = [1, " +
                 std::to_string(n - 1) + "]");
}

void check_prior(const char* fn, double prior) {
  if (!(prior > 0 && prior < 1))
    fail(fn, "prior switch probability must lie in (0, 1) (got " + std::to_string(prior) + ")");
}

// --- likelihood-ratio scan ---
SplitScan scan_core(const std::vector<double>& s2, int dims, std::int64_t min_seg, bool keep) {
  const auto n = static_cast<std::int64_t>(s2.size());
  std::vector<double> cum(n + 1, 0.0);
  for (std::int64_t t = 0; t < n; ++t) cum[t + 1] = cum[t] + s2[t];
  SplitScan out;
  out.loglik_null = profile_ll(cum[n], static_cast<double>(n * dims));
  out.loglik_switch = kNegInf;
  if (keep) out.profile.reserve(n - 2 * min_seg + 1);
  for (std::int64_t k = min_seg; k <= n - min_seg; ++k) {
    const double ll = profile_ll(cum[k], static_cast<double>(k * dims)) +
                      profile_ll(cum[n] - cum[k], static_cast<double>((n - k) * dims));
    if (keep) out.profile.push_back(ll);
    if (ll > out.loglik_switch) {
      out.loglik_switch = ll;
      out.best_split = k;
    }
  }
  out.lr_stat = std::max(0.0, 2.0 * (out.loglik_switch - out.loglik_null));
  return out;
}

void check_min_segment(const char* fn, std::int64_t min_seg, std::int64_t n) {
  if (min_seg < 1) fail(fn, "min_segment must be >= 1");
  if (n < 2 * min_seg)
    fail(fn, "a split needs at least 2 * min_segment = " + std::to_string(2 * min_seg) +
                 " steps (got " + std::to_string(n) + ")");
}

// --- switch-time posterior ---
// For an order (p before, q after) with prior weight w_o, and tau = m + f inside step m:
//   log p(data, tau) = ln w_o + sum_{t<m} l_p(t) + sum_{t>m} l_q(t) + ln g(f),
//   g(f) = N(dx_m; 0, v(f) I_dims),  v(f) = f p^2 + (1-f) q^2
// (the constant prior density cancels); tau < 0 gives sum_t l_q(t), tau >= n gives sum_t l_p(t).
// The integral over f is taken in u = ln v: df = v du / (p^2 - q^2), and
// g(f(u)) v = (2 pi)^{-dims/2} exp((1 - dims/2) u - S_m e^{-u} / 2) is an entire function of u,
// where 16-point Gauss-Legendre is accurate to ~1e-9 relative for stds 1 and 10. (In f the
// integrand has an essential singularity at v = 0, just outside [0, 1] when the stds differ a lot,
// and the same rule is only accurate to ~1e-5.)
struct Order {
  double p2, q2, logw;           // before / after variances, log prior weight
  std::vector<double> pre, suf;  // pre[m] = sum_{t<m} l_p(t), suf[m] = sum_{t>=m} l_q(t)
};

double log_g_var(double v, double s, int dims) {
  return -0.5 * dims * (kLog2Pi + std::log(v)) - 0.5 * s / v;
}

// Gauss-Legendre node terms of c + ln int_{fa}^{fb} g(f) df for one order: lv[i] (log weight times
// integrand) and tau[i] = m + f_i.
void node_terms(const Order& o, double c, double s, int dims, std::int64_t m, double fa, double fb,
                double* lv, double* tau) {
  const auto& gl = gauss_legendre();
  const double dv = o.p2 - o.q2;
  if (std::abs(dv) <= 1e-12 * std::max(o.p2, o.q2)) {  // equal stds: g does not depend on f
    const double half = 0.5 * (fb - fa), mid = 0.5 * (fa + fb);
    for (int i = 0; i < GaussLegendre::N; ++i) {
      lv[i] = c + std::log(half * gl.w[i]) + log_g_var(o.q2, s, dims);
      tau[i] = static_cast<double>(m) + mid + half * gl.x[i];
    }
    return;
  }
  const double ua = std::log(o.q2 + fa * dv), ub = std::log(o.q2 + fb * dv);
  const double half = 0.5 * (ub - ua), mid = 0.5 * (ua + ub);
  for (int i = 0; i < GaussLegendre::N; ++i) {
    const double u = mid + half * gl.x[i], v = std::exp(u);
    lv[i] = c + std::log(half * gl.w[i] / dv) + u + log_g_var(v, s, dims);  // half / dv > 0
    tau[i] = static_cast<double>(m) + std::clamp((v - o.q2) / dv, fa, fb);
  }
}

// A piece of the tau range: a flat piece (no step straddles the switch) or part of step `step`.
struct Piece {
  double a, b;
  std::int64_t step;                   // -1 for a flat piece
  std::array<double, 2> c{kNegInf, kNegInf};  // per order: log factor (-inf: order pruned)
  double logmass = kNegInf;            // log of the piece's unnormalised mass, orders together
  double tau_mean = 0;                 // E[tau | tau in piece]
  double a_first = 0;                  // P(order 0 | tau in piece)
};

// Fills logmass, tau_mean and a_first of a step piece from its node terms.
void evaluate_step(Piece& g, const std::vector<Order>& orders, double s, int dims) {
  constexpr int N = GaussLegendre::N;
  double lv[2 * N], tau[2 * N];
  int used = 0;
  for (std::size_t o = 0; o < orders.size(); ++o) {
    if (g.c[o] == kNegInf) {
      for (int i = 0; i < N; ++i) lv[o * N + i] = kNegInf, tau[o * N + i] = 0;
    } else {
      node_terms(orders[o], g.c[o], s, dims, g.step, g.a - g.step, g.b - g.step, lv + o * N, tau + o * N);
    }
    used += N;
  }
  g.logmass = detail::log_sum_exp(lv, used);
  if (g.logmass == kNegInf) return;
  g.tau_mean = g.a_first = 0;
  for (int i = 0; i < used; ++i) {
    const double w = std::exp(lv[i] - g.logmass);
    g.tau_mean += w * tau[i];
    if (i < N) g.a_first += w;
  }
}

// Normalised mass of step piece g between its start and tau = g.step + f.
double mass_until(const Piece& g, const std::vector<Order>& orders, double s, int dims, double f,
                  double log_total) {
  double lv[GaussLegendre::N], tau[GaussLegendre::N], total = 0;
  for (std::size_t o = 0; o < orders.size(); ++o) {
    if (g.c[o] == kNegInf) continue;
    node_terms(orders[o], g.c[o], s, dims, g.step, g.a - g.step, f, lv, tau);
    for (double x : lv) total += std::exp(x - log_total);
  }
  return total;
}

SwitchTimePosterior time_core(const std::vector<double>& s2, int dims, double sa, double sb,
                              const SwitchTimeOptions& opt, bool keep_mass) {
  const auto n = static_cast<std::int64_t>(s2.size());
  const double t_min = opt.t_min;
  const double t_max = opt.t_max < 0 ? static_cast<double>(n) : opt.t_max;
  std::vector<Order> orders;
  orders.push_back({sa * sa, sb * sb, opt.order_known ? 0.0 : std::log(0.5), {}, {}});
  if (!opt.order_known) orders.push_back({sb * sb, sa * sa, std::log(0.5), {}, {}});
  for (Order& o : orders) {
    o.pre.assign(n + 1, 0.0);
    o.suf.assign(n + 1, 0.0);
    const double p = std::sqrt(o.p2), q = std::sqrt(o.q2);
    for (std::int64_t t = 0; t < n; ++t) o.pre[t + 1] = o.pre[t] + gauss_ll(s2[t], dims, p);
    for (std::int64_t t = n; t-- > 0;) o.suf[t] = o.suf[t + 1] + gauss_ll(s2[t], dims, q);
  }
  const std::size_t no = orders.size();

  // Pieces in increasing tau; flat pieces are exact at once, step pieces get an upper bound
  // c_o + ln(length) + max_v ln g(v) per order (ln g is unimodal in v, peak at v = S/dims).
  std::vector<Piece> pieces;
  std::vector<std::array<double, 2>> bound;
  auto add_flat = [&](double a, double b, bool before_all) {
    if (!(b > a)) return;
    Piece g{a, b, -1};
    std::array<double, 2> lm{kNegInf, kNegInf};
    for (std::size_t o = 0; o < no; ++o) {
      g.c[o] = orders[o].logw + (before_all ? orders[o].pre[n] : orders[o].suf[0]);
      lm[o] = g.c[o] + std::log(b - a);
    }
    g.logmass = detail::log_add(lm[0], lm[1]);
    g.tau_mean = 0.5 * (a + b);
    g.a_first = std::exp(lm[0] - g.logmass);
    pieces.push_back(g);
    bound.push_back(lm);
  };
  add_flat(t_min, std::min(0.0, t_max), false);
  for (std::int64_t m = 0; m < n; ++m) {
    const double a = std::max(static_cast<double>(m), t_min);
    const double b = std::min(static_cast<double>(m + 1), t_max);
    if (!(b > a)) continue;
    Piece g{a, b, m};
    std::array<double, 2> ub{kNegInf, kNegInf};
    for (std::size_t o = 0; o < no; ++o) {
      const Order& od = orders[o];
      g.c[o] = od.logw + od.pre[m] + od.suf[m + 1];
      const double v = std::clamp(s2[m] / dims, std::min(od.p2, od.q2), std::max(od.p2, od.q2));
      ub[o] = g.c[o] + std::log(b - a) + log_g_var(v, s2[m], dims);
    }
    pieces.push_back(g);
    bound.push_back(ub);
  }
  add_flat(std::max(static_cast<double>(n), t_min), t_max, true);

  // Evaluate the piece with the largest bound exactly: its mass bounds the total from below, and
  // any (piece, order) whose bound is e^-60 below that is dropped (relative error < n e^-60).
  std::size_t top = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i)
    if (std::max(bound[i][0], bound[i][1]) > std::max(bound[top][0], bound[top][1])) top = i;
  if (pieces[top].step >= 0) evaluate_step(pieces[top], orders, s2[pieces[top].step], dims);
  const double cut = pieces[top].logmass - 60.0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    Piece& g = pieces[i];
    if (g.step < 0 || i == top) continue;
    for (std::size_t o = 0; o < no; ++o)
      if (bound[i][o] < cut) g.c[o] = kNegInf;
    if (g.c[0] != kNegInf || g.c[1] != kNegInf) evaluate_step(g, orders, s2[g.step], dims);
  }
  double log_total = kNegInf;
  for (const Piece& g : pieces) log_total = detail::log_add(log_total, g.logmass);

  SwitchTimePosterior out;
  if (keep_mass) out.step_mass.assign(n, 0.0);
  double cum = 0;
  bool found = false;
  for (const Piece& g : pieces) {
    const double mass = std::exp(g.logmass - log_total);
    if (mass == 0) continue;
    out.mean += mass * g.tau_mean;
    out.p_a_first += mass * g.a_first;
    if (keep_mass && g.step >= 0) out.step_mass[g.step] = mass;
    // Median: the piece where the cumulative mass crosses 1/2, then inside it linearly (flat) or
    // by bisection on the Gauss-Legendre integral from the piece's start (step).
    if (!found && cum + mass >= 0.5) {
      found = true;
      const double need = std::clamp(0.5 - cum, 0.0, mass);
      if (g.step < 0) {
        out.median = g.a + (g.b - g.a) * need / mass;
      } else {
        double lo = g.a - g.step, hi = g.b - g.step;
        for (int it = 0; it < 60; ++it) {
          const double f = 0.5 * (lo + hi);
          (mass_until(g, orders, s2[g.step], dims, f, log_total) < need ? lo : hi) = f;
        }
        out.median = static_cast<double>(g.step) + 0.5 * (lo + hi);
      }
    }
    cum += mass;
  }
  if (!found) out.median = pieces.empty() ? t_max : pieces.back().b;  // rounding kept cum < 1/2

  // Posterior risk E[|tau - median| | data]: pieces wholly on one side contribute
  // mass * |E[tau | piece] - median|; the piece holding the median is split there (uniform
  // integral for a flat piece, Gauss-Legendre on each side for a step).
  const double med = out.median;
  for (const Piece& g : pieces) {
    const double mass = std::exp(g.logmass - log_total);
    if (mass == 0) continue;
    if (g.b <= med || g.a >= med) {
      out.expected_abs_error += mass * std::abs(g.tau_mean - med);
    } else if (g.step < 0) {
      out.expected_abs_error += mass * ((med - g.a) * (med - g.a) + (g.b - med) * (g.b - med)) / (2.0 * (g.b - g.a));
    } else {
      double lv[GaussLegendre::N], tau[GaussLegendre::N];
      const double fm = med - static_cast<double>(g.step);
      for (std::size_t o = 0; o < orders.size(); ++o) {
        if (g.c[o] == kNegInf) continue;
        for (const auto& [fa, fb] : {std::pair{g.a - g.step, fm}, std::pair{fm, g.b - g.step}}) {
          node_terms(orders[o], g.c[o], s2[g.step], dims, g.step, fa, fb, lv, tau);
          for (int i = 0; i < GaussLegendre::N; ++i) out.expected_abs_error += std::exp(lv[i] - log_total) * std::abs(tau[i] - med);
        }
      }
    }
  }
  out.p_a_first = opt.order_known ? 1.0 : std::clamp(out.p_a_first, 0.0, 1.0);
  return out;
}

void check_time_options(const char* fn, double sa, double sb, const SwitchTimeOptions& opt,
                        std::int64_t n) {
  check_sigma(fn, "sigma_a", sa);
  check_sigma(fn, "sigma_b", sb);
  const double t_max = opt.t_max < 0 ? static_cast<double>(n) : opt.t_max;
  if (!std::isfinite(opt.t_min) || !std::isfinite(t_max) || !(t_max > opt.t_min))
    fail(fn, "switch-time prior range [t_min, t_max] = [" + std::to_string(opt.t_min) + ", " +
                 std::to_string(t_max) + "] is empty or not finite");
}

// --- Bayes classifiers ---

// ln Gamma(a, x), the upper incomplete gamma function, for a >= 0 and x > 0:
//   x < a + 1: Gamma(a) (1 - P(a, x)) with the series
//              P(a, x) = e^{-x} x^a / Gamma(a) sum_{k>=0} x^k / (a (a+1) ... (a+k));
//   otherwise: e^{-x} x^a times the continued fraction 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
//              evaluated by the modified Lentz method;
//   a = 0, x < 1: E_1(x) = -gamma_E - ln x - sum_{k>=1} (-x)^k / (k k!).
double log_gamma_upper(double a, double x) {
  constexpr double eps = 1e-15, tiny = 1e-300;
  if (a == 0.0 && x < 1.0) {
    double sum = 0, term = 1;
    for (int k = 1; k < 200; ++k) {
      term *= -x / k;
      sum += term / k;
      if (std::abs(term) < eps * std::abs(sum)) break;
    }
    return std::log(-0.57721566490153286061 - std::log(x) - sum);
  }
  if (x < a + 1.0) {
    double term = 1.0 / a, sum = term;
    for (int k = 1; k < 100000; ++k) {
      term *= x / (a + k);
      sum += term;
      if (term < eps * sum) break;
    }
    const double p = std::exp(-x + a * std::log(x) + std::log(sum) - std::lgamma(a));
    return std::lgamma(a) + std::log1p(-std::min(p, 1.0 - 1e-16));
  }
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1.0) < eps) break;
  }
  return -x + a * std::log(x) + std::log(h);
}

// ln of the marginal likelihood of m values with sum of squares s, sigma ~ U(0, smax):
//   (1/smax) int_0^smax (2 pi)^{-m/2} sigma^{-m} exp(-s / (2 sigma^2)) dsigma
//   = (1/smax) (2 pi)^{-m/2} (1/2) (2/s)^{(m-1)/2} Gamma((m-1)/2, s / (2 smax^2))
// (substitute u = s / (2 sigma^2)).
double log_marginal_uniform(double s, double m, double smax) {
  s = std::max(s, DBL_MIN);
  return -std::log(smax) - 0.5 * m * kLog2Pi + std::log(0.5) + 0.5 * (m - 1.0) * std::log(2.0 / s) +
         log_gamma_upper(0.5 * (m - 1.0), s / (2.0 * smax * smax));
}

// P(H1 | data) = prior e^{l1} / (prior e^{l1} + (1 - prior) e^{l0}).
double posterior_prob(double l1, double l0, double prior) {
  const double lo = std::log(prior) + l1 - std::log1p(-prior) - l0;
  return lo >= 0 ? 1.0 / (1.0 + std::exp(-lo)) : std::exp(lo) / (1.0 + std::exp(lo));
}

struct Halves {
  double s1, s2, m1, m2;
};
Halves halves(const std::vector<double>& s2, int dims, std::int64_t t0) {
  Halves h{0, 0, static_cast<double>(t0 * dims),
           static_cast<double>((static_cast<std::int64_t>(s2.size()) - t0) * dims)};
  for (std::int64_t t = 0; t < static_cast<std::int64_t>(s2.size()); ++t)
    (t < t0 ? h.s1 : h.s2) += s2[t];
  return h;
}

double prob_known_core(const std::vector<double>& s2, int dims, std::int64_t t0, double sa,
                       double sb, double prior) {
  const Halves h = halves(s2, dims, t0);
  const double lh = std::log(0.5);
  const double l0 = detail::log_add(lh + gauss_ll(h.s1 + h.s2, h.m1 + h.m2, sa),
                                    lh + gauss_ll(h.s1 + h.s2, h.m1 + h.m2, sb));
  const double l1 = detail::log_add(lh + gauss_ll(h.s1, h.m1, sa) + gauss_ll(h.s2, h.m2, sb),
                                    lh + gauss_ll(h.s1, h.m1, sb) + gauss_ll(h.s2, h.m2, sa));
  return posterior_prob(l1, l0, prior);
}

double prob_uniform_core(const std::vector<double>& s2, int dims, std::int64_t t0, double smax,
                         double prior) {
  const Halves h = halves(s2, dims, t0);
  const double l0 = log_marginal_uniform(h.s1 + h.s2, h.m1 + h.m2, smax);
  const double l1 = log_marginal_uniform(h.s1, h.m1, smax) + log_marginal_uniform(h.s2, h.m2, smax);
  return posterior_prob(l1, l0, prior);
}

}  // namespace

SplitScan scan_single_switch(std::span<const float> dx, int dims, std::int64_t min_segment) {
  const auto n = detail::check_series("scan_single_switch", dx, dims);
  check_min_segment("scan_single_switch", min_segment, n);
  return scan_core(detail::step_sq(dx, dims), dims, min_segment, true);
}

std::vector<SplitScan> scan_single_switch(const SeriesBatch& batch, std::int64_t min_segment,
                                          bool keep_profile) {
  detail::check_batch("scan_single_switch", batch);
  std::vector<SplitScan> out(batch.count);
  if (batch.count == 0) return out;
  check_min_segment("scan_single_switch", min_segment, batch.steps);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = scan_core(detail::step_sq(batch.trajectory(i), batch.dims), batch.dims, min_segment,
                       keep_profile);
  });
  return out;
}

SwitchTimePosterior switch_time_posterior(std::span<const float> dx, double sigma_a,
                                          double sigma_b, const SwitchTimeOptions& opt, int dims) {
  const auto n = detail::check_series("switch_time_posterior", dx, dims);
  check_time_options("switch_time_posterior", sigma_a, sigma_b, opt, n);
  return time_core(detail::step_sq(dx, dims), dims, sigma_a, sigma_b, opt, true);
}

std::vector<SwitchTimePosterior> switch_time_posterior(const SeriesBatch& batch, double sigma_a,
                                                       double sigma_b,
                                                       const SwitchTimeOptions& opt,
                                                       bool keep_mass) {
  detail::check_batch("switch_time_posterior", batch);
  std::vector<SwitchTimePosterior> out(batch.count);
  if (batch.count == 0) return out;
  check_time_options("switch_time_posterior", sigma_a, sigma_b, opt, batch.steps);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = time_core(detail::step_sq(batch.trajectory(i), batch.dims), batch.dims, sigma_a,
                       sigma_b, opt, keep_mass);
  });
  return out;
}

// llr = l(S1, m1) + l(S2, m2) - l(S1 + S2, m1 + m2) with l the profile log-likelihood; under no
// switch 2 llr is asymptotically chi-square with 1 degree of freedom: p = erfc(sqrt(stat / 2)).
FixedSwitchTest fixed_switch_test(std::span<const float> dx, std::int64_t t0, int dims) {
  const auto n = detail::check_series("fixed_switch_test", dx, dims);
  check_t0("fixed_switch_test", t0, n);
  const Halves h = halves(detail::step_sq(dx, dims), dims, t0);
  FixedSwitchTest r;
  r.llr = profile_ll(h.s1, h.m1) + profile_ll(h.s2, h.m2) - profile_ll(h.s1 + h.s2, h.m1 + h.m2);
  r.stat = std::max(0.0, 2.0 * r.llr);
  r.p_value = std::erfc(std::sqrt(0.5 * r.stat));
  return r;
}

double switch_probability_known(std::span<const float> dx, std::int64_t t0, double sigma_a,
                                double sigma_b, double prior, int dims) {
  const char* fn = "switch_probability_known";
  const auto n = detail::check_series(fn, dx, dims);
  check_t0(fn, t0, n);
  check_sigma(fn, "sigma_a", sigma_a);
  check_sigma(fn, "sigma_b", sigma_b);
  check_prior(fn, prior);
  return prob_known_core(detail::step_sq(dx, dims), dims, t0, sigma_a, sigma_b, prior);
}

double switch_probability_uniform(std::span<const float> dx, std::int64_t t0, double sigma_max,
                                  double prior, int dims) {
  const char* fn = "switch_probability_uniform";
  const auto n = detail::check_series(fn, dx, dims);
  check_t0(fn, t0, n);
  check_sigma(fn, "sigma_max", sigma_max);
  check_prior(fn, prior);
  return prob_uniform_core(detail::step_sq(dx, dims), dims, t0, sigma_max, prior);
}

std::vector<double> switch_probability_known(const SeriesBatch& batch, std::int64_t t0,
                                             double sigma_a, double sigma_b, double prior) {
  const char* fn = "switch_probability_known";
  detail::check_batch(fn, batch);
  std::vector<double> out(batch.count);
  if (batch.count == 0) return out;
  check_t0(fn, t0, batch.steps);
  check_sigma(fn, "sigma_a", sigma_a);
  check_sigma(fn, "sigma_b", sigma_b);
  check_prior(fn, prior);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = prob_known_core(detail::step_sq(batch.trajectory(i), batch.dims), batch.dims, t0,
                             sigma_a, sigma_b, prior);
  });
  return out;
}

std::vector<double> switch_probability_uniform(const SeriesBatch& batch, std::int64_t t0,
                                               double sigma_max, double prior) {
  const char* fn = "switch_probability_uniform";
  detail::check_batch(fn, batch);
  std::vector<double> out(batch.count);
  if (batch.count == 0) return out;
  check_t0(fn, t0, batch.steps);
  check_sigma(fn, "sigma_max", sigma_max);
  check_prior(fn, prior);
  detail::parallel_for(batch.count, [&](std::int64_t i) {
    out[i] = prob_uniform_core(detail::step_sq(batch.trajectory(i), batch.dims), batch.dims, t0,
                               sigma_max, prior);
  });
  return out;
}

}  // namespace sptrain::baselines
