// Training targets of one trajectory from its simulated labels, shared by the CPU data path
// (make_targets) and the CUDA batch generator (src/cuda/device_data.cu).
#pragma once
#include <stdint.h>

#include "hd.cuh"

namespace sptrain::ops {

// Same order as sptrain::LabelKind (static_assert in src/app/trainer.cpp).
enum TargetKind : int32_t {
  kTargetSigma = 0,
  kTargetNSwitches = 1,
  kTargetNSwitchesPlusOne = 2,
  kTargetSwitchTime = 3,   // the first switch's time in steps; no switch: the number of steps
  kTargetHasSwitch = 4,    // one-hot over (no switch, switch)
  kTargetInitialState = 5,  // one-hot over the states
  kTargetStepState = 6      // per step, one-hot over the states: (steps, outs)
};

// Writes the `outs` targets of one trajectory into y.
SPTRAIN_HD inline void target_row(int32_t kind, int outs, int steps, float traj_sigma, int32_t n_switches,
                                  float first_switch_time, int32_t initial_state, float* y) {
  for (int k = 0; k < outs; ++k) y[k] = 0.0f;
  switch (kind) {
    case kTargetSigma: y[0] = traj_sigma; break;
    case kTargetNSwitches: y[0] = float(n_switches); break;
    case kTargetNSwitchesPlusOne: y[0] = float(n_switches + 1); break;
    case kTargetSwitchTime: y[0] = n_switches > 0 ? first_switch_time : float(steps); break;
    case kTargetHasSwitch: y[n_switches > 0 ? 1 : 0] = 1.0f; break;
    case kTargetInitialState: y[initial_state] = 1.0f; break;
    default: break;
  }
}

// Per-step targets of one trajectory: y (steps, outs) one-hot of each step's state.
SPTRAIN_HD inline void step_target_row(int outs, int steps, const uint8_t* step_state, float* y) {
  for (int t = 0; t < steps; ++t)
    for (int k = 0; k < outs; ++k) y[t * outs + k] = step_state[t] == k ? 1.0f : 0.0f;
}

// The trajectory counter a captured training step advances after each micro-batch.
SPTRAIN_HD inline void advance_index(uint64_t* counter, uint64_t by) { *counter += by; }

}  // namespace sptrain::ops
