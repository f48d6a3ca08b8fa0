// Statistics and determinism of the trajectory simulator on the CPU backend.
// Bounds: stat_bounds.hpp (each check fails a correct generator with probability <= 1e-6).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <curand.h>

#include "simulate.cuh"
#include "sptrain/sim.hpp"
#include "stat_bounds.hpp"

using namespace sptrain;
using test::chi2_ok;
using test::within_z;

namespace {

TrajectoryBatch run(const std::string& toml, int64_t n, uint64_t seed = 1, int64_t first = 0) {
  TrajectoryBatch b;
  simulate(parse_spec(toml).params, seed, first, n, Device::cpu(), b);
  return b;
}

double dx(const TrajectoryBatch& b, int64_t r, int j, int d = 0) {
  const auto& p = b.params;
  return double(b.positions[(r * p.length + j + 1) * p.dims + d]) - b.positions[(r * p.length + j) * p.dims + d];
}

}  // namespace

TEST(Simulate, PerStateStepVarianceIsChiSquare) {
  // Two fixed states, no switching: each trajectory keeps its initial state.
  auto b = run("length = 201\ndims = 2\n[states]\nsigma = [1.0, 3.0]\n", 2000);
  const int S = 200;
  double sum[2] = {0, 0}, n[2] = {0, 0};
  for (int64_t r = 0; r < b.n; ++r) {
    int k = b.initial_state[r];
    for (int j = 0; j < S; ++j) {
      ASSERT_EQ(b.step_state[r * S + j], k);
      ASSERT_FLOAT_EQ(b.step_sigma[r * S + j], k ? 3.0f : 1.0f);
      for (int d = 0; d < 2; ++d) {
        double z = dx(b, r, j, d) / (k ? 3.0 : 1.0);
        sum[k] += z * z;
        n[k] += 1;
      }
    }
  }
  for (int k = 0; k < 2; ++k) {
    ASSERT_GT(n[k], 1e5);
    EXPECT_TRUE(chi2_ok(sum[k], n[k])) << "state " << k << ": sum z^2 / n = " << sum[k] / n[k];
  }
  // Initial state uniform: binomial(2000, 1/2).
  double ones = 0;
  for (auto s : b.initial_state) ones += s;
  EXPECT_TRUE(within_z(ones / 2000, 0.5, std::sqrt(0.25 / 2000)));
}

TEST(Simulate, PoissonSwitchCountMeanAndVariance) {
  const double rate = 0.02, S = 999, lambda = rate * S;
  auto b = run("length = 1000\n[states]\nsigma = [1.0, 10.0, 4.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.02\n"
               "max_recorded = 64\n", 20000);
  double m = 0, m2 = 0;
  for (auto c : b.n_switches) {
    m += c;
    m2 += double(c) * c;
  }
  const double N = double(b.n);
  m /= N;
  double var = (m2 - N * m * m) / (N - 1);
  EXPECT_TRUE(within_z(m, lambda, std::sqrt(lambda / N))) << "mean " << m << " expected " << lambda;
  // Var of the sample variance of Poisson(lambda): (mu4 - sigma^4)/N = (lambda + 2 lambda^2)/N.
  EXPECT_TRUE(within_z(var, lambda, std::sqrt((lambda + 2 * lambda * lambda) / N))) << "variance " << var;
  // Recorded times are increasing and inside the trajectory; the padding is NaN.
  for (int64_t r = 0; r < 200; ++r) {
    const float* t = &b.switch_times[r * 64];
    for (int c = 0; c < std::min(b.n_switches[r], 64); ++c) {
      EXPECT_GT(t[c], 0.0f);
      EXPECT_LT(t[c], float(S));
      if (c) {
        EXPECT_GT(t[c], t[c - 1]);
      }
    }
    for (int c = b.n_switches[r]; c < 64; ++c) EXPECT_TRUE(std::isnan(t[c]));
  }
}

TEST(Simulate, PoissonNeverSwitchesToTheSameStateAndPicksOthersUniformly) {
  SimSpec spec = parse_spec("length = 500\n[states]\nsigma = [1.0, 2.0, 3.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.05\n");
  const SimParams& p = spec.params;
  double counts[3][3] = {};
  for (uint64_t i = 0; i < 2000; ++i) {
    sim::Setup su = sim::make_setup(p, 5, i);
    sim::Walker w;
    w.init(p, su, 5, i, p.steps(), nullptr, 0);
    while (w.t_next < p.steps()) {
      ASSERT_NE(w.pending, w.cur) << "self switch in trajectory " << i;
      counts[w.cur][w.pending] += 1;
      w.advance(w.t_next + 1e-9);
    }
  }
  // Given the current state, each of the two other states has probability 1/2.
  for (int a = 0; a < 3; ++a) {
    double tot = 0;
    for (int c = 0; c < 3; ++c) tot += counts[a][c];
    ASSERT_GT(tot, 5000);
    for (int c = 0; c < 3; ++c)
      if (c != a) {
        EXPECT_TRUE(within_z(counts[a][c] / tot, 0.5, std::sqrt(0.25 / tot))) << a << "->" << c;
      }
  }
}

TEST(Simulate, MarkovOccupancyMatchesStationaryDistribution) {
  // Generator Q with stationary distribution pi solving pi Q = 0: pi = (0.25, 0.25, 0.5) for this Q.
  const char* toml =
      "length = 400\n[states]\nsigma = [1.0, 2.0, 3.0]\n[switching]\nmodel = \"markov\"\n"
      "rate_matrix = [[-0.04, 0.02, 0.02], [0.02, -0.04, 0.02], [0.01, 0.01, -0.02]]\n";
  SimSpec spec = parse_spec(toml);
  const SimParams& p = spec.params;
  const double pi[3] = {0.25, 0.25, 0.5};
  // initial defaults to the stationary distribution
  EXPECT_NEAR(p.initial_cdf[0], 0.25, 1e-6);
  EXPECT_NEAR(p.initial_cdf[1], 0.5, 1e-6);
  const int N = 4000;
  std::vector<double> frac[3];
  for (uint64_t i = 0; i < N; ++i) {
    sim::Setup su = sim::make_setup(p, 9, i);
    sim::Walker w;
    w.init(p, su, 9, i, p.steps(), nullptr, 0);
    w.reset_window();
    w.advance(p.steps());
    for (int k = 0; k < 3; ++k) frac[k].push_back(w.occ[k] / p.steps());
  }
  for (int k = 0; k < 3; ++k) {
    double m = 0, v = 0;
    for (double f : frac[k]) m += f;
    m /= N;
    for (double f : frac[k]) v += (f - m) * (f - m);
    v /= (N - 1);
    EXPECT_TRUE(within_z(m, pi[k], std::sqrt(v / N))) << "state " << k << ": " << m << " vs " << pi[k];
  }
}

TEST(Simulate, WeibullSigmaQuantiles) {
  auto b = run("[states]\nprior = \"weibull\"\nshape = 0.7\nscale = 1.0\nloc = 0.1\n", 100000, 3);
  const double N = double(b.n);
  for (double q : {0.05, 0.25, 0.5, 0.75, 0.95}) {
    double xq = 0.1 + std::pow(-std::log(1 - q), 1 / 0.7);
    double below = 0;
    for (float s : b.state_sigma) below += s <= xq;
    EXPECT_TRUE(within_z(below / N, q, std::sqrt(q * (1 - q) / N))) << "quantile " << q << ": " << below / N;
  }
  // traj_sigma of a one-state trajectory is its sigma.
  for (int r = 0; r < 100; ++r) EXPECT_NEAR(b.traj_sigma[r], b.state_sigma[r], 1e-5 * b.state_sigma[r]);
}

TEST(Simulate, OtherPriorsStayInTheirRange) {
  auto u = run("[states]\nprior = \"uniform\"\ncount = 2\nlow = 2.0\nhigh = 4.0\n", 20000);
  auto l = run("[states]\nprior = \"loguniform\"\nlow = 0.1\nhigh = 10.0\n", 20000);
  double below3 = 0, below1 = 0;
  for (float s : u.state_sigma) {
    ASSERT_GE(s, 2.0f);
    ASSERT_LE(s, 4.0f);
    below3 += s < 3.0f;
  }
  for (float s : l.state_sigma) {
    ASSERT_GE(s, 0.1f * 0.9999f);
    ASSERT_LE(s, 10.0f * 1.0001f);
    below1 += s < 1.0f;  // log-uniform: half the mass below the geometric mean 1
  }
  EXPECT_TRUE(within_z(below3 / 40000, 0.5, std::sqrt(0.25 / 40000)));
  EXPECT_TRUE(within_z(below1 / 20000, 0.5, std::sqrt(0.25 / 20000)));
}

TEST(Simulate, UniformStartInTheBox) {
  auto b = run("length = 2\ndims = 3\n[start]\nlow = -5.0\nhigh = 15.0\n[states]\nsigma = [1.0]\n", 30000);
  const int bins = 10;
  double h[bins] = {};
  for (int64_t r = 0; r < b.n; ++r)
    for (int d = 0; d < 3; ++d) {
      float x = b.positions[(r * 2) * 3 + d];
      ASSERT_GE(x, -5.0f);
      ASSERT_LT(x, 15.0f);
      h[std::min(bins - 1, int((x + 5) / 2))] += 1;
    }
  const double n = 3.0 * b.n;
  for (int i = 0; i < bins; ++i) EXPECT_TRUE(within_z(h[i] / n, 0.1, std::sqrt(0.09 / n))) << "bin " << i;
}

TEST(Simulate, ExactBlendVarianceInTheSwitchStep) {
  // One switch at t = 50.3: step 50 spends f = 0.3 in the old state.
  auto b = run("length = 101\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"single\"\ntime = 50.3\n", 40000);
  double sum = 0;
  for (int64_t r = 0; r < b.n; ++r) {
    ASSERT_EQ(b.n_switches[r], 1);
    ASSERT_FLOAT_EQ(b.switch_times[r * 32], 50.3f);
    int k0 = b.initial_state[r];
    double s0 = k0 ? 10 : 1, s1 = k0 ? 1 : 10;
    double expect = std::sqrt(0.3 * s0 * s0 + 0.7 * s1 * s1);
    ASSERT_NEAR(b.step_sigma[r * 100 + 50], expect, 1e-5 * expect);
    ASSERT_FLOAT_EQ(b.step_sigma[r * 100 + 49], float(s0));
    ASSERT_FLOAT_EQ(b.step_sigma[r * 100 + 51], float(s1));
    ASSERT_EQ(b.step_state[r * 100 + 50], 1 - k0);  // 70 % of the step in the new state
    double z = dx(b, r, 50) / expect;
    sum += z * z;
  }
  EXPECT_TRUE(chi2_ok(sum, double(b.n))) << sum / b.n;
}

TEST(Simulate, SeveralSwitchesInOneStepIntegrateTheVariance) {
  // Poisson rate 3 per step: most steps hold several switches; the step variance is the
  // time-weighted mean of the states' variances, so it lies between the extremes, and the labels'
  // variance identity holds: increments normalised by the step sigma are chi-square.
  auto b = run("length = 201\n[states]\nsigma = [1.0, 5.0]\n[switching]\nmodel = \"poisson\"\nrate = 3.0\n", 2000);
  double sum = 0, n = 0, mixed = 0;
  for (int64_t r = 0; r < b.n; ++r)
    for (int j = 0; j < 200; ++j) {
      float s = b.step_sigma[r * 200 + j];
      ASSERT_GE(s, 1.0f - 1e-6f);
      ASSERT_LE(s, 5.0f + 1e-5f);
      mixed += (s > 1.0001f && s < 4.9999f);
      double z = dx(b, r, j) / s;
      sum += z * z;
      n += 1;
    }
  EXPECT_GT(mixed / n, 0.9);
  EXPECT_TRUE(chi2_ok(sum, n)) << sum / n;
}

TEST(Simulate, ReportCodeBlendMixesStandardDeviations) {
  auto b = run("length = 101\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"single\"\ntime = 50.3\n"
               "blend = \"report_code\"\n", 100);
  for (int64_t r = 0; r < b.n; ++r) {
    int k0 = b.initial_state[r];
    double s0 = k0 ? 10 : 1, s1 = k0 ? 1 : 10;
    EXPECT_NEAR(b.step_sigma[r * 100 + 50], 0.7 * s0 + 0.3 * s1, 1e-5 * 10);
  }
}

TEST(Simulate, LocalizationNoiseVariance) {
  // var(dx) = sigma^2 + 2 s^2 for independent noise of std s on each position.
  auto b = run("length = 101\n[states]\nsigma = [1.0]\n[noise]\nlocalization = 0.5\n", 3000);
  double sum = 0, n = 0, lag1 = 0;
  for (int64_t r = 0; r < b.n; ++r)
    for (int j = 0; j < 100; j += 2) {  // every other step: non-overlapping, independent increments
      double z = dx(b, r, j);
      sum += z * z / 1.5;
      n += 1;
      if (j + 1 < 100) lag1 += z * dx(b, r, j + 1);
    }
  EXPECT_TRUE(chi2_ok(sum, n)) << sum / n;
  // lag-1 covariance -s^2 = -0.25; std of the product is sqrt(1.5^2 + 2 * 0.25^2) = 1.54, widened to 2 for the weak correlation between neighbouring pairs.
  EXPECT_TRUE(within_z(lag1 / n, -0.25, 2.0 / std::sqrt(n))) << lag1 / n;
}

TEST(Simulate, ExposureBlurGivesTheExactDiscreteVariance) {
  // Exposure e = 1 with M = 4 substeps: position i is the trapezoid mean of the path at
  // i, i+1/4, ..., i+1. Displacement A_{i+1} - A_i = sum_k c_k * (substep increment k); with unit
  // variance per step each substep increment has variance 1/M, so var = sum_k c_k^2 / M.
  const int M = 4, m = 4;
  std::vector<double> w(m + 1, 1.0 / m);
  w[0] = w[m] = 0.5 / m;
  // Increment k (k = 0..2M-1 covering [k/M, (k+1)/M) from frame i) enters A_i with weight
  // sum_{j >= k+1} w_j (j <= m) and A_{i+1} with sum_{j: M + j >= k+1} w_j.
  double var = 0;
  for (int k = 0; k < 2 * M; ++k) {
    double in_a = 0, in_b = 0;
    for (int j = 0; j <= m; ++j) {
      if (j >= k + 1) in_a += w[j];
      if (M + j >= k + 1) in_b += w[j];
    }
    var += (in_b - in_a) * (in_b - in_a) / M;
  }
  EXPECT_NEAR(var, 1 - 1.0 / 3, 0.02);  // the continuous-time motion-blur limit 1 - e/3
  auto b = run("length = 101\n[states]\nsigma = [1.0]\n[noise]\nexposure = 1.0\nsubsteps = 4\n", 3000);
  double sum = 0, n = 0;
  for (int64_t r = 0; r < b.n; ++r)
    for (int j = 0; j < 100; j += 2) {
      double z = dx(b, r, j);
      sum += z * z / var;
      n += 1;
    }
  EXPECT_TRUE(chi2_ok(sum, n)) << sum / n;
  EXPECT_FLOAT_EQ(b.step_sigma[7], 1.0f);
}

TEST(Simulate, SameSeedSameBytesOtherSeedOtherBytes) {
  const char* toml = "length = 300\ndims = 2\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.01\n"
                     "[noise]\nlocalization = 0.3\n";
  auto a = run(toml, 500, 42), b = run(toml, 500, 42), c = run(toml, 500, 43);
  EXPECT_EQ(0, std::memcmp(a.positions.data(), b.positions.data(), a.positions.size() * 4));
  EXPECT_EQ(a.step_state, b.step_state);
  EXPECT_EQ(a.n_switches, b.n_switches);
  EXPECT_NE(0, std::memcmp(a.positions.data(), c.positions.data(), a.positions.size() * 4));
}

TEST(Simulate, ChunksAndThreadCountsGiveIdenticalTrajectories) {
  for (const char* toml : {"length = 120\ndims = 3\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\n"
                           "rate = 0.05\n[noise]\nlocalization = 0.2\n",
                           "length = 60\n[states]\nprior = \"weibull\"\nshape = 0.7\n[noise]\nexposure = 0.5\n"}) {
    SimParams p = parse_spec(toml).params;
    TrajectoryBatch whole;
    simulate(p, 11, 0, 1000, Device::cpu(), whole);
    for (int64_t chunk : {1, 7, 333, 999}) {
      for (int64_t first = 0; first < (chunk == 1 ? 40 : 1000); first += chunk) {
        TrajectoryBatch part;
        int64_t n = std::min<int64_t>(chunk, 1000 - first);
        simulate(p, 11, first, n, Device::cpu(), part);
        const int64_t row = int64_t(p.length) * p.dims;
        ASSERT_EQ(0, std::memcmp(part.positions.data(), whole.positions.data() + first * row, n * row * 4))
            << "chunk " << chunk << " at " << first;
        ASSERT_EQ(0, std::memcmp(part.step_sigma.data(), whole.step_sigma.data() + first * p.steps(), n * p.steps() * 4));
        ASSERT_TRUE(std::equal(part.n_switches.begin(), part.n_switches.end(), whole.n_switches.begin() + first));
      }
    }
    int saved = omp_get_max_threads();
    for (int threads : {1, 3}) {
      omp_set_num_threads(threads);
      TrajectoryBatch t;
      simulate(p, 11, 0, 1000, Device::cpu(), t);
      EXPECT_EQ(0, std::memcmp(t.positions.data(), whole.positions.data(), t.positions.size() * 4)) << threads;
    }
    omp_set_num_threads(saved);
  }
}

TEST(Simulate, FirstIncrementsAreCuRandHostGeneratorNormals) {
  // Trajectory 0 with sigma = 1: its increments are the normals of cuRAND's host Philox4_32_10
  // generator seeded with the increment purpose's seed (the host generator's first 4 outputs come
  // from subsequence 0, i.e. trajectory 0).
  const uint64_t seed = 1234;
  auto b = run("length = 5\n[states]\nsigma = [1.0]\n", 1, seed);
  curandGenerator_t g;
  ASSERT_EQ(curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10), CURAND_STATUS_SUCCESS);
  curandSetPseudoRandomGeneratorSeed(g, sim::purpose_seed(seed, sim::kIncrement));
  float ref[4];
  ASSERT_EQ(curandGenerateNormal(g, ref, 4, 0.0f, 1.0f), CURAND_STATUS_SUCCESS);
  curandDestroyGenerator(g);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(dx(b, 0, j), ref[j], 2e-5) << "step " << j;  // float rounding of x_{j+1}-x_j at |x| ~ 50
}

TEST(Features, ShapesAndValues) {
  SimSpec spec = parse_spec("length = 5\ndims = 2\n[states]\nsigma = [1.0]\n");
  TrajectoryBatch b;
  simulate(spec.params, 1, 0, 3, Device::cpu(), b);
  FeatureSpec f;
  f.kind = FeatureKind::Displacements;
  auto d = compute_features(f, b.positions.data(), 3, 5, 2);
  ASSERT_EQ(d.size(), 3u * 4 * 2);
  EXPECT_FLOAT_EQ(d[(1 * 4 + 2) * 2 + 1], b.positions[(1 * 5 + 3) * 2 + 1] - b.positions[(1 * 5 + 2) * 2 + 1]);
  f.kind = FeatureKind::SquaredDisplacements;
  auto s = compute_features(f, b.positions.data(), 3, 5, 2);
  ASSERT_EQ(s.size(), 3u * 4);
  EXPECT_NEAR(s[4 + 2], d[(4 + 2) * 2] * d[(4 + 2) * 2] + d[(4 + 2) * 2 + 1] * d[(4 + 2) * 2 + 1], 1e-5);
  f.kind = FeatureKind::LogSquaredDisplacements;
  auto l = compute_features(f, b.positions.data(), 3, 5, 2);
  EXPECT_NEAR(l[5], std::log(s[5] + 1e-12f), 1e-5);
  f.kind = FeatureKind::Positions;
  f.mean_removal = true;
  auto pm = compute_features(f, b.positions.data(), 3, 5, 2);
  double m = 0;
  for (int t = 0; t < 5; ++t) m += pm[(2 * 5 + t) * 2 + 1];
  EXPECT_NEAR(m, 0.0, 1e-4);
  f.kind = FeatureKind::Displacements;
  auto dm = compute_features(f, b.positions.data(), 3, 5, 2);
  double md = 0;
  for (int t = 0; t < 4; ++t) md += dm[(0 * 4 + t) * 2];
  EXPECT_NEAR(md, 0.0, 1e-4);
}

// features.center: every channel's time mean taken off after the transform; log squared
// displacements of a track and of the track scaled by 7.5 (other units) are then the same.
TEST(Features, CenterTakesOffEachChannelsMeanAndTheTracksScale) {
  SimSpec spec = parse_spec("length = 50\ndims = 2\n[states]\nsigma = [0.3]\n[noise]\nlocalization = 0.1\n");
  TrajectoryBatch b;
  simulate(spec.params, 2, 0, 4, Device::cpu(), b);
  for (auto kind : {FeatureKind::Displacements, FeatureKind::LogSquaredDisplacements}) {
    FeatureSpec f;
    f.kind = kind;
    const auto raw = compute_features(f, b.positions.data(), 4, 50, 2);
    f.center = true;
    const auto cen = compute_features(f, b.positions.data(), 4, 50, 2);
    const int C = feature_channels(f, 2), T = 49;
    ASSERT_EQ(cen.size(), raw.size());
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < C; ++c) {
        double m = 0, mc = 0;
        for (int t = 0; t < T; ++t) m += raw[(r * T + t) * C + c], mc += cen[(r * T + t) * C + c];
        m /= T;
        EXPECT_NEAR(mc / T, 0.0, 1e-6) << feature_kind_name(kind);
        for (int t = 0; t < T; ++t)
          ASSERT_NEAR(cen[(r * T + t) * C + c], raw[(r * T + t) * C + c] - m, 1e-5) << feature_kind_name(kind);
      }
  }
  std::vector<float> scaled(b.positions);
  for (float& v : scaled) v *= 7.5f;
  FeatureSpec f;
  f.kind = FeatureKind::LogSquaredDisplacements;
  f.center = true;
  const auto a = compute_features(f, b.positions.data(), 4, 50, 2), s = compute_features(f, scaled.data(), 4, 50, 2);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], s[i], 1e-4) << i;  // float rounding of positions ~ 10
  f.center = false;
  const auto u = compute_features(f, b.positions.data(), 4, 50, 2);
  EXPECT_NEAR(compute_features(f, scaled.data(), 4, 50, 2)[0] - u[0], 2 * std::log(7.5), 1e-4);  // uncentered: shifted
  // mean_channel: channel 1 holds the mean centering took off, at every t (the track's scale).
  f.center = f.mean_channel = true;
  ASSERT_EQ(feature_channels(f, 2), 2);
  const auto m = compute_features(f, b.positions.data(), 4, 50, 2);
  ASSERT_EQ(m.size(), 2 * a.size());
  for (int r = 0; r < 4; ++r) {
    double mu = 0;
    for (int t = 0; t < 49; ++t) mu += u[r * 49 + t];
    mu /= 49;
    for (int t = 0; t < 49; ++t) {
      ASSERT_EQ(m[(r * 49 + t) * 2], a[r * 49 + t]);
      ASSERT_NEAR(m[(r * 49 + t) * 2 + 1], mu, 1e-5);
    }
  }
  // center_window: the mean at t over the W features nearest t, [t - (W-1)/2, t + W/2] clipped to
  // the track (W = 8 and 7 on 49 features; 200 covers the track at every t: the whole-track mean).
  for (int W : {8, 7, 200}) {
    f.center_window = W;
    const auto w = compute_features(f, b.positions.data(), 4, 50, 2);
    for (int r = 0; r < 4; ++r)
      for (int t = 0; t < 49; ++t) {
        const int lo = std::max(0, t - (W - 1) / 2), hi = std::min(49, t + W / 2 + 1);
        double mu = 0;
        for (int k = lo; k < hi; ++k) mu += u[r * 49 + k];
        mu /= hi - lo;
        ASSERT_NEAR(w[(r * 49 + t) * 2 + 1], mu, 1e-5) << W << " " << t;
        ASSERT_NEAR(w[(r * 49 + t) * 2], u[r * 49 + t] - mu, 1e-5) << W << " " << t;
      }
  }
  std::vector<float> head(b.positions.begin(), b.positions.begin() + 50 * 2);  // the first track
  for (int t = 40; t < 50; ++t) head[t * 2] += 30.0f;  // a jump late in the track leaves early windows alone
  f.center_window = 8;
  const auto w0 = compute_features(f, b.positions.data(), 1, 50, 2), w1 = compute_features(f, head.data(), 1, 50, 2);
  for (int t = 0; t < 30; ++t) EXPECT_EQ(w0[t * 2], w1[t * 2]) << t;
  // turning: one more channel, last, the cosine between displacements t - 1 and t (0 at t = 0),
  // uncentered, the same for the track scaled; the other channels as without it.
  const auto nt = compute_features(f, b.positions.data(), 4, 50, 2);  // window 8, no turning
  f.turning = true;
  ASSERT_EQ(feature_channels(f, 2), 3);
  const auto tw = compute_features(f, b.positions.data(), 4, 50, 2), ts = compute_features(f, scaled.data(), 4, 50, 2);
  ASSERT_EQ(tw.size(), 3 * a.size());
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < 49; ++t) {
      const float* p = &b.positions[size_t(r) * 50 * 2];
      double want = 0;
      if (t > 0) {
        const double ax = p[t * 2] - p[(t - 1) * 2], ay = p[t * 2 + 1] - p[(t - 1) * 2 + 1];
        const double bx = p[(t + 1) * 2] - p[t * 2], by = p[(t + 1) * 2 + 1] - p[t * 2 + 1];
        want = (ax * bx + ay * by) / std::sqrt((ax * ax + ay * ay) * (bx * bx + by * by));
      }
      ASSERT_NEAR(tw[(r * 49 + t) * 3 + 2], want, 1e-5) << t;
      ASSERT_NEAR(ts[(r * 49 + t) * 3 + 2], want, 1e-4) << t;
      ASSERT_EQ(tw[(r * 49 + t) * 3], nt[(r * 49 + t) * 2]);
      ASSERT_EQ(tw[(r * 49 + t) * 3 + 1], nt[(r * 49 + t) * 2 + 1]);
    }
}

namespace {
uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* c = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}
template <class V>
uint64_t fnv_vec(const V& v, uint64_t h) {
  return fnv1a(v.data(), v.size() * sizeof(v[0]), h);
}
uint64_t batch_hash(const TrajectoryBatch& b) {
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv_vec(b.positions, h);
  h = fnv_vec(b.step_sigma, h);
  h = fnv_vec(b.step_state, h);
  h = fnv_vec(b.state_sigma, h);
  h = fnv_vec(b.traj_sigma, h);
  h = fnv_vec(b.n_switches, h);
  h = fnv_vec(b.switch_times, h);
  h = fnv_vec(b.initial_state, h);
  return h;
}
}  // namespace

// Specs written before the per-trajectory ranges (states.D_ratio, states.order, noise and rate
// ranges) existed keep their exact bytes: the hashes below were taken from the simulator before
// those keys were added (CPU backend; this platform's libm). A change to the stream of any
// existing key fails here.
TEST(Simulate, ExistingSpecsKeepTheirBytes) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"length = 50\ndims = 2\n[states]\nsigma = [0.5, 2.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.05\n"
       "[noise]\nlocalization = 0.2\n", 0x17caec2e15babfacull},
      {"length = 40\n[states]\nprior = \"weibull\"\ncount = 2\nshape = 0.7\n[switching]\nmodel = \"single\"\n", 0x2e074a93fda6f1f5ull},
      {"length = 40\ndims = 3\n[states]\nprior = \"loguniform\"\ncount = 3\nlow = 0.1\nhigh = 5.0\n"
       "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.1, 0.05, 0.05], [0.02, -0.04, 0.02], [0.1, 0.1, -0.2]]\n", 0xdda3ed6614c2469cull},
      {"length = 30\n[states]\nprior = \"uniform\"\ncount = 2\nlow = 0.0\nhigh = 3.0\n[switching]\nmodel = \"markov\"\n"
       "transition_matrix = [[0.9, 0.1], [0.2, 0.8]]\n", 0x0538b662e73a3e54ull},
      {"length = 60\ndims = 2\n[states]\nsigma = [0.28, 1.25]\ninitial = \"stationary\"\n[switching]\nmodel = \"markov\"\n"
       "rate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\n[noise]\nlocalization = 0.15\nexposure = 0.5\n", 0x652c5b34d6d5963bull},
      {"length = 30\n[states]\nsigma = [1.0, 3.0]\n[switching]\nmodel = \"single\"\ntime_min = 5\ntime_max = 20\n"
       "probability = 0.5\nblend = \"report_code\"\n", 0xea2b0ade6e4d485dull},
  };
  for (const auto& c : cases) {
    auto b = run(c.first, 300, 5);
    EXPECT_EQ(batch_hash(b), c.second) << c.first;
  }
}

namespace {
// Kolmogorov-Smirnov statistic sqrt(n) * sup|F_n - F| of values against the uniform law on [0, 1].
// P(sqrt(n) D_n > 2.8) <= 2 exp(-2 * 2.8^2) = 3.1e-7 (the Dvoretzky-Kiefer-Wolfowitz bound, exact for
// every n), so each check below fails a correct generator with probability under 1e-6.
double ks_uniform(std::vector<double> u) {
  std::sort(u.begin(), u.end());
  const double n = double(u.size());
  double d = 0;
  for (size_t i = 0; i < u.size(); ++i) d = std::max({d, (i + 1) / n - u[i], u[i] - i / n});
  return std::sqrt(n) * d;
}
constexpr double kKs = 2.8;
}  // namespace

TEST(Simulate, AscendingOrderSortsEachTrajectorysDrawnSigmas) {
  const std::string base = "length = 10\n[states]\nprior = \"loguniform\"\ncount = 3\nlow = 0.1\nhigh = 10.0\n";
  auto a = run(base, 5000, 9), s = run(base + "order = \"ascending\"\n", 5000, 9);
  int unsorted = 0;
  for (int64_t r = 0; r < 5000; ++r) {
    std::vector<float> v(a.state_sigma.begin() + r * 3, a.state_sigma.begin() + r * 3 + 3), w = v;
    std::sort(w.begin(), w.end());
    unsorted += v != w;
    for (int k = 0; k < 3; ++k) ASSERT_EQ(s.state_sigma[r * 3 + k], w[k]) << r;  // the same draws, sorted
  }
  EXPECT_GT(unsorted, 4000);  // 5/6 of unordered draws are out of order
  EXPECT_EQ(a.initial_state, s.initial_state);
}

TEST(Simulate, DRatioBuildsEachStateFromThePrevious) {
  const std::string base = "length = 10\n[states]\nprior = \"loguniform\"\ncount = 3\nlow = 0.1\nhigh = 1.0\n";
  auto a = run(base, 20000, 4), b = run(base + "D_ratio = [3.0, 30.0]\n", 20000, 4);
  const double lo = std::log(std::sqrt(3.0)), hi = std::log(std::sqrt(30.0));
  std::vector<double> u1, u2;
  for (int64_t r = 0; r < 20000; ++r) {
    const float* s = &b.state_sigma[r * 3];
    ASSERT_EQ(s[0], a.state_sigma[r * 3]);  // state 0 keeps its prior draw
    for (int k = 1; k < 3; ++k) {
      const double lr = std::log(double(s[k]) / s[k - 1]);
      ASSERT_GE(lr, lo - 1e-6);
      ASSERT_LE(lr, hi + 1e-6);
      (k == 1 ? u1 : u2).push_back(std::clamp((lr - lo) / (hi - lo), 0.0, 1.0));
    }
  }
  EXPECT_LT(ks_uniform(u1), kKs);  // log of the sigma ratio uniform: the D ratio is log-uniform in [3, 30]
  EXPECT_LT(ks_uniform(u2), kKs);
}

TEST(Simulate, NoiseExposureAndRateDrawsFollowTheirRanges) {
  const SimParams p = parse_spec(
      "length = 10\n[states]\nprior = \"loguniform\"\ncount = 2\nlow = 0.1\nhigh = 1.0\nD_ratio = [3.0, 30.0]\n"
      "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\nrate_factor = [0.316, 3.16]\n"
      "[noise]\nlocalization_range = [0.05, 0.3]\nexposure_range = [0.1, 1.0]\n").params;
  const SimParams q = parse_spec(
      "length = 10\n[states]\nsigma = [1.0]\n[noise]\nlocalization_range = [0.02, 0.5]\nlocalization_prior = \"loguniform\"\n")
                          .params;
  const int n = 20000;
  std::vector<double> un, ue, ur, uq;
  for (int i = 0; i < n; ++i) {
    sim::Setup s = sim::make_setup(p, 21, uint64_t(i));
    ASSERT_EQ(s.noise, sim::trajectory_noise(p, 21, uint64_t(i)));  // the position kernels read the same noise
    ASSERT_TRUE(s.noise >= 0.05f && s.noise <= 0.3f) << s.noise;
    ASSERT_TRUE(s.exposure >= 0.1f && s.exposure <= 1.0f) << s.exposure;
    ASSERT_TRUE(s.rate_factor >= 0.316f * 0.9999f && s.rate_factor <= 3.16f * 1.0001f) << s.rate_factor;
    un.push_back((s.noise - 0.05) / 0.25);
    ue.push_back((s.exposure - 0.1) / 0.9);
    ur.push_back(std::clamp(std::log(s.rate_factor / 0.316) / std::log(10.0), 0.0, 1.0));
    sim::Setup t = sim::make_setup(q, 21, uint64_t(i));
    ASSERT_TRUE(t.noise >= 0.02f * 0.9999f && t.noise <= 0.5f * 1.0001f) << t.noise;
    uq.push_back(std::clamp(std::log(t.noise / 0.02) / std::log(25.0), 0.0, 1.0));
  }
  EXPECT_LT(ks_uniform(un), kKs);  // noise uniform
  EXPECT_LT(ks_uniform(ue), kKs);  // exposure uniform
  EXPECT_LT(ks_uniform(ur), kKs);  // rate factor log-uniform
  EXPECT_LT(ks_uniform(uq), kKs);  // noise log-uniform
  // Different draws are independent: the correlation of noise and exposure is 0 +- 5.5 / sqrt(n).
  double c = 0;
  for (int i = 0; i < n; ++i) c += (un[i] - 0.5) * (ue[i] - 0.5) * 12.0 / n;
  EXPECT_TRUE(within_z(c, 0.0, 1.0 / std::sqrt(double(n)))) << c;
}

// A range of one value is that fixed value, applied where the fixed key is: the trajectories are
// identical to the fixed spec's (a factor of 2 on the rates is exact in float32), which checks that
// the simulator uses the per-trajectory noise, exposure and rate factor everywhere.
TEST(Simulate, DegenerateRangesEqualTheFixedValues) {
  const std::string st = "length = 80\ndims = 2\n[states]\nsigma = [0.3, 1.2]\n";
  const std::pair<std::string, std::string> cases[] = {
      {st + "[noise]\nlocalization = 0.2\n", st + "[noise]\nlocalization_range = [0.2, 0.2]\n"},
      {st + "[noise]\nlocalization = 0.2\nexposure = 0.5\n",
       st + "[noise]\nlocalization_range = [0.2, 0.2]\nexposure_range = [0.5, 0.5]\n"},
      {st + "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.04, 0.04], [0.1, -0.1]]\n",
       st + "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\nrate_factor = [2.0, 2.0]\n"},
      {st + "[switching]\nmodel = \"poisson\"\nrate = 0.06\n[noise]\nexposure = 0.7\n",
       st + "[switching]\nmodel = \"poisson\"\nrate = 0.03\nrate_factor = [2.0, 2.0]\n[noise]\nexposure_range = [0.7, 0.7]\n"},
  };
  for (const auto& c : cases) {
    auto a = run(c.first, 400, 8), b = run(c.second, 400, 8);
    EXPECT_EQ(batch_hash(a), batch_hash(b)) << c.second;
    EXPECT_GT(*std::max_element(a.n_switches.begin(), a.n_switches.end()) + (c.first.find("noise") != std::string::npos), 0);
  }
  // A real range changes the trajectories (the check above can fail).
  EXPECT_NE(batch_hash(run(st + "[noise]\nlocalization_range = [0.1, 0.3]\n", 400, 8)),
            batch_hash(run(st + "[noise]\nlocalization = 0.2\n", 400, 8)));
}

// Per-trajectory noise reaches the positions: for a single state without blur the lag-1
// autocovariance of displacements is -noise^2, so sum_j dx_j dx_{j+1} / (S - 1) averaged over
// trajectories is -E[noise^2]; for noise uniform in [0.1, 0.5], E[noise^2] = (0.5^3 - 0.1^3) / (3 * 0.4).
TEST(Simulate, PerTrajectoryNoiseHasItsMeanSquare) {
  auto b = run("length = 201\n[states]\nsigma = [0.2]\n[noise]\nlocalization_range = [0.1, 0.5]\n", 4000, 13);
  const int S = 200;
  double sum = 0, sum2 = 0;
  for (int64_t r = 0; r < 4000; ++r) {
    double c = 0;
    for (int j = 0; j + 1 < S; ++j) c += dx(b, r, j) * dx(b, r, j + 1);
    c /= S - 1;
    sum += c;
    sum2 += c * c;
  }
  const double m = sum / 4000, se = std::sqrt((sum2 / 4000 - m * m) / 4000);
  const double expect = -(0.125 - 0.001) / 1.2;
  EXPECT_TRUE(within_z(m, expect, se)) << m << " vs " << expect << " se " << se;
  EXPECT_LT(se, 0.01);  // tight enough that a fixed noise of 0.3 (-0.09) or 0.5 (-0.25) would fail
}

// The batch keeps the noise, exposure and rate factor each trajectory was made with: the setup's
// draws (labels and blurred paths), each inside its range and not one value repeated; the spec's
// fixed values where it has no range. All N = 2000 draws equal would need 1999 float32 coincidences
// of continuous draws, each of probability under 1e-6 (the uniform's 2^-32 grid mapped onto at
// least 2^-24 of the range): the "not all equal" checks fail falsely with probability < 1e-6.
TEST(Simulate, BatchKeepsTheDrawnNoiseExposureAndRateFactor) {
  const std::string ranges =
      "length = 20\ndims = 2\n[states]\nprior = \"loguniform\"\ncount = 2\nlow = 0.15\nhigh = 0.6\n"
      "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\nrate_factor = [0.316, 3.16]\n"
      "[noise]\nlocalization_range = [0.05, 0.3]\n";
  for (const std::string& toml : {ranges, ranges + "exposure_range = [0.1, 1.0]\n"}) {
    auto b = run(toml, 2000, 6);
    const bool blur = b.params.blurred();
    ASSERT_EQ(b.localization.size(), 2000u);
    ASSERT_EQ(b.exposure.size(), 2000u);
    ASSERT_EQ(b.rate_factor.size(), 2000u);
    for (int64_t r = 0; r < b.n; ++r) {
      const sim::Setup s = sim::make_setup(b.params, 6, uint64_t(r));
      ASSERT_EQ(b.localization[r], s.noise) << r;
      ASSERT_EQ(b.exposure[r], s.exposure) << r;
      ASSERT_EQ(b.rate_factor[r], s.rate_factor) << r;
      ASSERT_TRUE(b.localization[r] >= 0.05f && b.localization[r] <= 0.3f) << b.localization[r];
      ASSERT_TRUE(blur ? b.exposure[r] >= 0.1f && b.exposure[r] <= 1.0f : b.exposure[r] == 0.0f) << b.exposure[r];
      ASSERT_TRUE(b.rate_factor[r] >= 0.316f * 0.9999f && b.rate_factor[r] <= 3.16f * 1.0001f) << b.rate_factor[r];
    }
    auto spread = [](const std::vector<float>& v) { return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end()); };
    EXPECT_GT(spread(b.localization), 0.0f) << toml;
    EXPECT_GT(spread(b.rate_factor), 0.0f) << toml;
    if (blur) {
      EXPECT_GT(spread(b.exposure), 0.0f);
    }
  }
  const std::string st = "length = 20\n[states]\nsigma = [0.3, 1.2]\n[switching]\nmodel = \"poisson\"\nrate = 0.1\n";
  const struct {
    std::string toml;
    float noise, exposure;
  } fixed[] = {{st, 0.0f, 0.0f}, {st + "[noise]\nlocalization = 0.2\n", 0.2f, 0.0f},
               {st + "[noise]\nlocalization = 0.2\nexposure = 0.5\n", 0.2f, 0.5f}};
  for (const auto& c : fixed) {
    auto b = run(c.toml, 50, 6);
    EXPECT_EQ(b.localization, std::vector<float>(50, c.noise)) << c.toml;
    EXPECT_EQ(b.exposure, std::vector<float>(50, c.exposure)) << c.toml;
    EXPECT_EQ(b.rate_factor, std::vector<float>(50, 1.0f)) << c.toml;
  }
}

// The saved noise is the one in the positions: for one state without blur, trajectory r's lag-1
// autocovariance estimate c_r = sum_j dx_j dx_{j+1} / (S - 1) has mean exactly -noise_r^2, so the
// least-squares slope of -c_r on the saved localization^2 is 1 (0 if the saved values belonged to
// other trajectories). The bound |slope - 1| < 0.2 is checked to be at least kZ = 5.5 standard errors
// (heteroscedasticity-robust, normal over 2000 trajectories): false failure probability < 1e-7.
TEST(Simulate, SavedNoiseMatchesThePositionsLag1Covariance) {
  auto b = run("length = 201\n[states]\nsigma = [0.2]\n[noise]\nlocalization_range = [0.1, 0.5]\n", 2000, 17);
  const int S = 200;
  const int64_t n = b.n;
  std::vector<double> x(n), y(n);
  double mx = 0, my = 0;
  for (int64_t r = 0; r < n; ++r) {
    double c = 0;
    for (int j = 0; j + 1 < S; ++j) c += dx(b, r, j) * dx(b, r, j + 1);
    x[r] = double(b.localization[r]) * b.localization[r];
    y[r] = -c / (S - 1);
    mx += x[r] / n;
    my += y[r] / n;
  }
  double sxx = 0, sxy = 0;
  for (int64_t r = 0; r < n; ++r) {
    sxx += (x[r] - mx) * (x[r] - mx);
    sxy += (x[r] - mx) * (y[r] - my);
  }
  const double slope = sxy / sxx;
  double v = 0;  // White's variance of the slope: sum (x - mx)^2 e^2 / sxx^2
  for (int64_t r = 0; r < n; ++r) {
    const double e = y[r] - my - slope * (x[r] - mx);
    v += (x[r] - mx) * (x[r] - mx) * e * e;
  }
  const double se = std::sqrt(v) / sxx;
  EXPECT_LT(std::abs(slope - 1.0), 0.2) << "slope " << slope << " se " << se;
  EXPECT_LT(test::kZ * se, 0.2) << se;
}
