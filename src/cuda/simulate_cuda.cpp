// CUDA backend of the simulator and feature transforms: device buffers, launch, copy back.
#include <cuda_runtime_api.h>

#include "data/backends.hpp"
#include "cuda/device_buffer.hpp"
#include "features_launch.hpp"
#include "simulate.cuh"
#include "simulate_launch.hpp"

namespace sptrain::backend {

namespace {
template <class T>
void fetch(const cuda::DeviceBuffer<T>& d, std::vector<T>& h) {
  d.download(h.data(), h.size());
}
}  // namespace

void simulate_cuda(const SimParams& p, uint64_t seed, int64_t first, int64_t n, int ordinal, TrajectoryBatch& out) {
  SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal));
  cuda::DeviceBuffer<float> pos(out.positions.size(), "positions"), sig(out.step_sigma.size(), "step sigma"),
      ssig(out.state_sigma.size(), "state sigma"), tsig(out.traj_sigma.size(), "trajectory sigma"),
      times(out.switch_times.size(), "switch times"), loc(out.localization.size(), "localization noise"),
      expo(out.exposure.size(), "exposures"), rate(out.rate_factor.size(), "rate factors");
  cuda::DeviceBuffer<uint8_t> st(out.step_state.size(), "step states");
  cuda::DeviceBuffer<int32_t> nsw(out.n_switches.size(), "switch counts"), init(out.initial_state.size(), "initial states");
  sim::Outputs o{pos.data(),   sig.data(),   st.data(),   ssig.data(), tsig.data(), nsw.data(),
                 times.data(), init.data(), loc.data(), expo.data(), rate.data()};
  sim::launch_simulate(p, seed, uint64_t(first), n, o, nullptr);
  SPTRAIN_CUDA_CHECK(cudaGetLastError());
  SPTRAIN_CUDA_CHECK(cudaDeviceSynchronize());
  fetch(pos, out.positions);
  fetch(sig, out.step_sigma);
  fetch(st, out.step_state);
  fetch(ssig, out.state_sigma);
  fetch(tsig, out.traj_sigma);
  fetch(nsw, out.n_switches);
  fetch(times, out.switch_times);
  fetch(init, out.initial_state);
  fetch(loc, out.localization);
  fetch(expo, out.exposure);
  fetch(rate, out.rate_factor);
}

void simulate_cuda_to(const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n, int ordinal,
                      const sim::Outputs& o, float* feats, void* stream) {
  SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal));
  const auto st = static_cast<cudaStream_t>(stream);
  sim::launch_simulate(p, seed, uint64_t(first), n, o, st);
  SPTRAIN_CUDA_CHECK(cudaGetLastError());
  if (feats) {
    cuda::DeviceBuffer<float> means(size_t(n) * 3, "feature means");
    feat::launch_features(f, o.positions, n, p.length, p.dims, means.data(), feats, st);
    SPTRAIN_CUDA_CHECK(cudaGetLastError());
    SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(st));  // before `means` goes
  }
}

void features_cuda(const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out,
                   int ordinal) {
  SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal));
  const size_t out_n = size_t(n) * feature_length(f, length) * feature_channels(f, dims);
  cuda::DeviceBuffer<float> pos(size_t(n) * length * dims, "positions"), means(size_t(n) * 3, "feature means"),
      o(out_n, "features");
  pos.upload(positions, pos.size());
  feat::launch_features(f, pos.data(), n, length, dims, means.data(), o.data(), nullptr);
  SPTRAIN_CUDA_CHECK(cudaGetLastError());
  SPTRAIN_CUDA_CHECK(cudaDeviceSynchronize());
  o.download(out, out_n);
}

}  // namespace sptrain::backend
