// LAMB: Adam's direction plus decoupled weight decay over the whole slab, then per layer a step
// scaled by the trust ratio |p| / |u| (kernels/optim.cuh). State m and v (opt_m, opt_v); the
// direction u and the per-layer norms are scratch, recomputed every step.
#include "engine/optim/optimizers.hpp"

namespace sptrain::optim {

namespace {
class Lamb final : public Optimizer {
 public:
  Lamb(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers)
      : b1_(float(s.beta1)), b2_(float(s.beta2)), eps_(float(s.eps)), wd_(float(s.weight_decay)),
        segments_(layer_segments(layers)) {
    const std::vector<TensorAccount> t = lamb_memory(s, layers);
    m_ = add_state(be, t[0]);
    v_ = add_state(be, t[1]);
    u_ = be.alloc<float>(t[2].elements, t[2].name.c_str());
    norms_ = be.alloc<double>(t[3].elements, t[3].name.c_str());  // per layer (|p|^2, |u|^2)
  }
  void step(Backend& be, float* p, float* g, size_t n, const double* s) override {
    be.lamb_direction_dev(p, g, m_, v_, u_.get(), n, b1_, b2_, eps_, wd_, s);
    for (size_t l = 0; l < segments_.size(); ++l) {
      const auto [off, k] = segments_[l];
      be.sum_squares_to(p + off, size_t(k), norms_.get() + 2 * l);
      be.sum_squares_to(u_.get() + off, size_t(k), norms_.get() + 2 * l + 1);
      be.trust_step_dev(p + off, u_.get() + off, size_t(k), norms_.get() + 2 * l, s);
    }
  }

 private:
  float b1_, b2_, eps_, wd_;
  std::vector<std::pair<int64_t, int64_t>> segments_;
  float *m_ = nullptr, *v_ = nullptr;
  Buffer<float> u_;
  Buffer<double> norms_;
};
}  // namespace

std::vector<TensorAccount> lamb_memory(const OptimizerSettings&, const std::vector<int64_t>& layers) {
  TensorAccount u = state_slab("lamb/u", layers);
  u.role = TensorRole::OptimizerScratch;
  return {state_slab("opt_m", layers), state_slab("opt_v", layers), u, norms_slab("lamb/norms", layers)};
}

std::unique_ptr<Optimizer> make_lamb(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers) {
  return std::make_unique<Lamb>(be, s, layers);
}

}  // namespace sptrain::optim
