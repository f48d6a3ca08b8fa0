// CPU backend of the simulator: an OpenMP loop over trajectories calling the shared bodies in
// kernels/simulate.cuh. Unblurred trajectories take the fast path: labels and step sigmas first,
// then all increments of the trajectory from the vectorized normals_fill and a running sum.
#include <omp.h>

#include <vector>

#include "data/backends.hpp"
#include "simulate.cuh"

namespace sptrain::backend {

static sim::Outputs outputs_of(TrajectoryBatch& b) {
  return {b.positions.data(), b.step_sigma.data(), b.step_state.data(), b.state_sigma.data(),
          b.traj_sigma.data(), b.n_switches.data(), b.switch_times.data(), b.initial_state.data(),
          b.localization.data(), b.exposure.data(), b.rate_factor.data()};
}

void simulate_cpu(const SimParams& p, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& out) {
  const sim::Outputs o = outputs_of(out);
  const int D = p.dims, S = p.steps(), L = p.length;
  const rng::PhiloxKey key_inc = rng::philox_key(sim::purpose_seed(seed, sim::kIncrement));
  const rng::PhiloxKey key_noise = rng::philox_key(sim::purpose_seed(seed, sim::kNoise));
#pragma omp parallel
  {
    std::vector<float> z;
    if (!p.blurred()) z.resize(size_t(L) * D);
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < n; ++r) {
      const uint64_t index = uint64_t(first + r);
      if (p.blurred()) {
        sim::simulate_blurred(p, seed, index, r, o);
        continue;
      }
      sim::simulate_labels(p, seed, index, r, o);
      float* pos = o.positions + r * int64_t(L) * D;
      const float* sig = o.step_sigma + r * int64_t(S);
      rng::normals_fill(key_inc, index, 0, int64_t(S) * D, z.data());
      // Running sum kept in registers (x_{j+1} = x_j + sigma_j * z_j, contracted to an fma as on the GPU).
      if (D == 1) {
        float x = pos[0];
        for (int j = 0; j < S; ++j) pos[j + 1] = x = x + sig[j] * z[j];
      } else {
        float x[3] = {pos[0], D > 1 ? pos[1] : 0.0f, D > 2 ? pos[2] : 0.0f};
        for (int j = 0; j < S; ++j)
          for (int d = 0; d < D; ++d) pos[(j + 1) * D + d] = x[d] = x[d] + sig[j] * z[j * D + d];
      }
      const float noise = sim::trajectory_noise(p, seed, index);
      if (noise > 0) {
        rng::normals_fill(key_noise, index, 0, int64_t(L) * D, z.data());
        for (int64_t i = 0; i < int64_t(L) * D; ++i) pos[i] += noise * z[i];
      }
    }
  }
}

}  // namespace sptrain::backend
