// Where a training step's fresh data comes from: trajectories first, first+1, ... of the training
// seed, turned into model inputs and targets directly in the backend's memory. The CPU source
// simulates on the host; the CUDA source (src/cuda/device_data.cu) simulates, transforms and
// labels on the device, so the batch never touches the host. Both read the next trajectory index
// from a counter that next() advances, so a captured CUDA graph can replay a micro-batch.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "sptrain/backend.hpp"
#include "sptrain/features.hpp"
#include "sptrain/sim.hpp"
#include "sptrain/sim_params.hpp"

namespace sptrain {

struct TrainConfig;

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Sets the counter to trajectory index `first` (a host call between steps, outside any capture).
  virtual void set_first(int64_t first) = 0;
  // Fills x (m, T, C) and y (m, outputs) in backend memory with the m trajectories from the
  // counter on, and advances the counter by m. m <= the max_m given at construction.
  virtual void next(int64_t m, float* x, float* y) = 0;
};

// On the host: trajectories first .. first+n-1 of `seed` into b, their features x (n, T, C) and
// targets y (n, target_elems). The CPU batch source and the fixed, validation and test sets use it.
void host_batch(const TrainConfig& c, uint64_t seed, int64_t first, int64_t n, TrajectoryBatch& b,
                std::vector<float>& x, std::vector<float>& y);

// The source for the backend's device (the CUDA source needs a CUDA backend).
std::unique_ptr<BatchSource> make_batch_source(const TrainConfig& c, uint64_t seed, Backend& be, int64_t max_m);

#ifdef SPTRAIN_HAVE_CUDA
namespace cuda {
// label: the LabelKind as int (kernels/targets.cuh), outs: targets per trajectory.
std::unique_ptr<BatchSource> make_device_batch_source(const SimParams& p, const FeatureSpec& f, int label, int outs,
                                                      uint64_t seed, Backend& be, int64_t max_m);
}
#endif

}  // namespace sptrain
