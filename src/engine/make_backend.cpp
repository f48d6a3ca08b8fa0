// The one place that knows which devices this build has: make_backend (the training backend of a
// device), the per-device simulation and feature functions, and checks shared by both backends.
#include <memory>
#include <stdexcept>
#include <string>

#include "cpu/cpu_backend.hpp"
#ifdef SPTRAIN_HAVE_CUDA
#include "cuda/cuda_backend.hpp"
#endif
#include "data/backends.hpp"
#include "sptrain/backend.hpp"
#include "sptrain/error.hpp"

namespace sptrain {

void check_conv1d_desc(const Conv1dDesc& d) {
  if (d.N < 0 || d.T_in < 1 || d.C_in < 1 || d.T_out < 1 || d.F < 1 || d.K < 1 || d.stride < 1 || d.dilation < 1 ||
      d.pad_left < 0)
    throw std::invalid_argument("conv1d: bad descriptor N=" + std::to_string(d.N) + " T_in=" + std::to_string(d.T_in) +
                                " C_in=" + std::to_string(d.C_in) + " T_out=" + std::to_string(d.T_out) +
                                " F=" + std::to_string(d.F) + " K=" + std::to_string(d.K) +
                                " stride=" + std::to_string(d.stride) + " dilation=" + std::to_string(d.dilation) +
                                " pad_left=" + std::to_string(d.pad_left));
}

namespace {
[[noreturn]] void no_cuda() { throw UsageError("this build has no CUDA (configure with -DSPTRAIN_WITH_CUDA=ON)"); }
}  // namespace

std::unique_ptr<Backend> make_backend(const Device& dev, MathMode math) {
  if (dev.is_cuda()) {
#ifdef SPTRAIN_HAVE_CUDA
    return cuda::make_cuda_backend(dev.ordinal, math);
#else
    (void)math;
    no_cuda();
#endif
  }
  return std::make_unique<cpu::CpuBackend>();
}

const backend::DeviceFunctions& backend::device_functions(const Device& dev) {
  static const DeviceFunctions cpu = {
      [](const SimParams& p, uint64_t seed, int64_t first, int64_t n, int, TrajectoryBatch& out) {
        simulate_cpu(p, seed, first, n, out);
      },
      [](const FeatureSpec& f, const float* positions, int64_t n, int length, int dims, float* out, int) {
        features_cpu(f, positions, n, length, dims, out);
      },
      [](const SimParams& p, const FeatureSpec& f, uint64_t seed, int64_t first, int64_t n, int,
         const sim::Outputs& o, float* feats, void*) { simulate_cpu_to(p, f, seed, first, n, o, feats); }};
  if (!dev.is_cuda()) return cpu;
#ifdef SPTRAIN_HAVE_CUDA
  static const DeviceFunctions gpu = {simulate_cuda, features_cuda, simulate_cuda_to};
  return gpu;
#else
  no_cuda();
#endif
}

}  // namespace sptrain
