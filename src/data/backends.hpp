// Internal: the per-backend entry points behind the public simulate()/compute_features().
#pragma once
#include <cstdint>

#include "sptrain/features.hpp"
#include "sptrain/sim.hpp"

namespace sptrain::backend {

void simulate_cpu(const SimParams& p, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& out);
void features_cpu(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out);

#ifdef SPTRAIN_HAVE_CUDA
void simulate_cuda(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out);
void features_cuda(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out, int ordinal);
#endif

}  // namespace sptrain::backend
