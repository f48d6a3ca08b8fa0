// CUDA launchers for the trajectory simulator: thin kernels over the bodies in simulate.cuh.
//   simulate_labels_kernel  one thread per trajectory: setup, state path, labels, step sigmas
//   positions_kernel        one warp per trajectory: increments, warp scan, coalesced writes, noise
//   simulate_blurred_kernel one thread per trajectory: the whole blurred path (sequential substeps)
#include <cuda_runtime.h>

#include "simulate.cuh"
#include "simulate_launch.hpp"

namespace sptrain::sim {

namespace {

// `offset` (device memory, may be null) is added to `first`: a captured CUDA graph replays the
// launch with the trajectory index the training step has reached.
__device__ inline uint64_t first_index(uint64_t first, const uint64_t* offset) { return offset ? first + *offset : first; }

__global__ void simulate_labels_kernel(SimParams p, uint64_t seed, uint64_t first, const uint64_t* offset, int64_t n,
                                       Outputs o) {
  first = first_index(first, offset);
  SPTRAIN_GRID_STRIDE(r, n)
    simulate_labels(p, seed, first + r, r, o);
}

__global__ void simulate_blurred_kernel(SimParams p, uint64_t seed, uint64_t first, const uint64_t* offset, int64_t n,
                                        Outputs o) {
  first = first_index(first, offset);
  SPTRAIN_GRID_STRIDE(r, n)
    simulate_blurred(p, seed, first + r, r, o);
}

// Warp w of the grid integrates trajectory r = w: lanes take 32 consecutive steps at a time,
// an inclusive warp scan turns increments into positions, and lane 31 carries the sum forward.
__global__ void positions_kernel(SimParams p, uint64_t seed, uint64_t first, const uint64_t* offset, int64_t n,
                                 Outputs o) {
  first = first_index(first, offset);
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  const int D = p.dims, S = p.steps();
  const rng::PhiloxKey key_inc = rng::philox_key(purpose_seed(seed, kIncrement));
  const rng::PhiloxKey key_noise = rng::philox_key(purpose_seed(seed, kNoise));
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < n; r += warps) {
    const uint64_t index = first + r;
    float* pos = o.positions + r * int64_t(p.length) * D;
    const float* sig = o.step_sigma + r * int64_t(S);
    const float noise = trajectory_noise(p, seed, index);
    float carry[3];
    for (int d = 0; d < D; ++d) carry[d] = pos[d];  // start position written by the labels kernel
    __syncwarp();
    if (lane == 0 && noise > 0)
      for (int d = 0; d < D; ++d) pos[d] = carry[d] + noise_at(key_noise, index, D, 0, d, noise);
    for (int base = 0; base < S; base += 32) {
      const int j = base + lane;
      const bool live = j < S;
      const float s = live ? sig[j] : 0.0f;
      for (int d = 0; d < D; ++d) {
        float x = live ? increment_at(key_inc, index, D, j, d, s) : 0.0f;
        for (int off = 1; off < 32; off <<= 1) {
          float y = __shfl_up_sync(0xffffffffu, x, off);
          if (lane >= off) x += y;
        }
        float xj = carry[d] + x;
        if (live) {
          float out = xj;
          if (noise > 0) out += noise_at(key_noise, index, D, j + 1, d, noise);
          pos[int64_t(j + 1) * D + d] = out;
        }
        carry[d] = __shfl_sync(0xffffffffu, xj, 31);
      }
    }
  }
}

}  // namespace

void launch_simulate(const SimParams& p, uint64_t seed, uint64_t first, int64_t n, const Outputs& o,
                     cudaStream_t stream, const uint64_t* first_offset) {
  if (n <= 0) return;
  const int block = 128;
  if (p.blurred()) {
    simulate_blurred_kernel<<<grid_blocks(n, block), block, 0, stream>>>(p, seed, first, first_offset, n, o);
    return;
  }
  simulate_labels_kernel<<<grid_blocks(n, block), block, 0, stream>>>(p, seed, first, first_offset, n, o);
  positions_kernel<<<grid_blocks(n * 32, 256), 256, 0, stream>>>(p, seed, first, first_offset, n, o);
}

}  // namespace sptrain::sim
