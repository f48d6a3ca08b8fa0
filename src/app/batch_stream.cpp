// BatchStream (sptrain/batch_stream.hpp): the trainer's batch source (engine/batch_source.hpp) on a
// backend of its own, one batch per call into freshly allocated buffers.
#include "sptrain/batch_stream.hpp"

#include <limits>
#include <string>

#include "engine/batch_source.hpp"
#include "sptrain/error.hpp"
#include "sptrain/features.hpp"

namespace sptrain {

BatchStream::BatchStream(const SimSpec& spec, LabelKind label, int64_t batch, uint64_t seed, int64_t first,
                         const Device& dev)
    : seed_(seed), first_(first), dev_(dev) {
  if (batch < 1 || batch > kMaxBatch)
    throw KeyError("batch", std::to_string(batch) + " is not in 1.." + std::to_string(kMaxBatch), "trajectories per batch");
  if (first < 0) throw KeyError("first_index", std::to_string(first) + " is negative", ">= 0");
  cfg_.spec = spec;
  cfg_.label = label;
  cfg_.batch = batch;
  if (cfg_.classification() && spec.params.n_states < 2)
    throw KeyError("label", "a classification label needs >= 2 states", "");
  check_trajectory_memory(spec.params, double(batch), "batch");
  T_ = feature_length(spec.features, spec.params.length);
  C_ = feature_channels(spec.features, spec.params.dims);
  be_ = make_backend(dev);
  src_ = make_batch_source(cfg_, seed_, *be_, batch);
}

BatchStream::~BatchStream() = default;

BatchStream::Batch BatchStream::next(int64_t k) {
  const int64_t B = cfg_.batch, max = std::numeric_limits<int64_t>::max();
  if (k < 0 || k >= (max - first_) / B)
    throw KeyError("step", std::to_string(k) + " is outside the stream",
                   "0 <= step with first_index + (step + 1) * batch < 2^63");
  const std::lock_guard<std::mutex> lock(mu_);
  Batch b{be_, be_->alloc<float>(size_t(B) * T_ * C_), be_->alloc<float>(size_t(B * cfg_.target_elems()))};
  src_->set_first(first_ + k * B);
  src_->next(B, b.x.get(), b.y.get());
  be_->synchronize();
  return b;
}

}  // namespace sptrain
