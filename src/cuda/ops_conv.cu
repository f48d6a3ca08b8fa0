// Conv1D on the CUDA backend: cuDNN (conv_cudnn.hpp) on weights transposed from Keras (K, C, F) to
// cuDNN (F, K, C), bias gradients by column reduction, and the bias and BF16 conversion helpers
// that conv_cudnn.hpp declares (the CPU twin is cpu/ops_conv.cpp).
#include "cuda/cuda_backend.hpp"

#include "cuda/backend_scratch.hpp"
#include "cuda/conv_chunks.hpp"
#include "cuda/launch.cuh"
#include "cuda/reduce.cuh"
#include "convert.cuh"
#include "ops.cuh"

namespace sptrain::cuda {

namespace {

// Keras (K, C, F) -> cuDNN (F, K, C).
__global__ void kcf_to_fkc_kernel(int K, int C, int F, const float* w, float* w_fkc) {
  SPTRAIN_GRID_STRIDE(i, int64_t(F) * K * C) {
    const int64_t fk = i / C;
    const int c = int(i - fk * C);
    const int f = int(fk / K), k = int(fk - int64_t(f) * K);
    w_fkc[i] = w[(int64_t(k) * C + c) * F + f];
  }
}

// dw (K, C, F) += dw_fkc (F, K, C) transposed.
__global__ void add_fkc_to_kcf_kernel(int K, int C, int F, const float* dw_fkc, float* dw) {
  SPTRAIN_GRID_STRIDE(i, int64_t(K) * C * F) {
    const int64_t kc = i / F;
    const int f = int(i - kc * F);
    const int k = int(kc / C), c = int(kc - int64_t(k) * C);
    dw[i] += dw_fkc[(int64_t(f) * K + k) * C + c];
  }
}

__global__ void add_bias_kernel(float* y, const float* b, int64_t rows, int F) {
  SPTRAIN_GRID_STRIDE(i, rows * F) y[i] += b[i % F];
}

__global__ void to_bf16_kernel(const float* src, uint16_t* dst, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) dst[i] = ops::float_to_bf16(src[i]);
}

__global__ void from_bf16_kernel(const uint16_t* src, float* dst, int64_t n) {
  SPTRAIN_GRID_STRIDE(i, n) dst[i] = ops::bf16_to_float(src[i]);
}

void check_desc(const Conv1dDesc& d) { check_conv1d_desc(d); }

// The chunks of samples of d's convolutions (cuda/conv_chunks.hpp): the scratch one sample needs
// beside the workspace is its zero-padded input copy and, in BF16, its BF16 input and output
// copies; the cap is the workspace's.
ConvChunks conv_chunks(const Conv1dDesc& d, MathMode math, size_t cap) {
  const int64_t span = int64_t(d.dilation) * (d.K - 1) + 1;
  const int64_t t_pad = int64_t(d.T_out - 1) * d.stride + span;
  const int64_t in = std::max<int64_t>(t_pad, d.T_in) * d.C_in, out = int64_t(d.T_out) * d.F;
  const int64_t per = 4 * in + (math == MathMode::Bf16 ? 2 * (in + out) : 0);
  return plan_conv_chunks(d.N, per, int64_t(cap));
}

// d restricted to the chunk's samples.
Conv1dDesc chunk_desc(const Conv1dDesc& d, const ConvChunks& c, int64_t i) {
  Conv1dDesc s = d;
  s.N = int(c.samples(i));
  return s;
}

}  // namespace

// The weights of d in cuDNN's (F, K, C) order, in scratch that stays valid until the next call.
const float* CudaBackend::conv_weights_fkc(const Conv1dDesc& d, const float* w) {
  const int64_t nw = int64_t(d.K) * d.C_in * d.F;
  float* w_fkc = impl_->get<float>(Impl::kWeightT, size_t(nw));
  kcf_to_fkc_kernel<<<grid_for(nw), kThreads, 0, stream_>>>(d.K, d.C_in, d.F, w, w_fkc);
  check_launch();
  return w_fkc;
}

// --- convolution ---

void CudaBackend::conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) {
  check_desc(d);
  if (d.N == 0) return;
  const float* w_fkc = conv_weights_fkc(d, w);
  const ConvChunks c = conv_chunks(d, math_, ws_.cap());
  for (int64_t i = 0; i < c.count; ++i) {
    const int64_t n0 = c.begin(i);
    conv_->forward(chunk_desc(d, c, i), x + n0 * d.T_in * d.C_in, w_fkc, b, y + n0 * d.T_out * d.F);
  }
}

void CudaBackend::conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) {
  check_desc(d);
  if (d.N == 0) return;
  const float* w_fkc = conv_weights_fkc(d, w);
  const ConvChunks c = conv_chunks(d, math_, ws_.cap());
  for (int64_t i = 0; i < c.count; ++i) {
    const int64_t n0 = c.begin(i);
    conv_->backward_data(chunk_desc(d, c, i), dy + n0 * d.T_out * d.F, w_fkc, dx + n0 * d.T_in * d.C_in);
  }
}

// Each chunk's filter gradient is added into dw as it is computed (chunks in sample order).
void CudaBackend::conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) {
  check_desc(d);
  if (d.N == 0) return;
  if (dw) {
    const int64_t nw = int64_t(d.K) * d.C_in * d.F;
    float* dw_fkc = impl_->get<float>(Impl::kWeightGrad, size_t(nw));
    const ConvChunks c = conv_chunks(d, math_, ws_.cap());
    for (int64_t i = 0; i < c.count; ++i) {
      const int64_t n0 = c.begin(i);
      conv_->backward_filter(chunk_desc(d, c, i), x + n0 * d.T_in * d.C_in, dy + n0 * d.T_out * d.F, dw_fkc);
      add_fkc_to_kcf_kernel<<<grid_for(nw), kThreads, 0, stream_>>>(d.K, d.C_in, d.F, dw_fkc, dw);
      check_launch();
    }
  }
  if (db) column_reduce<1>(impl_->col_partial(), int64_t(d.N) * d.T_out, d.F, ColumnTerm{dy}, BiasGradFin{db}, stream_);
}

// --- helpers declared in conv_cudnn.hpp ---

void add_bias_ntc(float* y, const float* b, size_t rows, int F, cudaStream_t s) {
  if (rows == 0 || F <= 0) return;
  const int64_t n = int64_t(rows) * F;
  add_bias_kernel<<<grid_for(n), kThreads, 0, s>>>(y, b, int64_t(rows), F);
  check_launch();
}

void convert_to_bf16(const float* src, void* dst_bf16, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  to_bf16_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream>>>(src, static_cast<uint16_t*>(dst_bf16), int64_t(n));
  check_launch();
}

void convert_from_bf16(const void* src_bf16, float* dst, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  from_bf16_kernel<<<grid_for(int64_t(n)), kThreads, 0, stream>>>(static_cast<const uint16_t*>(src_bf16), dst,
                                                                    int64_t(n));
  check_launch();
}

}  // namespace sptrain::cuda
