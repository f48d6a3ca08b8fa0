#include "engine/layer_scope.hpp"

namespace sptrain::detail {
const char*& current_layer() {
  thread_local const char* name = nullptr;
  return name;
}
}  // namespace sptrain::detail
