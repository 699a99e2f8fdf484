// make_cuda_backend for builds without CUDA: asking for the GPU is an input error, not a crash.
#ifndef HEADLAB_HAVE_CUDA
#include "core/errors.h"
#include "model/backend.h"

namespace headlab {

std::unique_ptr<Backend> make_cuda_backend(int /*ordinal*/) {
  throw InputError("--device cuda", "this headlab was built without CUDA");
}

}  // namespace headlab
#endif  // HEADLAB_HAVE_CUDA
