// The combination of per-rank BatchNorm statistics (sptrain/op_kinds.hpp's BatchNormSync): each
// rank's partial sums gathered in rank order and combined in that order, the same arithmetic on
// every rank, so every rank normalizes with bitwise the same statistics.
#include <algorithm>
#include <vector>

#include "sptrain/op_kinds.hpp"

namespace sptrain {

int64_t BatchNormSync::moments(int C, int64_t rows, double* sum, double* sq) {
  const size_t n = 2 * size_t(C) + 1, R = size_t(ranks());
  std::vector<double> mine(n), all(R * n);
  mine[0] = double(rows);
  std::copy_n(sum, C, mine.begin() + 1);
  std::copy_n(sq, C, mine.begin() + 1 + C);
  allgather(mine.data(), n, all.data());
  double total = 0;
  for (size_t r = 0; r < R; ++r) total += all[r * n];
  for (int c = 0; c < C; ++c) {
    double s = all[1 + size_t(c)];
    for (size_t r = 1; r < R; ++r) s += all[r * n + 1 + size_t(c)];
    const double mean = s / total;
    // Squared deviations from the global mean: rank r's own plus n_r (mean_r - mean)^2, exact in
    // real arithmetic and free of the cancellation of a sum of squares minus the squared sum.
    double d2 = 0;
    for (size_t r = 0; r < R; ++r) {
      const double* v = &all[r * n];
      const double d = v[1 + c] / v[0] - mean;
      d2 += v[1 + C + c] + v[0] * d * d;
    }
    sum[c] = mean;
    sq[c] = d2;
  }
  return int64_t(total);
}

int64_t BatchNormSync::sums(double* v, size_t n, int64_t rows) {
  const size_t m = n + 1, R = size_t(ranks());
  std::vector<double> mine(m), all(R * m);
  std::copy_n(v, n, mine.begin());
  mine[n] = double(rows);
  allgather(mine.data(), m, all.data());
  for (size_t i = 0; i < m; ++i) {
    double s = all[i];
    for (size_t r = 1; r < R; ++r) s += all[r * m + i];
    mine[i] = s;
  }
  std::copy_n(mine.begin(), n, v);
  return int64_t(mine[n]);
}

}  // namespace sptrain
