// libFuzzer target: a table of tracks through sptrain::read_trajectories, as `sptrain eval --input
// tracks.csv` reads it (the reader picks the format by content, so NPY or zip bytes in a .csv file
// take those paths).
#include "fuzz_common.hpp"
#include "sptrain/trajectory_read.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("tracks.csv", data, size);
  return sptrain::fuzz::run_reader([&] { sptrain::read_trajectories(path); });
}
