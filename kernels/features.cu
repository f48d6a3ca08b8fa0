// CUDA launchers for the feature transforms: one thread per trajectory computes its mean, then a
// grid-stride loop over every (trajectory, t, c) element applies feature_at (features.cuh).
#include <cuda_runtime.h>

#include "features.cuh"
#include "features_launch.hpp"

namespace sptrain::feat {
namespace {

__global__ void means_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, float* means) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < n; r += int64_t(gridDim.x) * blockDim.x)
    trajectory_mean(f, pos + r * int64_t(L) * D, L, D, means + r * 3);
}

__global__ void features_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, int T, int C,
                                const float* means, float* out) {
  const int64_t total = n * T * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / (int64_t(T) * C);
    const int rem = int(i - r * T * C), t = rem / C, c = rem - t * C;
    out[i] = feature_at(f, pos + r * int64_t(L) * D, means + r * 3, D, t, c);
  }
}

}  // namespace

void launch_features(const FeatureSpec& f, const float* pos, int64_t n, int L, int D, float* means, float* out,
                     cudaStream_t stream) {
  if (n <= 0) return;
  const int T = f.kind == FeatureKind::Positions ? L : L - 1;
  const int C = (f.kind == FeatureKind::Positions || f.kind == FeatureKind::Displacements) ? D : 1;
  means_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(f, pos, n, L, D, means);
  features_kernel<<<grid_blocks(n * T * C, 256), 256, 0, stream>>>(f, pos, n, L, D, T, C, means, out);
}

}  // namespace sptrain::feat
