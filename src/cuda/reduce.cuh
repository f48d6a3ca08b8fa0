// Deterministic reductions of the CUDA backend (no float atomics): every reduction runs in double
// with a launch shape that depends only on the problem size, each thread sums a fixed set of
// elements in order, blocks combine by a fixed shared-memory tree, and a second kernel adds the
// block partials in index order. Column (per-channel) sums use (strip of channels) x (part of rows)
// blocks; flat sums use at most kFlatParts blocks. Results repeat exactly run to run, which exact
// resume relies on.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cuda/launch.cuh"

namespace sptrain::cuda {

constexpr int kFlatParts = 1024;                            // blocks of a flat reduction, at most
constexpr int kColMaxParts = 256;                           // row parts of a column reduction, at most
constexpr int64_t kColPartialCap = int64_t(1) << 22;        // doubles of column partials, at most

// --- flat reductions: sum over i < n of term(i) (a double), then fin(total) on one thread ---

// Block b sums items b*256 + tid + k*(gridDim*256) per thread in order, then a fixed tree.
template <class Term>
__global__ void __launch_bounds__(kThreads) flat_partial_kernel(int64_t n, Term term, double* partial) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  SPTRAIN_GRID_STRIDE(i, n) acc += term(i);
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

// One block: thread t sums partials t, t + 256, ... in order, then the same tree.
template <class Fin>
__global__ void __launch_bounds__(kThreads) flat_final_kernel(const double* partial, int parts, Fin fin) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (int p = threadIdx.x; p < parts; p += kThreads) acc += partial[p];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) fin(sh[0]);
}

// --- column reductions over rows of (rows, C): kN sums per channel ---

// Block (strip, part): threads (tx, ty) of a bx x by block (bx * by = 256); thread (tx, ty) sums
// rows r0 + ty, r0 + ty + by, ... of channel strip*bx + tx in order; the block then reduces over ty
// by a fixed tree. partial[(j * parts + part) * C + c].
template <int kN, class Term>
__global__ void __launch_bounds__(kThreads) col_partial_kernel(int64_t rows, int C, int64_t rows_per_part, Term term,
                                                               double* partial) {
  __shared__ double sh[kN][kThreads];
  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;
  const int c = blockIdx.x * bx + tx;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_part;
  const int64_t r1 = min(rows, r0 + rows_per_part);
  double acc[kN];
#pragma unroll
  for (int j = 0; j < kN; ++j) acc[j] = 0.0;
  if (c < C)
    for (int64_t r = r0 + ty; r < r1; r += by) term(r * C + c, c, acc);
  const int me = ty * bx + tx;
#pragma unroll
  for (int j = 0; j < kN; ++j) sh[j][me] = acc[j];
  __syncthreads();
  for (int s = by / 2; s > 0; s >>= 1) {
    if (ty < s)
#pragma unroll
      for (int j = 0; j < kN; ++j) sh[j][me] += sh[j][me + s * bx];
    __syncthreads();
  }
  if (ty == 0 && c < C)
#pragma unroll
    for (int j = 0; j < kN; ++j) partial[(int64_t(j) * gridDim.y + blockIdx.y) * C + c] = sh[j][tx];
}

// One thread per channel: adds the parts in order, then fin(c, sums).
template <int kN, class Fin>
__global__ void col_final_kernel(int C, int parts, const double* partial, Fin fin) {
  SPTRAIN_GRID_STRIDE(c, C) {
    double s[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      double acc = 0.0;
      for (int p = 0; p < parts; ++p) acc += partial[(int64_t(j) * parts + p) * C + c];
      s[j] = acc;
    }
    fin(int(c), s);
  }
}

struct ColumnTerm {  // sum of x
  const float* x;
  __device__ void operator()(int64_t i, int, double* acc) const { acc[0] += double(x[i]); }
};

struct BiasGradFin {  // db[c] += float(column sum)
  float* db;
  __device__ void operator()(int c, const double* s) const { db[c] += float(s[0]); }
};

// Flat reduction of term over [0, n) into fin, on stream s.
template <class Term, class Fin>
void flat_reduce(double* partial, int64_t n, Term term, Fin fin, cudaStream_t s) {
  const int parts = int(std::clamp<int64_t>(ceil_div(n, int64_t(kThreads) * 4), 1, kFlatParts));
  flat_partial_kernel<<<parts, kThreads, 0, s>>>(n, term, partial);
  check_launch();
  flat_final_kernel<<<1, kThreads, 0, s>>>(partial, parts, fin);
  check_launch();
}

// Column reduction of (rows, C): kN sums per channel into fin. The shape (strip width, row parts)
// depends only on rows and C; get_partial(n) returns scratch for n doubles.
template <int kN, class Term, class Fin, class GetPartial>
void column_reduce(GetPartial&& get_partial, int64_t rows, int C, Term term, Fin fin, cudaStream_t s) {
  int bx = 1;
  while (bx < C && bx < 32) bx <<= 1;
  const int by = kThreads / bx;
  const int64_t max_parts = std::clamp<int64_t>(kColPartialCap / (int64_t(kN) * C), 1, kColMaxParts);
  const int64_t rows_per_part = std::max<int64_t>(int64_t(by) * 8, ceil_div(rows, max_parts));
  const int parts = int(std::max<int64_t>(1, ceil_div(rows, rows_per_part)));
  double* partial = get_partial(size_t(kN) * size_t(parts) * size_t(C));
  const dim3 grid(unsigned(ceil_div(C, bx)), unsigned(parts));
  col_partial_kernel<kN><<<grid, dim3(unsigned(bx), unsigned(by)), 0, s>>>(rows, C, rows_per_part, term, partial);
  check_launch();
  col_final_kernel<kN><<<grid_for(C), kThreads, 0, s>>>(C, parts, partial, fin);
  check_launch();
}

}  // namespace sptrain::cuda
