// The compute backend: every op the model layers, losses and optimizers need, on raw float arrays
// that live on the backend's device (host memory for the CPU backend, device memory for CUDA).
// One implementation per device (src/cpu/, src/cuda/); per-element math is shared through the
// __host__ __device__ bodies in kernels/ (DESIGN.md rule 2). The ops are listed once, with their
// documentation, in sptrain/backend_ops.def; the kinds they take (Act, LossKind, Conv1dDesc, ...) are
// in sptrain/op_kinds.hpp. Host-only header.
//
// Layout: activations are (N, T, C) row-major ("NTC", Keras channels-last): N samples, T time
// steps, C channels. Dense inputs are (rows, in). Conv1D weights are (K, C_in, F) (Keras kernel
// layout), Dense weights (in, out). Unless a comment says "accumulates" (+=), outputs are
// overwritten. Gradient outputs of parameters always accumulate, so micro-batches add up.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "sptrain/device.hpp"
#include "sptrain/op_kinds.hpp"

namespace sptrain {

class Backend;

// What an allocation of T is called in an out-of-memory message.
template <class T>
struct BufferTraits;
template <>
struct BufferTraits<float> {
  static constexpr const char* what = "tensor";
};
template <>
struct BufferTraits<int32_t> {
  static constexpr const char* what = "index tensor";
};
template <>
struct BufferTraits<double> {
  static constexpr const char* what = "step scalars";
};
template <>
struct BufferTraits<uint8_t> {
  static constexpr const char* what = "label tensor";
};

// n elements of T in a backend's memory (host memory for the CPU backend, device memory for CUDA),
// owned: move-only, freed by the destructor, so memory is never leaked when something throws.
// get() is the raw pointer the backend's ops take; it stays valid for the Buffer's lifetime.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& o) noexcept : be_(o.be_), p_(o.p_), n_(o.n_) { o.be_ = nullptr, o.p_ = nullptr, o.n_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_, p_ = o.p_, n_ = o.n_;
      o.be_ = nullptr, o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  T* get() const noexcept { return p_; }
  size_t size() const noexcept { return n_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept;  // frees now (defined after Backend)

 private:
  friend class Backend;
  Buffer(Backend* be, T* p, size_t n) : be_(be), p_(p), n_(n) {}
  Backend* be_ = nullptr;
  T* p_ = nullptr;
  size_t n_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // --- memory (element counts are floats unless named otherwise) ---
  // n elements of T (float, int32_t or double) on this backend's device, owned by the returned
  // Buffer and freed when it goes; contents undefined. Throws OutOfDeviceMemory (CUDA) or
  // std::bad_alloc (CPU). The Buffer must not outlive the backend. `what` names the tensor in an
  // out-of-memory message (the memory account's names, sptrain/memory.hpp); it is not kept.
  template <class T>
  Buffer<T> alloc(size_t n, const char* what = BufferTraits<T>::what) {
    return Buffer<T>(this, static_cast<T*>(alloc_bytes(n * sizeof(T), what)), n);
  }
  // Every op of include/sptrain/backend_ops.def, pure virtual.
#define SPTRAIN_BACKEND_OP(ret, name, args) virtual ret name args = 0;
#include "sptrain/backend_ops.def"
#undef SPTRAIN_BACKEND_OP

  // Runs `ops`, a sequence of this backend's asynchronous calls that does the same work with the
  // same pointers every time it is run under `key`. The CUDA backend runs it eagerly the first time,
  // captures it into a CUDA graph the second, and replays the graph from then on (launch overhead
  // paid once); `ops` must then not synchronize, allocate, or read results on the host. The CPU
  // backend calls ops(). Graphs live until the backend is destroyed.
  virtual void run_captured(int key, const std::function<void()>& ops) { ops(); }
  // The stream the backend's ops run on, as an opaque handle (a cudaStream_t for CUDA; null on the
  // CPU), for device code outside the backend (the GPU batch source) that must run in the same order.
  virtual void* native_stream() { return nullptr; }
  // Device memory (free, total) in bytes; the CPU backend reports 0, 0.
  virtual void memory_info(size_t& free_bytes, size_t& total_bytes) { free_bytes = total_bytes = 0; }

 protected:
  // At least max(bytes, 1) bytes, aligned for any element type; `what` names the allocation in an
  // out-of-memory message. Only Buffer frees what this returns, through release().
  virtual void* alloc_bytes(size_t bytes, const char* what) = 0;
  virtual void release(void* p) noexcept = 0;
  template <class T>
  friend class Buffer;
};

template <class T>
void Buffer<T>::reset() noexcept {
  if (p_) be_->release(p_);
  be_ = nullptr;
  p_ = nullptr;
  n_ = 0;
}

// The backend for a device; throws UsageError if the device is not available in this build.
std::unique_ptr<Backend> make_backend(const Device& dev, MathMode math = MathMode::Fp32);

}  // namespace sptrain
