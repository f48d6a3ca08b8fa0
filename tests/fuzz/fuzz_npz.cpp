// libFuzzer target: an NPZ archive (stored zip or zip64 of NPY members) through
// sptrain::io::read_npz, as the labels file beside NPY trajectories is read.
#include "fuzz_common.hpp"
#include "sptrain/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("fuzz.npz", data, size);
  return sptrain::fuzz::run_reader([&] { sptrain::io::read_npz(path); });
}
