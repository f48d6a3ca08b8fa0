// What `sptrain info` reports: version, build options, CUDA runtime/driver, devices, libraries.
#pragma once
#include <nlohmann/json.hpp>

namespace sptrain {
nlohmann::json system_info();
const char* version();
}  // namespace sptrain
