// Sums across processes in GPU memory with NCCL (where CMake found it beside the CUDA toolkit:
// HEADLAB_HAVE_NCCL): data-parallel training's gradients stay on each rank's GPU, summed by
// ncclAllReduce on the backend's stream, instead of being staged through host memory for MPI.
// Each rank must be on its own GPU (NCCL refuses two ranks of one communicator on one device).
#include <cstring>
#include <string>

#include "core/errors.h"
#include "model/cuda/cuda_backend.cuh"
#include "model/cuda/cuda_check.cuh"
#include "model/cuda/cuda_context.cuh"

#ifdef HEADLAB_HAVE_NCCL
#include <nccl.h>
#endif

namespace headlab {

#ifdef HEADLAB_HAVE_NCCL
namespace {

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw InternalError(std::string(what) + " failed: " + ncclGetErrorString(r));
}

}  // namespace

std::string CudaBackend::collective_id() {
  ctx();
  ncclUniqueId id;
  check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

void CudaBackend::join_collective(const std::string& id_bytes, int rank, int size) {
  ncclUniqueId id;
  if (id_bytes.size() != sizeof id.internal)
    throw InternalError("join_collective: an NCCL id of " + std::to_string(id_bytes.size()) + " bytes, expected " +
                        std::to_string(sizeof id.internal));
  std::memcpy(id.internal, id_bytes.data(), sizeof id.internal);
  ctx();
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, size, id, rank), "ncclCommInitRank");
  nccl_comm_ = std::shared_ptr<void>(comm, [](void* c) { ncclCommDestroy(static_cast<ncclComm_t>(c)); });
}

void CudaBackend::all_reduce_sum(float* data, int64_t n) {
  if (!nccl_comm_) throw InternalError("all_reduce_sum before join_collective");
  cuda::CudaContext& c = ctx();
  check_nccl(
      ncclAllReduce(data, data, size_t(n), ncclFloat, ncclSum, static_cast<ncclComm_t>(nccl_comm_.get()), c.stream()),
      "ncclAllReduce");
  HEADLAB_CUDA_CHECK(cudaStreamSynchronize(c.stream()));
}

#else  // built without NCCL: the caller stages through host memory

std::string CudaBackend::collective_id() { return ""; }

void CudaBackend::join_collective(const std::string&, int, int) {
  throw InternalError("headlab's CUDA backend was built without NCCL");
}

void CudaBackend::all_reduce_sum(float*, int64_t) {
  throw InternalError("headlab's CUDA backend was built without NCCL");
}

#endif

}  // namespace headlab
