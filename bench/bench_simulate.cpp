// Simulator throughput: N switching trajectories (states sigma 1 and 10, Poisson rate 0.01 per
// step, as ../shared/peers/numpy_peer.py generates) on the CPU with all OpenMP threads, and on the
// GPU (into device memory, never the host) when one answers, against a device-to-device copy of
// the same bytes. Prints one JSON line per device.
//
//   bench_simulate --n 1000000 --steps 1000 [--chunk 100000] [--repeat 3] [--device cpu|cuda|all]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "sptrain/sim.hpp"
#ifdef SPTRAIN_HAVE_CUDA
#include "cuda/device_buffer.hpp"
#include "simulate.cuh"
#include "simulate_launch.hpp"
#endif

using namespace sptrain;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// Bytes a batch writes: positions (the peer's output) and all outputs (positions plus labels).
struct Bytes {
  double positions, all;
};
Bytes bytes_of(const SimParams& p, double n) {
  const double S = p.steps();
  double pos = n * p.length * p.dims * 4.0;
  double labels = n * (S * 4 + S * 1 + p.n_states * 4 + 4 + 4 + p.max_switch_times * 4 + 4);
  return {pos, pos + labels};
}

void bench_cpu(const SimParams& p, int64_t n, int64_t chunk, int repeat) {
  TrajectoryBatch b;
  simulate(p, 0, 0, std::min(chunk, n), Device::cpu(), b);  // warm-up: first touch of the buffers
  double best = 1e30;
  for (int rep = 0; rep < repeat; ++rep) {
    auto t0 = clk::now();
    for (int64_t first = 0; first < n; first += chunk) simulate(p, 1 + rep, first, std::min(chunk, n - first), Device::cpu(), b);
    best = std::min(best, seconds_since(t0));
  }
  Bytes by = bytes_of(p, double(n));
  std::printf("{\"device\": \"cpu\", \"threads\": %d, \"n\": %lld, \"steps\": %d, \"seconds\": %.4f, "
              "\"trajectories_per_s\": %.1f, \"positions_gb_per_s\": %.4f, \"all_outputs_gb_per_s\": %.4f}\n",
              omp_get_max_threads(), (long long)n, p.steps(), best, n / best, by.positions / best / 1e9, by.all / best / 1e9);
}

#ifdef SPTRAIN_HAVE_CUDA
void bench_cuda(const SimParams& p, int64_t n, int64_t chunk, int repeat) {
  if (list_gpus().empty()) {
    std::printf("{\"device\": \"cuda\", \"skipped\": \"no CUDA device\"}\n");
    return;
  }
  SPTRAIN_CUDA_CHECK(cudaSetDevice(0));
  const int64_t S = p.steps(), rows = std::min(chunk, n);
  cuda::DeviceBuffer<float> pos(rows * p.length * p.dims), sig(rows * S), ssig(rows * p.n_states), tsig(rows),
      times(rows * p.max_switch_times);
  cuda::DeviceBuffer<uint8_t> st(rows * S);
  cuda::DeviceBuffer<int32_t> nsw(rows), init(rows);
  sim::Outputs o{pos.data(), sig.data(), st.data(), ssig.data(), tsig.data(), nsw.data(), times.data(), init.data()};
  cudaEvent_t e0, e1;
  SPTRAIN_CUDA_CHECK(cudaEventCreate(&e0));
  SPTRAIN_CUDA_CHECK(cudaEventCreate(&e1));
  sim::launch_simulate(p, 0, 0, rows, o, nullptr);  // warm-up
  SPTRAIN_CUDA_CHECK(cudaDeviceSynchronize());
  float best = 1e30f;
  for (int rep = 0; rep < repeat; ++rep) {
    SPTRAIN_CUDA_CHECK(cudaEventRecord(e0));
    for (int64_t first = 0; first < n; first += chunk)
      sim::launch_simulate(p, 1 + rep, first, std::min(chunk, n - first), o, nullptr);
    SPTRAIN_CUDA_CHECK(cudaEventRecord(e1));
    SPTRAIN_CUDA_CHECK(cudaEventSynchronize(e1));
    SPTRAIN_CUDA_CHECK(cudaGetLastError());
    float ms = 0;
    SPTRAIN_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    best = std::min(best, ms);
  }
  // Copy bandwidth: device-to-device copy of the same number of written bytes (read + write).
  Bytes by = bytes_of(p, double(n));
  const size_t copy_bytes = size_t(bytes_of(p, double(rows)).all);
  cuda::DeviceBuffer<char> a(copy_bytes), c(copy_bytes);
  SPTRAIN_CUDA_CHECK(cudaMemcpy(c.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice));
  float copy_best = 1e30f;
  for (int rep = 0; rep < repeat; ++rep) {
    SPTRAIN_CUDA_CHECK(cudaEventRecord(e0));
    SPTRAIN_CUDA_CHECK(cudaMemcpy(c.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice));
    SPTRAIN_CUDA_CHECK(cudaEventRecord(e1));
    SPTRAIN_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    SPTRAIN_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    copy_best = std::min(copy_best, ms);
  }
  const double s = best / 1e3, copy_gbs = copy_bytes / (copy_best / 1e3) / 1e9;  // bytes written per second
  std::printf("{\"device\": \"cuda\", \"gpu\": \"%s\", \"n\": %lld, \"steps\": %d, \"seconds\": %.4f, "
              "\"trajectories_per_s\": %.1f, \"positions_gb_per_s\": %.3f, \"all_outputs_gb_per_s\": %.3f, "
              "\"d2d_copy_write_gb_per_s\": %.3f, \"fraction_of_copy\": %.3f}\n",
              list_gpus()[0].name.c_str(), (long long)n, p.steps(), s, n / s, by.positions / s / 1e9, by.all / s / 1e9,
              copy_gbs, by.all / s / 1e9 / copy_gbs);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000, chunk = 100000;
  int steps = 1000, repeat = 3;
  std::string device = "all";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--n") n = std::stoll(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--chunk") chunk = std::stoll(v);
    else if (k == "--repeat") repeat = std::stoi(v);
    else if (k == "--device") device = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  try {
    SimParams p = parse_spec("length = " + std::to_string(steps + 1) +
                             "\n[states]\nsigma = [1.0, 10.0]\n[switching]\nmodel = \"poisson\"\nrate = 0.01\n")
                      .params;
    if (device == "cpu" || device == "all") bench_cpu(p, n, chunk, repeat);
#ifdef SPTRAIN_HAVE_CUDA
    if (device == "cuda" || device == "all") bench_cuda(p, n, chunk, repeat);
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
