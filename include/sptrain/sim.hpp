// Trajectory simulation: the spec (TOML, validated), the host-side batch, and simulate() on a device.
//
//   auto spec = sptrain::load_spec("experiments/report-3.2.toml", {"length=200"});
//   sptrain::TrajectoryBatch b;
//   sptrain::simulate(spec.params, /*seed=*/7, /*first=*/0, /*n=*/1000, sptrain::Device::cpu(), b);
//
// Trajectory i is a pure function of (seed, i): any split into calls, threads or devices gives the
// same trajectories (up to the rounding of transcendental functions between CPU and GPU).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sptrain/device.hpp"
#include "sptrain/features.hpp"
#include "sptrain/sim_params.hpp"

namespace sptrain {

struct SimSpec {
  SimParams params;
  FeatureSpec features;      // [features] section: what a model reads from these trajectories
  nlohmann::json resolved;   // every key with its final value (defaults filled in)
  std::string source;        // file name or "<string>"
};

// Parses and validates a spec. `overrides` are "section.key=value" strings applied over the file.
// Throws KeyError (a UsageError) naming the key for any unknown key or bad value.
SimSpec load_spec(const std::string& path, const std::vector<std::string>& overrides = {});
SimSpec parse_spec(const std::string& toml_text, const std::vector<std::string>& overrides = {},
                   const std::string& source = "<string>");

// Bounds of spec values (docs/spec.md): float32 values stay finite, the switching work stays finite.
inline constexpr double kMaxPosition = 1e6;         // |start.low|, |start.high|
inline constexpr double kMaxSigma = 1e6;            // step std (sigma, sqrt(2 D dt)), prior bounds, noise
inline constexpr double kMaxDt = 1e6;               // seconds per frame
inline constexpr double kMinWeibullShape = 0.1;     // states.shape
inline constexpr double kMaxDrawnSigma = 1e15;      // Weibull prior: loc + scale * 23^(1/shape)
inline constexpr double kMinLogEps = 1e-30;         // features.log_eps (a normal float32)
inline constexpr double kMaxExpectedSwitches = 1e6; // rate * steps (Poisson), -Q_ii * steps (Markov)

// Host bytes one trajectory takes in a TrajectoryBatch plus its features; check_trajectory_memory()
// throws KeyError "<key>: needs N bytes (M bytes of physical memory available)" when n of them do not fit.
double trajectory_bytes(const SimParams& p);
void check_trajectory_memory(const SimParams& p, double n, const std::string& key);

// Host copy of a generated batch. Letters as in kernels/simulate.cuh.
struct TrajectoryBatch {
  SimParams params;
  uint64_t seed = 0;
  int64_t first = 0;  // global index of row 0
  int64_t n = 0;
  std::vector<float> positions;       // (N, L, D)
  std::vector<float> step_sigma;      // (N, S)
  std::vector<uint8_t> step_state;    // (N, S)
  std::vector<float> state_sigma;     // (N, K)
  std::vector<float> traj_sigma;      // (N)
  std::vector<int32_t> n_switches;    // (N)
  std::vector<float> switch_times;    // (N, C), NaN padded
  std::vector<int32_t> initial_state; // (N)
  // The parameters each trajectory was made with: drawn from the spec's ranges, else its fixed values.
  std::vector<float> localization;    // (N) localization noise std, in the spec's length unit (0: none)
  std::vector<float> exposure;        // (N) exposure, fraction of the frame (0: no blur)
  std::vector<float> rate_factor;     // (N) factor on every switching rate (1: none)

  void resize(const SimParams& p, int64_t n_rows);
  int64_t bytes() const;
};

// Generates trajectories first..first+n-1 on `dev` into `out` (resized). On a CUDA device the batch
// is generated in device memory and copied back.
void simulate(const SimParams& p, uint64_t seed, int64_t first, int64_t n, const Device& dev, TrajectoryBatch& out);

// Per-state summary of a batch, as printed by `sptrain simulate --stdout-summary`.
nlohmann::json summarize(const TrajectoryBatch& b);

}  // namespace sptrain
