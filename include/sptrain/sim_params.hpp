// Plain-data description of one simulation, shared by the host and the device code in kernels/.
// Built and validated from a TOML spec by SimSpec (sim.hpp); every field here is already checked.
// Time is measured in steps (frames): a trajectory of `length` positions spans [0, length - 1].
#pragma once
#include <cstdint>

namespace sptrain {

inline constexpr int kMaxStates = 8;  // diffusion states per spec (per-step labels are uint8)

enum class PriorKind : int32_t { Fixed = 0, Weibull = 1, LogUniform = 2, Uniform = 3 };
enum class SwitchKind : int32_t { None = 0, Poisson = 1, Markov = 2, MarkovDiscrete = 3, Single = 4 };
// Exact: a step containing switches gets the time-weighted variance f*s_old^2 + (1-f)*s_new^2.
// ReportCode: the 2020 report's code, std (1-f)*s_old + f*s_new (weights reversed, std not variance).
enum class Blend : int32_t { Exact = 0, ReportCode = 1 };

struct SimParams {
  int32_t length = 100;  // positions per trajectory; steps = length - 1
  int32_t dims = 1;      // 1..3
  float dt = 1.0f;       // seconds per frame (only converts D to sigma and rates per second)
  float start_low = 0.0f, start_high = 50.0f;  // start position uniform in [low, high]^dims

  int32_t n_states = 1;
  PriorKind prior = PriorKind::Fixed;
  float sigma[kMaxStates] = {1.0f};  // Fixed prior: step std of each state (per frame, per axis)
  float prior_a = 0, prior_b = 0, prior_c = 0;  // Weibull: shape, scale, loc; (log)uniform: low, high
  float initial_cdf[kMaxStates] = {1.0f};       // cumulative initial-state distribution

  SwitchKind switching = SwitchKind::None;
  float rate = 0;                             // Poisson: switches per step
  float exit_rate[kMaxStates] = {};           // Markov: -Q_ii per step
  float jump_cdf[kMaxStates][kMaxStates] = {};  // Markov: cumulative jump (or transition) rows
  float single_time = -1;                     // Single: fixed time; < 0 draws U(time_min, time_max)
  float single_tmin = 0, single_tmax = 0;
  float single_prob = 1;                      // Single: probability that the trajectory switches
  Blend blend = Blend::Exact;

  float loc_noise = 0;        // localization noise std per position and axis (the upper end of a range)
  float exposure = 0;         // exposure as a fraction of the frame (0 = instantaneous; upper end of a range)
  int32_t blur_substeps = 16; // substeps per frame used to integrate the exposure blur
  int32_t max_switch_times = 32;  // switch times recorded per trajectory (count is always exact)

  // Per-trajectory draws (all off by default; each is drawn from its own stream only when used, so a
  // spec without them keeps its exact trajectories). See make_setup in kernels/simulate.cuh.
  int32_t sigma_order = 0;               // 1: a random prior's drawn sigmas are sorted ascending
  float ratio_low = 0, ratio_high = 0;   // > 0: sigma_k = sigma_{k-1} * r, r log-uniform in [low, high]
  PriorKind noise_prior = PriorKind::Fixed;  // Uniform / LogUniform: loc noise drawn per trajectory
  float noise_low = 0, noise_high = 0;
  int32_t exposure_range = 0;            // 1: exposure uniform in [exposure_low, exposure_high]
  float exposure_low = 0, exposure_high = 0;
  float rate_factor_low = 0, rate_factor_high = 0;  // > 0: all switching rates times a log-uniform factor

  constexpr bool extras() const {
    return ratio_low > 0 || noise_prior != PriorKind::Fixed || exposure_range != 0 || rate_factor_low > 0;
  }
  constexpr int32_t steps() const { return length - 1; }
  constexpr bool blurred() const { return exposure > 0; }
};

}  // namespace sptrain
