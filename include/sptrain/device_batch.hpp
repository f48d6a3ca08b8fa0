// A generated batch left in the memory of a device (GPU memory on a CUDA device), for handing to
// other libraries without a copy: the Python package's DLPack arrays (sptrain.simulate(...,
// arrays="dlpack")). The same arrays, shapes and bytes as a TrajectoryBatch (sptrain/sim.hpp) of
// the same (spec, seed, first) on that device, plus the features.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/device.hpp"
#include "sptrain/sim.hpp"

namespace sptrain {

struct DeviceArray {
  enum class Type { F32, U8, I32 };
  std::string name;  // as in the labels NPZ: positions, step_state, ..., and features
  std::vector<int64_t> shape;
  Type type = Type::F32;
  const void* data = nullptr;  // in the backend's memory
};

struct DeviceBatch {
  std::shared_ptr<Backend> backend;  // declared first: outlives the buffers below
  std::vector<Buffer<float>> f32;
  std::vector<Buffer<uint8_t>> u8;
  std::vector<Buffer<int32_t>> i32;
  std::vector<DeviceArray> arrays;  // views of the buffers, in a fixed order
  const DeviceArray& at(const std::string& name) const;  // throws std::out_of_range
};

// Trajectories first..first+n-1 of `seed` generated in dev's memory, with the spec's features when
// with_features; complete when it returns. Throws UsageError for n < 1, first < 0, or a device
// this build lacks.
DeviceBatch simulate_to_device(const SimSpec& spec, uint64_t seed, int64_t first, int64_t n, const Device& dev,
                               bool with_features);

}  // namespace sptrain
