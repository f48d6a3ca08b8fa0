// libFuzzer target: a safetensors checkpoint through sptrain::ckpt::load, as `sptrain train
// --resume` and `sptrain eval --checkpoint` read it. Every structural check comes before the
// checksum, so mutated headers reach them even though a mutated file rarely passes the checksum.
// A checkpoint it returns must have tensors that hold exactly their shapes' bytes.
#include "fuzz_common.hpp"
#include "sptrain/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("fuzz.safetensors", data, size);
  return sptrain::fuzz::run_reader([&] {
    auto c = sptrain::ckpt::load(path);
    for (const auto& t : c.tensors) {
      sptrain::io::Array a{t.dtype, t.shape, t.bytes};
      sptrain::fuzz::check_array(a);
    }
  });
}
