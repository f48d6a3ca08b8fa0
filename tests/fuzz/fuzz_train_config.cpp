// libFuzzer target: a training config (TOML) through sptrain::load_train_config. The config is
// written beside copies of the project's experiments/*.toml, so `data.spec = "report-3.1.toml"`
// and the like resolve and the spec loading and model checks behind the config are reached too.
#include <filesystem>

#include "fuzz_common.hpp"
#include "sptrain/train.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  for (const auto& e : fs::directory_iterator(fs::path(SPTRAIN_SOURCE_DIR) / "experiments"))
    if (e.path().extension() == ".toml")
      fs::copy_file(e.path(), sptrain::fuzz::scratch_dir() / e.path().filename(), fs::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sptrain::fuzz::write_input("fuzz-config.toml", data, size);
  return sptrain::fuzz::run_reader([&] { sptrain::load_train_config(path); });
}
