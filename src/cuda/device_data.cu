// The CUDA batch source: simulate (kernels/simulate.cu), transform (kernels/features.cu) and label
// (kernels/targets.cuh) a micro-batch on the backend's stream, straight into the model's input and
// target buffers. The next trajectory index lives in device memory and a one-thread kernel advances
// it, so the whole micro-batch can be captured in a CUDA graph and replayed step after step.
#include <cuda_runtime.h>

#include <stdexcept>

#include "engine/batch_source.hpp"
#include "cuda/check.hpp"
#include "cuda/device_buffer.hpp"
#include "features_launch.hpp"
#include "simulate.cuh"
#include "simulate_launch.hpp"
#include "sptrain/backend.hpp"
#include "targets.cuh"

namespace sptrain::cuda {

namespace {

__global__ void targets_kernel(int32_t kind, int outs, int steps, int max_times, int64_t n, const float* traj_sigma,
                               const int32_t* n_switches, const float* switch_times, const int32_t* initial_state,
                               float* y) {
  SPTRAIN_GRID_STRIDE(r, n)
    ops::target_row(kind, outs, steps, traj_sigma[r], n_switches[r], max_times > 0 ? switch_times[r * max_times] : 0.0f,
                    initial_state[r], y + r * outs);
}

// Per-step labels: one thread per (trajectory, step).
__global__ void step_targets_kernel(int outs, int steps, int64_t n, const uint8_t* step_state, float* y) {
  SPTRAIN_GRID_STRIDE(i, n * steps)
    ops::step_target_row(outs, 1, step_state + i, y + i * outs);
}

__global__ void advance_kernel(uint64_t* counter, uint64_t by) { ops::advance_index(counter, by); }

class DeviceBatchSource final : public BatchSource {
 public:
  DeviceBatchSource(const SimParams& p, const FeatureSpec& f, int label, int outs, uint64_t seed, cudaStream_t stream,
                    int64_t max_m)
      : p_(p), f_(f), label_(label), outs_(outs), seed_(seed), stream_(stream), max_m_(max_m) {
    const size_t n = size_t(max_m), S = size_t(p.steps()), L = size_t(p.length), D = size_t(p.dims);
    pos_ = DeviceBuffer<float>(n * L * D, "batch positions");
    step_sigma_ = DeviceBuffer<float>(n * S, "batch step sigmas");
    step_state_ = DeviceBuffer<uint8_t>(n * S, "batch step states");
    state_sigma_ = DeviceBuffer<float>(n * size_t(p.n_states), "batch state sigmas");
    traj_sigma_ = DeviceBuffer<float>(n, "batch trajectory sigmas");
    n_switches_ = DeviceBuffer<int32_t>(n, "batch switch counts");
    switch_times_ = DeviceBuffer<float>(n * size_t(p.max_switch_times), "batch switch times");
    initial_state_ = DeviceBuffer<int32_t>(n, "batch initial states");
    means_ = DeviceBuffer<float>(n * 3, "batch feature means");
    counter_ = DeviceBuffer<uint64_t>(1, "batch trajectory counter");
  }

  void set_first(int64_t first) override {
    host_counter_ = uint64_t(first);
    SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(counter_.data(), &host_counter_, sizeof(uint64_t), cudaMemcpyHostToDevice, stream_));
    SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));  // host_counter_ is pageable and reused
  }

  void next(int64_t m, float* x, float* y) override {
    if (m > max_m_) throw std::invalid_argument("batch source: micro-batch larger than allocated");
    const SimParams& p = p_;
    // The drawn noise, exposure and rate factor are no targets: left null, not written.
    sim::Outputs o{pos_.data(),         step_sigma_.data(),   step_state_.data(),   state_sigma_.data(),
                   traj_sigma_.data(),  n_switches_.data(),   switch_times_.data(), initial_state_.data(),
                   nullptr,             nullptr,              nullptr};
    sim::launch_simulate(p, seed_, 0, m, o, stream_, counter_.data());
    SPTRAIN_CUDA_CHECK(cudaPeekAtLastError());
    feat::launch_features(f_, pos_.data(), m, p.length, p.dims, means_.data(), x, stream_);
    SPTRAIN_CUDA_CHECK(cudaPeekAtLastError());
    if (label_ == ops::kTargetStepState)
      step_targets_kernel<<<grid_blocks(m * p.steps(), 256), 256, 0, stream_>>>(outs_, p.steps(), m,
                                                                                step_state_.data(), y);
    else
      targets_kernel<<<grid_blocks(m, 128), 128, 0, stream_>>>(int32_t(label_), outs_, p.steps(),
                                                              p.max_switch_times, m, traj_sigma_.data(),
                                                              n_switches_.data(), switch_times_.data(),
                                                              initial_state_.data(), y);
    SPTRAIN_CUDA_CHECK(cudaPeekAtLastError());
    advance_kernel<<<1, 1, 0, stream_>>>(counter_.data(), uint64_t(m));
    SPTRAIN_CUDA_CHECK(cudaPeekAtLastError());
  }

 private:
  SimParams p_;
  FeatureSpec f_;
  int label_, outs_;
  uint64_t seed_;
  cudaStream_t stream_;
  int64_t max_m_;
  uint64_t host_counter_ = 0;
  DeviceBuffer<float> pos_, step_sigma_, state_sigma_, traj_sigma_, switch_times_, means_;
  DeviceBuffer<uint8_t> step_state_;
  DeviceBuffer<int32_t> n_switches_, initial_state_;
  DeviceBuffer<uint64_t> counter_;
};

}  // namespace

std::unique_ptr<BatchSource> make_device_batch_source(const SimParams& p, const FeatureSpec& f, int label, int outs,
                                                      uint64_t seed, Backend& be, int64_t max_m) {
  // The backend's own stream, so the batch is made in order with the step that consumes it.
  void* stream = be.native_stream();
  if (!be.device().is_cuda() || !stream) throw std::invalid_argument("the device batch source needs the CUDA backend");
  SPTRAIN_CUDA_CHECK(cudaSetDevice(be.device().ordinal));
  return std::make_unique<DeviceBatchSource>(p, f, label, outs, seed, static_cast<cudaStream_t>(stream), max_m);
}

}  // namespace sptrain::cuda
