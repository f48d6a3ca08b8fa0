// System and build information. cuDNN and cuBLAS are looked up at run time (dlopen), so `info`
// says whether the machine has them even before a backend links them.
#include <dlfcn.h>
#include <omp.h>

#include <string>

#include "sptrain/device.hpp"
#include "sptrain/info.hpp"
#ifdef SPTRAIN_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <curand.h>
#endif

namespace sptrain {

const char* version() { return SPTRAIN_VERSION; }

namespace {
std::string cuda_version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// Calls `size_t sym(void)` (cudnnGetVersion) or `int sym(int, int*)` (cublasGetProperty) from the
// first library name that loads; "not found" otherwise.
nlohmann::json probe_cudnn() {
  for (const char* name : {"libcudnn.so.9", "libcudnn.so"}) {
    void* h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (!h) continue;
    auto fn = reinterpret_cast<size_t (*)()>(dlsym(h, "cudnnGetVersion"));
    nlohmann::json j = {{"library", name}};
    if (fn) {
      size_t v = fn();
      j["version"] = std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
    }
    return j;
  }
  return {{"version", nullptr}, {"why", "libcudnn.so.9 not found on the library path"}};
}

nlohmann::json probe_cublas() {
  for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
    void* h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (!h) continue;
    auto fn = reinterpret_cast<int (*)(int, int*)>(dlsym(h, "cublasGetProperty"));
    nlohmann::json j = {{"library", name}};
    int a = 0, b = 0, c = 0;
    if (fn && fn(0, &a) == 0 && fn(1, &b) == 0 && fn(2, &c) == 0)
      j["version"] = std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c);
    return j;
  }
  return {{"version", nullptr}, {"why", "libcublas not found on the library path"}};
}
}  // namespace

nlohmann::json system_info() {
  nlohmann::json j;
  j["version"] = version();
  j["build"] = {{"cuda_backend", built_with_cuda()},
                {"compiler", std::string("GCC ") + __VERSION__},
#ifdef SPTRAIN_HAVE_CUDA
                {"cuda_toolkit", cuda_version_string(CUDART_VERSION)},
#endif
                {"openmp", _OPENMP}};
  j["cpu_threads"] = omp_get_max_threads();
#ifdef SPTRAIN_HAVE_CUDA
  int rt = 0, drv = 0;
  j["cuda_runtime"] = cudaRuntimeGetVersion(&rt) == cudaSuccess ? nlohmann::json(cuda_version_string(rt)) : nlohmann::json();
  if (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0) j["cuda_driver"] = cuda_version_string(drv);
  else j["cuda_driver"] = {{"version", nullptr}, {"why", "no NVIDIA driver (libcuda) on this machine"}};
  int cr = 0;
  curandGetVersion(&cr);
  j["curand"] = std::to_string(cr / 1000) + "." + std::to_string((cr % 1000) / 100) + "." + std::to_string(cr % 100);
#endif
  j["cudnn"] = probe_cudnn();
  j["cublas"] = probe_cublas();
  std::string why;
  auto gpus = list_gpus(&why);
  j["devices"] = nlohmann::json::array();
  for (const auto& g : gpus)
    j["devices"].push_back({{"index", g.ordinal},
                            {"name", g.name},
                            {"compute_capability", std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor)},
                            {"memory_gib", double(g.memory_bytes) / (1 << 30)},
                            {"multiprocessors", g.multiprocessors}});
  if (gpus.empty()) j["devices_why_none"] = why;
  return j;
}

}  // namespace sptrain
