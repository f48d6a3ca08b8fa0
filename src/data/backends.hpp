// Internal: the per-device entry points behind the public simulate() and compute_features(),
// reached through device_functions() (src/engine/make_backend.cpp, the one place that knows which
// devices this build has).
#pragma once
#include <cstdint>

#include "sptrain/device.hpp"
#include "sptrain/features.hpp"
#include "sptrain/sim.hpp"

namespace sptrain::backend {

void simulate_cpu(const SimParams& p, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& out);
void features_cpu(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out);

#ifdef SPTRAIN_HAVE_CUDA
void simulate_cuda(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out);
void features_cuda(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out, int ordinal);
#endif

// Simulation and features on one device (ordinal: which GPU; ignored on the CPU).
struct DeviceFunctions {
  void (*simulate)(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out);
  void (*features)(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out,
                   int ordinal);
};
// Throws UsageError for a device this build does not have.
const DeviceFunctions& device_functions(const Device& dev);

}  // namespace sptrain::backend
