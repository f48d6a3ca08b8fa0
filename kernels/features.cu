// CUDA launchers for the feature transforms: one thread per trajectory computes its mean, then a
// grid-stride loop over every (trajectory, t, c) element applies feature_at (features.cuh).
#include <cuda_runtime.h>

#include "features.cuh"
#include "features_launch.hpp"

namespace sptrain::feat {
namespace {

__global__ void means_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, float* means) {
  SPTRAIN_GRID_STRIDE(r, n)
    trajectory_mean(f, pos + r * int64_t(L) * D, L, D, means + r * 3);
}

__global__ void features_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, int T, int C,
                                const float* means, float* out) {
  SPTRAIN_GRID_STRIDE(i, n * T * C) {
    const int64_t r = i / (int64_t(T) * C);
    const int rem = int(i - r * T * C), t = rem / C, c = rem - t * C;
    out[i] = feature_at(f, pos + r * int64_t(L) * D, means + r * 3, D, t, c);
  }
}

}  // namespace

void launch_features(const FeatureSpec& f, const float* pos, int64_t n, int L, int D, float* means, float* out,
                     cudaStream_t stream) {
  if (n <= 0) return;
  const int T = feature_length(f, L), C = feature_channels(f, D);
  means_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(f, pos, n, L, D, means);
  features_kernel<<<grid_blocks(n * T * C, 256), 256, 0, stream>>>(f, pos, n, L, D, T, C, means, out);
}

}  // namespace sptrain::feat
