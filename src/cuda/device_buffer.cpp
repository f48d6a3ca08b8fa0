// Device allocation with an informative out-of-memory message.
#include "cuda/device_buffer.hpp"

#include <string>

#include "sptrain/error.hpp"

namespace sptrain::cuda {

void* device_alloc(size_t bytes, const char* what) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error state
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw OutOfDeviceMemory("out of device memory allocating " + std::string(what) + ": asked " +
                                std::to_string(bytes) + " bytes, " + std::to_string(free_b) + " free of " +
                                std::to_string(total_b),
                            bytes, free_b);
  }
  SPTRAIN_CUDA_CHECK(e);
  return p;
}

void device_free(void* p) noexcept {
  if (p) cudaFree(p);  // errors here (e.g. a lost device) are ignored: destructors never throw
}

}  // namespace sptrain::cuda
