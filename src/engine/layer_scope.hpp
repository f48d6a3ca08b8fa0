// The layer (or op) whose device calls run in the current scope, so a failing CUDA/cuDNN/cuBLAS
// call says which layer it served (DESIGN.md rule 5). Host-only; works with or without CUDA.
#pragma once

namespace sptrain {
namespace detail {
const char*& current_layer();  // innermost ScopedLayer's name on this thread, or null
}  // namespace detail

class ScopedLayer {
 public:
  explicit ScopedLayer(const char* name) : prev_(detail::current_layer()) { detail::current_layer() = name; }
  ~ScopedLayer() { detail::current_layer() = prev_; }
  ScopedLayer(const ScopedLayer&) = delete;
  ScopedLayer& operator=(const ScopedLayer&) = delete;

 private:
  const char* prev_;
};
}  // namespace sptrain
