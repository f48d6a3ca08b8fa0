// A small generator of tracked 2-state switching diffusion for the fit tests: the state chain
// and the motion run on the frame grid (state z_f over frame interval f, transition matrix
// exp(Q) per frame), positions are observed with Gaussian localization noise, and frames other
// than the first and last are dropped at random (gaps).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "sptrain/baselines.hpp"

namespace sptrain::test {

struct SimTrack {
  std::vector<float> positions;   // [n, dims] observed
  std::vector<std::int64_t> frames;
  std::vector<int> state;         // per kept displacement: the state over its first frame interval
  std::vector<int> frame_state;   // per frame interval
};

struct SimModel {
  std::vector<double> sigma2;     // diffusive variance per frame and dimension, per state
  std::vector<double> Q;          // generator per frame (K x K)
  double loc2 = 0;                // localization variance per dimension
  double drop = 0;                // probability that an inner frame is missing
  int dims = 2;
};

inline SimTrack simulate_track(std::mt19937_64& rng, const SimModel& m, int frames_total,
                               std::int64_t first_frame = 0) {
  const int K = static_cast<int>(m.sigma2.size());
  const auto P = baselines::generator_transition(m.Q, K);
  const auto pi = baselines::stationary_distribution(P, K);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> u;
  std::discrete_distribution<int> first(pi.begin(), pi.end());
  std::vector<std::discrete_distribution<int>> next;
  for (int i = 0; i < K; ++i) next.emplace_back(P.begin() + i * K, P.begin() + (i + 1) * K);
  SimTrack t;
  std::vector<double> x(m.dims, 0.0);
  int z = first(rng);
  for (int f = 0; f < frames_total; ++f) {
    if (f > 0) {
      for (int d = 0; d < m.dims; ++d) x[d] += std::sqrt(m.sigma2[z]) * normal(rng);
      z = next[z](rng);
    }
    if (f + 1 < frames_total) t.frame_state.push_back(z);
    const bool keep = f == 0 || f + 1 == frames_total || u(rng) >= m.drop;
    if (!keep) continue;
    if (!t.frames.empty()) t.state.push_back(t.frame_state[t.frames.back() - first_frame]);
    t.frames.push_back(first_frame + f);
    for (int d = 0; d < m.dims; ++d)
      t.positions.push_back(static_cast<float>(x[d] + std::sqrt(m.loc2) * normal(rng)));
  }
  return t;
}

}  // namespace sptrain::test
