// simulate(): dispatch to the CPU or CUDA backend, batch storage and the printed summary.
#include <cmath>

#include "data/backends.hpp"
#include "sptrain/error.hpp"
#include "sptrain/sim.hpp"

namespace sptrain {

void TrajectoryBatch::resize(const SimParams& p, int64_t n_rows) {
  params = p;
  n = n_rows;
  const int64_t S = p.steps();
  positions.resize(n * p.length * p.dims);
  step_sigma.resize(n * S);
  step_state.resize(n * S);
  state_sigma.resize(n * p.n_states);
  traj_sigma.resize(n);
  n_switches.resize(n);
  switch_times.resize(n * p.max_switch_times);
  initial_state.resize(n);
  localization.resize(n);
  exposure.resize(n);
  rate_factor.resize(n);
}

int64_t TrajectoryBatch::bytes() const {
  return int64_t(positions.size() * 4 + step_sigma.size() * 4 + step_state.size() + state_sigma.size() * 4 +
                 traj_sigma.size() * 4 + n_switches.size() * 4 + switch_times.size() * 4 + initial_state.size() * 4 +
                 (localization.size() + exposure.size() + rate_factor.size()) * 4);
}

void simulate(const SimParams& p, uint64_t seed, int64_t first, int64_t n, const Device& dev, TrajectoryBatch& out) {
  if (n < 0 || first < 0) throw UsageError("simulate: negative trajectory count or index");
  out.resize(p, n);
  out.seed = seed;
  out.first = first;
  if (n == 0) return;
  backend::device_functions(dev).simulate(p, seed, first, n, dev.ordinal, out);
}

nlohmann::json summarize(const TrajectoryBatch& b) {
  const SimParams& p = b.params;
  const int K = p.n_states;
  const int64_t S = p.steps();
  // Per state: steps, mean sigma label, and the empirical variance of pure-state increments
  // (steps entirely in one state, i.e. sigma label equal to that state's sigma).
  std::vector<double> steps(K, 0), pure(K, 0), sum_sq(K, 0), sum_sig(K, 0);
  for (int64_t r = 0; r < b.n; ++r) {
    const float* pos = &b.positions[r * p.length * p.dims];
    for (int64_t j = 0; j < S; ++j) {
      int k = b.step_state[r * S + j];
      float s = b.step_sigma[r * S + j];
      steps[k] += 1;
      sum_sig[k] += s;
      if (s == b.state_sigma[r * K + k] && p.loc_noise == 0 && !p.blurred()) {
        double ss = 0;
        for (int d = 0; d < p.dims; ++d) {
          double dx = double(pos[(j + 1) * p.dims + d]) - pos[j * p.dims + d];
          ss += dx * dx / (double(s) * s);
        }
        pure[k] += p.dims;
        sum_sq[k] += ss;
      }
    }
  }
  nlohmann::json states = nlohmann::json::array();
  for (int k = 0; k < K; ++k) {
    nlohmann::json s = {{"state", k},
                        {"steps", steps[k]},
                        {"fraction", b.n ? steps[k] / double(b.n * S) : 0.0},
                        {"mean_step_sigma", steps[k] ? sum_sig[k] / steps[k] : NAN}};
    if (pure[k] > 0) s["normalized_increment_variance"] = sum_sq[k] / pure[k];  // 1 for a correct generator
    states.push_back(s);
  }
  double sw = 0, sw2 = 0, has = 0;
  for (int64_t r = 0; r < b.n; ++r) {
    sw += b.n_switches[r];
    sw2 += double(b.n_switches[r]) * b.n_switches[r];
    has += b.n_switches[r] > 0;
  }
  const double N = double(b.n);
  return {{"trajectories", b.n},
          {"length", p.length},
          {"dims", p.dims},
          {"states", states},
          {"switches", {{"mean", sw / N}, {"variance", N > 1 ? (sw2 - sw * sw / N) / (N - 1) : 0.0}, {"fraction_with_switch", has / N}}}};
}

}  // namespace sptrain
