// SGD with momentum, optionally Nesterov (Keras form, kernels/optim.cuh): state the velocity, saved
// as opt_velocity (opt_m in checkpoints of older versions).
#include "engine/optim/optimizers.hpp"

namespace sptrain::optim {

namespace {
class Sgd final : public Optimizer {
 public:
  Sgd(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers)
      : momentum_(float(s.momentum)), nesterov_(s.nesterov) {
    vel_ = add_state(be, sgd_memory(s, layers)[0], "opt_m");
  }
  void step(Backend& be, float* p, float* g, size_t n, const double* s) override {
    be.sgd_step_dev(p, g, vel_, n, momentum_, nesterov_, s);
  }

 private:
  float momentum_;
  bool nesterov_;
  float* vel_ = nullptr;
};
}  // namespace

std::vector<TensorAccount> sgd_memory(const OptimizerSettings&, const std::vector<int64_t>& layers) {
  return {state_slab("opt_velocity", layers)};
}

std::unique_ptr<Optimizer> make_sgd(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers) {
  return std::make_unique<Sgd>(be, s, layers);
}

}  // namespace sptrain::optim
