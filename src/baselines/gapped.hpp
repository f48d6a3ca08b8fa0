// Internal helpers for the gapped, noisy estimators and HMM (tracks.cpp, hmm_gapped.cpp).
#pragma once
#include <vector>

#include "sptrain/baselines.hpp"

namespace sptrain::baselines::detail {

// Checks a gapped view: a valid [steps, dims] series and, when given, one gap >= 1 per step.
void check_gapped(const char* fn, GappedView s, int dims);
// loc2 finite >= 0, blur in [0, 1/4].
void check_noise(const char* fn, double loc2, double blur);

// The zero-mean Gaussian log-likelihood of sigma2 = s from displacements grouped by gap:
// group j has n[j] displacements (dims components each) with total sum of squares ss[j] and
// variance s a[j] + c per component (a = g - 2R, c = 2 loc2), constants dropped.
struct GroupedLik {
  std::vector<double> a, n, ss;
  double c = 0;
  int dims = 1;
  double ll(double s) const;
  double argmax() const;  // over s >= 0
};
GroupedLik group_by_gap(GappedView s, int dims, double loc2, double blur);

}  // namespace sptrain::baselines::detail
