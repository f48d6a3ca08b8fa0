// Shared by the libFuzzer targets of the trajectory readers: what a TrajectorySet must be, whatever
// the input. One entry per trajectory in every field, positions of length x dims and finite, ids and
// frames increasing (consecutive without allow_gaps), at least min_length positions, labels in
// range, units one of "um"/"px" and a frame interval that is finite and >= 0.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_common.hpp"
#include "sptrain/trajectory_read.hpp"

namespace sptrain::fuzz {

inline void check_trajectory_set(const sptrain::TrajectorySet& t, const sptrain::ReadOptions& opts) {
  const size_t n = t.size();
  require(n > 0, "an empty set returned instead of an error");
  require(t.dims >= 1 && t.dims <= 3, "dims outside 1..3");
  require(t.ids.size() == n && t.frames.size() == n, "ids or frames not one per trajectory");
  require(t.first_line.empty() || t.first_line.size() == n, "first_line not one per trajectory");
  require(t.space_unit == "um" || t.space_unit == "px", "space_unit neither um nor px");
  require(std::isfinite(t.frame_interval) && t.frame_interval >= 0, "frame interval not finite and >= 0");
  require(t.dropped_short >= 0 && (opts.drop_short || t.dropped_short == 0), "dropped_short without drop_short");
  for (size_t i = 0; i < n; ++i) {
    const auto& f = t.frames[i];
    require(int64_t(f.size()) >= opts.min_length, "a trajectory shorter than min_length");
    require(t.positions[i].size() == f.size() * size_t(t.dims), "positions do not hold length x dims");
    for (float p : t.positions[i]) require(std::isfinite(p), "a position not finite");
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
}

// Options from the input's first byte (then dropped), so that one target covers the paths each
// option opens: bit 0 allow_gaps, bit 1 drop_short (min_length 5), bit 2 a pixel size, bit 3 a frame
// interval. The seed files carry a leading byte too (make_corpora.sh writes 0x0f before each).
inline sptrain::ReadOptions options_from(const uint8_t*& data, size_t& size) {
  sptrain::ReadOptions o;
  if (size == 0) return o;
  const uint8_t b = data[0];
  ++data;
  --size;
  o.allow_gaps = b & 1;
  if (b & 2) {
    o.drop_short = true;
    o.min_length = 5;
  }
  if (b & 4) o.pixel_size = 0.16;
  if (b & 8) o.frame_interval = 0.05;
  return o;
}

// The body of the per-format targets: options from the first byte, the rest parsed as a file named
// `source` (its extension steers the format choice), the result checked. Stricter than run_reader:
// bad content must be a UsageError; any other exception is a finding.
inline int parse_and_check(const uint8_t* data, size_t size, const char* source) {
  const sptrain::ReadOptions opts = options_from(data, size);
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    check_trajectory_set(sptrain::parse_trajectories(bytes, source, opts), opts);
  } catch (const sptrain::UsageError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: not a UsageError: %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace sptrain::fuzz
