// libFuzzer target: a table of tracks through sptrain::read_trajectories, as `sptrain eval --input
// tracks.csv` reads it (the reader picks the format by content, so NPY or zip bytes in a .csv file
// take those paths). What it returns must keep TrajectorySet's documented shape: one entry per
// trajectory in every field, positions of length x dims, increasing ids and frames, labels in range.
#include "fuzz_tracks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("tracks.csv", data, size);
  return sptrain::fuzz::run_reader([&] {
    const sptrain::ReadOptions opts;
    sptrain::fuzz::check_trajectory_set(sptrain::read_trajectories(path, opts), opts);
  });
}
