// libFuzzer target: a trajectory spec (TOML) through sptrain::parse_spec, as `sptrain simulate
// --spec` reads it.
#include <string>

#include "fuzz_common.hpp"
#include "sptrain/sim.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sptrain::fuzz::run_reader([&] {
    std::string text(reinterpret_cast<const char*>(data), size);
    sptrain::parse_spec(text, {}, "fuzz.toml");
  });
}
