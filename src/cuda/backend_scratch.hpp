// The CUDA backend's scratch (CudaBackend::Impl): the cuBLAS workspace, reduction buffers and a pool
// of buffers by (purpose, size) that the op files (src/cuda/ops_*.cu) draw from. Host-only header.
#pragma once
#include <algorithm>
#include <cstddef>
#include <map>
#include <utility>

#include "cuda/cuda_backend.hpp"
#include "cuda/device_buffer.hpp"

namespace sptrain::cuda {

struct CudaBackend::Impl {
  // Scratch purposes: buffers of one purpose are never in use twice at once (stream order).
  enum Tag : int { kWeightT = 0, kWeightGrad = 1, kColPartial = 2, kChanD = 3, kChanF = 4 };

  DeviceBuffer<unsigned char> cublas_ws;
  DeviceBuffer<double> flat_partial;  // kFlatParts
  DeviceBuffer<double> result;        // the one double loss() returns
  // One buffer per (purpose, size), never freed before the backend: a captured graph keeps using
  // the pointers it saw, so nothing it references may move.
  std::map<std::pair<int, size_t>, DeviceBuffer<unsigned char>> pool;

  template <class T>
  T* get(Tag tag, size_t n) {
    const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
    auto& b = pool[{int(tag), bytes}];
    if (!b.data()) b = DeviceBuffer<unsigned char>(bytes, "backend scratch");
    return reinterpret_cast<T*>(b.data());
  }

  // Scratch getter for column_reduce's partial sums.
  auto col_partial() {
    return [this](size_t n) { return get<double>(kColPartial, n); };
  }

  // Releases everything in the order the libraries need; never throws.
  static void teardown(CudaBackend& be) noexcept;
};

}  // namespace sptrain::cuda
