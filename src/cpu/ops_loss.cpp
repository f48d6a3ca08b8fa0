// Softmax and losses on the CPU: per-row and per-element bodies from kernels/softmax.cuh and
// kernels/loss.cuh. Loss values are summed in double over a fixed split (src/cpu/parallel.hpp),
// so the returned mean does not depend on the thread count.
#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"
#include "loss.cuh"
#include "softmax.cuh"

namespace sptrain::cpu {
namespace {
int64_t rows_per_block(int C) { return std::max<int64_t>(1, kBlock / std::max(C, 1)); }
}  // namespace

void CpuBackend::softmax_forward(int rows, int C, const float* x, float* y) {
  if (C <= 0) return;
  for_blocks(rows, rows_per_block(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) ops::softmax_row(C, x + r * C, y + r * C);
  });
}

void CpuBackend::softmax_backward(int rows, int C, const float* y, const float* dy, float* dx) {
  if (C <= 0) return;
  for_blocks(rows, rows_per_block(C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) ops::softmax_backward_row(C, y + r * C, dy + r * C, dx + r * C);
  });
}

double CpuBackend::loss(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                        float scale) {
  if (rows <= 0 || C <= 0) return 0.0;
  if (k == LossKind::CategoricalCrossEntropy) {
    const float coef = float(double(scale) / rows);
    const double sum = ordered_sum(Split(rows, rows_per_block(C), 256), [&](int64_t r0, int64_t r1) {
      double acc = 0.0;
      for (int64_t r = r0; r < r1; ++r)
        acc += double(ops::cce_row(C, pred + r * C, target + r * C, dpred ? dpred + r * C : nullptr, coef));
      return acc;
    });
    return sum / rows;
  }
  const int64_t count = int64_t(rows) * C;
  const float coef = float(double(scale) / double(count));
  const double sum = ordered_sum(Split(count, kBlock, 256), [&](int64_t i0, int64_t i1) {
    double acc = 0.0;
    for (int64_t i = i0; i < i1; ++i) acc += double(ops::loss_value(k, pred[i], target[i]));
    if (dpred)
      for (int64_t i = i0; i < i1; ++i) dpred[i] = coef * ops::loss_grad(k, pred[i], target[i]);
    return acc;
  });
  return sum / double(count);
}

void CpuBackend::loss_accumulate(LossKind k, int rows, int C, const float* pred, const float* target, float* dpred,
                                 float scale, double weight, double* acc) {
  *acc += weight * loss(k, rows, C, pred, target, dpred, scale);
}

}  // namespace sptrain::cpu
