// Work splitting for the CPU backend. Every split depends only on the problem size, never on the
// number of OpenMP threads: each element is computed by the same instruction sequence (the same
// vectorized loop body and remainder) and each reduction adds its partial sums in the same order
// whatever OMP_NUM_THREADS is, so results are bitwise identical for any thread count (needed for
// exact resume of training).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace sptrain::cpu {

// Elements per block of an elementwise loop (a multiple of every vector width).
inline constexpr int64_t kBlock = 1 << 14;

// Calls f(begin, end) on consecutive blocks of `block` items of [0, n), blocks spread over threads.
template <class F>
void for_blocks(int64_t n, int64_t block, F&& f) {
  const int64_t nb = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (nb > 1)
  for (int64_t b = 0; b < nb; ++b) f(b * block, std::min(n, (b + 1) * block));
}

// A partition of [0, n) into `parts` contiguous ranges of nearly equal size, each at least
// min_part items (except when n < min_part), at most max_parts of them.
struct Split {
  int64_t n = 0, parts = 1;
  Split(int64_t n_, int64_t min_part, int64_t max_parts) : n(n_) {
    parts = std::clamp<int64_t>(n / std::max<int64_t>(min_part, 1), 1, std::max<int64_t>(max_parts, 1));
  }
  int64_t begin(int64_t i) const { return n / parts * i + std::min(i, n % parts); }
  int64_t end(int64_t i) const { return begin(i + 1); }
};

// Sum over the parts of `s` of part(begin, end) (a double), the parts evaluated in parallel and
// added in index order.
template <class F>
double ordered_sum(const Split& s, F&& part) {
  std::vector<double> partial(size_t(s.parts), 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (s.parts > 1)
  for (int64_t i = 0; i < s.parts; ++i) partial[size_t(i)] = part(s.begin(i), s.end(i));
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace sptrain::cpu
