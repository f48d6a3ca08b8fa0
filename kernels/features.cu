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

// Channels [0, Cb) of every (trajectory, t) and, with turning, channel C - 1 (element c = Cb of
// the E = Cb + 1 per step); the mean channels are center_kernel's.
__global__ void features_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, int T, int C, int Cb,
                                const float* means, float* out) {
  const int E = Cb + (f.turning ? 1 : 0);
  SPTRAIN_GRID_STRIDE(i, n * T * E) {
    const int64_t r = i / (int64_t(T) * E);
    const int rem = int(i - r * T * E), t = rem / E, c = rem - t * E;
    const float* p = pos + r * int64_t(L) * D;
    if (c < Cb) out[(r * T + t) * C + c] = feature_at(f, p, means + r * 3, D, t, c);
    else out[(r * T + t) * C + C - 1] = turning_at(p, means + r * 3, D, t);
  }
}

__global__ void center_kernel(FeatureSpec f, const float* pos, int64_t n, int L, int D, int T, int C, int Cb,
                              const float* means, float* out) {
  SPTRAIN_GRID_STRIDE(r, n)
    center_channels(f, pos + r * int64_t(L) * D, means + r * 3, D, out + r * int64_t(T) * C, T, C, Cb);
}

}  // namespace

void launch_features(const FeatureSpec& f, const float* pos, int64_t n, int L, int D, float* means, float* out,
                     cudaStream_t stream) {
  if (n <= 0) return;
  const int T = feature_length(f, L), C = feature_channels(f, D), Cb = transform_channels(f, D);
  means_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(f, pos, n, L, D, means);
  features_kernel<<<grid_blocks(n * T * (Cb + (f.turning ? 1 : 0)), 256), 256, 0, stream>>>(f, pos, n, L, D, T, C, Cb, means, out);
  if (f.center) center_kernel<<<grid_blocks(n, 128), 128, 0, stream>>>(f, pos, n, L, D, T, C, Cb, means, out);
}

}  // namespace sptrain::feat
