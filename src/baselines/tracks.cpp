// Estimators for tracks with gaps and localization noise: displacements with their frame gaps,
// the gap-aware MLE with its profile-likelihood interval, the CVE from consecutive frames with
// Vestergaard's variance, the MSD by frame lag with its power-law exponent, and continuous-time
// rates (matrix logarithm) and stationary occupancies of a fitted transition matrix.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "detail.hpp"
#include "gapped.hpp"
#include "sptrain/baselines.hpp"

namespace sptrain::baselines {

using detail::fail;

GappedSteps track_steps(std::span<const float> positions, std::span<const std::int64_t> frames,
                        int dims) {
  const char* fn = "track_steps";
  if (dims < 1) fail(fn, "dims must be >= 1 (got " + std::to_string(dims) + ")");
  const std::size_t n = frames.size();
  if (n < 2) fail(fn, "a track needs >= 2 localizations (got " + std::to_string(n) + ")");
  if (positions.size() != n * static_cast<std::size_t>(dims))
    fail(fn, std::to_string(positions.size()) + " position values for " + std::to_string(n) +
                 " frames of " + std::to_string(dims) + " dims");
  GappedSteps s;
  s.dims = dims;
  s.dx.resize((n - 1) * dims);
  s.gap.resize(n - 1);
  for (std::size_t t = 0; t + 1 < n; ++t) {
    const std::int64_t g = frames[t + 1] - frames[t];
    if (g < 1)
      fail(fn, "frames are not increasing (frame " + std::to_string(frames[t + 1]) + " after " +
                   std::to_string(frames[t]) + ")");
    if (g > std::numeric_limits<int>::max() / 2) fail(fn, "gap of " + std::to_string(g) + " frames is too long");
    s.gap[t] = static_cast<int>(g);
    for (int d = 0; d < dims; ++d) {
      const float v = positions[(t + 1) * dims + d] - positions[t * dims + d];
      if (!std::isfinite(v)) fail(fn, "position " + std::to_string(t + 1) + " is not finite");
      s.dx[t * dims + d] = v;
    }
  }
  return s;
}

namespace detail {

void check_gapped(const char* fn, GappedView s, int dims) {
  const auto n = check_series(fn, s.dx, dims);
  if (!s.gap.empty()) {
    if (static_cast<std::int64_t>(s.gap.size()) != n)
      fail(fn, std::to_string(s.gap.size()) + " gaps for " + std::to_string(n) + " steps");
    for (int g : s.gap)
      if (g < 1) fail(fn, "gap " + std::to_string(g) + " < 1");
  }
}

double GroupedLik::ll(double s) const {
  double out = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    if (n[j] <= 0) continue;
    const double v = s * a[j] + c;
    if (!(v > 0)) return kNegInf;
    out -= 0.5 * (dims * n[j] * std::log(v) + ss[j] / v);
  }
  return out;
}

double GroupedLik::argmax() const {
  double num = 0, den = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    num += a[j] > 0 ? ss[j] / a[j] : 0;
    den += dims * n[j];
  }
  if (den <= 0) return 0;
  const double closed = num / den;  // exact when c == 0
  if (c <= 0) return closed;
  // With noise: a grid over log s around the noise-free value, then golden section in the best
  // cell; s = 0 (noise explains everything) is a candidate too.
  const double scale = std::max(closed, 1e-300);
  const int G = 80;
  const double lo = std::log(scale) - 12, hi = std::log(scale) + 3;
  int best = 0;
  double best_ll = kNegInf;
  for (int i = 0; i <= G; ++i) {
    const double v = ll(std::exp(lo + (hi - lo) * i / G));
    if (v > best_ll) best_ll = v, best = i;
  }
  double x0 = lo + (hi - lo) * std::max(best - 1, 0) / G, x1 = lo + (hi - lo) * std::min(best + 1, G) / G;
  const double r = 0.6180339887498949;
  double xa = x1 - r * (x1 - x0), xb = x0 + r * (x1 - x0);
  double fa = ll(std::exp(xa)), fb = ll(std::exp(xb));
  for (int it = 0; it < 80; ++it) {
    if (fa > fb) {
      x1 = xb, xb = xa, fb = fa;
      xa = x1 - r * (x1 - x0), fa = ll(std::exp(xa));
    } else {
      x0 = xa, xa = xb, fa = fb;
      xb = x0 + r * (x1 - x0), fb = ll(std::exp(xb));
    }
  }
  const double s = std::exp(0.5 * (x0 + x1));
  return ll(0.0) >= ll(s) ? 0.0 : s;
}

GroupedLik group_by_gap(GappedView s, int dims, double loc2, double blur) {
  std::map<int, std::pair<double, double>> by;  // gap -> (count, sum of squares)
  const std::size_t n = s.dx.size() / dims;
  for (std::size_t t = 0; t < n; ++t) {
    double acc = 0;
    for (int d = 0; d < dims; ++d) acc += double(s.dx[t * dims + d]) * s.dx[t * dims + d];
    auto& e = by[s.gap.empty() ? 1 : s.gap[t]];
    e.first += 1;
    e.second += acc;
  }
  GroupedLik g;
  g.c = 2 * loc2;
  g.dims = dims;
  for (const auto& [gap, e] : by) {
    g.a.push_back(gap - 2 * blur);
    g.n.push_back(e.first);
    g.ss.push_back(e.second);
  }
  return g;
}

void check_noise(const char* fn, double loc2, double blur) {
  if (!(std::isfinite(loc2) && loc2 >= 0)) fail(fn, "loc2 must be finite and >= 0 (got " + std::to_string(loc2) + ")");
  if (!(blur >= 0 && blur <= 0.25)) fail(fn, "blur R must lie in [0, 1/4] (got " + std::to_string(blur) + ")");
}

}  // namespace detail

double normal_quantile_two_sided(double level) {
  if (!(level > 0 && level < 1)) fail("normal_quantile_two_sided", "level must lie in (0, 1)");
  // P(|Z| <= z) = erf(z / sqrt 2): bisection.
  double lo = 0, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double m = 0.5 * (lo + hi);
    (std::erf(m / std::sqrt(2.0)) < level ? lo : hi) = m;
  }
  return 0.5 * (lo + hi);
}

MleFit mle_gapped(GappedView s, int dims, double loc2, double blur, double level) {
  const char* fn = "mle_gapped";
  detail::check_gapped(fn, s, dims);
  detail::check_noise(fn, loc2, blur);
  const double q = std::pow(normal_quantile_two_sided(level), 2);  // chi-square(1) quantile
  const auto g = detail::group_by_gap(s, dims, loc2, blur);
  MleFit f;
  f.samples = static_cast<std::int64_t>(s.dx.size());
  double total = 0;
  for (const double v : g.ss) total += v;
  if (total == 0 && loc2 == 0) return f;  // no movement and no noise: sigma2 = 0 exactly, [0, 0]
  f.sigma2 = g.argmax();
  const double llmax = g.ll(f.sigma2);
  const double target = llmax - 0.5 * q;
  // The likelihood falls off on both sides of the maximum: bisection for each end.
  auto edge = [&](double inside, double outside) {
    for (int i = 0; i < 200; ++i) {
      const double m = 0.5 * (inside + outside);
      (g.ll(m) >= target ? inside : outside) = m;
    }
    return 0.5 * (inside + outside);
  };
  double scale = f.sigma2;
  if (!(scale > 0)) {  // noise explains the data: start from the mean square per sample
    double n = 0, ss = 0;
    for (std::size_t j = 0; j < g.a.size(); ++j) n += g.n[j] * dims, ss += g.ss[j];
    scale = std::max(ss / std::max(n, 1.0), 1e-300);
  }
  double up = scale * 2;
  for (int i = 0; i < 4000 && g.ll(up) >= target; ++i) up *= 2;
  f.hi = edge(f.sigma2, up);
  f.lo = (f.sigma2 <= 0 || g.ll(0.0) >= target) ? 0.0 : edge(f.sigma2, 0.0);
  return f;
}

namespace {

struct CveSums {
  double sq = 0, cross = 0;
  std::int64_t steps = 0, pairs = 0;
};

void add_cve(CveSums& c, GappedView s, int dims) {
  const std::size_t n = s.dx.size() / dims;
  auto one = [&](std::size_t t) { return s.gap.empty() || s.gap[t] == 1; };
  for (std::size_t t = 0; t < n; ++t) {
    if (!one(t)) continue;
    for (int d = 0; d < dims; ++d) c.sq += double(s.dx[t * dims + d]) * s.dx[t * dims + d];
    ++c.steps;
    if (t + 1 < n && one(t + 1)) {
      for (int d = 0; d < dims; ++d) c.cross += double(s.dx[t * dims + d]) * s.dx[(t + 1) * dims + d];
      ++c.pairs;
    }
  }
}

CveFit finish_cve(const CveSums& c, int dims, double blur, double level) {
  CveFit f;
  f.steps = c.steps;
  f.pairs = c.pairs;
  if (c.pairs == 0) {
    f.sigma2 = f.loc2 = f.lo = f.hi = std::numeric_limits<double>::quiet_NaN();
    return f;
  }
  const double m2 = c.sq / (double(c.steps) * dims), c1 = c.cross / (double(c.pairs) * dims);
  f.sigma2 = m2 + 2 * c1;
  f.loc2 = blur * m2 + (2 * blur - 1) * c1;
  const double N = double(c.steps);
  const double e = f.sigma2 > 0 ? std::max(0.0, 2 * std::max(f.loc2, 0.0) / f.sigma2 - 2 * blur) : 0.0;
  const double var =
      f.sigma2 * f.sigma2 * ((6 + 4 * e + 2 * e * e) / N + 4 * (1 + e) * (1 + e) / (N * N)) / dims;
  const double z = normal_quantile_two_sided(level);
  f.lo = f.sigma2 - z * std::sqrt(var);
  f.hi = f.sigma2 + z * std::sqrt(var);
  return f;
}

}  // namespace

CveFit cve_gapped(GappedView s, int dims, double blur, double level) {
  detail::check_gapped("cve_gapped", s, dims);
  detail::check_noise("cve_gapped", 0, blur);
  normal_quantile_two_sided(level);
  CveSums c;
  add_cve(c, s, dims);
  return finish_cve(c, dims, blur, level);
}

CveFit cve_gapped_pooled(std::span<const GappedView> tracks, int dims, double blur, double level) {
  detail::check_noise("cve_gapped_pooled", 0, blur);
  if (tracks.empty()) fail("cve_gapped_pooled", "no tracks");
  CveSums c;
  for (const auto& t : tracks) {
    detail::check_gapped("cve_gapped_pooled", t, dims);
    add_cve(c, t, dims);
  }
  return finish_cve(c, dims, blur, level);
}

MsdCurve msd_by_frame_lag(std::span<const float> positions, std::span<const std::int64_t> frames,
                          int dims, int max_lag) {
  const char* fn = "msd_by_frame_lag";
  if (dims < 1) fail(fn, "dims must be >= 1");
  if (max_lag < 1) fail(fn, "max_lag must be >= 1 (got " + std::to_string(max_lag) + ")");
  const std::size_t n = frames.size();
  if (positions.size() != n * static_cast<std::size_t>(dims)) fail(fn, "positions do not match frames");
  MsdCurve c;
  c.lag.resize(max_lag);
  c.msd.assign(max_lag, 0.0);
  c.count.assign(max_lag, 0);
  for (int l = 0; l < max_lag; ++l) c.lag[l] = l + 1;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const std::int64_t lag = frames[j] - frames[i];
      if (lag < 1) fail(fn, "frames are not increasing");
      if (lag > max_lag) break;
      double acc = 0;
      for (int d = 0; d < dims; ++d) {
        const double v = double(positions[j * dims + d]) - positions[i * dims + d];
        acc += v * v;
      }
      c.msd[lag - 1] += acc / dims;
      ++c.count[lag - 1];
    }
  for (int l = 0; l < max_lag; ++l)
    c.msd[l] = c.count[l] > 0 ? c.msd[l] / double(c.count[l]) : std::numeric_limits<double>::quiet_NaN();
  return c;
}

PowerLaw fit_msd_power_law(const MsdCurve& c) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int m = 0;
  for (std::size_t l = 0; l < c.lag.size(); ++l) {
    if (c.count[l] <= 0 || !(c.msd[l] > 0)) continue;
    const double x = std::log(double(c.lag[l])), y = std::log(c.msd[l]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, ++m;
  }
  PowerLaw p;
  const double den = m * sxx - sx * sx;
  if (m < 2 || !(den > 0)) {
    p.alpha = p.prefactor = std::numeric_limits<double>::quiet_NaN();
    return p;
  }
  p.alpha = (m * sxy - sx * sy) / den;
  p.prefactor = std::exp((sy - p.alpha * sx) / m);
  return p;
}

namespace {

using Mat = std::vector<double>;

Mat matmul(const Mat& A, const Mat& B, int K) {
  Mat C(size_t(K) * K, 0.0);
  for (int i = 0; i < K; ++i)
    for (int l = 0; l < K; ++l)
      for (int j = 0; j < K; ++j) C[i * K + j] += A[i * K + l] * B[l * K + j];
  return C;
}

// Gauss-Jordan inverse with partial pivoting; false if singular.
bool invert(Mat A, int K, Mat& inv) {
  inv.assign(size_t(K) * K, 0.0);
  for (int i = 0; i < K; ++i) inv[i * K + i] = 1;
  for (int c = 0; c < K; ++c) {
    int piv = c;
    for (int r = c + 1; r < K; ++r)
      if (std::abs(A[r * K + c]) > std::abs(A[piv * K + c])) piv = r;
    if (!(std::abs(A[piv * K + c]) > 1e-300)) return false;
    for (int j = 0; j < K; ++j) std::swap(A[c * K + j], A[piv * K + j]), std::swap(inv[c * K + j], inv[piv * K + j]);
    const double d = A[c * K + c];
    for (int j = 0; j < K; ++j) A[c * K + j] /= d, inv[c * K + j] /= d;
    for (int r = 0; r < K; ++r) {
      if (r == c) continue;
      const double f = A[r * K + c];
      if (f == 0) continue;
      for (int j = 0; j < K; ++j) A[r * K + j] -= f * A[c * K + j], inv[r * K + j] -= f * inv[c * K + j];
    }
  }
  return true;
}

double dist_identity(const Mat& A, int K) {
  double m = 0;
  for (int i = 0; i < K; ++i) {
    double r = 0;
    for (int j = 0; j < K; ++j) r += std::abs(A[i * K + j] - (i == j ? 1.0 : 0.0));
    m = std::max(m, r);
  }
  return m;
}

// Principal logarithm by inverse scaling and squaring: square roots (Denman-Beavers) until
// ||A - I|| <= 0.25, the Mercator series to 40 terms, times 2^s. False if it breaks down.
bool matrix_log(const Mat& P, int K, Mat& L) {
  Mat A = P;
  int s = 0;
  while (dist_identity(A, K) > 0.25) {
    if (++s > 60) return false;
    Mat Y = A, Z(size_t(K) * K, 0.0), Yi, Zi;
    for (int i = 0; i < K; ++i) Z[i * K + i] = 1;
    for (int it = 0; it < 100; ++it) {
      if (!invert(Y, K, Yi) || !invert(Z, K, Zi)) return false;
      Mat Yn(Y.size()), Zn(Z.size());
      double change = 0;
      for (size_t e = 0; e < Y.size(); ++e) {
        Yn[e] = 0.5 * (Y[e] + Zi[e]);
        Zn[e] = 0.5 * (Z[e] + Yi[e]);
        change = std::max(change, std::abs(Yn[e] - Y[e]));
      }
      Y.swap(Yn), Z.swap(Zn);
      if (change < 1e-15) break;
    }
    for (double v : Y)
      if (!std::isfinite(v)) return false;
    A = Y;
  }
  Mat X = A;
  for (int i = 0; i < K; ++i) X[i * K + i] -= 1;
  L.assign(size_t(K) * K, 0.0);
  Mat term = X;
  for (int n = 1; n <= 40; ++n) {
    const double f = (n % 2 == 1 ? 1.0 : -1.0) / n;
    for (size_t e = 0; e < L.size(); ++e) L[e] += f * term[e];
    term = matmul(term, X, K);
  }
  const double scale = std::ldexp(1.0, s);
  for (double& v : L) {
    v *= scale;
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

std::vector<double> transition_generator(const std::vector<double>& P, int K, bool* exact) {
  if (K < 1 || P.size() != size_t(K) * K) fail("transition_generator", "P must be K x K");
  Mat Q(size_t(K) * K, 0.0);
  bool ok = false;
  if (K > 1 && matrix_log(P, K, Q)) {
    // A valid generator up to round-off: off-diagonal entries >= 0 (small negative ones, at most
    // 1e-3 of the row's exit rate, are clipped), diagonal = -row sum.
    ok = true;
    for (int i = 0; i < K && ok; ++i) {
      double exit = 0;
      for (int j = 0; j < K; ++j)
        if (j != i) exit += std::max(Q[i * K + j], 0.0);
      for (int j = 0; j < K; ++j)
        if (j != i && Q[i * K + j] < -1e-3 * exit - 1e-12) ok = false;
    }
    if (ok)
      for (int i = 0; i < K; ++i) {
        double exit = 0;
        for (int j = 0; j < K; ++j)
          if (j != i) exit += Q[i * K + j] = std::max(Q[i * K + j], 0.0);
        Q[i * K + i] = -exit;
      }
  }
  if (!ok) {
    std::fill(Q.begin(), Q.end(), 0.0);
    for (int i = 0; i < K; ++i) {
      const double stay = P[i * K + i];
      if (stay >= 1) continue;
      const double exit = stay > 0 ? -std::log(stay) : std::numeric_limits<double>::infinity();
      Q[i * K + i] = -exit;
      for (int j = 0; j < K; ++j)
        if (j != i) Q[i * K + j] = exit * P[i * K + j] / (1 - stay);
    }
  }
  if (exact) *exact = ok || K == 1;
  return Q;
}

std::vector<double> stationary_distribution(const std::vector<double>& P, int K) {
  if (K < 1 || P.size() != size_t(K) * K) fail("stationary_distribution", "P must be K x K");
  // pi (P - I) = 0 with sum pi = 1: the transposed system with its last equation replaced.
  Mat A(size_t(K) * K);
  for (int i = 0; i < K; ++i)
    for (int j = 0; j < K; ++j) A[i * K + j] = (i == K - 1) ? 1.0 : P[j * K + i] - (i == j ? 1.0 : 0.0);
  Mat inv;
  std::vector<double> pi(K, 1.0 / K);
  if (!invert(A, K, inv)) return pi;  // reducible chain: no unique answer, uniform
  for (int i = 0; i < K; ++i) pi[i] = std::max(0.0, inv[i * K + K - 1]);
  double s = 0;
  for (double v : pi) s += v;
  for (double& v : pi) v /= s;
  return pi;
}

}  // namespace sptrain::baselines
