// One check-macro family for CUDA runtime, cuRAND, cuDNN and cuBLAS calls: a failing
// status becomes sptrain::DeviceError carrying the statement, file:line and the library's message
// (DESIGN.md rule 5). Host-only: includes the runtime API header, not device code.
#pragma once
#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#include <cudnn.h>
#include <curand.h>

#include <stdexcept>
#include <string>

#include "engine/layer_scope.hpp"

namespace sptrain {

class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] void throw_device_error(const char* lib, const std::string& msg, const char* stmt, const char* file,
                                     int line);
const char* curand_status_string(curandStatus_t s);
const char* cublas_status_string(cublasStatus_t s);
}  // namespace detail

}  // namespace sptrain

// The one generator: evaluates stmt once into a status of type Status and throws, naming lib, the
// library's message message_of(status), the statement's text and file:line, unless it equals ok.
#define SPTRAIN_STATUS_CHECK_(Status, ok, lib, message_of, stmt, text)                           \
  do {                                                                                          \
    Status sptrain_st_ = (stmt);                                                                \
    if (sptrain_st_ != (ok))                                                                    \
      ::sptrain::detail::throw_device_error(lib, message_of(sptrain_st_), text, __FILE__, __LINE__); \
  } while (0)

#define SPTRAIN_CUDA_CHECK(stmt) SPTRAIN_STATUS_CHECK_(cudaError_t, cudaSuccess, "CUDA", cudaGetErrorString, stmt, #stmt)
#define SPTRAIN_CURAND_CHECK(stmt)                                                                                   \
  SPTRAIN_STATUS_CHECK_(curandStatus_t, CURAND_STATUS_SUCCESS, "cuRAND", ::sptrain::detail::curand_status_string, \
                        stmt, #stmt)
#define SPTRAIN_CUDNN_CHECK(stmt) \
  SPTRAIN_STATUS_CHECK_(cudnnStatus_t, CUDNN_STATUS_SUCCESS, "cuDNN", cudnnGetErrorString, stmt, #stmt)
#define SPTRAIN_CUBLAS_CHECK(stmt)                                                                                   \
  SPTRAIN_STATUS_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, "cuBLAS", ::sptrain::detail::cublas_status_string, \
                        stmt, #stmt)
