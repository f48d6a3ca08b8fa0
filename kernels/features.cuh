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

// FeatureSpec::turning at displacement t (t < L - 1): the cosine of the angle between the
// displacements t - 1 and t (after the drift removal of mean_removal), 0 at t = 0 or where either
// is zero. Products and norms in double.
SPTRAIN_HD inline float turning_at(const float* pos, const float* mean, int D, int t) {
  if (t == 0) return 0.0f;
  double dot = 0, a2 = 0, b2 = 0;
  for (int d = 0; d < D && d < 3; ++d) {
    const double a = double(pos[t * D + d] - pos[(t - 1) * D + d] - mean[d]);
    const double b = double(pos[(t + 1) * D + d] - pos[t * D + d] - mean[d]);
    dot += a * b;
    a2 += a * a;
    b2 += b * b;
  }
  return a2 > 0 && b2 > 0 ? float(dot / sqrt(a2 * b2)) : 0.0f;
}

// FeatureSpec::center on one trajectory: o (T, C) holds the transform's features in channels
// [0, Cb) (feature_at of pos and mean); each becomes itself minus its mean over the whole track
// (center_window 0) or over the window [t - (W-1)/2, t + W/2] clipped to [0, T); with
// mean_channel channel Cb + c holds that mean (a turning channel, last, is left as it is). Window sums run in double, the features
// that enter and leave them recomputed with feature_at, so o is updated in place in one pass.
SPTRAIN_HD inline void center_channels(const FeatureSpec& f, const float* pos, const float* mean, int D, float* o,
                                       int T, int C, int Cb) {
  const int W = f.center_window;
  const bool keep = f.mean_channel;
  for (int c = 0; c < Cb; ++c) {
    if (W <= 0 || W >= 2 * T) {  // the window covers the whole track at every t
      double s = 0;
      for (int t = 0; t < T; ++t) s += o[t * C + c];
      const float m = float(s / T);
      for (int t = 0; t < T; ++t) {
        o[t * C + c] -= m;
        if (keep) o[t * C + Cb + c] = m;
      }
      continue;
    }
    const int back = (W - 1) / 2, ahead = W / 2;
    double s = 0;  // sum of the features in [lo, hi)
    int lo = 0, hi = 0;
    for (int t = 0; t < T; ++t) {
      const int want_lo = t - back > 0 ? t - back : 0, want_hi = t + ahead + 1 < T ? t + ahead + 1 : T;
      for (; hi < want_hi; ++hi) s += feature_at(f, pos, mean, D, hi, c);
      for (; lo < want_lo; ++lo) s -= feature_at(f, pos, mean, D, lo, c);
      const float m = float(s / (hi - lo));
      o[t * C + c] -= m;
      if (keep) o[t * C + Cb + c] = m;
    }
  }
}

}  // namespace sptrain::feat
