// SPTRAIN_HD: __host__ __device__ under nvcc, nothing under a host compiler, so the per-element
// bodies in kernels/*.cuh compile for both (DESIGN.md rule 2).
#pragma once
#ifdef __CUDACC__
#define SPTRAIN_HD __host__ __device__
#else
#define SPTRAIN_HD
#endif
