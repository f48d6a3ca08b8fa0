// Batch normalization on the CPU over rows = N*T, per channel C. Channel sums are taken in double
// over a fixed split of the rows (src/cpu/parallel.hpp) and added in part order; the per-element
// normalize and backward bodies are kernels/batchnorm.cuh. gamma / beta may be null (scale 1,
// offset 0: Keras scale=False / center=False); so may the running statistics and the gradients
// of gamma and beta. With a BatchNormSync the channel sums of every rank are combined (in rank
// order) before use.
#include <algorithm>
#include <vector>

#include "batchnorm.cuh"
#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace sptrain::cpu {
namespace {

Split row_split(int rows, int C) { return Split(rows, std::max<int64_t>(1, kBlock / std::max(C, 1)), 64); }

// out_j[c] = sum over rows r of the j-th term of (r, c) for j < J, in double: add(r, c, acc) adds
// row r's channel-c terms to acc[j * C + c], so J sums over the same rows take one pass over
// memory. Each sum is accumulated per part in row order and the parts added in part order, as J
// separate passes would.
template <int J, class Term>
void channel_sums(int rows, int C, Term&& term, std::vector<double> (&out)[J]) {
  const Split s = row_split(rows, C);
  std::vector<double> partial(size_t(s.parts) * J * C, 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (s.parts > 1)
  for (int64_t p = 0; p < s.parts; ++p) {
    double* acc = partial.data() + p * J * C;
    for (int64_t r = s.begin(p); r < s.end(p); ++r)
#pragma omp simd
      for (int c = 0; c < C; ++c) term(r, c, acc);
  }
  for (int j = 0; j < J; ++j) {
    out[j].assign(size_t(C), 0.0);
    for (int64_t p = 0; p < s.parts; ++p)
      for (int c = 0; c < C; ++c) out[j][size_t(c)] += partial[size_t((p * J + j) * C + c)];
  }
}

// Applies the per-element body to every (row, channel).
template <class Body>
void for_elements(int rows, int C, Body&& body) {
  for_blocks(rows, std::max<int64_t>(1, kBlock / std::max(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
#pragma omp simd
      for (int c = 0; c < C; ++c) body(r * C + c, c);
  });
}

// gamma or beta per channel, `fill` where the layer has none (so the loops carry no branch).
std::vector<float> per_channel(const float* v, int C, float fill) {
  return v ? std::vector<float>(v, v + C) : std::vector<float>(size_t(C), fill);
}

}  // namespace

void CpuBackend::batchnorm_forward_train(int rows, int C, const float* x, const float* gamma, const float* beta,
                                         float eps, float momentum, float* running_mean, float* running_var, float* y,
                                         float* save_mean, float* save_invstd, BatchNormSync* sync) {
  if (rows <= 0 || C <= 0) return;
  std::vector<double> sum[1], sq[1];
  channel_sums(rows, C, [&](int64_t r, int c, double* acc) { acc[c] += double(x[r * C + c]); }, sum);
  std::vector<double> mean(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) mean[size_t(c)] = sum[0][size_t(c)] / rows;
  channel_sums(
      rows, C,
      [&](int64_t r, int c, double* acc) {
        const double dx = double(x[r * C + c]) - mean[size_t(c)];
        acc[c] += dx * dx;
      },
      sq);
  int64_t n = rows;
  if (sync) {  // the moments of every rank's rows: sum becomes their mean
    n = sync->moments(C, rows, sum[0].data(), sq[0].data());
    mean = sum[0];
  }
  std::vector<float> m(static_cast<size_t>(C)), inv(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c)
    ops::bn_train_stats(c, mean[size_t(c)], sq[0][size_t(c)], n, eps, momentum, m.data(), inv.data(), save_mean,
                        save_invstd, running_mean, running_var);
  const std::vector<float> g = per_channel(gamma, C, 1.0f), b = per_channel(beta, C, 0.0f);
  for_elements(rows, C, [&](int64_t i, int c) {
    y[i] = ops::bn_normalize(x[i], m[size_t(c)], inv[size_t(c)], g[size_t(c)], b[size_t(c)]);
  });
}

void CpuBackend::batchnorm_forward_infer(int rows, int C, const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, float eps, float* y) {
  if (rows <= 0 || C <= 0) return;
  std::vector<float> inv(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) inv[size_t(c)] = ops::bn_invstd(double(running_var[c]), eps);
  const std::vector<float> g = per_channel(gamma, C, 1.0f), b = per_channel(beta, C, 0.0f);
  for_elements(rows, C, [&](int64_t i, int c) {
    y[i] = ops::bn_normalize(x[i], running_mean[c], inv[size_t(c)], g[size_t(c)], b[size_t(c)]);
  });
}

void CpuBackend::batchnorm_backward(int rows, int C, const float* x, const float* dy, const float* gamma,
                                    const float* save_mean, const float* save_invstd, float* dx, float* dgamma,
                                    float* dbeta, BatchNormSync* sync) {
  if (rows <= 0 || C <= 0) return;
  std::vector<double> sums[2];  // of dy and of dy * xhat, in one pass
  channel_sums(
      rows, C,
      [&](int64_t r, int c, double* acc) {
        const float xhat = ops::bn_xhat(x[r * C + c], save_mean[c], save_invstd[c]);
        const double g = dy[r * C + c];
        acc[c] += g;
        acc[C + c] += g * double(xhat);
      },
      sums);
  const std::vector<double>&sum_dy = sums[0], &sum_dy_xhat = sums[1];
  std::vector<float> mdy(static_cast<size_t>(C)), mdyx(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c)
    ops::bn_backward_stats(c, sum_dy[size_t(c)], sum_dy_xhat[size_t(c)], double(rows), mdy.data(), mdyx.data(), dgamma,
                           dbeta);
  if (sync) {  // dgamma and dbeta keep this rank's sums; dx takes the means over every rank's rows
    std::vector<double> s(2 * size_t(C));
    std::copy(sum_dy.begin(), sum_dy.end(), s.begin());
    std::copy(sum_dy_xhat.begin(), sum_dy_xhat.end(), s.begin() + C);
    const int64_t n = sync->sums(s.data(), s.size(), rows);
    for (int c = 0; c < C; ++c)
      ops::bn_backward_stats(c, s[size_t(c)], s[size_t(C + c)], double(n), mdy.data(), mdyx.data(), nullptr, nullptr);
  }
  if (dx) {
    const std::vector<float> g = per_channel(gamma, C, 1.0f);
    for_elements(rows, C, [&](int64_t i, int c) {
      dx[i] = ops::bn_backward(x[i], dy[i], save_mean[c], save_invstd[c], g[size_t(c)], mdy[size_t(c)], mdyx[size_t(c)]);
    });
  }
}

}  // namespace sptrain::cpu
