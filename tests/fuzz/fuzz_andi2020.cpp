// libFuzzer target: AnDi 2020 challenge files (dim;x_0;...;y_0;... per line) through
// sptrain::parse_trajectories, as `sptrain fit --input task.txt` reads them (the format is chosen
// by content, so other bytes take the other readers' paths). The first input byte picks the read
// options (fuzz_tracks.hpp); what is returned must keep TrajectorySet's documented shape.
#include "fuzz_tracks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sptrain::fuzz::parse_and_check(data, size, "task.txt");
}
