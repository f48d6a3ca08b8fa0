// make_backend: the training backend for a device.
#include <memory>

#include "cpu/cpu_backend.hpp"
#include "sptrain/backend.hpp"
#include "sptrain/error.hpp"

namespace sptrain {

std::unique_ptr<Backend> make_backend(const Device& dev) {
  if (dev.is_cuda()) throw UsageError("the CUDA training backend is not built yet");
  return std::make_unique<cpu::CpuBackend>();
}

}  // namespace sptrain
