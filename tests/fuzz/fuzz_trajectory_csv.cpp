// libFuzzer target: a table of tracks through sptrain::read_trajectories, as `sptrain eval --input
// tracks.csv` reads it (the reader picks the format by content, so NPY or zip bytes in a .csv file
// take those paths). What it returns must keep TrajectorySet's documented shape: one entry per
// trajectory in every field, positions of length x dims, increasing ids and frames, labels in range.
#include <cmath>

#include "fuzz_common.hpp"
#include "sptrain/trajectory_read.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("tracks.csv", data, size);
  return sptrain::fuzz::run_reader([&] {
    using sptrain::fuzz::require;
    const sptrain::ReadOptions opts;
    const auto t = sptrain::read_trajectories(path, opts);
    const size_t n = t.size();
    require(t.dims >= 1 && t.dims <= 3, "dims outside 1..3");
    require(t.ids.size() == n && t.frames.size() == n, "ids or frames not one per trajectory");
    for (size_t i = 0; i < n; ++i) {
      const auto& f = t.frames[i];
      require(int64_t(f.size()) >= opts.min_length, "a trajectory shorter than min_length");
      require(t.positions[i].size() == f.size() * size_t(t.dims), "positions do not hold length x dims");
      for (size_t j = 1; j < f.size(); ++j) require(f[j] > f[j - 1], "frames not increasing");
      if (!opts.allow_gaps)
        for (size_t j = 1; j < f.size(); ++j) require(f[j] == f[j - 1] + 1, "a gap in frames without allow_gaps");
    }
    for (size_t i = 1; i < n; ++i) require(t.ids[i] > t.ids[i - 1], "ids not increasing");
    require(t.sigma.empty() || t.sigma.size() == n, "sigma not one per trajectory");
    require(t.n_switches.empty() || t.n_switches.size() == n, "n_switches not one per trajectory");
    require(t.has_switch.empty() || t.has_switch.size() == n, "has_switch not one per trajectory");
    for (float s : t.sigma) require(std::isfinite(s) && s > 0, "sigma not positive and finite");
    for (auto h : t.has_switch) require(h <= 1, "has_switch not 0 or 1");
    for (auto k : t.n_switches) require(k >= 0, "negative n_switches");
    require(t.step_state.empty() || t.step_state.size() == n, "step_state not one per trajectory");
    for (size_t i = 0; i < t.step_state.size(); ++i) {
      require(t.step_state[i].size() + 1 == t.frames[i].size(), "step_state not length - 1 per trajectory");
      for (int s : t.step_state[i]) require(s >= 0, "negative state");
    }
    require(t.switch_times.empty() || t.switch_times.size() == n, "switch_times not one per trajectory");
    for (const auto& v : t.switch_times)
      for (float s : v) require(std::isfinite(s), "switch time not finite");
  });
}
