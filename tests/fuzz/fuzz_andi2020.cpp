// libFuzzer target: AnDi 2020 challenge files (dim;x_0;...;y_0;... per line) through
// sptrain::parse_trajectories, as `sptrain fit --input task.txt` reads them (the format is chosen
// by content, so other bytes take the other readers' paths). The first input byte picks the read
// options (fuzz_tracks.hpp); what is returned must keep TrajectorySet's documented shape.
#include "fuzz_tracks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const sptrain::ReadOptions opts = sptrain::fuzz::options_from(data, size);
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Stricter than run_reader: bad content must be a UsageError; any other exception is a finding.
  try {
    const auto t = sptrain::parse_trajectories(bytes, "task.txt", opts);
    sptrain::fuzz::check_trajectory_set(t, opts);
  } catch (const sptrain::UsageError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: not a UsageError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
