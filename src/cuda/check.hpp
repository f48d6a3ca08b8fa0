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

#define SPTRAIN_CUDA_CHECK(stmt)                                                                       \
  do {                                                                                                 \
    cudaError_t sptrain_err_ = (stmt);                                                                 \
    if (sptrain_err_ != cudaSuccess)                                                                   \
      ::sptrain::detail::throw_device_error("CUDA", cudaGetErrorString(sptrain_err_), #stmt, __FILE__, \
                                            __LINE__);                                                 \
  } while (0)

#define SPTRAIN_CURAND_CHECK(stmt)                                                                     \
  do {                                                                                                 \
    curandStatus_t sptrain_st_ = (stmt);                                                               \
    if (sptrain_st_ != CURAND_STATUS_SUCCESS)                                                          \
      ::sptrain::detail::throw_device_error("cuRAND", ::sptrain::detail::curand_status_string(sptrain_st_), \
                                            #stmt, __FILE__, __LINE__);                                \
  } while (0)

#define SPTRAIN_CUDNN_CHECK(stmt)                                                                      \
  do {                                                                                                 \
    cudnnStatus_t sptrain_st_ = (stmt);                                                                \
    if (sptrain_st_ != CUDNN_STATUS_SUCCESS)                                                           \
      ::sptrain::detail::throw_device_error("cuDNN", cudnnGetErrorString(sptrain_st_), #stmt, __FILE__, \
                                            __LINE__);                                                 \
  } while (0)

#define SPTRAIN_CUBLAS_CHECK(stmt)                                                                     \
  do {                                                                                                 \
    cublasStatus_t sptrain_st_ = (stmt);                                                               \
    if (sptrain_st_ != CUBLAS_STATUS_SUCCESS)                                                          \
      ::sptrain::detail::throw_device_error("cuBLAS", ::sptrain::detail::cublas_status_string(sptrain_st_), \
                                            #stmt, __FILE__, __LINE__);                                \
  } while (0)
