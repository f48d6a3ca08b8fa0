// Device discovery and the --device option.
#include "sptrain/device.hpp"

#include <iostream>
#include <mutex>

#include "sptrain/error.hpp"
#ifdef SPTRAIN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sptrain {

std::string Device::str() const { return is_cuda() ? "cuda:" + std::to_string(ordinal) : "cpu"; }

bool built_with_cuda() {
#ifdef SPTRAIN_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

std::vector<GpuInfo> list_gpus(std::string* why_none) {
  std::vector<GpuInfo> out;
#ifdef SPTRAIN_HAVE_CUDA
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why_none) *why_none = cudaGetErrorString(e);
    return out;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    out.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem, prop.multiProcessorCount});
  }
  if (out.empty() && why_none) *why_none = "no CUDA device found";
#else
  if (why_none) *why_none = "built without CUDA (SPTRAIN_WITH_CUDA=OFF)";
#endif
  return out;
}

Device resolve_device(const std::string& spec, bool announce) {
  static std::once_flag said;
  auto say = [&](const std::string& msg) {
    if (announce) std::call_once(said, [&] { std::cerr << msg << std::endl; });
  };
  if (spec == "cpu") return Device::cpu();
  if (spec == "auto") {
    std::string why;
    auto gpus = list_gpus(&why);
    if (!gpus.empty()) {
      say("device: cuda:0 (" + gpus[0].name + ")");
      return Device::cuda(0);
    }
    say("device: cpu (no GPU: " + why + ")");
    return Device::cpu();
  }
  if (spec.rfind("cuda", 0) == 0) {
    int ordinal = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':' || spec.size() == 5 || spec.find_first_not_of("0123456789", 5) != std::string::npos)
        throw UsageError("--device: '" + spec + "' is not a device (auto, cpu, cuda or cuda:N)");
      ordinal = std::stoi(spec.substr(5));
    }
    std::string why;
    auto gpus = list_gpus(&why);
    if (gpus.empty()) throw UsageError("--device " + spec + ": no CUDA device available (" + why + ")");
    if (ordinal >= int(gpus.size()))
      throw UsageError("--device " + spec + ": only " + std::to_string(gpus.size()) + " CUDA device(s) found");
    return Device::cuda(ordinal);
  }
  throw UsageError("--device: '" + spec + "' is not a device (auto, cpu, cuda or cuda:N)");
}

}  // namespace sptrain
