// Model inputs computed from positions: (N, T, C) float32 arrays.
//   positions                 T = L,     C = D
//   displacements             T = L - 1, C = D
//   squared_displacements     T = L - 1, C = 1  (|dx|^2 summed over axes)
//   log_squared_displacements T = L - 1, C = 1  (log(|dx|^2 + eps))
// mean_removal subtracts each trajectory's time mean per channel (positions: the centroid;
// displacements: the drift) before the squared forms are taken. center subtracts each trajectory's
// time mean of every feature channel after the transform: on log_squared_displacements it makes
// the input the same for a track and the track scaled by any factor (positions in other units).
// mean_channel (with center) appends each channel's subtracted mean as one more channel, constant
// over t (C doubles): the track's scale beside its centered shape. center_window W > 0 takes the
// mean at t over the W features nearest t instead ([t - (W-1)/2, t + W/2], clipped to the track),
// so that the input at a step does not depend on the track's length once it is W or longer.
// turning (displacement kinds) appends, last, the cosine of the angle between displacement t - 1
// and displacement t (0 at t = 0 or where either is zero): it does not depend on the track's scale
// and carries the anticorrelation that localization noise puts between successive displacements.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sptrain/device.hpp"

namespace sptrain {

enum class FeatureKind : int32_t { Positions = 0, Displacements = 1, SquaredDisplacements = 2, LogSquaredDisplacements = 3 };

struct FeatureSpec {
  FeatureKind kind = FeatureKind::Displacements;
  bool mean_removal = false;
  float log_eps = 1e-12f;
  bool center = false;
  bool mean_channel = false;
  int32_t center_window = 0;  // 0: the whole track
  bool turning = false;
};

FeatureKind parse_feature_kind(const std::string& name);  // throws KeyError("features.kind", ...)
std::string feature_kind_name(FeatureKind k);
int feature_length(const FeatureSpec& f, int length);       // T
// C: the transform's channels, as many again with mean_channel, one more with turning.
int feature_channels(const FeatureSpec& f, int dims);
int transform_channels(const FeatureSpec& f, int dims);     // the transform's channels, before mean_channel

// positions: (N, L, D) on the host. Returns (N, T, C).
std::vector<float> compute_features(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims,
                                    const Device& dev = Device::cpu());

}  // namespace sptrain
