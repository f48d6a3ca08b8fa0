// CUDA backend (cuda_backend.hpp): construction and teardown of the stream and library handles,
// device memory, host <-> device copies and the scratch pool. The ops live in ops_*.cu beside this
// file, one per op family as in src/cpu/.
#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "sptrain/error.hpp"

namespace sptrain::cuda {

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // fixed, so cuBLAS never allocates

__global__ void fill_kernel(float* y, float v, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) y[i] = v;
}

}  // namespace

void CudaBackend::Impl::teardown(CudaBackend& be) noexcept {
  cudaSetDevice(be.ordinal_);  // errors ignored: nothing here may throw
  if (be.stream_) cudaStreamSynchronize(be.stream_);
  be.conv_.reset();
  if (be.cudnn_) cudnnDestroy(be.cudnn_);
  if (be.cublas_) cublasDestroy(be.cublas_);
  be.cudnn_ = nullptr;
  be.cublas_ = nullptr;
  be.impl_.reset();
  if (be.stream_) cudaStreamDestroy(be.stream_);
  be.stream_ = nullptr;
}

// --- lifetime ---

namespace {
// The cuDNN workspace cap: SPTRAIN_CUDNN_WORKSPACE_MB when set, else Workspace::default_cap of the
// current device's memory.
size_t workspace_cap() {
  if (const char* v = std::getenv("SPTRAIN_CUDNN_WORKSPACE_MB"); v && *v) {
    char* end = nullptr;
    const long long mb = std::strtoll(v, &end, 10);
    if (*end != '\0' || mb < 1 || mb > (1LL << 30))
      throw UsageError(std::string("SPTRAIN_CUDNN_WORKSPACE_MB: expected a positive number of MiB, got '") + v + "'");
    return size_t(mb) << 20;
  }
  size_t free_bytes = 0, total_bytes = 0;
  SPTRAIN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return Workspace::default_cap(total_bytes);
}
}  // namespace

CudaBackend::CudaBackend(int ordinal, MathMode math) : ordinal_(ordinal), math_(math) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw UsageError("device cuda:" + std::to_string(ordinal) + " is not available: " + cudaGetErrorString(e));
  }
  if (ordinal < 0 || ordinal >= count)
    throw UsageError("device cuda:" + std::to_string(ordinal) + " is not available (" + std::to_string(count) +
                     " CUDA device(s) found)");
  try {
    SPTRAIN_CUDA_CHECK(cudaSetDevice(ordinal));
    impl_ = std::make_unique<Impl>();
    SPTRAIN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    SPTRAIN_CUBLAS_CHECK(cublasCreate(&cublas_));
    // cublasSetStream resets the workspace, so the fixed workspace comes after it.
    SPTRAIN_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    impl_->cublas_ws = DeviceBuffer<unsigned char>(kCublasWorkspaceBytes, "cuBLAS workspace");
    SPTRAIN_CUBLAS_CHECK(cublasSetWorkspace(cublas_, impl_->cublas_ws.data(), impl_->cublas_ws.size()));
    SPTRAIN_CUBLAS_CHECK(
        cublasSetMathMode(cublas_, math == MathMode::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    SPTRAIN_CUDNN_CHECK(cudnnCreate(&cudnn_));
    SPTRAIN_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
    impl_->flat_partial = DeviceBuffer<double>(kFlatParts, "reduction partials");
    impl_->result = DeviceBuffer<double>(1, "reduction result");
    ws_.set_cap(workspace_cap());
    conv_ = std::make_unique<ConvEngine>(cudnn_, stream_, ws_, math);
  } catch (...) {
    Impl::teardown(*this);
    throw;
  }
}

CudaBackend::~CudaBackend() { Impl::teardown(*this); }

std::unique_ptr<Backend> make_cuda_backend(int ordinal, MathMode math) {
  return std::make_unique<CudaBackend>(ordinal, math);
}

// --- memory ---

void* CudaBackend::alloc_bytes(size_t bytes, const char* what) {
  return device_alloc(std::max<size_t>(bytes, 1), what);
}
void CudaBackend::release(void* p) noexcept { device_free(p); }

// Host <-> device copies through the backend's stream; the host side is pageable memory, so each
// waits for its copy.
void CudaBackend::copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream_));
  SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}
void CudaBackend::upload(float* dst, const float* host_src, size_t n) {
  copy_sync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice);
}
void CudaBackend::download(float* host_dst, const float* src, size_t n) {
  copy_sync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost);
}
void CudaBackend::upload_f64(double* dst, const double* host_src, size_t n) {
  copy_sync(dst, host_src, n * sizeof(double), cudaMemcpyHostToDevice);
}
void CudaBackend::download_f64(double* host_dst, const double* src, size_t n) {
  copy_sync(host_dst, src, n * sizeof(double), cudaMemcpyDeviceToHost);
}

void CudaBackend::fill(float* dst, float value, size_t n) {
  if (n == 0) return;
  fill_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream_>>>(dst, value, int64_t(n));
  check_launch();
}

void CudaBackend::copy(float* dst, const float* src, size_t n) {
  if (n == 0 || dst == src) return;
  SPTRAIN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() { SPTRAIN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace sptrain::cuda
