// Owned device memory (DESIGN.md rule 6): move-only, freed in the destructor (never throws), copied
// only through explicit upload()/download(). An allocation failure reports the bytes asked and free.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include "cuda/check.hpp"

namespace sptrain::cuda {

void* device_alloc(size_t bytes, const char* what);  // throws DeviceError with bytes requested/free
void device_free(void* p) noexcept;

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n, const char* what = "buffer")
      : ptr_(static_cast<T*>(n ? device_alloc(n * sizeof(T), what) : nullptr)), n_(n) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { device_free(ptr_); }

  T* data() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

  void download(T* host, size_t n) const {
    if (n) SPTRAIN_CUDA_CHECK(cudaMemcpy(host, ptr_, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  void upload(const T* host, size_t n) {
    if (n) SPTRAIN_CUDA_CHECK(cudaMemcpy(ptr_, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace sptrain::cuda
