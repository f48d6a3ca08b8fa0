// The CPU training backend: the reference implementation of every op in sptrain/backend.hpp.
// Elementwise and per-row math comes from the shared bodies in kernels/ops.cuh, looped over with
// OpenMP; Dense and Conv1D are OpenBLAS sgemm calls on row chunks (Conv1D through im2col into a
// bounded per-thread buffer). Results are bitwise identical for any OpenMP thread count
// (src/cpu/parallel.hpp). OpenBLAS itself runs single-threaded inside the OpenMP loops.
#pragma once
#include "sptrain/backend.hpp"

namespace sptrain::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu(); }

  // Every op of include/sptrain/backend_ops.def.
#define SPTRAIN_BACKEND_OP(ret, name, args) ret name args override;
#include "sptrain/backend_ops.def"
#undef SPTRAIN_BACKEND_OP

 protected:
  void* alloc_bytes(size_t bytes, const char* what) override;
  void release(void* p) noexcept override;
};

}  // namespace sptrain::cpu
