// The built-in optimizers' factories, one per file in this folder, listed in registry.cpp.
#pragma once
#include "sptrain/optimizer.hpp"

namespace sptrain::optim {

// Their memory accounts (OptimizerMemory), which their constructors allocate from.
std::vector<TensorAccount> adam_memory(const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::vector<TensorAccount> sgd_memory(const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::vector<TensorAccount> lamb_memory(const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::vector<TensorAccount> lars_memory(const OptimizerSettings& s, const std::vector<int64_t>& layers);

std::unique_ptr<Optimizer> make_adam(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::unique_ptr<Optimizer> make_sgd(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::unique_ptr<Optimizer> make_lamb(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers);
std::unique_ptr<Optimizer> make_lars(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers);

// (offset, count) of each layer with parameters, for the layer-wise optimizers.
std::vector<std::pair<int64_t, int64_t>> layer_segments(const std::vector<int64_t>& layer_params);
// Total parameters (the slab length; at least 1, as Model allocates).
size_t slab_length(const std::vector<int64_t>& layer_params);
// A state slab `name` of slab_length floats, and the per-layer norm pairs (doubles) of the
// layer-wise optimizers.
TensorAccount state_slab(const std::string& name, const std::vector<int64_t>& layer_params);
TensorAccount norms_slab(const std::string& name, const std::vector<int64_t>& layer_params);

}  // namespace sptrain::optim
