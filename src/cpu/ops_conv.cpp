// Conv1D on the CPU: im2col of a fixed chunk of output rows into the thread's scratch buffer, then
// one sgemm per chunk (src/cpu/gemm_chunks.hpp). Letters: N samples, T_in/T_out time steps, C_in
// input channels, F filters, K kernel taps; rows are flattened (n, t).
//   forward          y (N*T_out, F)  = cols (N*T_out, K*C_in) W (K*C_in, F) + b
//   backward-filter  dW (K*C_in, F) += cols^T dY,  db += column sums of dY
//   backward-data    dx (N*T_in, C_in) = dcols (N*T_in, K*F) Wt (K*F, C_in), Wt[k, f, c] = W[k, c, f],
//                    where dcols gathers dY[n, t, :] for each tap k with t*stride + k*dilation - pad_left
//                    equal to the input time (zero otherwise): the transpose of im2col written as a
//                    gather, so chunks of input rows are independent (no scatter, no races) and the
//                    scratch stays bounded for any T.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/gemm_chunks.hpp"
#include "cpu/parallel.hpp"

namespace sptrain::cpu {
namespace {

void check_desc(const Conv1dDesc& d) { check_conv1d_desc(d); }

// A 1x1 convolution over the same time axis is a Dense layer on the (N*T, C_in) rows: no im2col.
bool is_pointwise(const Conv1dDesc& d) {
  return d.K == 1 && d.stride == 1 && d.pad_left == 0 && d.T_out == d.T_in;
}

// Thin convolutions (C_in * F <= 4, e.g. the report's Model 1: one channel, one filter) are
// cheaper as direct loops than as im2col + sgemm, whose per-output copies of K taps dominate there.
bool is_thin(const Conv1dDesc& d) { return int64_t(d.C_in) * d.F <= 4; }

// Samples per block of the direct loops (a fixed split: results do not depend on the threads).
int64_t thin_block(const Conv1dDesc& d) { return std::max<int64_t>(1, 16384 / std::max(1, d.T_out * d.K)); }

// Output times t whose input index t*stride + off lies in [0, T_in): [lo, hi).
void tap_range(const Conv1dDesc& d, int off, int& lo, int& hi) {
  lo = off >= 0 ? 0 : (-off + d.stride - 1) / d.stride;
  hi = off > d.T_in - 1 ? 0 : std::min(d.T_out, (d.T_in - 1 - off) / d.stride + 1);
  if (hi < lo) hi = lo;
}

// Direct loops with the time axis innermost (vectorized): for each tap k, channel c and filter f,
// y[t, f] += w[k, c, f] * x[t*stride + k*dilation - pad_left, c] over the valid t.
void thin_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) {
  for_blocks(d.N, thin_block(d), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* xs = x + n * d.T_in * d.C_in;
      float* ys = y + n * d.T_out * d.F;
      for (int t = 0; t < d.T_out; ++t)
        for (int f = 0; f < d.F; ++f) ys[t * d.F + f] = b ? b[f] : 0.0f;
      for (int k = 0; k < d.K; ++k) {
        const int off = k * d.dilation - d.pad_left;
        int lo, hi;
        tap_range(d, off, lo, hi);
        for (int c = 0; c < d.C_in; ++c)
          for (int f = 0; f < d.F; ++f) {
            const float wv = w[(k * d.C_in + c) * d.F + f];
#pragma omp simd
            for (int t = lo; t < hi; ++t) ys[t * d.F + f] += wv * xs[(t * d.stride + off) * d.C_in + c];
          }
      }
    }
  });
}

// dx[i, c] = sum over k, f of w[k, c, f] * dy[t, f] with t*stride = i + pad_left - k*dilation.
void thin_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) {
  for_blocks(d.N, thin_block(d), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* g = dy + n * d.T_out * d.F;
      float* o = dx + n * d.T_in * d.C_in;
      std::fill(o, o + int64_t(d.T_in) * d.C_in, 0.0f);
      for (int k = 0; k < d.K; ++k) {
        const int off = k * d.dilation - d.pad_left;  // input i = t*stride + off
        int lo, hi;
        tap_range(d, off, lo, hi);
        for (int c = 0; c < d.C_in; ++c)
          for (int f = 0; f < d.F; ++f) {
            const float wv = w[(k * d.C_in + c) * d.F + f];
#pragma omp simd
            for (int t = lo; t < hi; ++t) o[(t * d.stride + off) * d.C_in + c] += wv * g[t * d.F + f];
          }
      }
    }
  });
}

// dw (K, C_in, F) and db (F) accumulate: per sample a float dot product over time per weight,
// summed per fixed block of samples in double, the blocks added in order.
void thin_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) {
  const int64_t nw = int64_t(d.K) * d.C_in * d.F, stride_p = nw + d.F;
  const Split split(d.N, thin_block(d), 64);
  std::vector<double> part(size_t(split.parts * stride_p), 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (split.parts > 1)
  for (int64_t p = 0; p < split.parts; ++p) {
    double* acc = &part[size_t(p * stride_p)];
    for (int64_t n = split.begin(p); n < split.end(p); ++n) {
      const float* xs = x + n * d.T_in * d.C_in;
      const float* g = dy + n * d.T_out * d.F;
      for (int f = 0; f < d.F; ++f) {
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int t = 0; t < d.T_out; ++t) s += g[t * d.F + f];
        acc[nw + f] += s;
      }
      for (int k = 0; k < d.K; ++k) {
        const int off = k * d.dilation - d.pad_left;
        int lo, hi;
        tap_range(d, off, lo, hi);
        for (int c = 0; c < d.C_in; ++c)
          for (int f = 0; f < d.F; ++f) {
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int t = lo; t < hi; ++t) s += xs[(t * d.stride + off) * d.C_in + c] * g[t * d.F + f];
            acc[(k * d.C_in + c) * d.F + f] += s;
          }
      }
    }
  }
  for (int64_t p = 0; p < split.parts; ++p) {
    const double* acc = &part[size_t(p * stride_p)];
    for (int64_t j = 0; j < nw; ++j) dw[j] += float(acc[j]);
    if (db)
      for (int f = 0; f < d.F; ++f) db[f] += float(acc[nw + f]);
  }
}

// cols (r1 - r0, K*C_in): row (n, t) holds x[n, t*stride + k*dilation - pad_left, :] for k < K.
// Undilated rows whose taps all lie inside the input are one contiguous span of x.
void im2col(const Conv1dDesc& d, const float* x, int64_t r0, int64_t r1, float* cols) {
  const int64_t KC = int64_t(d.K) * d.C_in;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / d.T_out, t = r - n * d.T_out;
    const float* xn = x + n * d.T_in * d.C_in;
    float* row = cols + (r - r0) * KC;
    const int64_t s0 = t * d.stride - d.pad_left;
    if (d.dilation == 1 && s0 >= 0 && s0 + d.K <= d.T_in) {
      copy_row(row, xn + s0 * d.C_in, KC);
      continue;
    }
    for (int k = 0; k < d.K; ++k) {
      const int64_t s = s0 + int64_t(k) * d.dilation;
      copy_row(row + int64_t(k) * d.C_in, s >= 0 && s < d.T_in ? xn + s * d.C_in : nullptr, d.C_in);
    }
  }
}

// dcols (r1 - r0, K*F): row (n, s) holds dy[n, t, :] in tap k's slot when t*stride + k*dilation -
// pad_left == s for some 0 <= t < T_out, zeros otherwise.
void gather_dy(const Conv1dDesc& d, const float* dy, int64_t r0, int64_t r1, float* dcols) {
  const int64_t KF = int64_t(d.K) * d.F;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / d.T_in, s = r - n * d.T_in;
    const float* dyn = dy + n * d.T_out * d.F;
    float* row = dcols + (r - r0) * KF;
    for (int k = 0; k < d.K; ++k) {
      const int64_t num = s + d.pad_left - int64_t(k) * d.dilation;
      const int64_t t = num >= 0 ? num / d.stride : -1;
      const bool hit = num >= 0 && t * d.stride == num && t < d.T_out;
      copy_row(row + int64_t(k) * d.F, hit ? dyn + t * d.F : nullptr, d.F);
    }
  }
}

// The GEMM's input rows [r0, r1) of x: a pointwise convolution (K = 1, stride 1, no padding) reads
// x in place; any other expands them into `cols` (im2col). Pass needs_cols = !is_pointwise(d).
auto input_rows(const Conv1dDesc& d, const float* x) {
  return [&d, x](int64_t r0, int64_t r1, float* cols) -> const float* {
    if (is_pointwise(d)) return x + r0 * d.C_in;
    im2col(d, x, r0, r1, cols);
    return cols;
  };
}

}  // namespace

void CpuBackend::conv1d_forward(const Conv1dDesc& d, const float* x, const float* w, const float* b, float* y) {
  check_desc(d);
  const int64_t rows = int64_t(d.N) * d.T_out, KC = int64_t(d.K) * d.C_in;
  if (is_thin(d)) return thin_forward(d, x, w, b, y);
  gemm_rows(rows, KC, d.F, !is_pointwise(d), input_rows(d, x), w, false, b, y);
}

void CpuBackend::conv1d_backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw, float* db) {
  check_desc(d);
  const int64_t rows = int64_t(d.N) * d.T_out, KC = int64_t(d.K) * d.C_in;
  if (is_thin(d)) return thin_backward_filter(d, x, dy, dw, db);
  gemm_weight_grad(rows, KC, d.F, !is_pointwise(d), input_rows(d, x), dy, dw, db);
}

void CpuBackend::conv1d_backward_data(const Conv1dDesc& d, const float* dy, const float* w, float* dx) {
  check_desc(d);
  const int64_t rows = int64_t(d.N) * d.T_in, KF = int64_t(d.K) * d.F;
  if (is_thin(d)) return thin_backward_data(d, dy, w, dx);
  if (is_pointwise(d)) {  // dx = dy W^T, W stored (C_in, F)
    gemm_rows(rows, KF, d.C_in, false, [&](int64_t r0, int64_t, float*) { return dy + r0 * d.F; }, w, true, nullptr,
              dx);
    return;
  }
  std::vector<float> wt(size_t(KF) * d.C_in);  // (K, F, C_in)
  for (int k = 0; k < d.K; ++k)
    for (int c = 0; c < d.C_in; ++c)
      for (int f = 0; f < d.F; ++f)
        wt[(size_t(k) * d.F + f) * d.C_in + c] = w[(size_t(k) * d.C_in + c) * d.F + f];
  gemm_rows(
      rows, KF, d.C_in, true,
      [&](int64_t r0, int64_t r1, float* dcols) {
        gather_dy(d, dy, r0, r1, dcols);
        return static_cast<const float*>(dcols);
      },
      wt.data(), false, nullptr, dx);
}

}  // namespace sptrain::cpu
