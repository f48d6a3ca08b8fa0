// The CPU batch source: simulate on the host (the same counter-based generator as the GPU), compute
// features and targets, copy into backend memory.
#include "engine/batch_source.hpp"

#include "sptrain/features.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/train.hpp"

namespace sptrain {

namespace {
class HostBatchSource final : public BatchSource {
 public:
  HostBatchSource(const TrainConfig& c, uint64_t seed, Backend& be) : c_(c), seed_(seed), be_(be) {}
  void set_first(int64_t first) override { next_ = first; }
  void next(int64_t m, float* x, float* y) override {
    host_batch(c_, seed_, next_, m, batch_, feats_, targets_);
    be_.upload(x, feats_.data(), feats_.size());
    be_.upload(y, targets_.data(), targets_.size());
    next_ += m;
  }

 private:
  const TrainConfig& c_;
  uint64_t seed_;
  Backend& be_;
  int64_t next_ = 0;
  TrajectoryBatch batch_;
  std::vector<float> feats_, targets_;
};
}  // namespace

void host_batch(const TrainConfig& c, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& b,
                std::vector<float>& x, std::vector<float>& y) {
  simulate(c.spec.params, seed, first, n, Device::cpu(), b);
  x = compute_features(c.spec.features, b.positions.data(), n, c.spec.params.length, c.spec.params.dims);
  make_targets(c, b, y);
}

std::unique_ptr<BatchSource> make_batch_source(const TrainConfig& c, uint64_t seed, Backend& be, int64_t max_m) {
#ifdef SPTRAIN_HAVE_CUDA
  if (be.device().is_cuda()) return cuda::make_device_batch_source(c.spec.params, c.spec.features, int(c.label), c.outputs(), seed, be, max_m);
#endif
  return std::make_unique<HostBatchSource>(c, seed, be);
}

}  // namespace sptrain
