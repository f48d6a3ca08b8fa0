// Per-element bodies of the feature transforms (sptrain/features.hpp), shared by the CPU loop in
// src/data/features.cpp and the CUDA kernels in kernels/features.cu.
//   pos  (L, D) one trajectory's positions;  mean (D) its per-axis offset to remove (zeros if none)
#pragma once
#include <sptrain/features.hpp>

#include "common.cuh"

namespace sptrain::feat {

// Per-axis mean to subtract: the centroid for positions, the mean displacement (drift) otherwise.
SPTRAIN_HD inline void trajectory_mean(const FeatureSpec& f, const float* pos, int L, int D, float* mean) {
  for (int d = 0; d < D; ++d) {
    if (!f.mean_removal) {
      mean[d] = 0.0f;
    } else if (f.kind == FeatureKind::Positions) {
      double s = 0;
      for (int t = 0; t < L; ++t) s += pos[t * D + d];
      mean[d] = float(s / L);
    } else {
      mean[d] = (pos[(L - 1) * D + d] - pos[d]) / float(L - 1);
    }
  }
}

// Feature (t, c) of one trajectory.
SPTRAIN_HD inline float feature_at(const FeatureSpec& f, const float* pos, const float* mean, int D, int t, int c) {
  switch (f.kind) {
    case FeatureKind::Positions: return pos[t * D + c] - mean[c];
    case FeatureKind::Displacements: return pos[(t + 1) * D + c] - pos[t * D + c] - mean[c];
    default: {
      float s = 0;
      for (int d = 0; d < D && d < 3; ++d) {  // D <= 3 (SimParams::dims)
        float dx = pos[(t + 1) * D + d] - pos[t * D + d] - mean[d];
        s += dx * dx;
      }
      return f.kind == FeatureKind::SquaredDisplacements ? s : logf(s + f.log_eps);
    }
  }
}

// FeatureSpec::center: one trajectory's (T, C) features, the transform's in channels [0, Cb),
// minus their time mean per channel, the mean summed in double in time order; with mean_channel
// (C = 2 Cb) channel Cb + c holds channel c's mean at every t.
SPTRAIN_HD inline void center_channels(float* o, int T, int C, int Cb) {
  for (int c = 0; c < Cb; ++c) {
    double s = 0;
    for (int t = 0; t < T; ++t) s += o[t * C + c];
    const float m = float(s / T);
    for (int t = 0; t < T; ++t) o[t * C + c] -= m;
    if (C > Cb)
      for (int t = 0; t < T; ++t) o[t * C + Cb + c] = m;
  }
}

}  // namespace sptrain::feat
