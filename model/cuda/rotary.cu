// Rotary position embedding, NeoX "rotate half" over the whole head dimension, in place: the
// pairs (x_i, x_{i+dh/2}) of each head at position t turn by t·θ_i, θ_i = base^(-2i/dh).
// Angles are formed in float as TransformerLens (and the CPU twin) form them, so the rotations
// agree to rounding; backward turns by -t·θ_i (a rotation's inverse is its transpose).
#include <cstdint>
#include <string>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

// x[B, T, n_heads, dh], rows of `row_stride` floats; one thread per (b, t, head, i < dh/2).
__global__ void rotary_kernel(float* x, int64_t B, int64_t T, int64_t n_heads, int64_t half, int64_t row_stride,
                              float base, float sign) {
  const int64_t total = B * T * n_heads * half;
  for (int64_t idx = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx % half, head = (idx / half) % n_heads, bt = idx / (half * n_heads);
    const int64_t t = bt % T;
    const float freq = powf(base, static_cast<float>(i) / static_cast<float>(half));
    const float angle = static_cast<float>(t) / freq;
    float s, c;
    sincosf(angle, &s, &c);
    s *= sign;
    float* lo = x + bt * row_stride + head * 2 * half + i;
    float* hi = lo + half;
    const float a = *lo, z = *hi;
    *lo = a * c - z * s;
    *hi = z * c + a * s;
  }
}

void rotate(CudaContext& ctx, float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
            float base, float sign) {
  if (dh % 2 != 0)
    throw InputError("d_head", "rotary embeddings need an even head dimension, got " + std::to_string(dh));
  const int64_t total = B * T * n_heads * (dh / 2);
  if (total <= 0) return;
  rotary_kernel<<<grid_for(total, 256), 256, 0, ctx.stream()>>>(x, B, T, n_heads, dh / 2, row_stride, base, sign);
  HEADLAB_CUDA_CHECK_LAUNCH("rotary_kernel");
}

}  // namespace

void rotary_forward(CudaContext& ctx, float* x, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                    float base) {
  rotate(ctx, x, B, T, n_heads, dh, row_stride, base, 1.0f);
}

void rotary_backward(CudaContext& ctx, float* dx, int64_t B, int64_t T, int64_t n_heads, int64_t dh, int64_t row_stride,
                     float base) {
  rotate(ctx, dx, B, T, n_heads, dh, row_stride, base, -1.0f);
}

}  // namespace headlab::cuda
