// libFuzzer target: an NPZ archive (stored zip or zip64 of NPY members) through
// sptrain::io::read_npz, as the labels file beside NPY trajectories is read; each array it returns
// must hold exactly its shape's bytes.
#include "fuzz_common.hpp"
#include "sptrain/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("fuzz.npz", data, size);
  return sptrain::fuzz::run_reader([&] {
    for (const auto& [name, a] : sptrain::io::read_npz(path)) sptrain::fuzz::check_array(a);
  });
}
