// Formatting of library failures for the SPTRAIN_*_CHECK macros.
#include "cuda/check.hpp"

namespace sptrain::detail {

void throw_device_error(const char* lib, const std::string& msg, const char* stmt, const char* file, int line) {
  const char* layer = current_layer();
  throw DeviceError(std::string(lib) + " error: " + msg + " in `" + stmt + "` at " + file + ":" + std::to_string(line) +
                    (layer ? std::string(" (layer ") + layer + ")" : std::string()));
}

const char* cublas_status_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "library not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "GPU architecture does not support the request";
    case CUBLAS_STATUS_MAPPING_ERROR: return "GPU memory access failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "kernel execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal library error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "unknown cuBLAS status";
  }
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
