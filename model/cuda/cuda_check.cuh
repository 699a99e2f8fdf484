// Every CUDA runtime, cuBLAS and cuBLASLt call goes through one of these macros: a failure
// becomes an InternalError naming the file, the line, the call and the library's own words.
// Plain C++ (no device code), so .cpp files of the backend include it too.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "core/errors.h"

namespace headlab::cuda {

[[noreturn]] inline void throw_cuda_failure(const char* file, int line, const char* call, const std::string& why) {
  throw InternalError(std::string(file) + ":" + std::to_string(line) + ": " + call + ": " + why);
}

inline std::string cuda_error_text(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

inline std::string cublas_error_text(cublasStatus_t status) {
  return std::string(cublasGetStatusName(status)) + " (" + cublasGetStatusString(status) + ")";
}

}  // namespace headlab::cuda

#define HEADLAB_CUDA_CHECK(call)                                                                                      \
  do {                                                                                                                \
    const cudaError_t headlab_err_ = (call);                                                                          \
    if (headlab_err_ != cudaSuccess)                                                                                  \
      ::headlab::cuda::throw_cuda_failure(__FILE__, __LINE__, #call, ::headlab::cuda::cuda_error_text(headlab_err_)); \
  } while (0)

#define HEADLAB_CUBLAS_CHECK(call)                                                              \
  do {                                                                                          \
    const cublasStatus_t headlab_status_ = (call);                                              \
    if (headlab_status_ != CUBLAS_STATUS_SUCCESS)                                               \
      ::headlab::cuda::throw_cuda_failure(__FILE__, __LINE__, #call,                            \
                                          ::headlab::cuda::cublas_error_text(headlab_status_)); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, at the launch that made them
// (errors inside a running kernel surface at the next synchronising call, also checked).
#define HEADLAB_CUDA_CHECK_LAUNCH(name)                                                    \
  do {                                                                                     \
    const cudaError_t headlab_err_ = cudaGetLastError();                                   \
    if (headlab_err_ != cudaSuccess)                                                       \
      ::headlab::cuda::throw_cuda_failure(__FILE__, __LINE__, "launch of " name,           \
                                          ::headlab::cuda::cuda_error_text(headlab_err_)); \
  } while (0)
