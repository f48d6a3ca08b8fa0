// Compute device selection: "auto" (first GPU that answers, else CPU), "cpu", "cuda" or "cuda:N".
#pragma once
#include <string>
#include <vector>

namespace sptrain {

struct Device {
  enum class Kind { CPU, CUDA };
  Kind kind = Kind::CPU;
  int ordinal = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::CUDA, i}; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
};

struct GpuInfo {
  int ordinal;
  std::string name;
  int cc_major, cc_minor;
  size_t memory_bytes;
  int multiprocessors;
};

// Devices that answer; `why_none` (if non-null) receives the runtime's reason when none does.
std::vector<GpuInfo> list_gpus(std::string* why_none = nullptr);
bool built_with_cuda();

// Parses a --device value; throws UsageError for a malformed or unavailable device.
// "auto" resolves to cuda:0 when a GPU answers, else cpu; when `announce`, says which on stderr once.
Device resolve_device(const std::string& spec, bool announce = true);

}  // namespace sptrain
