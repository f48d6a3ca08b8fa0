// Conv1D on the GPU through the cuDNN 9 graph (backend) API: forward, backward-data and
// backward-filter as 4-D convolutions with a unit height (N, C, 1, T) on channels-last (NTC)
// activations, with dilation, stride and asymmetric pre/post padding (valid, Keras 'same', causal).
// One execution plan is built per (operation, shape, pointer alignment) in the engine's math mode
// and cached; every plan draws its workspace from the backend's one capped arena, so no allocation
// happens in the steady state and the calls can be captured in a CUDA graph. Host-only header.
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "cuda/device_buffer.hpp"
#include "sptrain/backend.hpp"

namespace sptrain::cuda {

// A device scratch area that only grows (at plan-building time, never inside a step).
class Workspace {
 public:
  // Largest single workspace a plan may ask for; engine configs wanting more are skipped. The
  // backend sets it from the device's memory (default_cap) or SPTRAIN_CUDNN_WORKSPACE_MB.
  size_t cap() const { return cap_; }
  void set_cap(size_t bytes) { cap_ = bytes; }
  // 1/32 of the device's memory, at least 256 MiB and at most 4 GiB: the fast implicit-GEMM
  // engines of cuDNN need a workspace that grows with the batch (65 MB for Model 2's dilated
  // convolutions at N = 256 on an H200, so ~1 GB at N = 4096), and a fixed 256 MiB cap left the
  // report's Model 2 at N = 4096 on a slow workspace-free engine (2,871 samples/s against 15,288
  // at N = 256).
  static size_t default_cap(size_t device_total_bytes);
  void* get(size_t bytes);  // grows (synchronizing the device) when needed
  // Counts reallocations of the arena and of the engine's other scratch: a captured CUDA graph
  // holds their old addresses, so a graph captured at an older generation must be recaptured.
  uint64_t generation() const { return generation_; }
  void bump() { ++generation_; }

 private:
  DeviceBuffer<unsigned char> buf_;
  uint64_t generation_ = 0;
  size_t cap_ = size_t(256) << 20;
};

class ConvEngine {
 public:
  ConvEngine(cudnnHandle_t handle, cudaStream_t stream, Workspace& ws, MathMode math);
  ~ConvEngine();
  ConvEngine(const ConvEngine&) = delete;
  ConvEngine& operator=(const ConvEngine&) = delete;

  // Weights here are in cuDNN's channels-last filter layout (F, K, C_in) ("KRSC" with R = 1); the
  // backend transposes from and to the Keras layout (K, C_in, F).
  // y (N, T_out, F) = conv(x) [+ b (F) when b is non-null, fused into the graph where an engine
  // supports it, else added by a separate kernel] -- overwritten.
  void forward(const Conv1dDesc& d, const float* x, const float* w_fkc, const float* b, float* y);
  // dx (N, T_in, C_in) = conv^T(dy) -- overwritten.
  void backward_data(const Conv1dDesc& d, const float* dy, const float* w_fkc, float* dx);
  // dw_fkc (F, K, C_in) = correlation of x and dy -- overwritten (the backend accumulates).
  void backward_filter(const Conv1dDesc& d, const float* x, const float* dy, float* dw_fkc);


 private:
  struct Plan;
  enum class Op : int { Forward = 0, ForwardBias = 1, BackwardData = 2, BackwardFilter = 3 };
  // op, all pointers 16-byte aligned, N, T_in, C_in, T_out, F, K, stride, dilation, pad_left
  using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, int>;
  Plan& plan(Op op, const Conv1dDesc& d, bool aligned);
  // Runs a built plan with the given tensors (uids[i] <-> ptrs[i]) and the arena's workspace; on
  // a shape's first call, first times its candidate engines on those tensors (tune).
  void execute(Plan& p, const int64_t* uids, void* const* ptrs, int n);
  void tune(Plan& p, cudnnBackendDescriptor_t pack);
  // One operand of a plan: its tensor uid, float data and element count.
  struct Operand {
    int64_t uid;
    const float* data;
    size_t n;
  };
  // Runs plan p on two inputs into `out`, through BF16 copies of the inputs and a BF16 output
  // scratch (converted back) when the plan computes in BF16; bias joins a fused graph.
  void run(Plan& p, Operand in0, Operand in1, Operand out, const float* bias = nullptr);
  // For plans on an explicitly zero-padded input (asymmetric padding without an engine):
  // x -> pad_, and the gradient in pad_ -> dx.
  void pad_input(const Conv1dDesc& d, const Plan& p, const float* x);
  void crop_grad(const Conv1dDesc& d, const Plan& p, float* dx);

  cudnnHandle_t handle_;
  cudaStream_t stream_;
  Workspace& ws_;
  MathMode math_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  // BF16 copies for MathMode::Bf16: [0] first input, [1] second input, [2] BF16 output.
  DeviceBuffer<uint16_t> bf16_[3];
  DeviceBuffer<float> pad_;  // zero-padded input (or its gradient) for padded plans
  bool tf32_fallback_noted_ = false;  // the stderr note on a BF16 -> TF32 fallback is printed once
};

// y[r * F + f] += b[f] for r < rows (defined in ops_conv.cu): the bias of a convolution whose
// fused conv + bias graph has no engine.
void add_bias_ntc(float* y, const float* b, size_t rows, int F, cudaStream_t s);

}  // namespace sptrain::cuda

namespace sptrain::cuda {
// Element conversions for BF16 compute (defined in ops_conv.cu over the bodies in
// kernels/convert.cuh): dst[i] = bf16(src[i]) round-to-nearest-even, and back.
void convert_to_bf16(const float* src, void* dst_bf16, size_t n, cudaStream_t stream);
void convert_from_bf16(const void* src_bf16, float* dst, size_t n, cudaStream_t stream);
}  // namespace sptrain::cuda
