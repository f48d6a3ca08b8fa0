// Shared by the libFuzzer targets: one scratch folder per process, <tmp>/sptrain_fuzz_<pid>,
// removed at exit, and the rule for what counts as a finding. A reader may reject any input with
// an exception (sptrain::UsageError for bad content; for now any std::exception); crashes,
// sanitizer reports, leaks, timeouts and excessive memory are findings, reported by libFuzzer.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "sptrain/error.hpp"
#include "sptrain/io.hpp"

namespace sptrain::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("sptrain_fuzz_" + std::to_string(getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Overwrites <scratch>/<name> with the input and returns its path (the same path on every call).
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  auto p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) std::abort();  // the scratch folder itself failed: not a finding in the reader
  return p.string();
}

// What a reader returned breaks its documented contract: a finding (libFuzzer saves the input).
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz: contract violated: %s\n", what);
  std::abort();
}

// An array's shape holds exactly its bytes (no negative extent, no overflow).
inline void check_array(const sptrain::io::Array& a) {
  int64_t count = 1;
  for (auto d : a.shape) {
    require(d >= 0, "negative extent in an array's shape");
    require(d == 0 || count <= INT64_MAX / d, "an array's shape overflows int64");
    count *= d;
  }
  require(uint64_t(count) * sptrain::io::dtype_size(a.dtype) == a.bytes.size(), "an array's bytes do not match its shape");
}

// Runs f(); the exceptions a reader may throw for bad input are the expected outcome.
template <class F> int run_reader(F&& f) {
  try {
    f();
  } catch (const sptrain::UsageError&) {
  } catch (const std::exception&) {
  }
  return 0;
}

}  // namespace sptrain::fuzz
