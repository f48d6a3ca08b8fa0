// Adam (Keras / TF2 form, kernels/optim.cuh): state m (first moment) and v (second moment), saved
// as opt_m and opt_v.
#include "engine/optim/optimizers.hpp"

namespace sptrain::optim {

namespace {
class Adam final : public Optimizer {
 public:
  Adam(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers)
      : b1_(float(s.beta1)), b2_(float(s.beta2)), eps_(float(s.eps)) {
    const std::vector<TensorAccount> t = adam_memory(s, layers);
    m_ = add_state(be, t[0]);
    v_ = add_state(be, t[1]);
  }
  void step(Backend& be, float* p, float* g, size_t n, const double* s) override {
    be.adam_step_dev(p, g, m_, v_, n, b1_, b2_, eps_, s);
  }

 private:
  float b1_, b2_, eps_;
  float *m_ = nullptr, *v_ = nullptr;
};
}  // namespace

std::vector<TensorAccount> adam_memory(const OptimizerSettings&, const std::vector<int64_t>& layers) {
  return {state_slab("opt_m", layers), state_slab("opt_v", layers)};
}

std::unique_ptr<Optimizer> make_adam(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers) {
  return std::make_unique<Adam>(be, s, layers);
}

}  // namespace sptrain::optim
