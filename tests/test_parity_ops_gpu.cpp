// CPU vs GPU parity of every training-backend op (ctest label `gpu`). Each case is described once,
// as a lambda over an OpRun (the backend plus the case's inputs uploaded to it), and parity() runs it
// on make_backend(Device::cpu()) and make_backend(Device::cuda(0), math) and compares every output
// it kept. Without a device the CPU half still runs (every output must be written and finite) and
// the test skips. Tolerances are in parity_tolerances.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "parity_tolerances.hpp"
#include "sptrain/backend.hpp"
#include "sptrain/device.hpp"

using namespace sptrain;

namespace sptrain {
// Names MathMode test parameters in gtest's output (found by argument-dependent lookup).
void PrintTo(MathMode m, std::ostream* os) {
  *os << (m == MathMode::Fp32 ? "fp32" : m == MathMode::Tf32 ? "tf32" : "bf16");
}
}  // namespace sptrain

namespace {

using Vec = std::vector<float>;
using DVec = std::vector<double>;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

bool have_gpu() {
  static const bool yes = built_with_cuda() && !list_gpus().empty();
  return yes;
}

// One backend per device and math mode for the whole run, released before the CUDA runtime
// unloads (a global test environment's TearDown).
std::unique_ptr<Backend> g_cpu, g_gpu[3];
Backend& cpu_backend() {
  if (!g_cpu) g_cpu = make_backend(Device::cpu());
  return *g_cpu;
}
Backend& gpu_backend(MathMode m) {
  auto& b = g_gpu[int(m)];
  if (!b) b = make_backend(Device::cuda(0), m);
  return *b;
}
struct ReleaseBackends : ::testing::Environment {
  void TearDown() override {
    for (auto& b : g_gpu) b.reset();
    g_cpu.reset();
  }
};
[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new ReleaseBackends);

std::string math_name(MathMode m) { return ::testing::PrintToString(m); }

// --- deterministic inputs ----------------------------------------------------------------------

Vec uniform(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = u(g);
  return v;
}

// Small integers as floats: many exact ties (pooling's first-maximum rule).
Vec levels(size_t n, int count, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> u(0, count - 1);
  Vec v(n);
  for (auto& x : v) x = float(u(g));
  return v;
}

// --- tolerances per output -----------------------------------------------------------------------

// |cpu_i - gpu_i| <= atol + rtol * scale_i, with scale_i:
//   Value:     |cpu_i|
//   TensorMax: |cpu_i| + max_j |cpu_j| (outputs with cancellation: 1 - y^2, x - mean, p - y)
//   Terms:     the sum of the absolute terms of element i: the same op run on the CPU with every
//              input and initial value replaced by its absolute value (conv and dense are bilinear)
enum class Scale { Value, TensorMax, Terms };
struct Tol {
  double rtol = 0, atol = 0;
  Scale scale = Scale::Value;
};
const Tol kExact{};
Tol value_tol(double rtol, double atol = 0) { return {rtol, atol, Scale::Value}; }
Tol tensor_tol(double rtol) { return {rtol, 0, Scale::TensorMax}; }
// Loss values are means of O(1) element losses here; Poisson's may cancel, hence the floor.
Tol loss_tol() { return value_tol(test::kOpRel, test::kOpRel); }

// A sum of n products (conv, dense) in the GPU's math mode.
Tol sum_tol(MathMode m, double n_terms) {
  double rel = test::fp32_sum_rel(n_terms);
  if (m == MathMode::Tf32) rel += test::kTf32ProductRel;
  if (m == MathMode::Bf16) rel += test::kBf16ProductRel;
  return {rel, 0, Scale::Terms};
}

// --- the harness -------------------------------------------------------------------------------

struct Output {
  std::string name;
  DVec v;
  Tol tol;
};

// One run of a case on one backend: the inputs uploaded, outputs allocated (NaN-filled unless
// given initial values), and the outputs the case keeps downloaded. Device memory is released
// when the run ends.
class OpRun {
 public:
  OpRun(Backend& backend, const std::vector<Vec>& inputs, bool abs_values) : be(backend), abs_(abs_values) {
    for (const Vec& h : inputs) in_.push_back(buf(h));
  }
  OpRun(const OpRun&) = delete;
  OpRun& operator=(const OpRun&) = delete;

  Backend& be;
  std::vector<Output> out;

  float* in(size_t i) const { return in_.at(i); }
  size_t size(size_t i) const { return sizes_.at(i); }

  // An output the op must overwrite.
  float* buf(size_t n) {
    float* p = owned_.emplace_back(be.alloc<float>(n)).get();
    be.fill(p, kNaN, n);
    return p;
  }
  // Initial values (inputs, accumulating outputs, optimizer state).
  float* buf(const Vec& init) {
    float* p = owned_.emplace_back(be.alloc<float>(init.size())).get();
    sizes_.push_back(init.size());
    if (abs_) {
      Vec a(init.size());
      for (size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(init[i]);
      be.upload(p, a.data(), a.size());
    } else {
      be.upload(p, init.data(), init.size());
    }
    return p;
  }
  // Index outputs, filled with a sentinel no op writes (-1).
  int32_t* buf_i32(size_t n) {
    int32_t* p = owned_i32_.emplace_back(be.alloc<int32_t>(n)).get();
    const std::vector<int32_t> minus(n, -1);
    be.upload(reinterpret_cast<float*>(p), reinterpret_cast<const float*>(minus.data()), n);  // byte copy
    return p;
  }
  double* buf_f64(const DVec& init) {
    double* p = owned_f64_.emplace_back(be.alloc<double>(init.size())).get();
    be.upload_f64(p, init.data(), init.size());
    return p;
  }

  void keep(const std::string& name, const float* p, size_t n, Tol t) {
    Vec h(n);
    be.download(h.data(), p, n);
    out.push_back({name, DVec(h.begin(), h.end()), t});
  }
  // upload/download are byte copies on both backends, so int32 buffers travel through them.
  void keep_i32(const std::string& name, const int32_t* p, size_t n) {
    std::vector<int32_t> h(n);
    be.download(reinterpret_cast<float*>(h.data()), reinterpret_cast<const float*>(p), n);
    out.push_back({name, DVec(h.begin(), h.end()), kExact});
  }
  void keep_f64(const std::string& name, const double* p, size_t n, Tol t) {
    DVec h(n);
    be.download_f64(h.data(), p, n);
    out.push_back({name, h, t});
  }
  void keep(const std::string& name, double value, Tol t) { out.push_back({name, {value}, t}); }

 private:
  bool abs_;
  std::vector<float*> in_;
  std::vector<size_t> sizes_;
  std::vector<Buffer<float>> owned_;
  std::vector<Buffer<int32_t>> owned_i32_;
  std::vector<Buffer<double>> owned_f64_;
};

using Case = std::function<void(OpRun&)>;

::testing::AssertionResult agree(const Output& c, const Output& g, const DVec* terms) {
  if (c.name != g.name || c.v.size() != g.v.size())
    return ::testing::AssertionFailure() << "outputs differ in shape: " << c.name << "[" << c.v.size() << "] vs "
                                         << g.name << "[" << g.v.size() << "]";
  double vmax = 0;
  for (double x : c.v) vmax = std::max(vmax, std::fabs(x));
  int bad = 0;
  double worst = 0;
  std::ostringstream msg;
  msg.precision(9);
  for (size_t i = 0; i < c.v.size(); ++i) {
    double s = std::fabs(c.v[i]);
    if (c.tol.scale == Scale::TensorMax) s += vmax;
    if (c.tol.scale == Scale::Terms) s = (*terms)[i];
    const double tol = c.tol.atol + c.tol.rtol * s, diff = std::fabs(c.v[i] - g.v[i]);
    const bool same = diff <= tol || (std::isnan(c.v[i]) && std::isnan(g.v[i])) || c.v[i] == g.v[i];
    if (!same) {
      if (bad++ < 5) msg << " [" << i << "] cpu " << c.v[i] << " gpu " << g.v[i] << " tol " << tol << ";";
      worst = std::max(worst, s > 0 ? diff / s : diff);
    }
  }
  if (bad)
    return ::testing::AssertionFailure() << c.name << ": " << bad << " of " << c.v.size()
                                         << " elements differ (worst |diff| / scale " << worst << "):" << msg.str();
  return ::testing::AssertionSuccess();
}

// Marks the test skipped, once however many cases it has.
void skip_without_gpu() {
  if (!::testing::Test::IsSkipped()) GTEST_SKIP() << "no CUDA device (the CPU halves of the Fp32 cases ran)";
}

// Runs `op` on the CPU and, when there is a device, on the GPU in math mode `math`, and compares
// every kept output. Without a device it runs the CPU half (the Fp32 one) and skips.
void parity(const std::string& what, const std::vector<Vec>& inputs, const Case& op, MathMode math = MathMode::Fp32) {
  SCOPED_TRACE(what + " (" + math_name(math) + ")");
  if (math != MathMode::Fp32 && !have_gpu()) return skip_without_gpu();
  std::vector<Output> cpu;
  {
    OpRun r(cpu_backend(), inputs, false);
    op(r);
    cpu = std::move(r.out);
  }
  ASSERT_FALSE(cpu.empty()) << "the case kept no output";
  for (const Output& o : cpu)
    for (size_t i = 0; i < o.v.size(); ++i)
      ASSERT_TRUE(std::isfinite(o.v[i])) << o.name << "[" << i << "] on the CPU is " << o.v[i] << " (not written?)";
  if (!have_gpu()) return skip_without_gpu();

  std::vector<Output> terms;
  if (std::any_of(cpu.begin(), cpu.end(), [](const Output& o) { return o.tol.scale == Scale::Terms; })) {
    OpRun r(cpu_backend(), inputs, true);
    op(r);
    terms = std::move(r.out);
  }
  std::vector<Output> gpu;
  {
    OpRun r(gpu_backend(math), inputs, false);
    op(r);  // keep() downloads, so every output is complete here
    gpu = std::move(r.out);
  }
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const DVec* t = cpu[i].tol.scale == Scale::Terms ? &terms.at(i).v : nullptr;
    EXPECT_TRUE(agree(cpu[i], gpu[i], t));
  }
}

// --- Conv1D ------------------------------------------------------------------------------------

enum class Pad { Valid, Causal, Same };

// Keras padding: causal puts dilation*(K-1) zeros on the left; 'same' pads to T_out = ceil(T_in /
// stride) with the smaller half on the left (K=20, stride 1: 9 left, 10 right).
Conv1dDesc conv_desc(int N, int T_in, int C_in, int F, int K, int dilation, Pad pad, int stride = 1) {
  Conv1dDesc d;
  d.N = N, d.T_in = T_in, d.C_in = C_in, d.F = F, d.K = K, d.dilation = dilation, d.stride = stride;
  const int reach = dilation * (K - 1);  // extra input steps one output sees
  int padded = 0;
  if (pad == Pad::Causal) padded = d.pad_left = reach;
  if (pad == Pad::Same) {
    const int want = (T_in + stride - 1) / stride;
    padded = std::max(0, (want - 1) * stride + reach + 1 - T_in);
    d.pad_left = padded / 2;
  }
  d.T_out = (T_in + padded - reach - 1) / stride + 1;
  return d;
}

std::string conv_name(const Conv1dDesc& d, bool bias) {
  std::ostringstream s;
  s << "conv N=" << d.N << " T_in=" << d.T_in << " C_in=" << d.C_in << " F=" << d.F << " K=" << d.K
    << " stride=" << d.stride << " dil=" << d.dilation << " pad_left=" << d.pad_left << " T_out=" << d.T_out
    << (bias ? " bias" : " no bias");
  return s.str();
}

// Forward, backward data and backward filter (accumulating onto nonzero dw, db).
void conv_parity(const Conv1dDesc& d, bool bias, MathMode math, uint32_t seed) {
  const size_t nx = size_t(d.N) * d.T_in * d.C_in, ny = size_t(d.N) * d.T_out * d.F,
               nw = size_t(d.K) * d.C_in * d.F, nb = size_t(d.F);
  enum { X, W, B, DY, DW0, DB0 };
  const std::vector<Vec> in = {uniform(nx, -1, 1, seed),     uniform(nw, -1, 1, seed + 1),
                               uniform(nb, -1, 1, seed + 2), uniform(ny, -1, 1, seed + 3),
                               uniform(nw, -1, 1, seed + 4), uniform(nb, -1, 1, seed + 5)};
  parity(conv_name(d, bias), in, [&](OpRun& r) {
    float* y = r.buf(ny);
    r.be.conv1d_forward(d, r.in(X), r.in(W), bias ? r.in(B) : nullptr, y);
    r.keep("y", y, ny, sum_tol(math, d.K * d.C_in + 1));
    float* dx = r.buf(nx);
    r.be.conv1d_backward_data(d, r.in(DY), r.in(W), dx);
    r.keep("dx", dx, nx, sum_tol(math, d.K * d.F));
    float* dw = r.buf(in[DW0]);
    float* db = bias ? r.buf(in[DB0]) : nullptr;
    r.be.conv1d_backward_filter(d, r.in(X), r.in(DY), dw, db);
    r.keep("dw", dw, nw, sum_tol(math, double(d.N) * d.T_out + 1));
    if (bias) r.keep("db", db, nb, sum_tol(math, double(d.N) * d.T_out + 1));
  }, math);
}

class ParityConv : public ::testing::TestWithParam<MathMode> {};

TEST_P(ParityConv, Model1Layers) {
  // Model 1: one filter on 100 positions, kernels 2, 3, 4, 10, valid.
  for (int K : {2, 3, 4, 10})
    for (bool bias : {true, false}) conv_parity(conv_desc(64, 100, 1, 1, K, 1, Pad::Valid), bias, GetParam(), 10 + K);
}

TEST_P(ParityConv, Model2Layers) {
  // Model 2's branches on 999 steps: the first conv of a branch sees C_in = 1, the later ones 32.
  struct Layer {
    int K, dilation, C_in;
    Pad pad;
  };
  const Layer layers[] = {{4, 1, 1, Pad::Causal},  {4, 2, 32, Pad::Causal}, {4, 4, 32, Pad::Causal},
                          {2, 1, 1, Pad::Causal},  {2, 2, 32, Pad::Causal}, {2, 4, 32, Pad::Causal},
                          {3, 1, 1, Pad::Causal},  {3, 2, 32, Pad::Causal}, {3, 4, 32, Pad::Causal},
                          {10, 1, 1, Pad::Causal}, {10, 4, 32, Pad::Causal}, {10, 8, 32, Pad::Causal},
                          {4, 1, 32, Pad::Causal}, {20, 1, 1, Pad::Same},   {20, 1, 32, Pad::Same}};
  const Conv1dDesc k20 = conv_desc(16, 999, 1, 32, 20, 1, Pad::Same);
  ASSERT_EQ(k20.pad_left, 9);
  ASSERT_EQ(k20.T_out, 999);  // so 10 zeros on the right
  uint32_t seed = 100;
  for (const Layer& l : layers) {
    const Conv1dDesc d = conv_desc(16, 999, l.C_in, 32, l.K, l.dilation, l.pad);
    // The reduced-precision modes only with bias: the null-bias path is the same arithmetic.
    for (bool bias : {true, false})
      if (bias || GetParam() == MathMode::Fp32) conv_parity(d, bias, GetParam(), seed += 10);
  }
}

TEST_P(ParityConv, Strided) {
  conv_parity(conv_desc(16, 999, 32, 32, 3, 1, Pad::Valid, 2), true, GetParam(), 300);
  conv_parity(conv_desc(16, 999, 32, 32, 4, 1, Pad::Same, 2), true, GetParam(), 310);
  conv_parity(conv_desc(8, 101, 1, 4, 10, 2, Pad::Causal, 2), false, GetParam(), 320);
  conv_parity(conv_desc(8, 100, 3, 5, 1, 1, Pad::Valid, 2), true, GetParam(), 330);  // pointwise
}

// A batch over the CUDA backend's chunk of 512 samples (src/cuda/conv_chunks.hpp): two full chunks
// and a remainder of 6, each a cuDNN call on its part of x, y, dy and dx, the filter gradient summed
// over the chunks; a padded (causal, dilated) and a 'same' convolution.
TEST_P(ParityConv, ChunkedBatches) {
  conv_parity(conv_desc(1030, 100, 32, 32, 4, 2, Pad::Causal), true, GetParam(), 400);
  conv_parity(conv_desc(1030, 60, 1, 32, 20, 1, Pad::Same), true, GetParam(), 410);
}

INSTANTIATE_TEST_SUITE_P(Math, ParityConv, ::testing::Values(MathMode::Fp32, MathMode::Tf32, MathMode::Bf16),
                         [](const ::testing::TestParamInfo<MathMode>& i) { return math_name(i.param); });

// --- Dense -------------------------------------------------------------------------------------

void dense_parity(int rows, int in, int out, bool bias, bool with_dx, MathMode math, uint32_t seed) {
  enum { X, W, B, DY, DW0, DB0 };
  const size_t nx = size_t(rows) * in, ny = size_t(rows) * out, nw = size_t(in) * out;
  const std::vector<Vec> inputs = {uniform(nx, -1, 1, seed),      uniform(nw, -1, 1, seed + 1),
                                   uniform(size_t(out), -1, 1, seed + 2), uniform(ny, -1, 1, seed + 3),
                                   uniform(nw, -1, 1, seed + 4),  uniform(size_t(out), -1, 1, seed + 5)};
  std::ostringstream name;
  name << "dense rows=" << rows << " " << in << "->" << out << (bias ? " bias" : " no bias")
       << (with_dx ? "" : " no dx");
  parity(name.str(), inputs, [&](OpRun& r) {
    float* y = r.buf(ny);
    r.be.dense_forward(rows, in, out, r.in(X), r.in(W), bias ? r.in(B) : nullptr, y);
    r.keep("y", y, ny, sum_tol(math, in + 1));
    float* dx = with_dx ? r.buf(nx) : nullptr;
    float* dw = r.buf(inputs[DW0]);
    float* db = bias ? r.buf(inputs[DB0]) : nullptr;
    r.be.dense_backward(rows, in, out, r.in(X), r.in(W), r.in(DY), dx, dw, db);
    if (with_dx) r.keep("dx", dx, nx, sum_tol(math, out));
    r.keep("dw", dw, nw, sum_tol(math, rows + 1));
    if (bias) r.keep("db", db, size_t(out), sum_tol(math, rows + 1));
  }, math);
}

class ParityDense : public ::testing::TestWithParam<MathMode> {};

TEST_P(ParityDense, ReportLayers) {
  const MathMode m = GetParam();
  // Model 2's head (batch 32) and Model 1's (batch 64).
  dense_parity(32, 160, 512, true, true, m, 400);
  dense_parity(32, 512, 128, true, true, m, 410);
  dense_parity(32, 128, 2, true, true, m, 420);
  dense_parity(64, 191, 50, true, false, m, 430);  // first layer: no input gradient
  dense_parity(64, 50, 1, true, true, m, 440);
  if (m == MathMode::Fp32) {
    dense_parity(64, 191, 50, false, true, m, 450);
    dense_parity(3000, 24, 16, false, false, m, 460);  // many rows: long dw sums
  }
}

INSTANTIATE_TEST_SUITE_P(Math, ParityDense, ::testing::Values(MathMode::Fp32, MathMode::Tf32, MathMode::Bf16),
                         [](const ::testing::TestParamInfo<MathMode>& i) { return math_name(i.param); });

// --- element-wise ops --------------------------------------------------------------------------

TEST(ParityOps, Activations) {
  // Inputs across every branch: both signs, exact zeros, Softplus' x > 20 branch, saturation.
  Vec x = uniform(100003, -6, 6, 500);
  const float special[] = {0.0f, -0.0f, 1e-8f, -1e-8f, 20.5f, -20.5f, 50.0f, -50.0f, 19.99f, 1e-3f};
  for (size_t i = 0; i < std::size(special); ++i) x[i * 7] = special[i];
  const Vec dy = uniform(x.size(), -1, 1, 501);
  struct A {
    const char* name;
    Act act;
    float alpha;
  };
  const A acts[] = {{"linear", Act::Linear, 0},     {"relu", Act::ReLU, 0},       {"elu", Act::ELU, 1.0f},
                    {"elu_0.7", Act::ELU, 0.7f},    {"leaky", Act::LeakyReLU, 0.3f}, {"tanh", Act::Tanh, 0},
                    {"sigmoid", Act::Sigmoid, 0},   {"softplus", Act::Softplus, 0}, {"sqrt", Act::Sqrt, 0},
                    {"log", Act::Log, 0}};
  const size_t n = x.size();
  // Cancellations (1 - y^2, y (1 - y), y + alpha) are bounded by |dy| <= 1, hence the floor; not
  // relative to the tensor's largest element, which Sqrt's 1 / (2 |y|) makes huge near 0.
  const Tol act_dx_tol = value_tol(test::kOpRel, test::kOpRel);
  for (const A& a : acts) {
    parity(std::string("activation ") + a.name, {x, dy}, [&](OpRun& r) {
      float* y = r.buf(n);
      r.be.act_forward(a.act, a.alpha, r.in(0), y, n);
      r.keep("y", y, n, value_tol(test::kTransRel));
      float* dx = r.buf(n);
      r.be.act_backward(a.act, a.alpha, y, r.in(1), dx, n);
      r.keep("dx", dx, n, act_dx_tol);
      // In place: y aliasing x, then dx aliasing dy (x not needed).
      r.be.act_forward(a.act, a.alpha, r.in(0), r.in(0), n);
      r.keep("y in place", r.in(0), n, value_tol(test::kTransRel));
      r.be.act_backward(a.act, a.alpha, r.in(0), r.in(1), r.in(1), n);
      r.keep("dx in place", r.in(1), n, act_dx_tol);
    });
  }
}

TEST(ParityOps, AxpyAndMemory) {
  const size_t n = 100003;
  const Vec x = uniform(n, -3, 3, 510), y = uniform(n, -3, 3, 511);
  parity("axpy, fill, copy", {x, y}, [&](OpRun& r) {
    r.be.axpy(0.37f, r.in(0), r.in(1), n);
    r.keep("axpy", r.in(1), n, tensor_tol(test::kFewUlpRel));
    float* f = r.buf(n);
    r.be.fill(f, 2.5f, n);
    r.keep("fill", f, n, kExact);
    float* c = r.buf(n);
    r.be.copy(c, r.in(0), n);
    r.keep("copy", c, n, kExact);
  });
}

TEST(ParityOps, SumSquares) {
  const size_t n = (size_t(1) << 20) + 7;  // many blocks and a ragged tail
  const Vec x = uniform(n, -2, 2, 520);
  parity("sum_squares_to", {x}, [&](OpRun& r) {
    double* o = r.buf_f64(DVec(3, -1.0));
    r.be.sum_squares_to(r.in(0), n, o);
    r.be.sum_squares_to(r.in(0), 5, o + 1);
    r.be.sum_squares_to(r.in(0), 0, o + 2);  // an empty slab writes +0
    r.keep_f64("sum_squares", o, 2, value_tol(test::kSquareSumRel));
    r.keep_f64("sum_squares of none", o + 2, 1, kExact);
  });
}

TEST(ParityOps, Softmax) {
  for (auto rc : {std::pair{64, 2}, std::pair{64, 3}, std::pair{32, 10}, std::pair{3000, 2}}) {
    const int rows = rc.first, C = rc.second;  // plain variables: lambdas below capture them
    Vec x = uniform(size_t(rows) * C, -8, 8, 530 + C);
    x[0] = 60.0f;   // a large logit: no overflow
    x[C] = -60.0f;  // a row with a tiny probability
    const Vec dy = uniform(x.size(), -1, 1, 540 + C);
    const size_t n = x.size();
    parity("softmax rows=" + std::to_string(rows) + " C=" + std::to_string(C), {x, dy}, [&](OpRun& r) {
      float* y = r.buf(n);
      r.be.softmax_forward(rows, C, r.in(0), y);
      r.keep("y", y, n, tensor_tol(test::kOpRel));
      float* dx = r.buf(n);
      r.be.softmax_backward(rows, C, y, r.in(1), dx);
      r.keep("dx", dx, n, tensor_tol(test::kOpRel));
    });
  }
}

// --- pooling -----------------------------------------------------------------------------------

TEST(ParityOps, MaxPool) {
  struct P {
    int N, T_in, C, pool, stride;
  };
  // Model 1's pooling (one channel, T_out 49 / 48 / 45), wider channels, overlapping windows.
  const P cases[] = {{64, 99, 1, 2, 2}, {64, 97, 1, 2, 2}, {64, 91, 1, 2, 2}, {16, 999, 32, 2, 2}, {8, 50, 3, 3, 1}};
  uint32_t seed = 600;
  for (const P& p : cases) {
    const int T_out = (p.T_in - p.pool) / p.stride + 1;
    const size_t nx = size_t(p.N) * p.T_in * p.C, ny = size_t(p.N) * T_out * p.C;
    const std::vector<Vec> in = {levels(nx, 3, seed), uniform(ny, -1, 1, seed + 1)};  // ties in most windows
    seed += 10;
    std::ostringstream name;
    name << "maxpool N=" << p.N << " T_in=" << p.T_in << " C=" << p.C << " pool=" << p.pool << " stride=" << p.stride;
    parity(name.str(), in, [&](OpRun& r) {
      float* y = r.buf(ny);
      int32_t* arg = r.buf_i32(ny);
      r.be.maxpool1d_forward(p.N, p.T_in, p.C, p.pool, p.stride, r.in(0), y, arg);
      r.keep("y", y, ny, kExact);
      r.keep_i32("argmax", arg, ny);
      float* dx = r.buf(nx);
      r.be.maxpool1d_backward(p.N, p.T_in, T_out, p.C, arg, r.in(1), dx);
      // Non-overlapping windows: each dx element is 0 or one dy; overlapping ones add up to
      // `pool` values in some order.
      r.keep("dx", dx, nx, p.stride >= p.pool ? kExact : tensor_tol(test::kFewUlpRel));
    });
  }
  // The first-maximum rule itself, on the CPU: window [5, 5] picks time 0 of the window.
  Backend& be = cpu_backend();
  const Vec x = {5, 5, 1, 7, 7, 7};
  Vec y(3);
  std::vector<int32_t> arg(3);
  be.maxpool1d_forward(1, 6, 1, 2, 2, x.data(), y.data(), arg.data());
  EXPECT_EQ(arg, (std::vector<int32_t>{0, 3, 4}));
}

TEST(ParityOps, GlobalMaxPool) {
  struct P {
    int N, T, C;
    bool ties;
  };
  const P cases[] = {{16, 999, 32, true}, {16, 999, 32, false}, {32, 5, 160, true}, {3, 1, 7, false}};
  uint32_t seed = 700;
  for (const P& p : cases) {
    const size_t nx = size_t(p.N) * p.T * p.C, ny = size_t(p.N) * p.C;
    const std::vector<Vec> in = {p.ties ? levels(nx, 4, seed) : uniform(nx, -1, 1, seed), uniform(ny, -1, 1, seed + 1)};
    seed += 10;
    std::ostringstream name;
    name << "global maxpool N=" << p.N << " T=" << p.T << " C=" << p.C << (p.ties ? " ties" : "");
    parity(name.str(), in, [&](OpRun& r) {
      float* y = r.buf(ny);
      int32_t* arg = r.buf_i32(ny);
      r.be.global_maxpool_forward(p.N, p.T, p.C, r.in(0), y, arg);
      r.keep("y", y, ny, kExact);
      r.keep_i32("argmax", arg, ny);
      float* dx = r.buf(nx);
      r.be.global_maxpool_backward(p.N, p.T, p.C, arg, r.in(1), dx);
      r.keep("dx", dx, nx, kExact);
    });
  }
}

// --- batch normalization -----------------------------------------------------------------------

// One rank's BatchNormSync (the gather copies): the synchronized path of the ops (on the GPU the
// channel sums' round trip through the host) against the CPU's.
class OneRankSync : public sptrain::BatchNormSync {
 public:
  void allgather(const double* mine, size_t n, double* all) override { std::copy_n(mine, n, all); }
  int ranks() const override { return 1; }
};

TEST(ParityOps, BatchNorm) {
  // Model 2's layers (rows = 16 * 999, 32 channels) and a small batch, each with the batch's own
  // statistics and through the synchronized path.
  OneRankSync one_rank;
  for (sptrain::BatchNormSync* sync : {static_cast<sptrain::BatchNormSync*>(nullptr),
                                       static_cast<sptrain::BatchNormSync*>(&one_rank)})
  for (auto rc : {std::pair{16 * 999, 32}, std::pair{64, 3}}) {
    const int rows = rc.first, C = rc.second;  // plain variables: lambdas below capture them
    const size_t n = size_t(rows) * C, c = size_t(C);
    Vec x = uniform(n, -1, 1, 800);
    // A different mean and scale per channel.
    for (size_t i = 0; i < n; ++i) x[i] = x[i] * (1.0f + float(i % c)) + 0.5f * float(i % c);
    enum { X, GAMMA, BETA, RM, RV, DY, DG0, DB0 };
    const std::vector<Vec> in = {x,
                                 uniform(c, 0.5f, 2, 801),
                                 uniform(c, -1, 1, 802),
                                 uniform(c, -0.5f, 0.5f, 803),
                                 uniform(c, 0.5f, 2, 804),
                                 uniform(n, -1, 1, 805),
                                 uniform(c, -1, 1, 806),
                                 uniform(c, -1, 1, 807)};
    // Batch statistics and the gradient's channel sums run over all rows, in any order and
    // precision of accumulation: a sum of `rows` terms on top of the element-wise chain.
    const Tol tol = tensor_tol(test::kOpRel + test::fp32_sum_rel(rows));
    parity(std::string(sync ? "synchronized " : "") + "batchnorm rows=" + std::to_string(rows) + " C=" + std::to_string(C), in, [&](OpRun& r) {
      float* rm = r.buf(in[RM]);
      float* rv = r.buf(in[RV]);
      float* y = r.buf(n);
      float* mean = r.buf(c);
      float* invstd = r.buf(c);
      r.be.batchnorm_forward_train(rows, C, r.in(X), r.in(GAMMA), r.in(BETA), 1e-3f, 0.99f, rm, rv, y, mean, invstd, sync);
      r.keep("train y", y, n, tol);
      r.keep("running mean", rm, c, tol);
      r.keep("running var", rv, c, tol);
      r.keep("save mean", mean, c, tol);
      r.keep("save invstd", invstd, c, tol);
      float* yi = r.buf(n);
      r.be.batchnorm_forward_infer(rows, C, r.in(X), r.in(GAMMA), r.in(BETA), r.in(RM), r.in(RV), 1e-3f, yi);
      r.keep("infer y", yi, n, tensor_tol(test::kOpRel));
      float* dx = r.buf(n);
      float* dg = r.buf(in[DG0]);
      float* db = r.buf(in[DB0]);
      r.be.batchnorm_backward(rows, C, r.in(X), r.in(DY), r.in(GAMMA), mean, invstd, dx, dg, db, sync);
      r.keep("dx", dx, n, tol);
      r.keep("dgamma", dg, c, tol);
      r.keep("dbeta", db, c, tol);
    });
  }
}

// --- strided copies ----------------------------------------------------------------------------

TEST(ParityOps, Copy2dAdd2d) {
  // Concatenation along channels: a (rows, 32) block into column 64 of a (rows, 160) tensor, and
  // along time: contiguous rows.
  const int rows = 16 * 7, src_stride = 40, dst_stride = 160, cols = 32;
  const Vec src = uniform(size_t(rows) * src_stride, -1, 1, 900), dst = uniform(size_t(rows) * dst_stride, -1, 1, 901);
  parity("copy2d/add2d", {src, dst}, [&](OpRun& r) {
    float* d = r.buf(dst);
    r.be.copy2d(rows, cols, r.in(0) + 3, src_stride, d + 64, dst_stride);
    r.keep("copy2d", d, dst.size(), kExact);
    r.be.add2d(rows, cols, r.in(0) + 5, src_stride, d + 100, dst_stride);
    r.keep("add2d", d, dst.size(), kExact);
    float* flat = r.buf(size_t(49) * 64);
    r.be.copy2d(64, 49, r.in(1), 160, flat, 49);
    r.keep("copy2d packed", flat, size_t(49) * 64, kExact);
  });
}

// --- losses ------------------------------------------------------------------------------------

// Predictions and targets in each loss's domain (rows x C).
std::pair<Vec, Vec> loss_data(LossKind k, int rows, int C, uint32_t seed) {
  const size_t n = size_t(rows) * C;
  Vec p = uniform(n, -2, 2, seed), y = uniform(n, -2, 2, seed + 1);
  switch (k) {
    case LossKind::MAPE:
      y = uniform(n, 0.5f, 3, seed + 1);
      for (size_t i = 0; i < n; i += 5) y[i] = -y[i];
      y[1 % n] = 0.0f;  // divides by Keras' epsilon
      break;
    case LossKind::Poisson:
      p = uniform(n, 0.1f, 3, seed), y = uniform(n, 0, 4, seed + 1);
      break;
    case LossKind::BinaryCrossEntropy:
      p = uniform(n, -8, 8, seed), y = levels(n, 2, seed + 1);
      p[0] = 50.0f;  // saturated logits stay finite
      break;
    case LossKind::CategoricalCrossEntropy: {
      p = uniform(n, -4, 4, seed);
      const Vec u = uniform(n, 0.1f, 1, seed + 1);
      std::mt19937 g(seed + 2);
      for (int r = 0; r < rows; ++r) {
        if (r % 2 == 0) {  // one-hot rows
          const int hot = std::uniform_int_distribution<int>(0, C - 1)(g);
          for (int c = 0; c < C; ++c) y[size_t(r) * C + c] = c == hot ? 1.0f : 0.0f;
        } else {  // probability rows
          float s = 0;
          for (int c = 0; c < C; ++c) s += u[size_t(r) * C + c];
          for (int c = 0; c < C; ++c) y[size_t(r) * C + c] = u[size_t(r) * C + c] / s;
        }
      }
      p[0] = 40.0f;
      break;
    }
    default:
      break;
  }
  return {p, y};
}

const std::pair<LossKind, const char*> kLosses[] = {
    {LossKind::MSE, "mse"},         {LossKind::MAE, "mae"},
    {LossKind::MAPE, "mape"},       {LossKind::Poisson, "poisson"},
    {LossKind::BinaryCrossEntropy, "bce"}, {LossKind::CategoricalCrossEntropy, "cce"}};

// MAE's and MAPE's gradients are +-scale / (n max(|y|, 1e-7)) per element, with no cancellation,
// and MAPE's y = 0 element is 1e7 times the others: compared element by element.
Tol dpred_tol(LossKind k) {
  return k == LossKind::MAE || k == LossKind::MAPE ? value_tol(test::kOpRel) : tensor_tol(test::kOpRel);
}

TEST(ParityOps, Losses) {
  // Model 1 (64 x 1), Model 2 (32 x 2), three classes, and many rows (multi-block reductions).
  for (auto rc : {std::pair{64, 1}, std::pair{32, 2}, std::pair{300, 3}, std::pair{40000, 4}})
    for (auto [loss, kname] : kLosses) {
      const int rows = rc.first, C = rc.second;  // plain variables: the lambda below captures them
      const LossKind k = loss;
      if (k == LossKind::CategoricalCrossEntropy && C == 1) continue;
      const auto [p, y] = loss_data(k, rows, C, 1000 + uint32_t(rows) + uint32_t(C));
      const size_t n = p.size();
      const float scale = 1.7f;
      parity(std::string("loss ") + kname + " rows=" + std::to_string(rows) + " C=" + std::to_string(C), {p, y},
             [&](OpRun& r) {
               float* dp = r.buf(n);
               r.keep("value", r.be.loss(k, rows, C, r.in(0), r.in(1), dp, scale), loss_tol());
               r.keep("dpred", dp, n, dpred_tol(k));
               r.keep("value without dpred", r.be.loss(k, rows, C, r.in(0), r.in(1), nullptr, scale),
                      loss_tol());
             });
    }
}

TEST(ParityOps, DeviceResidentLossAndNorm) {
  for (auto [loss, kname] : kLosses) {
    const LossKind k = loss;  // a plain variable: the lambda below captures it
    const int rows = 300, C = 3;
    const auto [p, y] = loss_data(k, rows, C, 1100);
    const Vec g = uniform(50001, -1, 1, 1101);
    const size_t n = p.size();
    parity(std::string("loss_accumulate / sum_squares_to ") + kname, {p, y, g}, [&](OpRun& r) {
      DVec s(kStepScalars, 0.0);
      s[kLossSum] = 0.5;
      s[kGradSq] = -1;
      double* sd = r.buf_f64(s);
      float* dp = r.buf(n);
      r.be.loss_accumulate(k, rows, C, r.in(0), r.in(1), dp, 0.25f, 0.75, sd + kLossSum);
      r.be.loss_accumulate(k, rows, C, r.in(0), r.in(1), nullptr, 0.25f, 2.0, sd + kLossSum);  // adds on
      r.keep("dpred", dp, n, dpred_tol(k));
      r.be.sum_squares_to(r.in(2), r.size(2), sd + kGradSq);
      DVec h(kStepScalars);
      r.be.download_f64(h.data(), sd, h.size());
      r.keep("loss sum", h[kLossSum], loss_tol());
      r.keep("grad sq", h[kGradSq], value_tol(test::kSquareSumRel));
      r.keep("untouched lr slot", h[kLr], kExact);
    });
  }
}

// --- optimizers --------------------------------------------------------------------------------

// Large lr so the step is a sizeable part of p: a wrong factor in the update shows above kFewUlpRel.
constexpr float kAdamLr = 0.05f, kB1 = 0.9f, kB2 = 0.999f, kEps = 1e-7f;

// The steps without a clip, from fresh (t = 1) and running moments (t = 3); plain SGD with no
// velocity slab.
TEST(ParityOps, AdamAndSgd) {
  const size_t n = 100003;
  enum { P, G, M, V, VEL };
  const std::vector<Vec> in = {uniform(n, -1, 1, 1200), uniform(n, -2, 2, 1201), uniform(n, -0.3f, 0.3f, 1202),
                               uniform(n, 0, 0.5f, 1203), uniform(n, -0.1f, 0.1f, 1204)};
  const Tol tol = tensor_tol(test::kFewUlpRel);
  auto scalars = [](int64_t t) {
    DVec s(kStepScalars, 0.0);
    s[kLr] = kAdamLr, s[kT] = double(t);
    return s;
  };
  parity("adam_step_dev", in, [&](OpRun& r) {
    for (int64_t t : {1, 3}) {
      float* p = r.buf(in[P]);
      float* m = r.buf(t == 1 ? Vec(n, 0.0f) : in[M]);
      float* v = r.buf(t == 1 ? Vec(n, 0.0f) : in[V]);
      r.be.adam_step_dev(p, r.in(G), m, v, n, kB1, kB2, kEps, r.buf_f64(scalars(t)));
      const std::string at = " t=" + std::to_string(t);
      r.keep("p" + at, p, n, tol);
      r.keep("m" + at, m, n, tol);
      r.keep("v" + at, v, n, tol);
    }
  });
  parity("sgd_step_dev", in, [&](OpRun& r) {
    const double* sd = r.buf_f64(scalars(1));
    for (bool nesterov : {false, true}) {
      float* p = r.buf(in[P]);
      float* vel = r.buf(in[VEL]);
      r.be.sgd_step_dev(p, r.in(G), vel, n, 0.9f, nesterov, sd);
      r.keep(nesterov ? "p nesterov" : "p momentum", p, n, tol);
      r.keep(nesterov ? "vel nesterov" : "vel momentum", vel, n, tol);
    }
    float* p = r.buf(in[P]);
    r.be.sgd_step_dev(p, r.in(G), nullptr, n, 0.0f, false, sd);  // plain SGD keeps no velocity
    r.keep("p plain", p, n, tol);
  });
}

TEST(ParityOps, DeviceResidentStepsWithClipping) {
  const size_t n = 100003;
  enum { P, G, M, V, VEL };
  const std::vector<Vec> in = {uniform(n, -1, 1, 1300), uniform(n, -2, 2, 1301), uniform(n, -0.3f, 0.3f, 1302),
                               uniform(n, 0, 0.5f, 1303), uniform(n, -0.1f, 0.1f, 1304)};
  double gsq = 0;
  for (float g : in[G]) gsq += double(g) * g;
  const double norm = std::sqrt(gsq);
  struct Clip {
    const char* name;
    double clip;
  };
  // Disabled, above the norm (inactive), below it (g scaled by clip / norm first).
  const Clip clips[] = {{"no clip", 0.0}, {"clip inactive", 2 * norm}, {"clip active", 0.25 * norm}};
  const Tol tol = tensor_tol(test::kFewUlpRel);
  for (const Clip& c : clips) {
    DVec s(kStepScalars, 0.0);
    s[kLr] = kAdamLr, s[kT] = 3, s[kClipNorm] = c.clip, s[kGradSq] = gsq;
    parity(std::string("adam_step_dev ") + c.name, in, [&](OpRun& r) {
      double* sd = r.buf_f64(s);
      float* p = r.buf(in[P]);
      float* g = r.buf(in[G]);
      float* m = r.buf(in[M]);
      float* v = r.buf(in[V]);
      r.be.adam_step_dev(p, g, m, v, n, kB1, kB2, kEps, sd);
      r.keep("p", p, n, tol);
      r.keep("g", g, n, tol);
      r.keep("m", m, n, tol);
      r.keep("v", v, n, tol);
    });
    // Squared norms (|a|^2, |b|^2) of the two halves ("layers") of a and b, in backend memory.
    auto half_norms = [&](OpRun& r, const float* a, const float* b) {
      double* norms = r.buf_f64(DVec(4, 0.0));
      const size_t h = n / 2;
      r.be.sum_squares_to(a, h, norms);
      r.be.sum_squares_to(b, h, norms + 1);
      r.be.sum_squares_to(a + h, n - h, norms + 2);
      r.be.sum_squares_to(b + h, n - h, norms + 3);
      return norms;
    };
    // LAMB: the direction over the slab, then a trust-scaled step on two "layers" (halves).
    parity(std::string("lamb_step_dev ") + c.name, in, [&](OpRun& r) {
      double* sd = r.buf_f64(s);
      float* p = r.buf(in[P]);
      float* g = r.buf(in[G]);
      float* m = r.buf(in[M]);
      float* v = r.buf(in[V]);
      float* u = r.buf(n);
      r.be.lamb_direction_dev(p, g, m, v, u, n, kB1, kB2, kEps, 0.01f, sd);
      r.keep("u", u, n, tol);
      double* norms = half_norms(r, p, u);
      const size_t h = n / 2;
      r.be.trust_step_dev(p, u, h, norms, sd);
      r.be.trust_step_dev(p + h, u + h, n - h, norms + 2, sd);
      r.keep("p", p, n, tol);
      r.keep("m", m, n, tol);
      r.keep("v", v, n, tol);
    });
    // LARS: per-layer norms of p and g (before the clip), then the momentum step on two "layers".
    parity(std::string("lars_step_dev ") + c.name, in, [&](OpRun& r) {
      double* sd = r.buf_f64(s);
      float* p = r.buf(in[P]);
      float* g = r.buf(in[G]);
      float* vel = r.buf(in[VEL]);
      double* norms = half_norms(r, p, g);
      const size_t h = n / 2;
      r.be.lars_step_dev(p, g, vel, h, norms, 1e-3f, 1e-4f, 0.9f, sd);
      r.be.lars_step_dev(p + h, g + h, vel + h, n - h, norms + 2, 1e-3f, 1e-4f, 0.9f, sd);
      r.keep("p", p, n, tol);
      r.keep("vel", vel, n, tol);
    });
    for (bool nesterov : {false, true}) {
      parity(std::string("sgd_step_dev ") + c.name + (nesterov ? " nesterov" : ""), in, [&](OpRun& r) {
        double* sd = r.buf_f64(s);
        float* p = r.buf(in[P]);
        float* g = r.buf(in[G]);
        float* vel = r.buf(in[VEL]);
        r.be.sgd_step_dev(p, g, vel, n, 0.9f, nesterov, sd);
        r.keep("p", p, n, tol);
        r.keep("g", g, n, tol);
        r.keep("vel", vel, n, tol);
      });
    }
  }
  // Clipping happened where it should, on the CPU: g scaled by clip / norm.
  Backend& be = cpu_backend();
  DVec s(kStepScalars, 0.0);
  s[kLr] = kAdamLr, s[kT] = 3, s[kClipNorm] = 0.25 * norm, s[kGradSq] = gsq;
  Vec p = in[P], g = in[G], vel = in[VEL];
  be.sgd_step_dev(p.data(), g.data(), vel.data(), n, 0.9f, false, s.data());
  EXPECT_FLOAT_EQ(g[0], in[G][0] * float(0.25));
}

}  // namespace
