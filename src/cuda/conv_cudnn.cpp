// Conv1D through the cuDNN 9 graph (backend) API. Per (op, shape, alignment) an operation graph is
// built, engine configs come from the heuristics (mode A, then the fallback list), configs the math
// mode forbids or whose workspace exceeds the cap are skipped, and the first plan that finalizes
// is cached; with SPTRAIN_CUDNN_TUNE=1 the first four are kept and the fastest of them on the
// shape's first call (timed on its operands) runs from then on. Candidate graphs, in order: the math mode's own (BF16: BF16 inputs with an
// FP32, then a BF16 output), and for BF16 finally TF32; asymmetric padding always runs as a valid
// convolution on an explicitly zero-padded input. Each call converts inputs to BF16 when the plan wants it, builds a
// variant pack and executes on the handle's stream.
#include "cuda/conv_cudnn.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "cuda/check.hpp"

namespace sptrain::cuda {

size_t Workspace::default_cap(size_t device_total_bytes) {
  constexpr size_t kMiB = size_t(1) << 20;
  return std::clamp(device_total_bytes / 32, 256 * kMiB, 4096 * kMiB);
}

void* Workspace::get(size_t bytes) {
  if (bytes > buf_.size()) {
    constexpr size_t kMiB = size_t(1) << 20;
    const size_t want = (bytes + kMiB - 1) / kMiB * kMiB;
    SPTRAIN_CUDA_CHECK(cudaDeviceSynchronize());  // queued work may still use the old buffer
    buf_ = DeviceBuffer<unsigned char>();         // free first: lower peak
    buf_ = DeviceBuffer<unsigned char>(want, "workspace arena");
    bump();
  }
  return buf_.data();
}

namespace {

// Owns one backend descriptor; the destructor never throws.
class Desc {
 public:
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type) { SPTRAIN_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() { reset(); }
  cudnnBackendDescriptor_t get() const { return d_; }

 private:
  void reset() noexcept {
    if (d_) cudnnBackendDestroyDescriptor(d_);
    d_ = nullptr;
  }
  cudnnBackendDescriptor_t d_ = nullptr;
};

// One finalized execution plan of a graph: its workspace and its engine's global index.
struct EngineAlt {
  Desc plan;
  int64_t workspace = 0;
  int64_t engine = -1;
};

// Engine configs finalized per graph and timed on a shape's first call (the heuristics rank them,
// but their first pick is not always the fastest on the device at hand).
constexpr int kTimedCandidates = 4;

cudnnStatus_t set(const Desc& d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
                  const void* values) {
  return cudnnBackendSetAttribute(d.get(), name, type, count, values);
}

cudnnStatus_t set_desc(const Desc& d, cudnnBackendAttributeName_t name, const Desc& value) {
  cudnnBackendDescriptor_t raw = value.get();
  return cudnnBackendSetAttribute(d.get(), name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
}

// "STATUS_NAME (cuDNN's last error message)"
std::string status_text(cudnnStatus_t st) {
  char last[512] = {0};
  cudnnGetLastErrorString(last, sizeof(last));
  std::string s = cudnnGetErrorString(st);
  if (last[0]) s += std::string(" (") + last + ")";
  return s;
}

// Inside graph building: a failing call records why and abandons the candidate.
#define SPTRAIN_CUDNN_TRY(label, stmt)                             \
  do {                                                             \
    cudnnStatus_t sptrain_try_ = (stmt);                           \
    if (sptrain_try_ != CUDNN_STATUS_SUCCESS) {                    \
      why = std::string(label) + ": " + status_text(sptrain_try_); \
      return false;                                                \
    }                                                              \
  } while (0)

// Tensor UIDs, unique within each graph. dy shares the y slot, dx the x slot, dw the w slot.
constexpr int64_t kUidX = 1, kUidW = 2, kUidY = 3, kUidB = 4, kUidConvOut = 5;

enum class Kind { Fwd, Dgrad, Wgrad };

// One candidate graph.
struct Spec {
  Kind kind = Kind::Fwd;
  bool bias = false;      // conv -> pointwise ADD of a (1, F, 1, 1) bias, fused in the graph
  bool bf16_in = false;   // both inputs are BF16 copies
  bool bf16_out = false;  // the output is a BF16 scratch, converted to float afterwards
  bool allow_tc = false;  // engines noted TENSOR_CORE are allowed (TF32 for float inputs)
  bool aligned = false;   // every user pointer is 16-byte aligned
};

struct Dims4 {
  int64_t dims[4];
  int64_t strides[4];
};

// x (N, T_in, C_in) as NHWC [N, C_in, 1, T_in]
Dims4 x_dims(const Conv1dDesc& d) {
  const int64_t N = d.N, T = d.T_in, C = d.C_in;
  return {{N, C, 1, T}, {T * C, 1, T * C, C}};
}
// y (N, T_out, F) as NHWC [N, F, 1, T_out]
Dims4 y_dims(const Conv1dDesc& d) {
  const int64_t N = d.N, T = d.T_out, F = d.F;
  return {{N, F, 1, T}, {T * F, 1, T * F, F}};
}
// w (F, K, C_in) as KRSC [F, C_in, 1, K]
Dims4 w_dims(const Conv1dDesc& d) {
  const int64_t F = d.F, K = d.K, C = d.C_in;
  return {{F, C, 1, K}, {K * C, 1, K * C, C}};
}
// b (F) broadcast over N, H, W
Dims4 b_dims(const Conv1dDesc& d) {
  const int64_t F = d.F;
  return {{1, F, 1, 1}, {F, 1, F, F}};
}

bool make_tensor(Desc& t, int64_t uid, const Dims4& s, cudnnDataType_t type, int64_t align, bool is_virtual,
                 std::string& why) {
  t = Desc(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const bool virt = is_virtual;
  SPTRAIN_CUDNN_TRY("tensor data type", set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  SPTRAIN_CUDNN_TRY("tensor dims", set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, s.dims));
  SPTRAIN_CUDNN_TRY("tensor strides", set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, s.strides));
  SPTRAIN_CUDNN_TRY("tensor uid", set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  SPTRAIN_CUDNN_TRY("tensor alignment", set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
  SPTRAIN_CUDNN_TRY("tensor virtual", set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt));
  SPTRAIN_CUDNN_TRY("tensor finalize", cudnnBackendFinalize(t.get()));
  return true;
}

// Whether the math mode accepts an engine config, by the numerical notes of its engine.
enum class Verdict { Accept, Exclude, Error };
Verdict judge_notes(const Desc& cfg, bool allow_tc, std::string& err) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t n = 0;
  cudnnStatus_t st =
      cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw);
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t count = 0;
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                  CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes);
  if (st != CUDNN_STATUS_SUCCESS) {
    err = "numerical notes: " + status_text(st);
    return Verdict::Error;
  }
  count = std::min<int64_t>(count, CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
  for (int64_t i = 0; i < count; ++i) {
    // Inputs converted below their given precision (e.g. FP32 -> FP16) are never wanted.
    if (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return Verdict::Exclude;
    // Tensor cores on float inputs mean TF32: excluded in FP32 mode.
    if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && !allow_tc) return Verdict::Exclude;
  }
  return Verdict::Accept;
}

// The global index of an engine config's engine (what SPTRAIN_CUDNN_LOG prints); -1 if unknown.
int64_t engine_index(const Desc& cfg) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t n = 0, index = -1;
  if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw) !=
          CUDNN_STATUS_SUCCESS ||
      cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &index) !=
          CUDNN_STATUS_SUCCESS)
    return -1;
  return index;
}

// Finalized plans of one graph (the heuristics' order, at most kTimedCandidates) and every
// descriptor they were built from (kept alive with them).
struct Built {
  std::vector<Desc> keep;
  std::vector<EngineAlt> alts;
};

// How many acceptable engine configs of the heuristics' list are finalized and timed on the first
// call of a shape (ConvEngine::tune): kTimedCandidates with SPTRAIN_CUDNN_TUNE=1, else 1 (the
// heuristics' first, untimed). Off by default because timing can pick different engines in two
// runs of the same config (engines within timing noise of each other), and their rounding differs,
// so a run would no longer repeat bit for bit on the same GPU, nor resume exactly.
int max_candidates() {
  static const int n = [] {
    const char* v = std::getenv("SPTRAIN_CUDNN_TUNE");
    return v && *v && std::string(v) != "0" ? kTimedCandidates : 1;
  }();
  return n;
}

// Builds the graph of `s` and finalizes the acceptable engine configs (up to max_candidates(), in
// the heuristics' order); false (with `why`) when none works.
bool build_plan(cudnnHandle_t handle, const Conv1dDesc& d, int64_t pad_right, const Spec& s, size_t cap, Built& out,
                std::string& why) {
  std::vector<Desc> keep;
  const cudnnDataType_t in_type = s.bf16_in ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnDataType_t out_type = s.bf16_out ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const int64_t user_align = s.aligned ? 16 : 4;            // float pointers from the caller
  const int64_t in_align = s.bf16_in ? 16 : user_align;     // BF16 scratch comes from cudaMalloc
  const int64_t out_align = s.bf16_out ? 16 : user_align;

  // Convolution descriptor: 2 spatial dims (H = 1, W = time).
  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  {
    const int64_t spatial = 2;
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const int64_t dil[2] = {1, d.dilation}, str[2] = {1, d.stride};
    const int64_t pre[2] = {0, d.pad_left}, post[2] = {0, pad_right};
    SPTRAIN_CUDNN_TRY("conv spatial dims",
                      set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
    SPTRAIN_CUDNN_TRY("conv compute type", set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    SPTRAIN_CUDNN_TRY("conv mode", set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    SPTRAIN_CUDNN_TRY("conv dilations", set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil));
    SPTRAIN_CUDNN_TRY("conv strides", set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, str));
    SPTRAIN_CUDNN_TRY("conv pre-paddings", set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pre));
    SPTRAIN_CUDNN_TRY("conv post-paddings", set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, post));
    SPTRAIN_CUDNN_TRY("conv finalize", cudnnBackendFinalize(conv.get()));
  }

  // The three tensors x, w, y (in that order) of the operation; for each kind one of them is the
  // output (y forward, dx backward-data, dw backward-filter) and the other two are inputs.
  const float alpha = 1.0f, beta = 0.0f;
  std::vector<Desc> ops;
  const int out_role = s.kind == Kind::Fwd ? 2 : s.kind == Kind::Dgrad ? 0 : 1;
  const Dims4 role_dims[3] = {x_dims(d), w_dims(d), y_dims(d)};
  const int64_t role_uid[3] = {kUidX, kUidW, kUidY};
  Desc t[3];
  for (int r = 0; r < 3; ++r) {
    const bool out = r == out_role;
    if (!make_tensor(t[r], role_uid[r], role_dims[r], out ? out_type : in_type, out ? out_align : in_align, false, why))
      return false;
  }
  const bool fused_bias = s.kind == Kind::Fwd && s.bias;
  Desc conv_out, b;  // forward with a fused bias: conv -> virtual conv_out, then conv_out + b -> y
  if (fused_bias) {
    if (!make_tensor(conv_out, kUidConvOut, y_dims(d), CUDNN_DATA_FLOAT, 16, true, why)) return false;
    if (!make_tensor(b, kUidB, b_dims(d), CUDNN_DATA_FLOAT, user_align, false, why)) return false;
  }
  struct OpAttrs {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
  };
  static const OpAttrs kAttrs[3] = {
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA}};
  const OpAttrs& a = kAttrs[s.kind == Kind::Fwd ? 0 : s.kind == Kind::Dgrad ? 1 : 2];
  Desc op(a.type);
  SPTRAIN_CUDNN_TRY("conv op x", set_desc(op, a.x, t[0]));
  SPTRAIN_CUDNN_TRY("conv op w", set_desc(op, a.w, t[1]));
  SPTRAIN_CUDNN_TRY("conv op y", set_desc(op, a.y, fused_bias ? conv_out : t[2]));
  SPTRAIN_CUDNN_TRY("conv op descriptor", set_desc(op, a.conv, conv));
  SPTRAIN_CUDNN_TRY("conv op alpha", set(op, a.alpha, CUDNN_TYPE_FLOAT, 1, &alpha));
  SPTRAIN_CUDNN_TRY("conv op beta", set(op, a.beta, CUDNN_TYPE_FLOAT, 1, &beta));
  SPTRAIN_CUDNN_TRY("conv op finalize", cudnnBackendFinalize(op.get()));
  ops.push_back(std::move(op));
  if (fused_bias) {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    const cudnnPointwiseMode_t add = CUDNN_POINTWISE_ADD;
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    SPTRAIN_CUDNN_TRY("add mode", set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &add));
    SPTRAIN_CUDNN_TRY("add precision", set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec));
    SPTRAIN_CUDNN_TRY("add finalize", cudnnBackendFinalize(pw.get()));
    Desc pop(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    SPTRAIN_CUDNN_TRY("add op mode", set_desc(pop, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw));
    SPTRAIN_CUDNN_TRY("add op x", set_desc(pop, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, conv_out));
    SPTRAIN_CUDNN_TRY("add op b", set_desc(pop, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b));
    SPTRAIN_CUDNN_TRY("add op y", set_desc(pop, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, t[2]));
    SPTRAIN_CUDNN_TRY("add op finalize", cudnnBackendFinalize(pop.get()));
    ops.push_back(std::move(pop));
    keep.push_back(std::move(pw));
    keep.push_back(std::move(conv_out));
    keep.push_back(std::move(b));
  }
  for (Desc& tensor : t) keep.push_back(std::move(tensor));
  keep.push_back(std::move(conv));

  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  {
    std::vector<cudnnBackendDescriptor_t> raw;
    for (const Desc& op : ops) raw.push_back(op.get());
    SPTRAIN_CUDNN_TRY("graph ops", set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       int64_t(raw.size()), raw.data()));
    // The handle is optional since cuDNN 9.8 (deprecated attribute); a refusal is not fatal.
    (void)set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    SPTRAIN_CUDNN_TRY("graph finalize", cudnnBackendFinalize(graph.get()));
  }
  for (Desc& op : ops) keep.push_back(std::move(op));

  std::string summary;
  const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
  for (cudnnBackendHeurMode_t mode : modes) {
    const char* mode_name = mode == CUDNN_HEUR_MODE_A ? "heuristics A" : "fallback list";
    Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnStatus_t st = set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
    if (st == CUDNN_STATUS_SUCCESS) st = set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(heur.get());
    int64_t count = 0;
    if (st == CUDNN_STATUS_SUCCESS)
      st = cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                    &count, nullptr);
    if (st != CUDNN_STATUS_SUCCESS) {
      summary += std::string(summary.empty() ? "" : "; ") + mode_name + ": " + status_text(st);
      continue;
    }
    std::vector<Desc> cfgs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      cfgs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
      raw.push_back(cfgs.back().get());
    }
    int64_t got = 0;
    if (count > 0) {
      st = cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                    &got, raw.data());
      if (st != CUDNN_STATUS_SUCCESS) {
        summary += std::string(summary.empty() ? "" : "; ") + mode_name + " results: " + status_text(st);
        continue;
      }
      got = std::min(got, count);
    }
    int filtered = 0, too_big = 0, failed = 0;
    std::string last;
    for (int64_t i = 0; i < got; ++i) {
      const Desc& cfg = cfgs[size_t(i)];
      const Verdict verdict = judge_notes(cfg, s.allow_tc, last);
      if (verdict != Verdict::Accept) {
        ++(verdict == Verdict::Exclude ? filtered : failed);
        continue;
      }
      int64_t ws = 0, n = 0;
      if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws) ==
              CUDNN_STATUS_SUCCESS &&
          ws > int64_t(cap)) {
        ++too_big;
        continue;
      }
      Desc plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      st = set_desc(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfg);
      if (st == CUDNN_STATUS_SUCCESS) {
        // Optional since cuDNN 9.8 (deprecated attribute); a refusal is not fatal.
        (void)set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
        st = cudnnBackendFinalize(plan.get());
      }
      if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                      &ws);
      if (st != CUDNN_STATUS_SUCCESS) {
        ++failed;
        last = status_text(st);
        continue;
      }
      if (ws < 0 || ws > int64_t(cap)) {
        ++too_big;
        continue;
      }
      out.alts.push_back(EngineAlt{std::move(plan), ws, engine_index(cfg)});
      keep.push_back(std::move(cfgs[size_t(i)]));
      if (int(out.alts.size()) >= max_candidates()) break;
    }
    if (!out.alts.empty()) {
      keep.push_back(std::move(graph));
      keep.push_back(std::move(heur));
      out.keep = std::move(keep);
      return true;
    }
    summary += std::string(summary.empty() ? "" : "; ") + mode_name + ": " + std::to_string(got) + " configs, " +
               std::to_string(filtered) + " excluded by math mode, " + std::to_string(too_big) +
               " over the workspace cap, " + std::to_string(failed) + " failed" +
               (last.empty() ? std::string() : " (last: " + last + ")");
  }
  why = summary;
  return false;
}

#undef SPTRAIN_CUDNN_TRY

const char* math_name(MathMode m) {
  switch (m) {
    case MathMode::Fp32: return "fp32";
    case MathMode::Tf32: return "tf32";
    case MathMode::Bf16: return "bf16";
  }
  return "?";
}

const char* kind_name(Kind k, bool bias) {
  switch (k) {
    case Kind::Fwd: return bias ? "forward+bias" : "forward";
    case Kind::Dgrad: return "backward-data";
    case Kind::Wgrad: return "backward-filter";
  }
  return "?";
}

std::string shape_text(const Conv1dDesc& d) {
  return "N=" + std::to_string(d.N) + " T_in=" + std::to_string(d.T_in) + " C_in=" + std::to_string(d.C_in) +
         " T_out=" + std::to_string(d.T_out) + " F=" + std::to_string(d.F) + " K=" + std::to_string(d.K) +
         " stride=" + std::to_string(d.stride) + " dilation=" + std::to_string(d.dilation) +
         " pad_left=" + std::to_string(d.pad_left);
}

[[noreturn]] void fail(const std::string& msg) {
  const char* layer = detail::current_layer();
  throw DeviceError(msg + (layer ? std::string(" (layer ") + layer + ")" : std::string()));
}

// Checks the descriptor and returns the post-padding that gives T_out under cuDNN's
// floor((T_in + pre + post - dilation*(K-1) - 1) / stride) + 1.
int64_t post_padding(const Conv1dDesc& d, const char* op) {
  if (d.N < 0 || d.T_in < 1 || d.C_in < 1 || d.T_out < 1 || d.F < 1 || d.K < 1 || d.stride < 1 || d.dilation < 1 ||
      d.pad_left < 0)
    fail(std::string("conv1d ") + op + ": invalid shape " + shape_text(d));
  const int64_t span = int64_t(d.dilation) * (d.K - 1) + 1;
  const int64_t need = int64_t(d.T_out - 1) * d.stride + span - d.T_in - d.pad_left;
  // A negative need means the last window ends before T_in: no post-padding, floor drops the tail.
  const int64_t post = std::max<int64_t>(need, 0);
  const int64_t padded = int64_t(d.T_in) + d.pad_left + post - span;
  if (padded < 0 || padded / d.stride + 1 != d.T_out)
    fail(std::string("conv1d ") + op + ": T_out inconsistent with the padding, " + shape_text(d));
  return post;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Grows a scratch buffer to n elements (plan-building time only).
template <class T>
void grow(DeviceBuffer<T>& buf, size_t n, const char* what, Workspace& ws) {
  if (buf.size() >= n) return;
  SPTRAIN_CUDA_CHECK(cudaDeviceSynchronize());  // queued work may still use the old buffer
  buf = DeviceBuffer<T>();
  buf = DeviceBuffer<T>(n, what);
  ws.bump();  // captured graphs that used the old buffer are stale
}

}  // namespace

struct ConvEngine::Plan {
  std::vector<Desc> keep;  // graph, tensors, ops, configs: alive as long as the plan
  std::vector<EngineAlt> alts;  // candidate plans, the heuristics' order
  size_t chosen = 0;            // the one that runs (the fastest once tuned)
  bool tuned = false;           // timed on the first call (or nothing to time)
  int64_t workspace = 0;        // the largest candidate's: any of them runs in it
  bool bf16_in = false, bf16_out = false, fused_bias = false;
  // Padded plans run a valid convolution on a zero-padded copy of x: g is the shape of the graph
  // (T_in = t_pad, pad_left = 0), and copy_len time steps of x land at pad_left in it.
  bool padded = false;
  Conv1dDesc g;
  int64_t copy_len = 0;
};

ConvEngine::ConvEngine(cudnnHandle_t handle, cudaStream_t stream, Workspace& ws, MathMode math)
    : handle_(handle), stream_(stream), ws_(ws), math_(math) {}

ConvEngine::~ConvEngine() = default;


ConvEngine::Plan& ConvEngine::plan(Op op, const Conv1dDesc& d, bool aligned) {
  const Key key{int(op), int(aligned), d.N, d.T_in, d.C_in, d.T_out, d.F, d.K, d.stride, d.dilation, d.pad_left};
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  const Kind kind = op == Op::BackwardData ? Kind::Dgrad : op == Op::BackwardFilter ? Kind::Wgrad : Kind::Fwd;
  const bool bias = op == Op::ForwardBias;
  const int64_t pad_right = post_padding(d, kind_name(kind, bias));

  // The explicitly padded shape: a valid convolution over t_pad steps.
  const int64_t span = int64_t(d.dilation) * (d.K - 1) + 1;
  const int64_t t_pad = int64_t(d.T_out - 1) * d.stride + span;
  Conv1dDesc gp = d;
  gp.T_in = int(t_pad);
  gp.pad_left = 0;
  const int64_t copy_len = std::clamp<int64_t>(t_pad - d.pad_left, 0, d.T_in);
  // Asymmetric padding (causal, or 'same' with an even span, or a stride that leaves a tail) always
  // runs on an explicitly zero-padded copy: cuDNN engines accept pre != post paddings but not all
  // honour them (on an H200 with cuDNN 9, the backward-filter engine wgrad_alg0_engine_NHWC read
  // past the end of x and returned wrong gradients for causal and even-'same' convolutions, found
  // by the GPU parity tests and compute-sanitizer), while a valid convolution is what every engine
  // computes right.
  const bool asymmetric = d.pad_left != pad_right;
  if (asymmetric && t_pad > int64_t(INT32_MAX))
    fail(std::string("conv1d ") + kind_name(kind, bias) + ": padded length over 2^31, " + shape_text(d));

  // Candidates in order of preference; `tf32_fallback` marks those a BF16 engine falls back to.
  struct Candidate {
    Spec spec;
    bool tf32_fallback;
  };
  std::vector<Candidate> cands;
  const int n_fused = bias ? 2 : 1;  // with a bias: the fused graph first, then conv + bias kernel
  auto add_mode = [&](bool bf16, bool allow_tc, bool fallback) {
    for (int i = 0; i < n_fused; ++i) {
      const bool fused = bias && i == 0;
      if (bf16) {
        cands.push_back({Spec{kind, fused, true, false, true, aligned}, fallback});  // FP32 output
        cands.push_back({Spec{kind, fused, true, true, true, aligned}, fallback});   // BF16 output
      } else {
        cands.push_back({Spec{kind, fused, false, false, allow_tc, aligned}, fallback});
      }
    }
  };
  const bool bf16 = math_ == MathMode::Bf16;
  add_mode(bf16, math_ != MathMode::Fp32, false);
  if (bf16) add_mode(false, true, true);

  const Conv1dDesc& g = asymmetric ? gp : d;  // the graph's shape
  std::string whys;
  for (const Candidate& c : cands) {
    Built built;
    std::string why;
    if (!build_plan(handle_, g, asymmetric ? 0 : pad_right, c.spec, ws_.cap(), built, why)) {
      whys += std::string("\n  ") + (asymmetric ? "padded copy, " : "") + (c.spec.bias ? "fused bias, " : "") +
              (c.spec.bf16_in ? "bf16 in, " : "fp32 in, ") + (c.spec.bf16_out ? "bf16 out" : "fp32 out") +
              (c.spec.allow_tc ? ", tensor cores allowed" : "") + ": " + why;
      continue;
    }
    auto p = std::make_unique<Plan>();
    p->keep = std::move(built.keep);
    p->alts = std::move(built.alts);
    for (const EngineAlt& a : p->alts) p->workspace = std::max(p->workspace, a.workspace);
    p->tuned = p->alts.size() < 2;
    p->bf16_in = c.spec.bf16_in;
    p->bf16_out = c.spec.bf16_out;
    p->fused_bias = c.spec.bias;
    p->padded = asymmetric;
    p->g = g;
    p->copy_len = copy_len;

    // Scratch and workspace grow now, never while a built plan runs.
    const size_t nx = size_t(g.N) * g.T_in * g.C_in, ny = size_t(g.N) * g.T_out * g.F,
                 nw = size_t(g.F) * g.K * g.C_in;
    const size_t in0 = kind == Kind::Dgrad ? ny : nx;
    const size_t in1 = kind == Kind::Wgrad ? ny : nw;
    const size_t out = kind == Kind::Fwd ? ny : kind == Kind::Dgrad ? nx : nw;
    if (p->bf16_in) {
      grow(bf16_[0], in0, "bf16 convolution scratch", ws_);
      grow(bf16_[1], in1, "bf16 convolution scratch", ws_);
    }
    if (p->bf16_out) grow(bf16_[2], out, "bf16 convolution scratch", ws_);
    if (p->padded) grow(pad_, nx, "padded convolution input", ws_);
    ws_.get(size_t(p->workspace));

    if (const char* v = std::getenv("SPTRAIN_CUDNN_LOG"); v && *v && std::string(v) != "0")
      std::fprintf(stderr,
                   "sptrain: cuDNN conv1d %s %s%s math=%s: engine %lld, workspace %lld bytes, %zu candidate(s)%s%s%s\n",
                   kind_name(kind, bias), shape_text(d).c_str(), aligned ? "" : " (4-byte aligned)", math_name(math_),
                   static_cast<long long>(p->alts[0].engine), static_cast<long long>(p->workspace), p->alts.size(),
                   asymmetric ? ", on a zero-padded copy" : "", c.spec.bf16_in ? ", bf16 inputs" : "",
                   c.spec.bias ? ", fused bias" : "");
    if (c.tf32_fallback && !tf32_fallback_noted_) {
      tf32_fallback_noted_ = true;
      std::fprintf(stderr,
                   "sptrain: note: cuDNN has no BF16 engine for conv1d %s (%s); it runs in TF32 "
                   "(further such fallbacks are not reported)\n",
                   kind_name(kind, bias), shape_text(d).c_str());
    }
    Plan& ref = *p;
    plans_.emplace(key, std::move(p));
    return ref;
  }
  fail(std::string("cuDNN: no engine for conv1d ") + kind_name(kind, bias) + " " + shape_text(d) +
       " pad_right=" + std::to_string(pad_right) + (aligned ? " (16-byte aligned)" : " (4-byte aligned)") +
       " math=" + math_name(math_) + whys);
}

void ConvEngine::execute(Plan& p, const int64_t* uids, void* const* ptrs, int n) {
  void* ws = ws_.get(size_t(p.workspace));  // no growth here: sized when the plan was built
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  SPTRAIN_CUDNN_CHECK(set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs));
  SPTRAIN_CUDNN_CHECK(set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids));
  SPTRAIN_CUDNN_CHECK(set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
  SPTRAIN_CUDNN_CHECK(cudnnBackendFinalize(pack.get()));
  if (!p.tuned) tune(p, pack.get());
  SPTRAIN_CUDNN_CHECK(cudnnBackendExecute(handle_, p.alts[p.chosen].plan.get(), pack.get()));
}

// Times each candidate plan on the call's own operands (every candidate overwrites the same
// outputs, which the real run then overwrites again) and keeps the fastest: one warm-up run, then
// the best of kTimedRuns. A candidate whose run fails is dropped. Not while the stream is being
// captured into a CUDA graph (events cannot be waited for there): then the heuristics' first
// stays. Runs once per shape, on the first (eager) step.
void ConvEngine::tune(Plan& p, cudnnBackendDescriptor_t pack) {
  p.tuned = true;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  SPTRAIN_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capturing));
  if (capturing != cudaStreamCaptureStatusNone) return;
  constexpr int kTimedRuns = 3;
  cudaEvent_t start = nullptr, stop = nullptr;
  SPTRAIN_CUDA_CHECK(cudaEventCreate(&start));
  SPTRAIN_CUDA_CHECK(cudaEventCreate(&stop));
  float best = -1.0f;
  std::string times;
  for (size_t i = 0; i < p.alts.size(); ++i) {
    float ms = -1.0f;
    if (cudnnBackendExecute(handle_, p.alts[i].plan.get(), pack) == CUDNN_STATUS_SUCCESS) {
      for (int r = 0; r < kTimedRuns; ++r) {
        SPTRAIN_CUDA_CHECK(cudaEventRecord(start, stream_));
        const cudnnStatus_t st = cudnnBackendExecute(handle_, p.alts[i].plan.get(), pack);
        SPTRAIN_CUDA_CHECK(cudaEventRecord(stop, stream_));
        SPTRAIN_CUDA_CHECK(cudaEventSynchronize(stop));
        float t = 0.0f;
        SPTRAIN_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
        if (st != CUDNN_STATUS_SUCCESS) {
          ms = -1.0f;
          break;
        }
        if (ms < 0.0f || t < ms) ms = t;
      }
    }
    (void)cudaGetLastError();  // a failed candidate leaves no sticky error for the next op to find
    times += std::string(times.empty() ? "" : ", ") + "engine " + std::to_string(p.alts[i].engine) + " " +
             (ms < 0.0f ? std::string("failed") : std::to_string(ms) + " ms");
    if (ms >= 0.0f && (best < 0.0f || ms < best)) {
      best = ms;
      p.chosen = i;
    }
  }
  SPTRAIN_CUDA_CHECK(cudaEventDestroy(start));
  SPTRAIN_CUDA_CHECK(cudaEventDestroy(stop));
  if (best < 0.0f) p.chosen = 0;  // none ran: the real run reports the heuristics' first's error
  if (const char* v = std::getenv("SPTRAIN_CUDNN_LOG"); v && *v && std::string(v) != "0")
    std::fprintf(stderr, "sptrain: cuDNN timed %s: chose engine %lld\n", times.c_str(),
                 static_cast<long long>(p.alts[p.chosen].engine));
}

// Only the halo is zeroed (the time steps before pad_left and after the copied ones, per sample),
// not the whole padded buffer: the copy overwrites the rest.
void ConvEngine::pad_input(const Conv1dDesc& d, const Plan& p, const float* x) {
  const size_t row = size_t(d.C_in) * sizeof(float);  // bytes of one time step
  const size_t pitch = size_t(p.g.T_in) * row;
  const int64_t left = std::min<int64_t>(d.pad_left, p.g.T_in);
  const int64_t right = p.g.T_in - left - p.copy_len;
  if (left > 0) SPTRAIN_CUDA_CHECK(cudaMemset2DAsync(pad_.data(), pitch, 0, size_t(left) * row, size_t(d.N), stream_));
  if (right > 0)
    SPTRAIN_CUDA_CHECK(cudaMemset2DAsync(pad_.data() + size_t(left + p.copy_len) * d.C_in, pitch, 0,
                                         size_t(right) * row, size_t(d.N), stream_));
  if (p.copy_len > 0)
    SPTRAIN_CUDA_CHECK(cudaMemcpy2DAsync(pad_.data() + size_t(d.pad_left) * d.C_in, pitch, x, size_t(d.T_in) * row,
                                         size_t(p.copy_len) * row, size_t(d.N), cudaMemcpyDeviceToDevice, stream_));
}

void ConvEngine::crop_grad(const Conv1dDesc& d, const Plan& p, float* dx) {
  const size_t row = size_t(d.C_in) * sizeof(float);
  if (p.copy_len < d.T_in)  // steps no window reads get a zero gradient: only those are zeroed
    SPTRAIN_CUDA_CHECK(cudaMemset2DAsync(dx + size_t(p.copy_len) * d.C_in, size_t(d.T_in) * row, 0,
                                         size_t(d.T_in - p.copy_len) * row, size_t(d.N), stream_));
  if (p.copy_len > 0)
    SPTRAIN_CUDA_CHECK(cudaMemcpy2DAsync(dx, size_t(d.T_in) * row, pad_.data() + size_t(d.pad_left) * d.C_in,
                                         size_t(p.g.T_in) * row, size_t(p.copy_len) * row, size_t(d.N),
                                         cudaMemcpyDeviceToDevice, stream_));
}

void ConvEngine::run(Plan& p, Operand in0, Operand in1, Operand out, const float* bias) {
  void* a = const_cast<float*>(in0.data);
  void* b = const_cast<float*>(in1.data);
  if (p.bf16_in) {
    convert_to_bf16(in0.data, bf16_[0].data(), in0.n, stream_);
    convert_to_bf16(in1.data, bf16_[1].data(), in1.n, stream_);
    a = bf16_[0].data();
    b = bf16_[1].data();
  }
  void* o = p.bf16_out ? static_cast<void*>(bf16_[2].data()) : static_cast<void*>(const_cast<float*>(out.data));
  const int64_t uids[4] = {in0.uid, in1.uid, out.uid, kUidB};
  void* const ptrs[4] = {a, b, o, const_cast<float*>(bias)};
  execute(p, uids, ptrs, p.fused_bias ? 4 : 3);
  if (p.bf16_out) convert_from_bf16(bf16_[2].data(), const_cast<float*>(out.data), out.n, stream_);
}

void ConvEngine::forward(const Conv1dDesc& d, const float* x, const float* w_fkc, const float* b, float* y) {
  if (d.N == 0) return;
  const bool aligned = aligned16(x) && aligned16(w_fkc) && aligned16(y) && (!b || aligned16(b));
  Plan& p = plan(b ? Op::ForwardBias : Op::Forward, d, aligned);
  const Conv1dDesc& g = p.g;
  if (p.padded) {
    pad_input(d, p, x);
    x = pad_.data();
  }
  run(p, {kUidX, x, size_t(g.N) * g.T_in * g.C_in}, {kUidW, w_fkc, size_t(g.F) * g.K * g.C_in},
      {kUidY, y, size_t(g.N) * g.T_out * g.F}, b);
  if (b && !p.fused_bias) add_bias_ntc(y, b, size_t(d.N) * d.T_out, d.F, stream_);
}

void ConvEngine::backward_data(const Conv1dDesc& d, const float* dy, const float* w_fkc, float* dx) {
  if (d.N == 0) return;
  const bool aligned = aligned16(dy) && aligned16(w_fkc) && aligned16(dx);
  Plan& p = plan(Op::BackwardData, d, aligned);
  const Conv1dDesc& g = p.g;
  float* dxs = p.padded ? pad_.data() : dx;  // the gradient of the padded input, cropped below
  run(p, {kUidY, dy, size_t(g.N) * g.T_out * g.F}, {kUidW, w_fkc, size_t(g.F) * g.K * g.C_in},
      {kUidX, dxs, size_t(g.N) * g.T_in * g.C_in});
  if (p.padded) crop_grad(d, p, dx);
}

void ConvEngine::backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw_fkc) {
  if (d.N == 0) {  // no samples: the gradient is zero
    SPTRAIN_CUDA_CHECK(cudaMemsetAsync(dw_fkc, 0, size_t(d.F) * d.K * d.C_in * sizeof(float), stream_));
    return;
  }
  const bool aligned = aligned16(x) && aligned16(dy) && aligned16(dw_fkc);
  Plan& p = plan(Op::BackwardFilter, d, aligned);
  const Conv1dDesc& g = p.g;
  if (p.padded) {
    pad_input(d, p, x);
    x = pad_.data();
  }
  run(p, {kUidX, x, size_t(g.N) * g.T_in * g.C_in}, {kUidY, dy, size_t(g.N) * g.T_out * g.F},
      {kUidW, dw_fkc, size_t(g.F) * g.K * g.C_in});
}

}  // namespace sptrain::cuda
