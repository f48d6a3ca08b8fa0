// Formatting of library failures for the SPTRAIN_*_CHECK macros.
#include "cuda/check.hpp"

namespace sptrain::detail {

void throw_device_error(const char* lib, const std::string& msg, const char* stmt, const char* file, int line) {
  throw DeviceError(std::string(lib) + " error: " + msg + " in `" + stmt + "` at " + file + ":" + std::to_string(line));
}

const char* curand_status_string(curandStatus_t s) {
  switch (s) {
    case CURAND_STATUS_SUCCESS: return "success";
    case CURAND_STATUS_VERSION_MISMATCH: return "header and library versions differ";
    case CURAND_STATUS_NOT_INITIALIZED: return "generator not initialized";
    case CURAND_STATUS_ALLOCATION_FAILED: return "memory allocation failed";
    case CURAND_STATUS_TYPE_ERROR: return "wrong generator type";
    case CURAND_STATUS_OUT_OF_RANGE: return "argument out of range";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE: return "length not a multiple of the dimension";
    case CURAND_STATUS_DOUBLE_PRECISION_REQUIRED: return "GPU lacks double precision";
    case CURAND_STATUS_LAUNCH_FAILURE: return "kernel launch failed";
    case CURAND_STATUS_PREEXISTING_FAILURE: return "an earlier failure was not cleared";
    case CURAND_STATUS_INITIALIZATION_FAILED: return "initialization of CUDA failed";
    case CURAND_STATUS_ARCH_MISMATCH: return "GPU architecture does not support the request";
    case CURAND_STATUS_INTERNAL_ERROR: return "internal library error";
    default: return "unknown cuRAND status";
  }
}

}  // namespace sptrain::detail
