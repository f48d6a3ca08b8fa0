// Host-side entry point of the CUDA feature transforms (kernels/features.cu). Host-only header.
#pragma once
#include <cuda_runtime_api.h>

#include <sptrain/features.hpp>

namespace sptrain::feat {
// pos: device (N, L, D); means: device scratch (N, 3); out: device (N, T, C). Asynchronous.
void launch_features(const FeatureSpec& f, const float* pos, int64_t n, int L, int D, float* means, float* out,
                     cudaStream_t stream);
}  // namespace sptrain::feat
