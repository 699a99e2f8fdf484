// make_cuda_backend: the CUDA backend lives in its own shared library (libheadlab_cuda.so, beside
// the programs in ../lib), loaded the first time a GPU is asked for, so that a CPU run never pays for
// CUDA's libraries. Without CUDA in the build, or without the library or the CUDA runtime on this
// machine, asking for the GPU is an input error, not a crash.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {

#ifndef HEADLAB_HAVE_CUDA

std::unique_ptr<Backend> make_cuda_backend(int /*ordinal*/) {
  throw InputError("--device cuda", "this headlab was built without CUDA");
}

#else

namespace {

using CreateBackend = Backend* (*)(int);

// Where the library is: $HEADLAB_CUDA_MODULE, else ../lib/ from the running program (build/bin ->
// build/lib, and the same after an install), else where the build wrote it.
std::vector<std::string> module_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("HEADLAB_CUDA_MODULE"); env && *env) paths.emplace_back(env);
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, size_t(n));
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/../lib/libheadlab_cuda.so");
  }
  paths.emplace_back(HEADLAB_CUDA_MODULE_BUILT);
  return paths;
}

CreateBackend load_cuda_module() {
  static std::once_flag once;
  static CreateBackend create = nullptr;
  static std::string why;
  std::call_once(once, [] {
    for (const std::string& path : module_candidates()) {
      if (::access(path.c_str(), R_OK) != 0) continue;
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        const char* e = ::dlerror();
        why = "cannot load the CUDA backend " + path + ": " + (e ? e : "unknown error");
        return;
      }
      create = reinterpret_cast<CreateBackend>(::dlsym(handle, "headlab_create_cuda_backend"));
      if (!create) why = path + " is not headlab's CUDA backend (no headlab_create_cuda_backend)";
      return;
    }
    why =
        "the CUDA backend library libheadlab_cuda.so was not found (looked beside the program in ../lib and in "
        "the build folder; set HEADLAB_CUDA_MODULE to its path)";
  });
  if (!create) throw InputError("--device cuda", why);
  return create;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int ordinal) {
  return std::unique_ptr<Backend>(load_cuda_module()(ordinal));
}

#endif  // HEADLAB_HAVE_CUDA

}  // namespace headlab
