// SPTRAIN_HD: __host__ __device__ under nvcc, nothing under a host compiler, so the per-element
// bodies in kernels/*.cuh compile for both (DESIGN.md rule 2). Also the float bit casts they share
// and the launchers' grid size.
#pragma once
#ifdef __CUDACC__
#define SPTRAIN_HD __host__ __device__
#else
#define SPTRAIN_HD
#endif

#include <stdint.h>
#include <string.h>

// Bit casts between float and its IEEE-754 pattern, identical on host and device (Philox's
// branch-free log/sincos and the bf16 conversions rely on them).
namespace sptrain {
#ifdef __CUDACC__
#define SPTRAIN_FORCEINLINE __forceinline__
#else
#define SPTRAIN_FORCEINLINE inline __attribute__((always_inline))
#endif

SPTRAIN_HD SPTRAIN_FORCEINLINE uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
#endif
}

SPTRAIN_HD SPTRAIN_FORCEINLINE float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// Blocks of `block` threads for a grid-stride loop over `work` items: at least 1, at most 65535 * 8
// (the loop strides over the rest). Host code, shared by every launcher.
inline int grid_blocks(int64_t work, int block) {
  const int64_t g = (work + block - 1) / block;
  return int(g < 65535 * 8 ? (g > 0 ? g : 1) : 65535 * 8);
}
}  // namespace sptrain

// The grid-stride loop of every kernel over n items (device code only):
// for (int64_t i = global thread index; i < n; i += total threads).
#define SPTRAIN_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
