// libFuzzer target: TrackMate XML, either layout (Export tracks to XML, or the model file) through
// sptrain::parse_trajectories, as `sptrain fit --input tracks.xml` reads them (the format is chosen
// by content, so other bytes take the other readers' paths). The first input byte picks the read
// options (fuzz_tracks.hpp); what is returned must keep TrajectorySet's documented shape.
#include "fuzz_tracks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sptrain::fuzz::parse_and_check(data, size, "tracks.xml");
}
