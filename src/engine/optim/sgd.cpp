// SGD with momentum, optionally Nesterov (Keras form, kernels/optim.cuh): state the velocity, saved
// as opt_velocity (opt_m in checkpoints of older versions).
#include "engine/optim/optimizers.hpp"

namespace sptrain::optim {

namespace {
class Sgd final : public Optimizer {
 public:
  Sgd(Backend& be, const OptimizerSettings& s, size_t n) : momentum_(float(s.momentum)), nesterov_(s.nesterov) {
    vel_ = add_state(be, "opt_velocity", n, "opt_m");
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

std::unique_ptr<Optimizer> make_sgd(Backend& be, const OptimizerSettings& s, const std::vector<int64_t>& layers) {
  return std::make_unique<Sgd>(be, s, slab_length(layers));
}

}  // namespace sptrain::optim
