// Host-side entry point of the CUDA simulator (defined in kernels/simulate.cu). Host-only header.
#pragma once
#include <cuda_runtime_api.h>

#include <sptrain/sim_params.hpp>

namespace sptrain::sim {
struct Outputs;
// Simulates trajectories first..first+n-1 into device arrays `o` (rows 0..n-1), asynchronously.
// When first_offset (device memory) is given, *first_offset is added to `first` at run time.
void launch_simulate(const SimParams& p, uint64_t seed, uint64_t first, int64_t n, const Outputs& o,
                     cudaStream_t stream, const uint64_t* first_offset = nullptr);
}  // namespace sptrain::sim
