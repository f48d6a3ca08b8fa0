// CPU backend: construction and memory (host memory, 64-byte aligned; copies split over fixed
// blocks, src/cpu/parallel.hpp). The ops live in the ops_*.cpp files beside this one, one per op
// family, each paired with the CUDA file of the same name in src/cuda/.
#include "cpu/cpu_backend.hpp"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/parallel.hpp"

namespace sptrain::cpu {

CpuBackend::CpuBackend() {
  // The backend parallelizes over fixed row chunks with OpenMP and calls sgemm inside those loops;
  // OpenBLAS's own thread pool would only oversubscribe the cores.
  openblas_set_num_threads(1);
}

// --- memory ---

namespace {
void* aligned_bytes(size_t bytes) {
  constexpr size_t kAlign = 64;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded > 0 ? rounded : kAlign);
  if (!p) throw std::bad_alloc();
  return p;
}

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  constexpr int64_t kChunk = int64_t(1) << 20;
  for_blocks(int64_t(bytes), kChunk, [&](int64_t b0, int64_t b1) {
    std::memcpy(static_cast<char*>(dst) + b0, static_cast<const char*>(src) + b0, size_t(b1 - b0));
  });
}
}  // namespace

void* CpuBackend::alloc_bytes(size_t bytes, const char*) { return aligned_bytes(bytes); }
void CpuBackend::release(void* p) noexcept { std::free(p); }
void CpuBackend::upload(float* dst, const float* host_src, size_t n) { parallel_memcpy(dst, host_src, n * sizeof(float)); }
void CpuBackend::download(float* host_dst, const float* src, size_t n) {
  parallel_memcpy(host_dst, src, n * sizeof(float));
}
void CpuBackend::copy(float* dst, const float* src, size_t n) { parallel_memcpy(dst, src, n * sizeof(float)); }

void CpuBackend::synchronize() {}  // every op has finished when it returns

void CpuBackend::fill(float* dst, float value, size_t n) {
  for_blocks(int64_t(n), kBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dst[i] = value;
  });
}

// Step scalars live in host memory here.
void CpuBackend::upload_f64(double* dst, const double* host_src, size_t n) { std::memcpy(dst, host_src, n * sizeof(double)); }
void CpuBackend::download_f64(double* host_dst, const double* src, size_t n) {
  std::memcpy(host_dst, src, n * sizeof(double));
}

}  // namespace sptrain::cpu
