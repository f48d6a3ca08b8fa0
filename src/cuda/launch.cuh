// Launch helpers of the CUDA backend's kernels (src/cuda/ops_*.cu): the block size, the grid for a
// grid-stride loop over n items and the launch check. The loop itself is SPTRAIN_GRID_STRIDE
// (kernels/hd.cuh).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "cuda/check.hpp"
#include "hd.cuh"

namespace sptrain::cuda {

constexpr int kThreads = 256;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of kThreads for a grid-stride loop over n items.
inline unsigned grid_for(int64_t n) { return unsigned(grid_blocks(n, kThreads)); }

inline void check_launch() { SPTRAIN_CUDA_CHECK(cudaPeekAtLastError()); }

}  // namespace sptrain::cuda
