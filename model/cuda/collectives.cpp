// Sums across processes in GPU memory with NCCL (where CMake found its header and library beside the
// CUDA toolkit: HEADLAB_HAVE_NCCL): data-parallel training's gradients stay on each rank's GPU,
// summed by ncclAllReduce on the backend's stream, instead of being staged through host memory for
// MPI. The library is loaded by the first collective_id() (dlopen: 200 MB a one-GPU run never
// needs); where it cannot be loaded, collective_id() is "" and the caller stages through the host.
// Each rank must be on its own GPU (NCCL refuses two ranks of one communicator on one device).
#include <dlfcn.h>

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

// The NCCL entry points headlab uses, from the library loaded at run time.
struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

// Loaded once per process; nullptr where no NCCL library can be opened.
const NcclApi* nccl() {
  static const NcclApi* api = []() -> const NcclApi* {
    void* lib = nullptr;
    for (const char* name : {"libnccl.so.2", HEADLAB_NCCL_LIBRARY})
      if ((lib = ::dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    if (!lib) return nullptr;
    static NcclApi a;
    a.get_unique_id = reinterpret_cast<decltype(a.get_unique_id)>(::dlsym(lib, "ncclGetUniqueId"));
    a.comm_init_rank = reinterpret_cast<decltype(a.comm_init_rank)>(::dlsym(lib, "ncclCommInitRank"));
    a.comm_destroy = reinterpret_cast<decltype(a.comm_destroy)>(::dlsym(lib, "ncclCommDestroy"));
    a.all_reduce = reinterpret_cast<decltype(a.all_reduce)>(::dlsym(lib, "ncclAllReduce"));
    a.error_string = reinterpret_cast<decltype(a.error_string)>(::dlsym(lib, "ncclGetErrorString"));
    if (!a.get_unique_id || !a.comm_init_rank || !a.comm_destroy || !a.all_reduce || !a.error_string) return nullptr;
    return &a;
  }();
  return api;
}

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw InternalError(std::string(what) + " failed: " + nccl()->error_string(r));
}

}  // namespace

std::string CudaBackend::collective_id() {
  if (!nccl()) return "";
  ctx();
  ncclUniqueId id;
  check_nccl(nccl()->get_unique_id(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

void CudaBackend::join_collective(const std::string& id_bytes, int rank, int size) {
  if (!nccl()) throw InternalError("join_collective: this process cannot load NCCL (rank 0 could)");
  ncclUniqueId id;
  if (id_bytes.size() != sizeof id.internal)
    throw InternalError("join_collective: an NCCL id of " + std::to_string(id_bytes.size()) + " bytes, expected " +
                        std::to_string(sizeof id.internal));
  std::memcpy(id.internal, id_bytes.data(), sizeof id.internal);
  ctx();
  ncclComm_t comm = nullptr;
  check_nccl(nccl()->comm_init_rank(&comm, size, id, rank), "ncclCommInitRank");
  nccl_comm_ = std::shared_ptr<void>(comm, [](void* c) { nccl()->comm_destroy(static_cast<ncclComm_t>(c)); });
}

void CudaBackend::all_reduce_sum(float* data, int64_t n) {
  if (!nccl_comm_) throw InternalError("all_reduce_sum before join_collective");
  cuda::CudaContext& c = ctx();
  check_nccl(nccl()->all_reduce(data, data, size_t(n), ncclFloat, ncclSum, static_cast<ncclComm_t>(nccl_comm_.get()),
                                c.stream()),
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
