// Writing generated batches: NPY (positions) + NPZ (labels), or CSV in trackpy layout.
#pragma once
#include <string>
#include <vector>

#include "sptrain/sim.hpp"

namespace sptrain {

// Paths written for an NPY output "<stem>.npy": the positions there, labels in "<stem>.labels.npz",
// features (when requested) in "<stem>.features.npy".
std::string labels_path_for(const std::string& npy_path);
std::string features_path_for(const std::string& npy_path);

// Writes everything or nothing: each file goes to a temporary and is renamed only after all are
// complete. `spec_json` is stored in the labels (as UTF-8 bytes, key "spec_json").
void write_batch_npy(const TrajectoryBatch& b, const std::string& path, const std::string& spec_json,
                     const std::vector<float>* features = nullptr, const std::vector<int64_t>& feature_shape = {});

// trackpy layout: particle, frame, x[, y, z], then labels: state and step_sigma of the step that
// starts at this frame (empty on the last frame), sigma, n_switches, has_switch, localization,
// exposure, rate_factor of the trajectory (the NPZ's arrays of those names).
void write_batch_csv(const TrajectoryBatch& b, const std::string& path);

}  // namespace sptrain
