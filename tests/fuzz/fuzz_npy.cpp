// libFuzzer target: an NPY image through sptrain::io::parse_npy (what read_npy and the NPZ reader
// call on a file's or member's bytes); an array it returns must hold exactly its shape's bytes.
#include "fuzz_common.hpp"
#include "sptrain/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sptrain::fuzz::run_reader([&] {
    sptrain::fuzz::check_array(sptrain::io::parse_npy(reinterpret_cast<const char*>(data), size, "fuzz.npy"));
  });
}
