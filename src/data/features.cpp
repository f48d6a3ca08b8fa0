// Feature transforms: names, shapes, the CPU loop and dispatch to CUDA.
#include <omp.h>

#include "data/backends.hpp"
#include "features.cuh"
#include "sptrain/error.hpp"

namespace sptrain {

FeatureKind parse_feature_kind(const std::string& name) {
  if (name == "positions") return FeatureKind::Positions;
  if (name == "displacements") return FeatureKind::Displacements;
  if (name == "squared_displacements") return FeatureKind::SquaredDisplacements;
  if (name == "log_squared_displacements") return FeatureKind::LogSquaredDisplacements;
  throw KeyError("features.kind", "'" + name + "' is not a feature",
                 "positions, displacements, squared_displacements or log_squared_displacements");
}

std::string feature_kind_name(FeatureKind k) {
  switch (k) {
    case FeatureKind::Positions: return "positions";
    case FeatureKind::Displacements: return "displacements";
    case FeatureKind::SquaredDisplacements: return "squared_displacements";
    case FeatureKind::LogSquaredDisplacements: return "log_squared_displacements";
  }
  return "?";
}

int feature_length(const FeatureSpec& f, int length) { return f.kind == FeatureKind::Positions ? length : length - 1; }

int transform_channels(const FeatureSpec& f, int dims) {
  return (f.kind == FeatureKind::Positions || f.kind == FeatureKind::Displacements) ? dims : 1;
}

int feature_channels(const FeatureSpec& f, int dims) {
  return transform_channels(f, dims) * (f.center && f.mean_channel ? 2 : 1) + (f.turning ? 1 : 0);
}

namespace backend {
void features_cpu(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out) {
  const int T = feature_length(f, length), C = feature_channels(f, dims), Cb = transform_channels(f, dims);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* pos = positions + r * int64_t(length) * dims;
    float mean[3] = {0, 0, 0};
    feat::trajectory_mean(f, pos, length, dims, mean);
    float* o = out + r * int64_t(T) * C;
    for (int t = 0; t < T; ++t) {
      for (int c = 0; c < Cb; ++c) o[t * C + c] = feat::feature_at(f, pos, mean, dims, t, c);
      if (f.turning) o[t * C + C - 1] = feat::turning_at(pos, mean, dims, t);
    }
    if (f.center) feat::center_channels(f, pos, mean, dims, o, T, C, Cb);
  }
}
}  // namespace backend

std::vector<float> compute_features(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims,
                                    const Device& dev) {
  std::vector<float> out(size_t(n) * feature_length(f, length) * feature_channels(f, dims));
  backend::device_functions(dev).features(f, positions, n, length, dims, out.data(), dev.ordinal);
  return out;
}

}  // namespace sptrain
