// The CUDA training backend: every op of sptrain/backend.hpp on one GPU, in stream order on the
// backend's own stream. Convolutions go through cuDNN's graph API (conv_cudnn.hpp), Dense through
// cuBLAS, everything else through thin grid-stride kernels over the __host__ __device__ bodies in
// kernels/ops.cuh that the CPU backend also runs (DESIGN.md rule 2). Reductions (flat sums and the
// per-channel sums of BatchNorm and bias gradients over strided NTC rows) are two-pass kernels in
// double whose launch shape depends only on the problem size, with no atomics: results repeat
// exactly run to run, which exact resume relies on. No method allocates device memory after the
// first call with a given shape, and no method that returns void synchronizes with the host, so a
// training step made of them can be captured in a CUDA graph. The ops are defined in ops_<family>.cu,
// one file per op family paired with src/cpu/ops_<family>.cpp; reductions in reduce.cuh. Host-only header.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <memory>

#include "cuda/conv_cudnn.hpp"
#include "cuda/device_buffer.hpp"
#include "sptrain/backend.hpp"

namespace sptrain::cuda {

class CudaBackend final : public Backend {
 public:
  CudaBackend(int ordinal, MathMode math);
  ~CudaBackend() override;
  Device device() const override { return Device::cuda(ordinal_); }
  cudaStream_t stream() const { return stream_; }
  void* native_stream() override { return stream_; }

  // Every op of include/sptrain/backend_ops.def.
#define SPTRAIN_BACKEND_OP(ret, name, args) ret name args override;
#include "sptrain/backend_ops.def"
#undef SPTRAIN_BACKEND_OP

  // CUDA graphs of captured step sequences and the memory query (src/cuda/graph_capture.cpp).
  void run_captured(int key, const std::function<void()>& ops) override;
  void memory_info(size_t& free_bytes, size_t& total_bytes) override;

 protected:
  void* alloc_bytes(size_t bytes, const char* what) override;
  void release(void* p) noexcept override;

 private:
  void copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
  const float* conv_weights_fkc(const Conv1dDesc& d, const float* w);  // ops_conv.cu
  struct Impl;  // kernels' scratch (reduction buffers, transposed weights), in backend_scratch.hpp
  int ordinal_;
  MathMode math_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  Workspace ws_;
  std::unique_ptr<ConvEngine> conv_;
  std::unique_ptr<Impl> impl_;
  struct Graphs;                    // defined in graph_capture.cpp
  std::shared_ptr<Graphs> graphs_;  // shared_ptr: destroyable where Graphs is incomplete
};

std::unique_ptr<Backend> make_cuda_backend(int ordinal, MathMode math);

}  // namespace sptrain::cuda
