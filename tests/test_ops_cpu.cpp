// The CPU training backend (src/cpu/) against finite differences, the direct-loop Conv1D reference
// (src/cpu/conv_reference.hpp), hand computations of the Keras formulas, and itself across OpenMP
// thread counts (bitwise). Runs in a few seconds:  ctest -R OpsCpu  or  build/bin/test_ops_cpu
//
// Gradient checks: each op is wrapped in a scalar objective L = sum_i r_i out_i with fixed random
// weights r; the backend's float backward (fed dy = r) is compared with central differences of L
// evaluated in double precision by code in this file (or the double instantiation of the
// reference conv), at the same float inputs.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/conv_reference.hpp"
#include "cpu/cpu_backend.hpp"
#include "sptrain/backend.hpp"
#include "sptrain/error.hpp"

namespace {

using sptrain::Act;
using sptrain::Buffer;
using sptrain::Conv1dDesc;
using sptrain::LossKind;
using sptrain::cpu::CpuBackend;
using Vec = std::vector<float>;
using DVec = std::vector<double>;

// --- tolerances -------------------------------------------------------------------------------

// Central-difference step, relative to max(1, |x|). The objectives are evaluated in double: the
// truncation error (h^2 f''' ~ 1e-12) and the cancellation error (1e-16 |L| / h ~ 1e-9 for |L| up
// to 10) both stay far below the float error of the backward being checked.
constexpr double kFdStep = 1e-6;

// Backend gradients are float: each element is a sum of at most a few hundred float products or
// a short chain of float ops, so its rounding error is below ~1e-5 of the largest gradient in the
// tensor. 1e-4 of (|g_i| + max|g|) leaves a margin of 10 and is still 1e4 times smaller than what a
// missing term, a wrong tap or a wrong sign produces.
constexpr double kGradRel = 1e-4;

// BLAS path vs the double direct-loop reference: a float dot product of n terms has error
// <= ~sqrt(n) eps sum|terms| in practice (blocked FMA accumulation), n up to 3000 here (filter
// gradient over N*T_out rows): sqrt(3000) * 6e-8 = 3.3e-6. 1e-5 of sum|terms| is 3x that.
constexpr double kBlasRel = 1e-5;

// A loss value: float element losses (a few ulp each) summed in double.
constexpr double kLossRel = 1e-5;

// Results of a handful of float operations (optimizer steps, normalization, one activation):
// a few ulp of float (6e-8 each).
constexpr double kFewUlp = 1e-6;

// --- helpers -----------------------------------------------------------------------------------

// The squared norm sum_squares_to writes (host memory is the CPU backend's memory).
double sum_squares(CpuBackend& be, const float* x, size_t n) {
  double s = -1;
  be.sum_squares_to(x, n, &s);
  return s;
}

Vec uniform(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = u(g);
  return v;
}

DVec to_double(const Vec& v) { return DVec(v.begin(), v.end()); }

// Central differences of f at x, one coordinate at a time.
DVec numeric_grad(DVec x, const std::function<double(const DVec&)>& f) {
  DVec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i], h = kFdStep * std::max(1.0, std::fabs(x0));
    x[i] = x0 + h;
    const double fp = f(x);
    x[i] = x0 - h;
    const double fm = f(x);
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

// |analytic_i - numeric_i| <= rel * (|numeric_i| + max_j |numeric_j|) for every i.
::testing::AssertionResult grads_match(const Vec& analytic, const DVec& numeric, double rel = kGradRel) {
  if (analytic.size() != numeric.size()) return ::testing::AssertionFailure() << "size mismatch";
  double scale = 0;
  for (double v : numeric) scale = std::max(scale, std::fabs(v));
  int bad = 0;
  std::string msg;
  for (size_t i = 0; i < numeric.size(); ++i) {
    const double tol = rel * (std::fabs(numeric[i]) + scale) + 1e-300;
    if (!(std::fabs(double(analytic[i]) - numeric[i]) <= tol)) {
      if (bad++ < 5)
        msg += " [" + std::to_string(i) + "] analytic " + std::to_string(analytic[i]) + " numeric " +
               std::to_string(numeric[i]) + ";";
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << numeric.size() << " differ:" << msg;
  return ::testing::AssertionSuccess();
}

// |a_i - b_i| <= rel * scale_i (+ abs) for every i.
::testing::AssertionResult close_to(const Vec& a, const DVec& b, const DVec& scale, double rel, double abs = 0) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "size mismatch";
  int bad = 0;
  std::string msg;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(double(a[i]) - b[i]) <= rel * scale[i] + abs)) {
      if (bad++ < 5)
        msg += " [" + std::to_string(i) + "] got " + std::to_string(a[i]) + " want " + std::to_string(b[i]) + ";";
    }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << a.size() << " differ:" << msg;
  return ::testing::AssertionSuccess();
}

double dot(const DVec& a, const DVec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Runs `run` with 1, 2 and 3 OpenMP threads and demands identical bytes.
template <class Run>
void expect_thread_invariant(const std::string& what, Run&& run) {
  const int saved = omp_get_max_threads();
  std::vector<std::string> out;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    out.push_back(run());
  }
  omp_set_num_threads(saved);
  EXPECT_FALSE(out[0].empty()) << what;
  EXPECT_TRUE(out[0] == out[1]) << what << ": 1 and 2 threads differ";
  EXPECT_TRUE(out[0] == out[2]) << what << ": 1 and 3 threads differ";
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
std::string bytes_of(double d) { return std::string(reinterpret_cast<const char*>(&d), sizeof d); }

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// --- Conv1D ------------------------------------------------------------------------------------

enum class Pad { Valid, Same, Causal };

// Keras Conv1D padding: 'same' puts (total)//2 on the left and the rest on the right (K=20,
// stride 1: 9 left, 10 right); 'causal' puts dilation*(K-1) on the left.
Conv1dDesc conv_desc(int N, int T_in, int C_in, int F, int K, int stride, int dil, Pad pad) {
  Conv1dDesc d;
  d.N = N, d.T_in = T_in, d.C_in = C_in, d.F = F, d.K = K, d.stride = stride, d.dilation = dil;
  const int span = dil * (K - 1) + 1;
  switch (pad) {
    case Pad::Valid:
      d.pad_left = 0;
      d.T_out = (T_in - span) / stride + 1;
      break;
    case Pad::Same: {
      d.T_out = (T_in + stride - 1) / stride;
      const int total = std::max((d.T_out - 1) * stride + span - T_in, 0);
      d.pad_left = total / 2;
      break;
    }
    case Pad::Causal:
      d.pad_left = dil * (K - 1);
      d.T_out = (T_in - 1) / stride + 1;
      break;
  }
  return d;
}

size_t x_size(const Conv1dDesc& d) { return size_t(d.N) * d.T_in * d.C_in; }
size_t y_size(const Conv1dDesc& d) { return size_t(d.N) * d.T_out * d.F; }
size_t w_size(const Conv1dDesc& d) { return size_t(d.K) * d.C_in * d.F; }

TEST(OpsCpuConv, KerasPaddingSplit) {
  const Conv1dDesc d = conv_desc(1, 100, 1, 1, 20, 1, 1, Pad::Same);
  EXPECT_EQ(d.pad_left, 9);
  EXPECT_EQ(d.T_out, 100);
  // The right padding the backend's T_out formula implies: 10.
  EXPECT_EQ((d.T_out - 1) * d.stride + d.dilation * (d.K - 1) + 1 - d.T_in - d.pad_left, 10);
  EXPECT_EQ(conv_desc(1, 50, 1, 1, 3, 1, 4, Pad::Causal).pad_left, 8);
}

struct ConvCase {
  const char* name;
  int N, T_in, C_in, F, K, stride, dil;
  Pad pad;
};

class OpsCpuConvGrad : public ::testing::TestWithParam<ConvCase> {};

TEST_P(OpsCpuConvGrad, MatchesFiniteDifferences) {
  const ConvCase c = GetParam();
  const Conv1dDesc d = conv_desc(c.N, c.T_in, c.C_in, c.F, c.K, c.stride, c.dil, c.pad);
  ASSERT_GE(d.T_out, 1);
  const Vec x = uniform(x_size(d), -1, 1, 1), w = uniform(w_size(d), -1, 1, 2), b = uniform(size_t(d.F), -1, 1, 3);
  const Vec r = uniform(y_size(d), -1, 1, 4);
  const DVec xd = to_double(x), wd = to_double(w), bd = to_double(b), rd = to_double(r);
  auto objective = [&](const DVec& xx, const DVec& ww, const DVec& bb) {
    DVec y(y_size(d));
    sptrain::cpu::conv1d_forward_reference(d, xx.data(), ww.data(), bb.data(), y.data());
    return dot(rd, y);
  };
  CpuBackend be;
  Vec dx(x.size(), kNaN), dw(w.size(), 0.0f), db(b.size(), 0.0f);
  be.conv1d_backward_data(d, r.data(), w.data(), dx.data());
  be.conv1d_backward_filter(d, x.data(), r.data(), dw.data(), db.data());
  EXPECT_TRUE(grads_match(dx, numeric_grad(xd, [&](const DVec& v) { return objective(v, wd, bd); }))) << "dx";
  EXPECT_TRUE(grads_match(dw, numeric_grad(wd, [&](const DVec& v) { return objective(xd, v, bd); }))) << "dw";
  EXPECT_TRUE(grads_match(db, numeric_grad(bd, [&](const DVec& v) { return objective(xd, wd, v); }))) << "db";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, OpsCpuConvGrad,
    ::testing::Values(ConvCase{"valid_k3", 2, 11, 3, 2, 3, 1, 1, Pad::Valid},
                      ConvCase{"same_k20", 2, 25, 2, 2, 20, 1, 1, Pad::Same},
                      ConvCase{"same_k4", 2, 9, 3, 2, 4, 1, 1, Pad::Same},
                      ConvCase{"causal_k3", 2, 10, 2, 3, 3, 1, 1, Pad::Causal},
                      ConvCase{"causal_dil2", 2, 12, 2, 2, 3, 1, 2, Pad::Causal},
                      ConvCase{"causal_dil4", 1, 14, 2, 2, 3, 1, 4, Pad::Causal},
                      ConvCase{"valid_dil4", 2, 15, 2, 2, 3, 1, 4, Pad::Valid},
                      ConvCase{"same_dil2", 2, 11, 2, 2, 4, 1, 2, Pad::Same},
                      ConvCase{"valid_stride2", 2, 12, 3, 2, 3, 2, 1, Pad::Valid},
                      ConvCase{"same_stride2", 2, 11, 2, 3, 4, 2, 1, Pad::Same},
                      ConvCase{"causal_stride2_dil2", 2, 13, 2, 2, 3, 2, 2, Pad::Causal},
                      ConvCase{"pointwise", 3, 7, 4, 3, 1, 1, 1, Pad::Valid},
                      ConvCase{"pointwise_stride2", 2, 9, 3, 2, 1, 2, 1, Pad::Valid}),
    [](const ::testing::TestParamInfo<ConvCase>& i) { return std::string(i.param.name); });

// BLAS path against the direct-loop reference in double, forward and both backwards; the
// backwards are checked for overwrite (dx) and accumulate (dw, db) semantics too.
void check_conv_against_reference(const Conv1dDesc& d, uint64_t seed) {
  SCOPED_TRACE("N=" + std::to_string(d.N) + " T_in=" + std::to_string(d.T_in) + " C_in=" + std::to_string(d.C_in) +
               " F=" + std::to_string(d.F) + " K=" + std::to_string(d.K) + " stride=" + std::to_string(d.stride) +
               " dil=" + std::to_string(d.dilation) + " pad_left=" + std::to_string(d.pad_left) +
               " T_out=" + std::to_string(d.T_out));
  const Vec x = uniform(x_size(d), -1, 1, seed), w = uniform(w_size(d), -1, 1, seed + 1),
            b = uniform(size_t(d.F), -1, 1, seed + 2), dy = uniform(y_size(d), -1, 1, seed + 3),
            dw0 = uniform(w_size(d), -1, 1, seed + 4), db0 = uniform(size_t(d.F), -1, 1, seed + 5);
  auto absd = [](const Vec& v) {
    DVec o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i] = std::fabs(v[i]);
    return o;
  };
  const DVec xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
  const DVec xa = absd(x), wa = absd(w), ba = absd(b), dya = absd(dy);
  CpuBackend be;

  Vec y(y_size(d), kNaN);
  be.conv1d_forward(d, x.data(), w.data(), b.data(), y.data());
  DVec yr(y.size()), ya(y.size());
  sptrain::cpu::conv1d_forward_reference(d, xd.data(), wd.data(), bd.data(), yr.data());
  sptrain::cpu::conv1d_forward_reference(d, xa.data(), wa.data(), ba.data(), ya.data());
  EXPECT_TRUE(close_to(y, yr, ya, kBlasRel, 1e-6)) << "forward";

  Vec yn(y_size(d), kNaN);  // no bias
  be.conv1d_forward(d, x.data(), w.data(), nullptr, yn.data());
  DVec yrn(y.size());
  sptrain::cpu::conv1d_forward_reference<double>(d, xd.data(), wd.data(), nullptr, yrn.data());
  EXPECT_TRUE(close_to(yn, yrn, ya, kBlasRel, 1e-6)) << "forward without bias";

  Vec dx(x_size(d), kNaN);
  be.conv1d_backward_data(d, dy.data(), w.data(), dx.data());
  DVec dxr(dx.size()), dxa(dx.size());
  sptrain::cpu::conv1d_backward_data_reference(d, dyd.data(), wd.data(), dxr.data());
  sptrain::cpu::conv1d_backward_data_reference(d, dya.data(), wa.data(), dxa.data());
  EXPECT_TRUE(close_to(dx, dxr, dxa, kBlasRel, 1e-6)) << "backward data";

  Vec dw = dw0, db = db0;
  be.conv1d_backward_filter(d, x.data(), dy.data(), dw.data(), db.data());
  DVec dwr = to_double(dw0), dbr = to_double(db0), dwa = absd(dw0), dba = absd(db0);
  sptrain::cpu::conv1d_backward_filter_reference(d, xd.data(), dyd.data(), dwr.data(), dbr.data());
  sptrain::cpu::conv1d_backward_filter_reference(d, xa.data(), dya.data(), dwa.data(), dba.data());
  EXPECT_TRUE(close_to(dw, dwr, dwa, kBlasRel, 1e-6)) << "backward filter dw";
  EXPECT_TRUE(close_to(db, dbr, dba, kBlasRel, 1e-6)) << "backward filter db";

  Vec dw2 = dw0;  // db may be null
  be.conv1d_backward_filter(d, x.data(), dy.data(), dw2.data(), nullptr);
  EXPECT_TRUE(dw2 == dw) << "backward filter without db";
}

TEST(OpsCpuConv, BlasMatchesReferenceOnReportShapes) {
  // Report's switch-detection layer: K=10, dilation 8, causal, 32 -> 32 channels on 999 steps.
  check_conv_against_reference(conv_desc(3, 999, 32, 32, 10, 1, 8, Pad::Causal), 10);
  // Report's first layer on one channel: K=20 'same'.
  check_conv_against_reference(conv_desc(3, 999, 1, 32, 20, 1, 1, Pad::Same), 20);
  // Model-2-like layer, pointwise layer.
  check_conv_against_reference(conv_desc(2, 999, 32, 32, 4, 1, 1, Pad::Same), 30);
  check_conv_against_reference(conv_desc(2, 999, 32, 16, 1, 1, 1, Pad::Valid), 40);
  // Model 1's single-channel, single-filter layers and other thin (C_in * F <= 4) shapes, which
  // take the direct-loop path instead of im2col + sgemm.
  for (int K : {2, 3, 4, 10}) check_conv_against_reference(conv_desc(5, 100, 1, 1, K, 1, 1, Pad::Valid), 50 + K);
  check_conv_against_reference(conv_desc(3, 50, 2, 2, 3, 2, 2, Pad::Same), 70);
  check_conv_against_reference(conv_desc(2, 40, 1, 4, 5, 1, 4, Pad::Causal), 80);
  check_conv_against_reference(conv_desc(700, 30, 1, 1, 3, 1, 1, Pad::Valid), 90);  // several sample blocks
}

TEST(OpsCpuConv, BlasMatchesReferenceOnRandomShapes) {
  std::mt19937_64 g(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  for (int i = 0; i < 40; ++i) {
    const int K = pick(1, 8), stride = pick(1, 3), dil = std::array<int, 3>{1, 2, 4}[size_t(pick(0, 2))];
    const Pad pad = Pad(pick(0, 2));
    const int T_in = dil * (K - 1) + pick(1, 150);
    check_conv_against_reference(conv_desc(pick(1, 4), T_in, pick(1, 9), pick(1, 9), K, stride, dil, pad),
                                 100 + 10 * uint64_t(i));
  }
  // Wide rows (K*C_in = 2048) split into more fixed chunks than there are gradient slots, so
  // slots accumulate several chunks.
  check_conv_against_reference(conv_desc(10, 1000, 256, 4, 8, 1, 1, Pad::Same), 900);
}

TEST(OpsCpuConv, RejectsBadDescriptor) {
  CpuBackend be;
  Conv1dDesc d = conv_desc(1, 10, 1, 1, 3, 1, 1, Pad::Valid);
  d.stride = 0;
  Vec x(10), w(3), y(10);
  EXPECT_THROW(be.conv1d_forward(d, x.data(), w.data(), nullptr, y.data()), std::invalid_argument);
}

// --- Dense -------------------------------------------------------------------------------------

TEST(OpsCpuDense, MatchesFiniteDifferences) {
  const int rows = 5, in = 4, out = 3;
  const Vec x = uniform(size_t(rows) * in, -1, 1, 11), w = uniform(size_t(in) * out, -1, 1, 12),
            b = uniform(size_t(out), -1, 1, 13), r = uniform(size_t(rows) * out, -1, 1, 14);
  const DVec xd = to_double(x), wd = to_double(w), bd = to_double(b), rd = to_double(r);
  auto forward = [&](const DVec& xx, const DVec& ww, const DVec& bb) {
    DVec y(size_t(rows) * out);
    for (int i = 0; i < rows; ++i)
      for (int o = 0; o < out; ++o) {
        double s = bb[size_t(o)];
        for (int k = 0; k < in; ++k) s += xx[size_t(i * in + k)] * ww[size_t(k * out + o)];
        y[size_t(i * out + o)] = s;
      }
    return y;
  };
  CpuBackend be;
  Vec y(size_t(rows) * out, kNaN);
  be.dense_forward(rows, in, out, x.data(), w.data(), b.data(), y.data());
  const DVec yr = forward(xd, wd, bd);
  EXPECT_TRUE(close_to(y, yr, DVec(yr.size(), 1.0), kFewUlp)) << "forward";

  Vec dx(x.size(), kNaN), dw(w.size(), 0.5f), db(b.size(), -0.25f);
  be.dense_backward(rows, in, out, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data());
  for (auto& v : dw) v -= 0.5f;  // accumulated onto 0.5 (exact for these magnitudes up to rounding)
  for (auto& v : db) v += 0.25f;
  auto obj = [&](const DVec& xx, const DVec& ww, const DVec& bb) { return dot(rd, forward(xx, ww, bb)); };
  EXPECT_TRUE(grads_match(dx, numeric_grad(xd, [&](const DVec& v) { return obj(v, wd, bd); }))) << "dx";
  EXPECT_TRUE(grads_match(dw, numeric_grad(wd, [&](const DVec& v) { return obj(xd, v, bd); }))) << "dw";
  EXPECT_TRUE(grads_match(db, numeric_grad(bd, [&](const DVec& v) { return obj(xd, wd, v); }))) << "db";

  // dx may be null (first layer), db may be null (no bias); dw alone must not change.
  Vec dw2(w.size(), 0.5f);
  be.dense_backward(rows, in, out, x.data(), w.data(), r.data(), nullptr, dw2.data(), nullptr);
  for (auto& v : dw2) v -= 0.5f;
  EXPECT_TRUE(dw2 == dw);
}

// --- activations -------------------------------------------------------------------------------

double act_ref(Act a, double alpha, double x) {
  switch (a) {
    case Act::ReLU: return x > 0 ? x : 0;
    case Act::ELU: return x > 0 ? x : alpha * (std::exp(x) - 1);
    case Act::LeakyReLU: return x > 0 ? x : alpha * x;
    case Act::Tanh: return std::tanh(x);
    case Act::Sigmoid: return 1 / (1 + std::exp(-x));
    case Act::Softplus: return std::log1p(std::exp(x));
    case Act::Sqrt: return x >= 0 ? std::sqrt(x) : -std::sqrt(-x);
    case Act::Log: return std::log(std::max(x, 1e-20));
    case Act::Linear: return x;
  }
  return 0;
}

struct ActCase {
  const char* name;
  Act act;
  float alpha;
};

class OpsCpuAct : public ::testing::TestWithParam<ActCase> {};

TEST_P(OpsCpuAct, ValuesAndFiniteDifferences) {
  const ActCase c = GetParam();
  // Inputs in [-4, 4], kept 0.01 away from the kink at 0.
  Vec x = uniform(200, -4, 4, 21);
  for (auto& v : x)
    if (std::fabs(v) < 0.01f) v = 0.5f;
  const Vec r = uniform(x.size(), -1, 1, 22);
  CpuBackend be;
  Vec y(x.size());
  be.act_forward(c.act, c.alpha, x.data(), y.data(), x.size());
  DVec yr(x.size()), ya(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    yr[i] = act_ref(c.act, c.alpha, x[i]);
    ya[i] = std::fabs(yr[i]);
  }
  EXPECT_TRUE(close_to(y, yr, ya, kFewUlp, 1e-7)) << "forward";

  Vec dx(x.size());
  be.act_backward(c.act, c.alpha, y.data(), r.data(), dx.data(), x.size());
  const DVec rd = to_double(r);
  const DVec num = numeric_grad(to_double(x), [&](const DVec& v) {
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += rd[i] * act_ref(c.act, c.alpha, v[i]);
    return s;
  });
  EXPECT_TRUE(grads_match(dx, num));

  // In place: y aliasing x forward, dx aliasing dy backward.
  Vec yy = x, gg = r;
  be.act_forward(c.act, c.alpha, yy.data(), yy.data(), yy.size());
  be.act_backward(c.act, c.alpha, yy.data(), gg.data(), gg.data(), gg.size());
  EXPECT_TRUE(yy == y);
  EXPECT_TRUE(gg == dx);
}

INSTANTIATE_TEST_SUITE_P(All, OpsCpuAct,
                         ::testing::Values(ActCase{"linear", Act::Linear, 0}, ActCase{"relu", Act::ReLU, 0},
                                           ActCase{"elu", Act::ELU, 1.0f}, ActCase{"elu_alpha07", Act::ELU, 0.7f},
                                           ActCase{"leaky", Act::LeakyReLU, 0.3f}, ActCase{"tanh", Act::Tanh, 0},
                                           ActCase{"sigmoid", Act::Sigmoid, 0}, ActCase{"softplus", Act::Softplus, 0},
                                           ActCase{"sqrt", Act::Sqrt, 0}, ActCase{"log", Act::Log, 0}),
                         [](const ::testing::TestParamInfo<ActCase>& i) { return std::string(i.param.name); });

TEST(OpsCpuAct, DerivativeAtZeroIsTheLeftOne) {
  CpuBackend be;
  const float x = 0.0f, dy = 2.0f;
  auto grad = [&](Act a, float alpha) {
    float y, dx;
    be.act_forward(a, alpha, &x, &y, 1);
    be.act_backward(a, alpha, &y, &dy, &dx, 1);
    return dx;
  };
  EXPECT_EQ(grad(Act::ReLU, 0), 0.0f);  // ReLU'(0) = 0
  EXPECT_FLOAT_EQ(grad(Act::LeakyReLU, 0.3f), 0.6f);
  EXPECT_FLOAT_EQ(grad(Act::ELU, 0.7f), 1.4f);
  float big = 100.0f, y;  // saturating sigmoid stays finite
  be.act_forward(Act::Sigmoid, 0, &big, &y, 1);
  EXPECT_EQ(y, 1.0f);
  big = -100.0f;
  be.act_forward(Act::Sigmoid, 0, &big, &y, 1);
  EXPECT_EQ(y, 0.0f);
}

// --- pooling -----------------------------------------------------------------------------------

DVec maxpool_ref(const DVec& x, int N, int T_in, int C, int pool, int stride) {
  const int T_out = (T_in - pool) / stride + 1;
  DVec y(size_t(N) * T_out * C);
  for (int n = 0; n < N; ++n)
    for (int t = 0; t < T_out; ++t)
      for (int c = 0; c < C; ++c) {
        double m = -INFINITY;
        for (int j = 0; j < pool; ++j) m = std::max(m, x[size_t((n * T_in + t * stride + j) * C + c)]);
        y[size_t((n * T_out + t) * C + c)] = m;
      }
  return y;
}

TEST(OpsCpuPool, MaxPoolMatchesFiniteDifferences) {
  const int N = 2, T_in = 13, C = 3;
  // Distinct values on a grid 0.01 apart (shuffled): no ties within 2 FD steps.
  Vec x(size_t(N) * T_in * C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * float(i) - 0.3f;
  std::shuffle(x.begin(), x.end(), std::mt19937_64(31));
  CpuBackend be;
  for (auto ps : {std::pair{2, 2}, std::pair{3, 2}, std::pair{3, 1}, std::pair{4, 3}}) {
    const int pool = ps.first, stride = ps.second;  // plain variables: lambdas below capture them
    SCOPED_TRACE("pool " + std::to_string(pool) + " stride " + std::to_string(stride));
    const int T_out = (T_in - pool) / stride + 1;
    Vec y(size_t(N) * T_out * C), dx(x.size(), kNaN);
    std::vector<int32_t> arg(y.size());
    be.maxpool1d_forward(N, T_in, C, pool, stride, x.data(), y.data(), arg.data());
    const DVec yr = maxpool_ref(to_double(x), N, T_in, C, pool, stride);
    EXPECT_TRUE(close_to(y, yr, DVec(y.size(), 0.0), 0.0)) << "forward";
    const Vec r = uniform(y.size(), -1, 1, 32);
    be.maxpool1d_backward(N, T_in, T_out, C, arg.data(), r.data(), dx.data());
    const DVec rd = to_double(r);
    EXPECT_TRUE(grads_match(dx, numeric_grad(to_double(x), [&](const DVec& v) {
                              return dot(rd, maxpool_ref(v, N, T_in, C, pool, stride));
                            })));
  }
}

TEST(OpsCpuPool, MaxPoolTiesGoToTheFirstMaximum) {
  CpuBackend be;
  // One sample, one channel: window [5, 5, 1] ties at 0 and 1; with pool 3 stride 1 the overlapping
  // windows over [5, 5, 1, 5] pick times 0, 1 (window 1: 5, 1, 5 -> first is 1).
  const Vec x = {5, 5, 1, 5};
  Vec y(2), dx(4, kNaN);
  std::vector<int32_t> arg(2);
  be.maxpool1d_forward(1, 4, 1, 3, 1, x.data(), y.data(), arg.data());
  EXPECT_EQ(arg[0], 0);
  EXPECT_EQ(arg[1], 1);
  const Vec dy = {1.0f, 10.0f};
  be.maxpool1d_backward(1, 4, 2, 1, arg.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 10, 0, 0}));
  // Overlapping windows that choose the same element add up.
  const Vec x2 = {0, 9, 0, 0};
  be.maxpool1d_forward(1, 4, 1, 3, 1, x2.data(), y.data(), arg.data());
  be.maxpool1d_backward(1, 4, 2, 1, arg.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0, 11, 0, 0}));
  // Global: all equal -> time 0.
  const Vec x3 = {2, 7, 2, 7, 2, 7};  // (T=3, C=2)
  Vec g(2), gdx(6, kNaN);
  std::vector<int32_t> garg(2);
  be.global_maxpool_forward(1, 3, 2, x3.data(), g.data(), garg.data());
  EXPECT_EQ(garg, (std::vector<int32_t>{0, 0}));
  const Vec gdy = {3, 4};
  be.global_maxpool_backward(1, 3, 2, garg.data(), gdy.data(), gdx.data());
  EXPECT_EQ(gdx, (Vec{3, 4, 0, 0, 0, 0}));
}

TEST(OpsCpuPool, GlobalMaxPoolMatchesFiniteDifferences) {
  const int N = 3, T = 7, C = 2;
  Vec x(size_t(N) * T * C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * float(i);
  std::shuffle(x.begin(), x.end(), std::mt19937_64(41));
  CpuBackend be;
  Vec y(size_t(N) * C), dx(x.size(), kNaN);
  std::vector<int32_t> arg(y.size());
  be.global_maxpool_forward(N, T, C, x.data(), y.data(), arg.data());
  const DVec yr = maxpool_ref(to_double(x), N, T, C, T, 1);
  EXPECT_TRUE(close_to(y, yr, DVec(y.size(), 0.0), 0.0));
  const Vec r = uniform(y.size(), -1, 1, 42);
  be.global_maxpool_backward(N, T, C, arg.data(), r.data(), dx.data());
  const DVec rd = to_double(r);
  EXPECT_TRUE(grads_match(dx, numeric_grad(to_double(x), [&](const DVec& v) { return dot(rd, maxpool_ref(v, N, T, C, T, 1)); })));
}

// --- batch normalization -----------------------------------------------------------------------

DVec batchnorm_ref(const DVec& x, const DVec& gamma, const DVec& beta, int rows, int C, double eps) {
  DVec y(x.size());
  for (int c = 0; c < C; ++c) {
    double m = 0, v = 0;
    for (int r = 0; r < rows; ++r) m += x[size_t(r * C + c)];
    m /= rows;
    for (int r = 0; r < rows; ++r) v += (x[size_t(r * C + c)] - m) * (x[size_t(r * C + c)] - m);
    v /= rows;
    for (int r = 0; r < rows; ++r)
      y[size_t(r * C + c)] = gamma[size_t(c)] * (x[size_t(r * C + c)] - m) / std::sqrt(v + eps) + beta[size_t(c)];
  }
  return y;
}

TEST(OpsCpuBatchNorm, TrainingMatchesFiniteDifferences) {
  const int rows = 12, C = 3;
  const float eps = 1e-3f;
  Vec x = uniform(size_t(rows) * C, -1, 1, 51);
  for (int r = 0; r < rows; ++r) x[size_t(r * C + 1)] = 3.0f + 2.0f * x[size_t(r * C + 1)];  // other mean/scale
  const Vec gamma = {1.5f, -0.7f, 0.9f}, beta = {0.1f, 0.2f, -0.3f}, r = uniform(x.size(), -1, 1, 52);
  const DVec xd = to_double(x), gd = to_double(gamma), bd = to_double(beta), rd = to_double(r);
  CpuBackend be;
  Vec y(x.size()), rm(size_t(C), 0.0f), rv(size_t(C), 1.0f), sm(static_cast<size_t>(C)), si(static_cast<size_t>(C));
  be.batchnorm_forward_train(rows, C, x.data(), gamma.data(), beta.data(), eps, 0.99f, rm.data(), rv.data(), y.data(),
                             sm.data(), si.data(), nullptr);
  const DVec yr = batchnorm_ref(xd, gd, bd, rows, C, eps);
  EXPECT_TRUE(close_to(y, yr, DVec(y.size(), 4.0), kFewUlp)) << "forward";
  Vec dx(x.size(), kNaN), dg(size_t(C), 0.0f), dbt(size_t(C), 0.0f);
  be.batchnorm_backward(rows, C, x.data(), r.data(), gamma.data(), sm.data(), si.data(), dx.data(), dg.data(),
                        dbt.data(), nullptr);
  auto obj = [&](const DVec& xx, const DVec& gg, const DVec& bb) {
    return dot(rd, batchnorm_ref(xx, gg, bb, rows, C, eps));
  };
  EXPECT_TRUE(grads_match(dx, numeric_grad(xd, [&](const DVec& v) { return obj(v, gd, bd); }))) << "dx";
  EXPECT_TRUE(grads_match(dg, numeric_grad(gd, [&](const DVec& v) { return obj(xd, v, bd); }))) << "dgamma";
  EXPECT_TRUE(grads_match(dbt, numeric_grad(bd, [&](const DVec& v) { return obj(xd, gd, v); }))) << "dbeta";
}

TEST(OpsCpuBatchNorm, RunningStatisticsAfterTwoSteps) {
  // rows = 4, C = 2, momentum 0.9, running stats start at Keras' (0, 1).
  // Channel 0: step 1 {1,2,3,4}: mean 2.5, biased var 1.25, unbiased 5/3;
  //            step 2 {0,0,2,2}: mean 1, biased var 1, unbiased 4/3.
  //   running_mean = 0.9 * (0.9*0 + 0.1*2.5) + 0.1*1 = 0.325
  //   running_var  = 0.9 * (0.9*1 + 0.1*5/3) + 0.1*4/3 = 0.96 + 0.1333... = 1.0933...
  // Channel 1: step 1 {-2,-2,-2,-2}: mean -2, var 0; step 2 {1,3,5,7}: mean 4, biased 5, unbiased 20/3.
  //   running_mean = 0.9 * (0.1*-2) + 0.1*4 = 0.22;  running_var = 0.9 * 0.9 + 0.1*20/3 = 1.47666...
  const Vec x1 = {1, -2, 2, -2, 3, -2, 4, -2}, x2 = {0, 1, 0, 3, 2, 5, 2, 7};
  const Vec gamma = {2.0f, 0.5f}, beta = {1.0f, -1.0f};
  const float eps = 1e-3f;
  CpuBackend be;
  Vec rm = {0, 0}, rv = {1, 1}, y(8), sm(2), si(2);
  be.batchnorm_forward_train(4, 2, x1.data(), gamma.data(), beta.data(), eps, 0.9f, rm.data(), rv.data(), y.data(),
                             sm.data(), si.data(), nullptr);
  be.batchnorm_forward_train(4, 2, x2.data(), gamma.data(), beta.data(), eps, 0.9f, rm.data(), rv.data(), y.data(),
                             sm.data(), si.data(), nullptr);
  EXPECT_NEAR(rm[0], 0.325, 1e-6);
  EXPECT_NEAR(rv[0], 0.96 + 0.4 / 3, 1e-6);
  EXPECT_NEAR(rm[1], 0.22, 1e-6);
  EXPECT_NEAR(rv[1], 0.81 + 2.0 / 3, 1e-6);
  EXPECT_FLOAT_EQ(sm[0], 1.0f);
  EXPECT_FLOAT_EQ(sm[1], 4.0f);
  EXPECT_NEAR(si[0], 1 / std::sqrt(1.0 + eps), 1e-6);
  EXPECT_NEAR(si[1], 1 / std::sqrt(5.0 + eps), 1e-6);
  // Step 2 output: gamma (x - mean) / sqrt(var + eps) + beta with the batch (biased) statistics.
  EXPECT_NEAR(y[0], 2.0 * (0 - 1) / std::sqrt(1.0 + eps) + 1.0, 1e-6);
  EXPECT_NEAR(y[7], 0.5 * (7 - 4) / std::sqrt(5.0 + eps) - 1.0, 1e-6);
}

// An all-gather between threads (one CPU backend each): the collective the trainer's BatchNormSync
// runs over MPI, here inside one process so that the ops' combination is tested without mpirun.
class ThreadGather {
 public:
  explicit ThreadGather(int ranks) : slots_(size_t(ranks)), bar_(ranks) {}
  class Rank : public sptrain::BatchNormSync {
   public:
    Rank(ThreadGather& g, int r) : g_(g), r_(r) {}
    void allgather(const double* mine, size_t n, double* all) override {
      g_.slots_[size_t(r_)].assign(mine, mine + n);
      g_.bar_.arrive_and_wait();  // every slot written
      for (size_t q = 0; q < g_.slots_.size(); ++q) std::copy_n(g_.slots_[q].data(), n, all + q * n);
      g_.bar_.arrive_and_wait();  // every slot read before the next gather overwrites it
    }
    int ranks() const override { return int(g_.slots_.size()); }

   private:
    ThreadGather& g_;
    int r_;
  };

 private:
  std::vector<DVec> slots_;
  std::barrier<> bar_;
};

// Synchronized statistics: the rows split over 3 backends of unequal parts (7, 11, 5), each
// normalizing with the statistics combined over the parts, give what one backend holding every
// row gives. The statistics agree in double to about 1e-15 relative (the parts' sums and the
// pairwise variance update reassociate the whole's sums) and are rounded to float once, so they are
// equal or one ulp (6e-8 relative) apart: y, dx and the running statistics within a few ulp of
// their magnitude (kFewUlp = 1e-6 of 1 + |value|), and the parts' dgamma, dbeta (each part's own
// sums, rounded to float and added) within a few ulp of the whole's. A per-part (unsynchronized)
// normalization differs from the whole's by percents, which the same check would catch (asserted).
// One part through the synchronized path is bitwise the plain op.
TEST(OpsCpuBatchNorm, SynchronizedPartsNormalizeAsTheWholeBatch) {
  const int C = 3, parts[] = {7, 11, 5}, rows = 23;
  Vec x = uniform(size_t(rows) * C, -1, 1, 71);
  for (int r = 0; r < rows; ++r) x[size_t(r * C + 2)] = 4.0f + 3.0f * x[size_t(r * C + 2)];  // other mean/scale
  const Vec gamma = {1.5f, -0.7f, 0.9f}, beta = {0.1f, 0.2f, -0.3f}, dy = uniform(x.size(), -1, 1, 72);
  struct Out {
    Vec y, rm, rv, dx, dg, db;
  };
  // Rows [first, first + n) through one backend, combined over `sync` when given.
  auto run = [&](int first, int n, sptrain::BatchNormSync* sync) {
    CpuBackend be;
    Out o{Vec(size_t(n) * C), Vec(size_t(C), 0.1f), Vec(size_t(C), 1.0f), Vec(size_t(n) * C), Vec(size_t(C), 0.0f),
          Vec(size_t(C), 0.0f)};
    Vec sm(static_cast<size_t>(C)), si(static_cast<size_t>(C));
    const float* xp = x.data() + size_t(first) * C;
    be.batchnorm_forward_train(n, C, xp, gamma.data(), beta.data(), 1e-3f, 0.9f, o.rm.data(), o.rv.data(), o.y.data(),
                               sm.data(), si.data(), sync);
    be.batchnorm_backward(n, C, xp, dy.data() + size_t(first) * C, gamma.data(), sm.data(), si.data(), o.dx.data(),
                          o.dg.data(), o.db.data(), sync);
    return o;
  };
  const Out whole = run(0, rows, nullptr);
  auto near = [](const Vec& got, const Vec& want) {
    DVec scale(want.size());
    for (size_t i = 0; i < want.size(); ++i) scale[i] = 1 + std::fabs(double(want[i]));
    return close_to(got, to_double(want), scale, kFewUlp);
  };
  std::vector<Out> out(3);
  ThreadGather g(3);
  {
    std::vector<std::thread> threads;
    for (int p = 0, first = 0; p < 3; first += parts[p], ++p)
      threads.emplace_back([&, p, first] {
        ThreadGather::Rank sync(g, p);
        out[size_t(p)] = run(first, parts[p], &sync);
      });
    for (std::thread& t : threads) t.join();
  }
  Vec y, dx, dg(size_t(C), 0.0f), db(size_t(C), 0.0f);
  for (const Out& o : out) {
    y.insert(y.end(), o.y.begin(), o.y.end());
    dx.insert(dx.end(), o.dx.begin(), o.dx.end());
    for (int c = 0; c < C; ++c) dg[size_t(c)] += o.dg[size_t(c)], db[size_t(c)] += o.db[size_t(c)];
    EXPECT_TRUE(near(o.rm, whole.rm)) << "running mean";
    EXPECT_TRUE(near(o.rv, whole.rv)) << "running variance";
    EXPECT_TRUE(o.rm == out[0].rm && o.rv == out[0].rv) << "every part holds the same running statistics";
  }
  EXPECT_TRUE(near(y, whole.y)) << "y";
  EXPECT_TRUE(near(dx, whole.dx)) << "dx";
  EXPECT_TRUE(near(dg, whole.dg)) << "dgamma";
  EXPECT_TRUE(near(db, whole.db)) << "dbeta";
  const Out alone = run(0, parts[0], nullptr);  // the first part's own statistics
  EXPECT_FALSE(near(alone.y, Vec(whole.y.begin(), whole.y.begin() + parts[0] * C))) << "per-part statistics";
  ThreadGather one(1);
  ThreadGather::Rank sync(one, 0);
  const Out synced = run(0, rows, &sync);
  EXPECT_TRUE(synced.y == whole.y && synced.rm == whole.rm && synced.rv == whole.rv && synced.dx == whole.dx &&
              synced.dg == whole.dg && synced.db == whole.db)
      << "one rank: bitwise the plain op";
}

TEST(OpsCpuBatchNorm, InferenceUsesRunningStatistics) {
  const int rows = 6, C = 2;
  const Vec x = uniform(size_t(rows) * C, -2, 2, 61);
  const Vec gamma = {1.3f, 0.4f}, beta = {-0.2f, 0.7f}, rm = {0.3f, -1.1f}, rv = {0.8f, 2.5f};
  const float eps = 1e-3f;
  CpuBackend be;
  Vec y(x.size());
  be.batchnorm_forward_infer(rows, C, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), eps, y.data());
  DVec yr(x.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < C; ++c)
      yr[size_t(r * C + c)] =
          double(gamma[size_t(c)]) * (x[size_t(r * C + c)] - double(rm[size_t(c)])) / std::sqrt(double(rv[size_t(c)]) + eps) +
          beta[size_t(c)];
  EXPECT_TRUE(close_to(y, yr, DVec(y.size(), 4.0), kFewUlp));
}

// --- softmax -----------------------------------------------------------------------------------

DVec softmax_ref(const DVec& x, int rows, int C) {
  DVec y(x.size());
  for (int r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (int c = 0; c < C; ++c) m = std::max(m, x[size_t(r * C + c)]);
    for (int c = 0; c < C; ++c) s += std::exp(x[size_t(r * C + c)] - m);
    for (int c = 0; c < C; ++c) y[size_t(r * C + c)] = std::exp(x[size_t(r * C + c)] - m) / s;
  }
  return y;
}

TEST(OpsCpuSoftmax, ValuesAndFiniteDifferences) {
  const int rows = 4, C = 5;
  Vec x = uniform(size_t(rows) * C, -3, 3, 71);
  x[0] = 60.0f;  // large logit: no overflow
  const Vec r = uniform(x.size(), -1, 1, 72);
  CpuBackend be;
  Vec y(x.size()), dx(x.size());
  be.softmax_forward(rows, C, x.data(), y.data());
  const DVec yr = softmax_ref(to_double(x), rows, C);
  EXPECT_TRUE(close_to(y, yr, yr, kFewUlp, 1e-9));
  be.softmax_backward(rows, C, y.data(), r.data(), dx.data());
  const DVec rd = to_double(r);
  EXPECT_TRUE(grads_match(dx, numeric_grad(to_double(x), [&](const DVec& v) { return dot(rd, softmax_ref(v, rows, C)); })));
}

// --- losses ------------------------------------------------------------------------------------

// Keras definitions, in double. Cross-entropies take logits.
double loss_ref(LossKind k, const DVec& p, const DVec& y, int rows, int C) {
  double s = 0;
  if (k == LossKind::CategoricalCrossEntropy) {
    for (int r = 0; r < rows; ++r) {
      double m = -INFINITY, e = 0;
      for (int c = 0; c < C; ++c) m = std::max(m, p[size_t(r * C + c)]);
      for (int c = 0; c < C; ++c) e += std::exp(p[size_t(r * C + c)] - m);
      const double lse = m + std::log(e);
      for (int c = 0; c < C; ++c) s -= y[size_t(r * C + c)] * (p[size_t(r * C + c)] - lse);
    }
    return s / rows;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const double pi = p[i], yi = y[i];
    switch (k) {
      case LossKind::MSE: s += (pi - yi) * (pi - yi); break;
      case LossKind::MAE: s += std::fabs(pi - yi); break;
      case LossKind::MAPE: s += 100 * std::fabs(yi - pi) / std::max(std::fabs(yi), 1e-7); break;
      case LossKind::Poisson: s += pi - yi * std::log(pi + 1e-7); break;
      case LossKind::BinaryCrossEntropy: s += std::max(pi, 0.0) - pi * yi + std::log1p(std::exp(-std::fabs(pi))); break;
      default: break;
    }
  }
  return s / double(p.size());
}

struct LossCase {
  const char* name;
  LossKind kind;
};

class OpsCpuLoss : public ::testing::TestWithParam<LossCase> {};

TEST_P(OpsCpuLoss, ValueAndFiniteDifferences) {
  const LossKind k = GetParam().kind;
  const int rows = 6, C = 3;
  const size_t n = size_t(rows) * C;
  Vec p = uniform(n, -2, 2, 81), y = uniform(n, -2, 2, 82);
  switch (k) {
    case LossKind::MAPE: y = uniform(n, 0.5f, 3, 82); break;     // |y| away from 0 (and one sign flip)
    case LossKind::Poisson: p = uniform(n, 0.1f, 3, 81), y = uniform(n, 0, 4, 82); break;
    case LossKind::BinaryCrossEntropy: p = uniform(n, -5, 5, 81), y = uniform(n, 0, 1, 82); break;
    case LossKind::CategoricalCrossEntropy:
      p = uniform(n, -4, 4, 81);
      for (int r = 0; r < rows; ++r) {  // probability rows
        float s = 0;
        for (int c = 0; c < C; ++c) s += y[size_t(r * C + c)] = std::fabs(y[size_t(r * C + c)]) + 0.1f;
        for (int c = 0; c < C; ++c) y[size_t(r * C + c)] /= s;
      }
      for (int c = 0; c < C; ++c) y[size_t(c)] *= 1.5f;  // a row not summing to 1: the exact derivative
      break;
    default: break;
  }
  if (k == LossKind::MAPE) y[3] = -y[3];
  const float scale = 1.7f;
  CpuBackend be;
  Vec dp(n, kNaN);
  const double v = be.loss(k, rows, C, p.data(), y.data(), dp.data(), scale);
  const DVec pd = to_double(p), yd = to_double(y);
  const double vr = loss_ref(k, pd, yd, rows, C);
  EXPECT_NEAR(v, vr, kLossRel * std::fabs(vr));
  EXPECT_EQ(be.loss(k, rows, C, p.data(), y.data(), nullptr, scale), v) << "value without gradient";
  EXPECT_TRUE(grads_match(dp, numeric_grad(pd, [&](const DVec& q) { return scale * loss_ref(k, q, yd, rows, C); })));
}

INSTANTIATE_TEST_SUITE_P(All, OpsCpuLoss,
                         ::testing::Values(LossCase{"mse", LossKind::MSE}, LossCase{"mae", LossKind::MAE},
                                           LossCase{"mape", LossKind::MAPE}, LossCase{"poisson", LossKind::Poisson},
                                           LossCase{"bce", LossKind::BinaryCrossEntropy},
                                           LossCase{"cce", LossKind::CategoricalCrossEntropy}),
                         [](const ::testing::TestParamInfo<LossCase>& i) { return std::string(i.param.name); });

TEST(OpsCpuLoss, CrossEntropyMatchesTheNaiveFormulaForModerateLogits) {
  CpuBackend be;
  // BCE from logits z == -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)).
  const Vec z = {-2.0f, 0.3f, 1.5f, 4.0f}, t = {0.0f, 1.0f, 0.25f, 1.0f};
  double naive = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    const double s = 1 / (1 + std::exp(-double(z[i])));
    naive += -t[i] * std::log(s) - (1 - t[i]) * std::log(1 - s);
  }
  EXPECT_NEAR(be.loss(LossKind::BinaryCrossEntropy, 2, 2, z.data(), t.data(), nullptr, 1), naive / 4, 1e-6);
  // CCE from logits == -sum y log softmax(z), mean over rows.
  const Vec zc = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f}, yc = {0, 1, 0, 0.2f, 0.3f, 0.5f};
  double cce = 0;
  const DVec sm = softmax_ref(to_double(zc), 2, 3);
  for (size_t i = 0; i < zc.size(); ++i) cce -= yc[i] * std::log(sm[i]);
  EXPECT_NEAR(be.loss(LossKind::CategoricalCrossEntropy, 2, 3, zc.data(), yc.data(), nullptr, 1), cce / 2, 1e-6);
}

TEST(OpsCpuLoss, ExtremeLogitsStayFinite) {
  CpuBackend be;
  const Vec z = {50, -50, 50, -50}, t = {0, 1, 1, 0};
  Vec dz(4);
  const double bce = be.loss(LossKind::BinaryCrossEntropy, 1, 4, z.data(), t.data(), dz.data(), 1);
  EXPECT_NEAR(bce, 25.0, 1e-5);  // (50 + 50 + ~0 + ~0) / 4
  EXPECT_NEAR(dz[0], 0.25, 1e-7);  // (sigmoid(50) - 0) / 4
  EXPECT_NEAR(dz[1], -0.25, 1e-7);
  EXPECT_NEAR(dz[2], 0.0, 1e-7);
  EXPECT_NEAR(dz[3], 0.0, 1e-7);

  const Vec zc = {50, -50, 0, -50, 50, 0}, yc = {0, 1, 0, 0, 1, 0};  // wrong class, right class
  Vec dzc(6);
  const double cce = be.loss(LossKind::CategoricalCrossEntropy, 2, 3, zc.data(), yc.data(), dzc.data(), 1);
  EXPECT_NEAR(cce, 50.0, 1e-4);  // (100 + ~0) / 2
  for (float g : dzc) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(dzc[0], 0.5, 1e-6);  // (softmax - y) / rows
  EXPECT_NEAR(dzc[1], -0.5, 1e-6);
  EXPECT_NEAR(dzc[4], 0.0, 1e-6);
}

TEST(OpsCpuLoss, KerasEdgeCases) {
  CpuBackend be;
  // MAPE with y = 0 divides by 1e-7 (Keras epsilon); |.| has zero slope at p == y.
  const Vec p = {1e-7f, 2.0f}, y = {0.0f, 2.0f};
  Vec dp(2);
  const double mape = be.loss(LossKind::MAPE, 1, 2, p.data(), y.data(), dp.data(), 1);
  EXPECT_NEAR(mape, 100.0 * (1e-7 / 1e-7 + 0) / 2, 1e-3);
  EXPECT_EQ(dp[1], 0.0f);
  EXPECT_EQ(be.loss(LossKind::MAE, 1, 2, y.data(), y.data(), dp.data(), 1), 0.0);
  EXPECT_EQ(dp[0], 0.0f);
  // Poisson at p = 0 uses log(1e-7).
  const Vec p0 = {0.0f}, y1 = {1.0f};
  float dp0 = 0;
  EXPECT_NEAR(be.loss(LossKind::Poisson, 1, 1, p0.data(), y1.data(), &dp0, 1), -std::log(1e-7), 1e-4);
  EXPECT_NEAR(dp0, 1 - 1e7, 1.0);  // 1 - y / (p + 1e-7)
}

// --- optimizers --------------------------------------------------------------------------------

// Step scalars of an unclipped step at lr, t (host memory is the CPU backend's memory).
std::array<double, sptrain::kStepScalars> unclipped(double lr, int64_t t) {
  std::array<double, sptrain::kStepScalars> s{};
  s[sptrain::kLr] = lr;
  s[sptrain::kT] = double(t);
  return s;
}

TEST(OpsCpuOptim, AdamMatchesHandComputation) {
  const float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
  // Step 1 by hand: m = 0.1 g, v = 0.001 g^2, lr_1 = lr sqrt(0.001) / 0.1, so
  // p -= lr g / (|g| + eps / sqrt(0.001)): p = 1, g = 0.5 -> 1 - 0.1 * 0.5 / (0.5 + 3.1623e-6).
  CpuBackend be;
  Vec p = {1.0f, -2.0f, 0.5f}, m(3, 0.0f), v(3, 0.0f);
  std::vector<Vec> grads = {{0.5f, -1.0f, 0.0f}, {0.25f, 2.0f, -0.1f}, {-1.0f, 0.5f, 0.3f}};
  be.adam_step_dev(p.data(), grads[0].data(), m.data(), v.data(), 3, b1, b2, eps, unclipped(lr, 1).data());
  EXPECT_NEAR(p[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-7 / std::sqrt(0.001)), 1e-6);
  EXPECT_NEAR(p[1], -2.0 + 0.1 * 1.0 / (1.0 + 1e-7 / std::sqrt(0.001)), 1e-6);
  EXPECT_EQ(p[2], 0.5f);  // zero gradient, zero moments: no move
  // Steps 2 and 3 against the formula in double.
  DVec pd = {1.0, -2.0, 0.5}, md(3, 0.0), vd(3, 0.0);
  for (int t = 1; t <= 3; ++t) {
    if (t > 1)
      be.adam_step_dev(p.data(), grads[size_t(t - 1)].data(), m.data(), v.data(), 3, b1, b2, eps,
                       unclipped(lr, t).data());
    const double lr_t = lr * std::sqrt(1 - std::pow(double(b2), t)) / (1 - std::pow(double(b1), t));
    for (size_t i = 0; i < 3; ++i) {
      const double g = grads[size_t(t - 1)][i];
      md[i] = b1 * md[i] + (1 - double(b1)) * g;
      vd[i] = b2 * vd[i] + (1 - double(b2)) * g * g;
      pd[i] -= lr_t * md[i] / (std::sqrt(vd[i]) + eps);
    }
  }
  EXPECT_TRUE(close_to(p, pd, DVec(3, 2.0), kFewUlp)) << "p";
  EXPECT_TRUE(close_to(m, md, DVec(3, 1.0), kFewUlp)) << "m";
  EXPECT_TRUE(close_to(v, vd, DVec(3, 4.0), kFewUlp)) << "v";
}

TEST(OpsCpuOptim, SgdMomentumAndNesterovMatchHandComputation) {
  // lr 0.1, momentum 0.9, gradients 0.5, -0.25, 1 on p = 1:
  //   momentum: vel -0.05, -0.02, -0.118;  p 0.95, 0.93, 0.812
  //   nesterov: same vel;  p = p + 0.9 vel - 0.1 g: 0.905, 0.912, 0.7058
  CpuBackend be;
  float gs[3] = {0.5f, -0.25f, 1.0f};
  const auto s01 = unclipped(0.1, 1);
  Vec p = {1.0f}, vel = {0.0f}, pn = {1.0f}, veln = {0.0f};
  const double want_p[3] = {0.95, 0.93, 0.812}, want_pn[3] = {0.905, 0.912, 0.7058}, want_v[3] = {-0.05, -0.02, -0.118};
  for (int s = 0; s < 3; ++s) {
    be.sgd_step_dev(p.data(), &gs[s], vel.data(), 1, 0.9f, false, s01.data());
    be.sgd_step_dev(pn.data(), &gs[s], veln.data(), 1, 0.9f, true, s01.data());
    EXPECT_NEAR(p[0], want_p[s], 1e-6) << "step " << s;
    EXPECT_NEAR(vel[0], want_v[s], 1e-6) << "step " << s;
    EXPECT_NEAR(pn[0], want_pn[s], 1e-6) << "step " << s;
    EXPECT_NEAR(veln[0], want_v[s], 1e-6) << "step " << s;
  }
  // Plain SGD needs no velocity slab.
  Vec q = {1.0f};
  be.sgd_step_dev(q.data(), &gs[0], nullptr, 1, 0.0f, false, s01.data());
  EXPECT_FLOAT_EQ(q[0], 0.95f);
  EXPECT_THROW(be.sgd_step_dev(q.data(), &gs[0], nullptr, 1, 0.9f, false, s01.data()), std::invalid_argument);
}

// --- small ops ---------------------------------------------------------------------------------

TEST(OpsCpuMisc, ElementwiseCopiesAndReductions) {
  CpuBackend be;
  EXPECT_EQ(be.device().str(), "cpu");
  const Buffer<float> ab = be.alloc<float>(1000);
  float* a = ab.get();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  be.fill(a, 1.0f, 1000);
  Vec h(1000);
  be.download(h.data(), a, 1000);
  EXPECT_EQ(h, Vec(1000, 1.0f));
  const Vec x = uniform(1000, -1, 1, 91);
  be.upload(a, x.data(), 1000);
  be.axpy(2.0f, x.data(), a, 1000);
  be.download(h.data(), a, 1000);
  for (size_t i = 0; i < 1000; ++i) EXPECT_EQ(h[i], x[i] + 2.0f * x[i]);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  EXPECT_NEAR(sum_squares(be, x.data(), 1000), ss, 1e-12 * ss);
  Vec bad = x;
  bad[777] = INFINITY;
  EXPECT_EQ(sum_squares(be, bad.data(), 1000), INFINITY);  // a diverged gradient shows in its norm
  bad[777] = kNaN;
  EXPECT_TRUE(std::isnan(sum_squares(be, bad.data(), 1000)));
  double none = -1;
  be.sum_squares_to(x.data(), 0, &none);
  EXPECT_EQ(none, 0.0);
  EXPECT_EQ(be.alloc<int32_t>(10).size(), 10u);

  // copy2d / add2d: a 3x2 block between row strides 4 and 5.
  const Vec src = {1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0};
  Vec dst(15, -1.0f);
  be.copy2d(3, 2, src.data(), 4, dst.data(), 5);
  EXPECT_EQ(dst, (Vec{1, 2, -1, -1, -1, 3, 4, -1, -1, -1, 5, 6, -1, -1, -1}));
  be.add2d(3, 2, src.data(), 4, dst.data(), 5);
  EXPECT_EQ(dst, (Vec{2, 4, -1, -1, -1, 6, 8, -1, -1, -1, 10, 12, -1, -1, -1}));
}

TEST(OpsCpuMisc, MakeBackend) {
  EXPECT_FALSE(sptrain::make_backend(sptrain::Device::cpu())->device().is_cuda());
  EXPECT_THROW(sptrain::make_backend(sptrain::Device::cuda(0)), sptrain::UsageError);
}

// --- determinism across thread counts ---------------------------------------------------------

TEST(OpsCpuDeterminism, SameBytesForAnyThreadCount) {
  CpuBackend be;
  {
    // Several row chunks and gradient slots; causal dilated.
    const Conv1dDesc d = conv_desc(48, 999, 8, 16, 5, 1, 2, Pad::Causal);
    const Vec x = uniform(x_size(d), -1, 1, 101), w = uniform(w_size(d), -1, 1, 102),
              b = uniform(size_t(d.F), -1, 1, 103), dy = uniform(y_size(d), -1, 1, 104);
    expect_thread_invariant("conv1d", [&] {
      Vec y(y_size(d)), dx(x_size(d)), dw(w_size(d), 0.0f), db(size_t(d.F), 0.0f);
      be.conv1d_forward(d, x.data(), w.data(), b.data(), y.data());
      be.conv1d_backward_data(d, dy.data(), w.data(), dx.data());
      be.conv1d_backward_filter(d, x.data(), dy.data(), dw.data(), db.data());
      return bytes_of(y) + bytes_of(dx) + bytes_of(dw) + bytes_of(db);
    });
  }
  {
    const int rows = 30000, in = 24, out = 16;
    const Vec x = uniform(size_t(rows) * in, -1, 1, 111), w = uniform(size_t(in) * out, -1, 1, 112),
              dy = uniform(size_t(rows) * out, -1, 1, 113);
    expect_thread_invariant("dense", [&] {
      Vec y(size_t(rows) * out), dx(x.size()), dw(w.size(), 0.0f), db(size_t(out), 0.0f);
      be.dense_forward(rows, in, out, x.data(), w.data(), nullptr, y.data());
      be.dense_backward(rows, in, out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
      return bytes_of(y) + bytes_of(dx) + bytes_of(dw) + bytes_of(db);
    });
  }
  {
    const int rows = 50000, C = 8;
    const Vec x = uniform(size_t(rows) * C, -3, 5, 121), dy = uniform(x.size(), -1, 1, 122);
    const Vec gamma = uniform(size_t(C), 0.5f, 2, 123), beta = uniform(size_t(C), -1, 1, 124);
    expect_thread_invariant("batchnorm", [&] {
      Vec y(x.size()), rm(size_t(C), 0.0f), rv(size_t(C), 1.0f), sm(static_cast<size_t>(C)), si(static_cast<size_t>(C)), dx(x.size()),
          dg(size_t(C), 0.0f), dbt(size_t(C), 0.0f);
      be.batchnorm_forward_train(rows, C, x.data(), gamma.data(), beta.data(), 1e-3f, 0.99f, rm.data(), rv.data(),
                                 y.data(), sm.data(), si.data(), nullptr);
      be.batchnorm_backward(rows, C, x.data(), dy.data(), gamma.data(), sm.data(), si.data(), dx.data(), dg.data(),
                            dbt.data(), nullptr);
      return bytes_of(y) + bytes_of(rm) + bytes_of(rv) + bytes_of(dx) + bytes_of(dg) + bytes_of(dbt);
    });
  }
  {
    const int rows = 40000, C = 4;
    const Vec p = uniform(size_t(rows) * C, -3, 3, 131), t = uniform(p.size(), 0, 1, 132);
    for (LossKind k : {LossKind::MSE, LossKind::BinaryCrossEntropy, LossKind::CategoricalCrossEntropy}) {
      expect_thread_invariant("loss " + std::to_string(int(k)), [&] {
        Vec dp(p.size());
        const double v = be.loss(k, rows, C, p.data(), t.data(), dp.data(), 1.0f);
        return bytes_of(v) + bytes_of(dp);
      });
    }
    expect_thread_invariant("sum_squares", [&] { return bytes_of(sum_squares(be, p.data(), p.size())); });
  }
}

}  // namespace

// --- bodies shared with the CUDA backend that the layer tests above do not reach ---------------

#include "convert.cuh"
#include "targets.cuh"

// bf16 rounding: exact values survive, halfway cases go to the even neighbour, overflow to inf,
// NaN stays NaN; the rounding error is at most half a bf16 ulp (8 significant bits: 2^-8 relative).
TEST(OpsCpu, Bf16ConversionRoundsToNearestEven) {
  using sptrain::ops::bf16_to_float;
  using sptrain::ops::float_to_bf16;
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.0f)), -2.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1). 1 + 3*2^-8 -> 1 + 2^-6 (even).
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(3.4e38f))));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 100.0f);
  for (int i = 0; i < 100000; ++i) {
    const float x = nd(rng), y = bf16_to_float(float_to_bf16(x));
    ASSERT_LE(std::abs(y - x), std::ldexp(std::abs(x), -8)) << x;
  }
}

// Targets per label kind, as the trainer and the CUDA batch source both write them.
TEST(OpsCpu, TargetRowsFollowTheLabel) {
  using namespace sptrain::ops;
  float y[3];
  target_row(kTargetSigma, 1, 99, 2.5f, 3, 10.25f, 1, y);
  EXPECT_EQ(y[0], 2.5f);
  target_row(kTargetNSwitchesPlusOne, 1, 99, 2.5f, 3, 10.25f, 1, y);
  EXPECT_EQ(y[0], 4.0f);
  target_row(kTargetSwitchTime, 1, 99, 2.5f, 3, 10.25f, 1, y);
  EXPECT_EQ(y[0], 10.25f);
  target_row(kTargetSwitchTime, 1, 99, 2.5f, 0, NAN, 1, y);
  EXPECT_EQ(y[0], 99.0f);  // no switch: the end
  target_row(kTargetHasSwitch, 2, 99, 2.5f, 0, NAN, 1, y);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  target_row(kTargetInitialState, 3, 99, 2.5f, 0, NAN, 2, y);
  EXPECT_EQ(y[0] + y[1], 0.0f);
  EXPECT_EQ(y[2], 1.0f);
  uint64_t counter = 7;
  advance_index(&counter, 5);
  EXPECT_EQ(counter, 12u);
}

// A clipped step equals the unclipped step on the gradient scaled first by the float clip / norm,
// bitwise, with clipping active and inactive; the clipped gradient is left in g.
TEST(OpsCpu, ClippedStepsScaleTheGradientFirst) {
  CpuBackend be;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  const size_t n = 1000;
  for (const double clip : {0.0, 1e-3, 1e6}) {
    for (const bool adam : {true, false}) {
      Vec p(n), g(n), m(n, 0.1f), v(n, 0.2f);
      for (size_t i = 0; i < n; ++i) p[i] = nd(rng), g[i] = nd(rng);
      Vec p2 = p, g2 = g, m2 = m, v2 = v;
      const double gn2 = sum_squares(be, g.data(), n);
      double s[sptrain::kStepScalars] = {};
      s[sptrain::kLr] = 3e-3;
      s[sptrain::kT] = 7;
      s[sptrain::kClipNorm] = clip;
      s[sptrain::kGradSq] = gn2;
      if (clip > 0 && std::sqrt(gn2) > clip) {
        const float f = float(clip / std::sqrt(gn2));
        for (float& x : g) x *= f;
      }
      const auto plain = unclipped(3e-3, 7);
      if (adam) {
        be.adam_step_dev(p.data(), g.data(), m.data(), v.data(), n, 0.9f, 0.999f, 1e-7f, plain.data());
        be.adam_step_dev(p2.data(), g2.data(), m2.data(), v2.data(), n, 0.9f, 0.999f, 1e-7f, s);
      } else {
        be.sgd_step_dev(p.data(), g.data(), m.data(), n, 0.9f, true, plain.data());
        be.sgd_step_dev(p2.data(), g2.data(), m2.data(), n, 0.9f, true, s);
      }
      EXPECT_EQ(0, std::memcmp(p.data(), p2.data(), n * sizeof(float))) << "clip " << clip << " adam " << adam;
      EXPECT_EQ(0, std::memcmp(g.data(), g2.data(), n * sizeof(float)));
    }
  }
  double acc = 1.0;
  Vec pred{1, 2, 3}, tgt{1, 1, 1}, d1(3), d2(3);
  const double l = be.loss(LossKind::MSE, 3, 1, pred.data(), tgt.data(), d1.data(), 0.5f);
  be.loss_accumulate(LossKind::MSE, 3, 1, pred.data(), tgt.data(), d2.data(), 0.5f, 0.25, &acc);
  EXPECT_DOUBLE_EQ(acc, 1.0 + 0.25 * l);
  EXPECT_EQ(d1, d2);
}

// LARS against a direct double-precision evaluation of its definition (You, Gitman & Ginsburg
// 2017) on two layers for three steps with momentum and weight decay, the global clip active in
// the second step: local rate eta |p| / (|g| + wd |p|) with |g| the clipped gradient's norm,
// vel = momentum vel - lr local (g + wd p), p += vel.
TEST(OpsCpu, LarsMatchesItsDefinition) {
  CpuBackend be;
  const size_t n = 300, h = 120;
  const float eta = 1e-3f, wd = 1e-4f, mom = 0.9f, lr = 2.0f;
  Vec p = uniform(n, -1, 1, 701), vel(n, 0.0f);
  DVec pr(p.begin(), p.end()), vr(n, 0.0);
  for (int t = 1; t <= 3; ++t) {
    const Vec g = uniform(n, -1, 1, 710 + t);
    double gsq = 0;
    for (float x : g) gsq += double(x) * x;
    double s[sptrain::kStepScalars] = {};
    s[sptrain::kLr] = lr;
    s[sptrain::kT] = t;
    s[sptrain::kGradSq] = gsq;
    s[sptrain::kClipNorm] = t == 2 ? 0.5 * std::sqrt(gsq) : 0.0;  // step 2: g scaled by 1/2
    const double f = t == 2 ? 0.5 : 1.0;
    for (const auto& [a, b] : {std::pair<size_t, size_t>{0, h}, {h, n}}) {
      double norms[2] = {sum_squares(be, p.data() + a, b - a), sum_squares(be, g.data() + a, b - a)};
      be.lars_step_dev(p.data() + a, g.data() + a, vel.data() + a, b - a, norms, eta, wd, mom, s);
      double pn = 0, gn = 0;
      for (size_t i = a; i < b; ++i) pn += pr[i] * pr[i], gn += f * f * double(g[i]) * g[i];
      const double local = eta * std::sqrt(pn) / (std::sqrt(gn) + wd * std::sqrt(pn));
      for (size_t i = a; i < b; ++i) {
        vr[i] = mom * vr[i] - lr * local * (f * g[i] + wd * pr[i]);
        pr[i] += vr[i];
      }
    }
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(p[i], pr[i], 1e-6) << "step " << t << " element " << i;
  }
  // A layer at zero keeps a local rate of 1 (no division by zero): vel = -lr g.
  Vec z(4, 0.0f), zv(4, 0.0f), zg(4, 0.25f);
  double zn[2] = {0, 4 * 0.0625}, s[sptrain::kStepScalars] = {};
  s[sptrain::kLr] = 1;
  be.lars_step_dev(z.data(), zg.data(), zv.data(), 4, zn, eta, wd, mom, s);
  EXPECT_EQ(z, Vec(4, -0.25f));
}

// LAMB against a direct double-precision evaluation of its definition (You et al. 2019) on two
// layers for three steps: moments, bias corrections, direction with weight decay, per-layer trust
// ratio |p| / |u|.
TEST(OpsCpu, LambMatchesItsDefinition) {
  CpuBackend be;
  const size_t n = 300, h = 120;  // layers [0, 120) and [120, 300)
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-7f, wd = 0.01f, lr = 0.01f;
  Vec p = uniform(n, -1, 1, 601), m(n, 0.0f), v(n, 0.0f), u(n);
  DVec pr(p.begin(), p.end()), mr(n, 0.0), vr(n, 0.0);
  for (int t = 1; t <= 3; ++t) {
    const Vec g = uniform(n, -1, 1, 610 + t);
    Vec gg = g;
    double s[sptrain::kStepScalars] = {};
    s[sptrain::kLr] = lr;
    s[sptrain::kT] = t;
    be.lamb_direction_dev(p.data(), gg.data(), m.data(), v.data(), u.data(), n, b1, b2, eps, wd, s);
    for (const auto& [a, b] : {std::pair<size_t, size_t>{0, h}, {h, n}}) {
      double norms[2] = {sum_squares(be, p.data() + a, b - a), sum_squares(be, u.data() + a, b - a)};
      be.trust_step_dev(p.data() + a, u.data() + a, b - a, norms, s);
    }
    // Reference.
    DVec ur(n);
    for (size_t i = 0; i < n; ++i) {
      mr[i] = b1 * mr[i] + (1 - double(b1)) * g[i];
      vr[i] = b2 * vr[i] + (1 - double(b2)) * double(g[i]) * g[i];
      ur[i] = (mr[i] / (1 - std::pow(double(b1), t))) / (std::sqrt(vr[i] / (1 - std::pow(double(b2), t))) + eps) + wd * pr[i];
    }
    for (const auto& [a, b] : {std::pair<size_t, size_t>{0, h}, {h, n}}) {
      double pn = 0, un = 0;
      for (size_t i = a; i < b; ++i) pn += pr[i] * pr[i], un += ur[i] * ur[i];
      const double trust = std::sqrt(pn / un);
      for (size_t i = a; i < b; ++i) pr[i] -= lr * trust * ur[i];
    }
    for (size_t i = 0; i < n; ++i) ASSERT_NEAR(p[i], pr[i], 1e-5) << "step " << t << " element " << i;
  }
  // A layer at zero with a zero direction keeps trust 1 (no division by zero).
  Vec z(4, 0.0f), zu(4, 0.0f);
  double zn[2] = {0, 0}, s[sptrain::kStepScalars] = {};
  s[sptrain::kLr] = 1;
  be.trust_step_dev(z.data(), zu.data(), 4, zn, s);
  EXPECT_EQ(z, Vec(4, 0.0f));
}
