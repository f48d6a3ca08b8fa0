// Dense on the CPU: sgemm on fixed row chunks (src/cpu/gemm_chunks.hpp).
//   forward   y (rows, out) = x (rows, in) W (in, out) + b
//   backward  dx = dy W^T;  dW += x^T dy;  db += column sums of dy
#include "cpu/cpu_backend.hpp"
#include "cpu/gemm_chunks.hpp"

namespace sptrain::cpu {

void CpuBackend::dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) {
  gemm_rows(rows, in, out, false, [&](int64_t r0, int64_t, float*) { return x + r0 * in; }, w, false, b, y);
}

void CpuBackend::dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                                float* dw, float* db) {
  if (dx)
    gemm_rows(rows, out, in, false, [&](int64_t r0, int64_t, float*) { return dy + r0 * out; }, w, true, nullptr, dx);
  if (dw || db) {
    // Without dw only the bias sums are wanted: kdim 0 skips the sgemm.
    gemm_weight_grad(rows, dw ? in : 0, out, false, [&](int64_t r0, int64_t, float*) { return x + r0 * in; }, dy, dw,
                     db);
  }
}

}  // namespace sptrain::cpu
