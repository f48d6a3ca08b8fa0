// How the CUDA backend splits a convolution over N samples into chunks of samples, each one cuDNN
// call. cuDNN's fast engines need a workspace that grows with N (65 MB for the report's Model 2's
// dilated convolutions at N = 256 on an H200), so a whole micro-batch of 4096 in one call either
// overflows the workspace cap or falls to a workspace-free engine several times slower: engine
// choice then depends on the batch size. Chunks of at most kConvChunkSamples samples keep every
// call at one shape whatever the micro-batch (plus one shape for a remainder), so the engine chosen
// at N = 512 serves N = 65,536 too, and the per-call scratch (the zero-padded copy of the input,
// BF16 copies) is bounded by the chunk instead of growing with the micro-batch.
// Plain C++ (no CUDA), so the planner is tested on machines without a device.
#pragma once
#include <algorithm>
#include <cstdint>

namespace sptrain::cuda {

inline constexpr int64_t kConvChunkSamples = 512;

struct ConvChunks {
  int64_t size = 0;   // samples in every chunk but the last
  int64_t count = 0;  // number of chunks (0 for N = 0)
  int64_t last = 0;   // samples in the last chunk, 1..size
  int64_t begin(int64_t i) const { return i * size; }
  int64_t samples(int64_t i) const { return i + 1 < count ? size : last; }
};

// N samples in chunks of at most max_samples, and of at most scratch_cap_bytes /
// scratch_bytes_per_sample when the call's scratch per sample is given (> 0). When N is split, the
// chunk size is a multiple of 4 samples (when it is at least 4), so every chunk of float tensors
// starts as aligned as the first (16 bytes), which some cuDNN engines require.
inline ConvChunks plan_conv_chunks(int64_t N, int64_t scratch_bytes_per_sample, int64_t scratch_cap_bytes,
                                   int64_t max_samples = kConvChunkSamples) {
  ConvChunks c;
  if (N <= 0) return c;
  int64_t size = std::min(N, std::max<int64_t>(max_samples, 1));
  if (scratch_bytes_per_sample > 0)
    size = std::min(size, std::max<int64_t>(scratch_cap_bytes / scratch_bytes_per_sample, 1));
  if (size < N && size >= 4) size -= size % 4;
  c.size = size;
  c.count = (N + size - 1) / size;
  c.last = N - (c.count - 1) * size;
  return c;
}

}  // namespace sptrain::cuda
