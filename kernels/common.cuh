// Shared by every kernels/*.cuh body: the host/device qualifier and cuRAND's device API made
// callable from host code (DESIGN.md rule 1). Compiles under nvcc and under plain g++.
#pragma once
#include <cmath>
#include <cstdint>
#include "hd.cuh"
#ifndef QUALIFIERS
#define QUALIFIERS static __forceinline__ __host__ __device__
#endif
#include <curand_kernel.h>
