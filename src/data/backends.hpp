// Internal: the per-device entry points behind the public simulate() and compute_features(),
// reached through device_functions() (src/engine/make_backend.cpp, the one place that knows which
// devices this build has).
#pragma once
#include <cstdint>

#include "sptrain/device.hpp"
#include "sptrain/features.hpp"
#include "sptrain/sim.hpp"

namespace sptrain::sim {
struct Outputs;
}

namespace sptrain::backend {

void simulate_cpu(const SimParams& p, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& out);
void features_cpu(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out);

// Into arrays of the device's memory that the caller allocated (o: every simulator output;
// feats: (n, T, C) or null for none), asynchronously on `stream` (the device backend's
// native_stream(); null on the CPU), for simulate_to_device().
void simulate_cpu_to(const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n,
                     const sim::Outputs& o, float* feats);

#ifdef SPTRAIN_HAVE_CUDA
void simulate_cuda_to(const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n, int ordinal,
                      const sim::Outputs& o, float* feats, void* stream);
void simulate_cuda(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out);
void features_cuda(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out, int ordinal);
#endif

// Simulation and features on one device (ordinal: which GPU; ignored on the CPU).
struct DeviceFunctions {
  void (*simulate)(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out);
  void (*features)(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out,
                   int ordinal);
  void (*simulate_to)(const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n, int ordinal,
                      const sim::Outputs& o, float* feats, void* stream);
};
// Throws UsageError for a device this build does not have.
const DeviceFunctions& device_functions(const Device& dev);

}  // namespace sptrain::backend
