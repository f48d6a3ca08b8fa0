// LARS: momentum SGD with a per-layer step eta |p| / (|g| + wd |p|) (kernels/optim.cuh). State the
// velocity, saved as opt_velocity (opt_m in checkpoints of older versions); the per-layer norms are
// scratch.
#include "engine/optim/optimizers.hpp"

namespace sptrain::optim {

namespace {
class Lars final : public Optimizer {
 public:
  Lars(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers)
      : eta_(float(s.lars_eta)), wd_(float(s.weight_decay)), momentum_(float(s.momentum)),
        segments_(layer_segments(layers)) {
    const std::vector<TensorAccount> t = lars_memory(s, layers);
    vel_ = add_state(be, t[0], "opt_m");
    norms_ = be.alloc<double>(t[1].elements, t[1].name.c_str());  // per layer (|p|^2, |g|^2)
  }
  void step(Backend& be, float* p, float* g, size_t, const double* s) override {
    for (size_t l = 0; l < segments_.size(); ++l) {
      const auto [off, k] = segments_[l];
      be.sum_squares_to(p + off, size_t(k), norms_.get() + 2 * l);
      be.sum_squares_to(g + off, size_t(k), norms_.get() + 2 * l + 1);
      be.lars_step_dev(p + off, g + off, vel_ + off, size_t(k), norms_.get() + 2 * l, eta_, wd_, momentum_, s);
    }
  }

 private:
  float eta_, wd_, momentum_;
  std::vector<std::pair<int64_t, int64_t>> segments_;
  float* vel_ = nullptr;
  Buffer<double> norms_;
};
}  // namespace

std::vector<TensorAccount> lars_memory(const OptimizerSettings&, const std::vector<int64_t>& layers) {
  return {state_slab("opt_velocity", layers), norms_slab("lars/norms", layers)};
}

std::unique_ptr<Optimizer> make_lars(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers) {
  return std::make_unique<Lars>(be, s, layers);
}

}  // namespace sptrain::optim
