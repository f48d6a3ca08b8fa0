// CUDA launchers for the feature transforms: one thread per trajectory computes its mean, then a
// grid-stride loop over every (trajectory, t, c) element applies feature_at (features.cuh); with
// FeatureSpec::center one thread per trajectory then takes off its channel means.
#include <cuda_runtime.h>

#include "features.cuh"
#include "features_launch.hpp"

namespace sptrain::feat {
namespace {

__global__ void means_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, float* means) {
  SPTRAIN_GRID_STRIDE(r, n)
    trajectory_mean(f, pos + r * int64_t(L) * D, L, D, means + r * 3);
}

// Channels [0, Cb) of every (trajectory, t); channels [Cb, C) (mean_channel) are center_kernel's.
__global__ void features_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, int T, int C, int Cb,
                                const float* means, float* out) {
  SPTRAIN_GRID_STRIDE(i, n * T * Cb) {
    const int64_t r = i / (int64_t(T) * Cb);
    const int rem = int(i - r * T * Cb), t = rem / Cb, c = rem - t * Cb;
    out[(r * T + t) * C + c] = feature_at(f, pos + r * int64_t(L) * D, means + r * 3, D, t, c);
  }
}

__global__ void center_kernel(float* out, int64_t n, int T, int C, int Cb) {
  SPTRAIN_GRID_STRIDE(r, n)
    center_channels(out + r * int64_t(T) * C, T, C, Cb);
}

}  // namespace

void launch_features(const FeatureSpec& f, const float* pos, int64_t n, int L, int D, float* means, float* out,
                     cudaStream_t stream) {
  if (n <= 0) return;
  const int T = feature_length(f, L), C = feature_channels(f, D), Cb = transform_channels(f, D);
  means_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(f, pos, n, L, D, means);
  features_kernel<<<grid_blocks(n * T * Cb, 256), 256, 0, stream>>>(f, pos, n, L, D, T, C, Cb, means, out);
  if (f.center) center_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(out, n, T, C, Cb);
}

}  // namespace sptrain::feat
