// Dense on the CUDA backend: cuBLAS GEMMs on row-major operands taken as column-major transposes,
// bias gradients by column reduction (the CPU twin is cpu/ops_dense.cpp).
#include "cuda/cuda_backend.hpp"

#include "cuda/backend_scratch.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

cublasComputeType_t compute_type(MathMode m) {
  switch (m) {
    case MathMode::Tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MathMode::Bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MathMode::Fp32: break;
  }
  return CUBLAS_COMPUTE_32F;
}

}  // namespace

// --- dense (row-major operands as column-major transposes) ---

namespace {
void gemm(cublasHandle_t h, MathMode math, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  const float alpha = 1.0f;
  SPTRAIN_CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C,
                                    CUDA_R_32F, ldc, compute_type(math), CUBLAS_GEMM_DEFAULT));
}
}  // namespace

void CudaBackend::dense_forward(int rows, int in, int out, const float* x, const float* w, const float* b, float* y) {
  if (rows <= 0 || out <= 0) return;
  if (in > 0) {
    // y^T (out, rows) = W^T (out, in) x^T (in, rows)
    gemm(cublas_, math_, CUBLAS_OP_N, CUBLAS_OP_N, out, rows, in, w, out, x, in, 0.0f, y, out);
  } else {
    SPTRAIN_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(rows) * size_t(out) * sizeof(float), stream_));
  }
  if (b) add_bias_ntc(y, b, size_t(rows), out, stream_);
}

void CudaBackend::dense_backward(int rows, int in, int out, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* db) {
  if (rows <= 0 || out <= 0) return;
  if (dx && in > 0)  // dx^T (in, rows) = W (in, out) dy^T (out, rows)
    gemm(cublas_, math_, CUBLAS_OP_T, CUBLAS_OP_N, in, rows, out, w, out, dy, out, 0.0f, dx, in);
  if (dw && in > 0)  // dW^T (out, in) += dy^T (out, rows) x (rows, in)
    gemm(cublas_, math_, CUBLAS_OP_N, CUBLAS_OP_T, out, in, rows, dy, out, x, in, 1.0f, dw, out);
  if (db) column_reduce<1>(impl_->col_partial(), rows, out, ColumnTerm{dy}, BiasGradFin{db}, stream_);
}

}  // namespace sptrain::cuda
