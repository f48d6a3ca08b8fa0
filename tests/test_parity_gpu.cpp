// CPU vs GPU parity of the simulator and feature transforms (ctest label `gpu`). Skips without a
// device. Tolerances are in parity_tolerances.hpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "parity_tolerances.hpp"
#include "sptrain/device.hpp"
#include "sptrain/sim.hpp"

using namespace sptrain;

namespace {
bool have_gpu() { return built_with_cuda() && !list_gpus().empty(); }

void compare(const std::string& toml, int64_t n, uint64_t seed, int64_t first) {
  SimParams p = parse_spec(toml).params;
  TrajectoryBatch c, g;
  simulate(p, seed, first, n, Device::cpu(), c);
  simulate(p, seed, first, n, Device::cuda(0), g);
  // Integer labels: identical except where rounding moved a switch across a step boundary.
  int64_t count_mismatch = 0, state_mismatch = 0;
  for (int64_t r = 0; r < n; ++r) count_mismatch += c.n_switches[r] != g.n_switches[r];
  for (size_t i = 0; i < c.step_state.size(); ++i) state_mismatch += c.step_state[i] != g.step_state[i];
  EXPECT_LE(count_mismatch, test::kMaxLabelFlips * n) << toml;
  EXPECT_LE(state_mismatch, test::kMaxLabelFlips * double(c.step_state.size())) << toml;
  EXPECT_EQ(c.initial_state, g.initial_state);
  // The parameters drawn per trajectory: the same uniforms through the devices' logf and expf.
  for (int64_t r = 0; r < n; ++r) {
    ASSERT_NEAR(c.localization[r], g.localization[r], test::kTransRel * c.localization[r]) << "trajectory " << r;
    ASSERT_NEAR(c.exposure[r], g.exposure[r], test::kTransRel * c.exposure[r]) << "trajectory " << r;
    ASSERT_NEAR(c.rate_factor[r], g.rate_factor[r], test::kTransRel * c.rate_factor[r]) << "trajectory " << r;
  }
  for (size_t i = 0; i < c.state_sigma.size(); ++i)
    ASSERT_NEAR(c.state_sigma[i], g.state_sigma[i], test::kTransRel * std::abs(c.state_sigma[i])) << i;
  // Per-step sigma: a step that holds a switch mixes the two states' variances by the fraction of
  // the step before the switch, and switch times are float sums of exponential waiting times whose
  // last bits differ between the CPU's and the GPU's logf; such steps get test::kSwitchTimeUlps ulps
  // of the trajectory length on that fraction. A step of one state keeps the tight tolerance.
  const int64_t per_traj = int64_t(c.step_sigma.size()) / n;
  const double dt_switch = test::kSwitchTimeUlps * std::numeric_limits<float>::epsilon() * double(p.length);
  for (size_t i = 0; i < c.step_sigma.size(); ++i) {
    const int64_t r = int64_t(i) / per_traj;
    const double a = c.step_sigma[i];
    double tol = test::kTransRel * std::abs(a) + 1e-6, lo = INFINITY, hi = 0;
    bool pure = false;
    for (int k = 0; k < p.n_states; ++k) {
      const double s = c.state_sigma[r * p.n_states + k];
      lo = std::min(lo, s);
      hi = std::max(hi, s);
      pure = pure || std::abs(a - s) <= tol;
    }
    if (!pure && a > 0) tol += (hi * hi - lo * lo) * dt_switch / (2 * a);
    ASSERT_NEAR(a, g.step_sigma[i], tol) << i << (pure ? " (one state)" : " (a switch inside the step)");
  }
  // Positions: the running sum accumulates per-step rounding (the GPU sums in warp-scan order).
  const int64_t L = p.length;
  for (int64_t r = 0; r < n; ++r) {
    if (c.n_switches[r] != g.n_switches[r]) continue;
    double scale = 0;
    for (int k = 0; k < p.n_states; ++k) scale = std::max(scale, double(c.state_sigma[r * p.n_states + k]));
    for (int64_t j = 0; j < L * p.dims; ++j) {
      double a = c.positions[r * L * p.dims + j], b = g.positions[r * L * p.dims + j];
      ASSERT_NEAR(a, b, test::position_tolerance(std::abs(a), scale, L)) << "trajectory " << r << " element " << j;
    }
  }
}
}  // namespace

TEST(ParityGpu, SimulatorMatchesCpu) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  compare("length = 1000\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.01\n", 3000, 5, 0);
  compare("length = 333\ndims = 3\n[states]\nprior = \"weibull\"\nshape = 0.7\nloc = 0.1\ncount = 3\n[switching]\n"
          "model = \"markov\"\nrate_matrix = [[-0.1, 0.05, 0.05], [0.1, -0.2, 0.1], [0.0, 0.3, -0.3]]\n"
          "[noise]\nlocalization = 0.3\n", 1000, 77, 123456789);
  compare("length = 200\ndims = 2\n[states]\nsigma = [1.0, 3.0]\n[switching]\nmodel = \"single\"\nprobability = 0.5\n"
          "[noise]\nexposure = 0.6\nsubsteps = 8\nlocalization = 0.1\n", 500, 9, 0);
  compare("length = 1000\ndt = 0.1\n[states]\nsigma = [0.31623, 3.1623]\n[switching]\nmodel = \"single\"\ntime = 500\n"
          "blend = \"report_code\"\n", 500, 1, 0);
  // Noise, exposure and switching rates drawn per trajectory (blurred: one thread per trajectory).
  const std::string drawn = "length = 200\ndims = 2\n[states]\nprior = \"loguniform\"\ncount = 2\nlow = 0.15\nhigh = 0.6\n"
                            "[switching]\nmodel = \"markov\"\nrate_matrix = [[-0.02, 0.02], [0.05, -0.05]]\n"
                            "rate_factor = [0.316, 3.16]\n[noise]\nlocalization_range = [0.05, 0.3]\n";
  compare(drawn, 1000, 3, 0);
  compare(drawn + "exposure_range = [0.1, 1.0]\n", 500, 4, 0);
}

TEST(ParityGpu, FeaturesMatchCpu) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  SimParams p = parse_spec("length = 100\ndims = 2\n[states]\nsigma = [1.0]\n").params;
  TrajectoryBatch b;
  simulate(p, 1, 0, 200, Device::cpu(), b);
  for (auto kind : {FeatureKind::Positions, FeatureKind::Displacements, FeatureKind::SquaredDisplacements,
                    FeatureKind::LogSquaredDisplacements})
    for (int v = 0; v < 10; ++v) {  // mean_removal off/on, x (plain, center, + mean_channel, + window 9, + turning)
      const bool mr = v & 1, centered = v >= 2, mean_channel = v >= 4, turning = v >= 8;
      if (turning && kind == FeatureKind::Positions) continue;
      FeatureSpec f{kind, mr, 1e-12f, centered, mean_channel, v >= 6 ? 9 : 0, turning};
      auto c = compute_features(f, b.positions.data(), b.n, p.length, p.dims, Device::cpu());
      auto g = compute_features(f, b.positions.data(), b.n, p.length, p.dims, Device::cuda(0));
      ASSERT_EQ(c.size(), g.size());
      for (size_t i = 0; i < c.size(); ++i)
        ASSERT_NEAR(c[i], g[i], test::kFeatureAbs + test::kTransRel * std::abs(c[i])) << feature_kind_name(kind) << " " << v << " " << i;
    }
}
