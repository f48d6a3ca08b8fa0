// Training data as a stream of batches, for training loops outside sptrain's trainer (the Python
// package's PyTorch source, sptrain.torch.Batches). Batch k holds trajectories
// first + k*batch ... first + (k+1)*batch - 1 of `seed` (counter-based: any k, in any order, on any
// process, gives the same data), their features x (batch, T, C) and targets y (batch, target_steps,
// outputs), float32, made in the memory of the stream's device by the trainer's own batch source:
// on a GPU the trajectories are simulated, transformed and labelled there and never touch the host.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

#include "sptrain/backend.hpp"
#include "sptrain/device.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

class BatchSource;

class BatchStream {
 public:
  // One batch in the stream's device memory; it keeps the device's backend alive, so it may
  // outlive the stream (a tensor handed to PyTorch does).
  struct Batch {
    std::shared_ptr<Backend> backend;  // declared first: destroyed after the buffers
    Buffer<float> x, y;
  };

  // Throws UsageError (KeyError) for a batch outside 1..kMaxBatch, a classification label on a
  // one-state spec, a first index < 0 or a device this build lacks.
  BatchStream(const SimSpec& spec, LabelKind label, int64_t batch, uint64_t seed, int64_t first, const Device& dev);
  ~BatchStream();
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  int64_t batch() const { return cfg_.batch; }
  int length() const { return T_; }    // T: feature rows per trajectory
  int channels() const { return C_; }  // C: features per row
  int target_steps() const { return cfg_.target_steps(); }
  int outputs() const { return cfg_.outputs(); }
  Device device() const { return dev_; }

  // Batch k (k >= 0 with first + (k+1)*batch < 2^63), complete when it returns. Safe to call from
  // several threads (calls run one at a time).
  Batch next(int64_t k);

 private:
  TrainConfig cfg_;  // spec and label (the rest unused); the batch source keeps a reference
  uint64_t seed_;
  int64_t first_;
  Device dev_;
  int T_ = 0, C_ = 0;
  std::shared_ptr<Backend> be_;
  std::unique_ptr<BatchSource> src_;
  std::mutex mu_;
};

}  // namespace sptrain
