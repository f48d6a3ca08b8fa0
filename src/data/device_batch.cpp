// simulate_to_device (sptrain/device_batch.hpp): the batch's arrays allocated on the device's
// backend and filled there by the device's simulator (the CPU's writes a host batch and copies it
// in, as host memory is the CPU backend's memory).
#include "sptrain/device_batch.hpp"

#include <cstring>
#include <stdexcept>

#include "data/backends.hpp"
#include "simulate.cuh"
#include "sptrain/error.hpp"
#include "sptrain/features.hpp"

namespace sptrain {

const DeviceArray& DeviceBatch::at(const std::string& name) const {
  for (const DeviceArray& a : arrays)
    if (a.name == name) return a;
  throw std::out_of_range("device batch: no array '" + name + "'");
}

namespace backend {
void simulate_cpu_to(const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n,
                     const sim::Outputs& o, float* feats) {
  TrajectoryBatch b;
  simulate(p, seed, first, n, Device::cpu(), b);
  auto put = [](auto* dst, const auto& v) {
    if (!v.empty()) std::memcpy(dst, v.data(), v.size() * sizeof(v[0]));
  };
  put(o.positions, b.positions);
  put(o.step_sigma, b.step_sigma);
  put(o.step_state, b.step_state);
  put(o.state_sigma, b.state_sigma);
  put(o.traj_sigma, b.traj_sigma);
  put(o.n_switches, b.n_switches);
  put(o.switch_times, b.switch_times);
  put(o.initial_state, b.initial_state);
  put(o.localization, b.localization);
  put(o.exposure, b.exposure);
  put(o.rate_factor, b.rate_factor);
  if (feats) put(feats, compute_features(f, b.positions.data(), n, p.length, p.dims));
}
}  // namespace backend

DeviceBatch simulate_to_device(const SimSpec& spec, uint64_t seed, int64_t first, int64_t n, const Device& dev,
                               bool with_features) {
  if (n < 1) throw UsageError("n: " + std::to_string(n) + " is not positive (number of trajectories >= 1)");
  if (first < 0) throw UsageError("first_index: " + std::to_string(first) + " is negative");
  const SimParams& p = spec.params;
  const auto& fns = backend::device_functions(dev);  // refuses a device this build lacks
  DeviceBatch d;
  d.backend = make_backend(dev);
  Backend& be = *d.backend;
  const int64_t L = p.length, D = p.dims, S = p.steps(), K = p.n_states, C = p.max_switch_times;
  auto f32 = [&](const char* name, std::vector<int64_t> shape) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    float* ptr = d.f32.emplace_back(be.alloc<float>(size_t(count))).get();
    d.arrays.push_back({name, shape, DeviceArray::Type::F32, ptr});
    return ptr;
  };
  sim::Outputs o{};
  o.positions = f32("positions", {n, L, D});
  o.step_sigma = f32("step_sigma", {n, S});
  o.step_state = d.u8.emplace_back(be.alloc<uint8_t>(size_t(n * S))).get();
  d.arrays.push_back({"step_state", {n, S}, DeviceArray::Type::U8, o.step_state});
  o.state_sigma = f32("state_sigma", {n, K});
  o.traj_sigma = f32("sigma", {n});
  o.n_switches = d.i32.emplace_back(be.alloc<int32_t>(size_t(n))).get();
  d.arrays.push_back({"n_switches", {n}, DeviceArray::Type::I32, o.n_switches});
  o.switch_times = f32("switch_times", {n, C});
  o.initial_state = d.i32.emplace_back(be.alloc<int32_t>(size_t(n))).get();
  d.arrays.push_back({"initial_state", {n}, DeviceArray::Type::I32, o.initial_state});
  o.localization = f32("localization", {n});
  o.exposure = f32("exposure", {n});
  o.rate_factor = f32("rate_factor", {n});
  float* feats = with_features ? f32("features", {n, feature_length(spec.features, int(L)),
                                                  feature_channels(spec.features, int(D))})
                               : nullptr;
  fns.simulate_to(p, spec.features, seed, first, n, dev.ordinal, o, feats, be.native_stream());
  be.synchronize();
  return d;
}

}  // namespace sptrain
