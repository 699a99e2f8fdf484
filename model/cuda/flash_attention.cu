// Fused causal attention, FlashAttention-2 style, in f32: the [B,H,T,T] pattern is never
// formed. Forward keeps only z and each query's logsumexp; backward recomputes the pattern one
// 32×32 tile at a time from q, k and the logsumexp.
//
// Tiles: a block of 8 warps owns 32 rows (queries in the forward and the dq pass, keys in the
// dk/dv pass), each warp 4 of them; in a 32×32 score tile the lane is the column, so a row's max
// and sum are warp shuffles. For the products with v (or q, do) the lane instead owns head
// dimensions d = lane + 32 j. Scores are kept in log2 units (scaled by log2 e) so exp is exp2.
//
// Determinism: dq is not accumulated across key tiles with atomics (as FlashAttention-2 does)
// but in a pass of its own, one block per query tile; dk and dv in another, one block per key
// tile. Each output has one writer and a fixed order of terms.
//
// Shapes: qkv, dqkv [B, T, 3, H, dh]; z, dz [B, T, H, dh]; lse [B, H, T] (natural log).
#include <cmath>
#include <cstdint>
#include <string>

#include "model/cuda/cuda_check.cuh"
#include "model/cuda/device_math.cuh"
#include "model/cuda/kernels.cuh"

namespace headlab::cuda {

namespace {

constexpr int kTile = 32;  // query rows and key columns per tile
constexpr int kWarps = 8;  // warps per block
constexpr int kRowsPerWarp = kTile / kWarps;
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Where (b, t, part, h) rows live in qkv: element d of row t at rows.base + t * rows.stride + d.
struct HeadRowsView {
  const float* base;
  int64_t stride;
};

__device__ __forceinline__ HeadRowsView head_view(const float* qkv, int b, int h, int part, int T, int H, int dh) {
  const int64_t stride = int64_t{3} * H * dh;
  return {qkv + int64_t{b} * T * stride + int64_t{part} * H * dh + int64_t{h} * dh, stride};
}

// tile[r * pitch + c] = rows[t0 + r][c] for r < 32, c < D; rows at or past T and columns at or
// past dh are zero (the products read whole D-wide rows; zeros keep the unused lanes finite).
template <int D>
__device__ __forceinline__ void load_tile(float* tile, int pitch, HeadRowsView rows, int t0, int T, int dh) {
  for (int i = threadIdx.x; i < kTile * D; i += kThreads) {
    const int r = i / D, c = i % D, t = t0 + r;
    tile[r * pitch + c] = (t < T && c < dh) ? rows.base[int64_t{t} * rows.stride + c] : 0.0f;
  }
}

// ---- forward ------------------------------------------------------------------------------------

template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_forward_kernel(float* z, float* lse, const float* qkv, int T, int H, int dh, float scale_log2) {
  constexpr int J = D / 32;
  extern __shared__ float smem[];
  float* q_tile = smem;                      // [32][D]    read as a broadcast
  float* k_tile = q_tile + kTile * D;        // [32][D+1]  lane = key: padded against bank conflicts
  float* v_tile = k_tile + kTile * (D + 1);  // [32][D]  lane = d
  float* p_tile = v_tile + kTile * D;        // [32][32]   each warp its own 4 rows
  const int bh = blockIdx.y, b = bh / H, h = bh % H;
  const int tile = gridDim.x - 1 - blockIdx.x;  // the longest rows start first
  const int q0 = tile * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  load_tile<D>(q_tile, D, head_view(qkv, b, h, 0, T, H, dh), q0, T, dh);
  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][J];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int j = 0; j < J; ++j) acc[i][j] = 0.0f;
  }
  for (int kt = 0; kt <= tile; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();  // the previous tile's k, v are no longer read
    load_tile<D>(k_tile, D + 1, head_view(qkv, b, h, 1, T, H, dh), k0, T, dh);
    load_tile<D>(v_tile, D, head_view(qkv, b, h, 2, T, H, dh), k0, T, dh);
    __syncthreads();
    float s[kRowsPerWarp] = {};
    for (int d = 0; d < dh; ++d) {
      const float kd = k_tile[lane * (D + 1) + d];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) s[i] += q_tile[(warp * kRowsPerWarp + i) * D + d] * kd;
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp * kRowsPerWarp + i, q = q0 + r, key = k0 + lane;
      // Key tile 0 holds key 0 <= q, so m is finite from the first tile on: no inf - inf.
      const float x = key <= q ? s[i] * scale_log2 : -INFINITY;
      const float m_new = fmaxf(m[i], warp_max(x));
      const float p = exp2f(x - m_new);
      const float alpha = exp2f(m[i] - m_new);
      l[i] = l[i] * alpha + warp_sum(p);
      m[i] = m_new;
      p_tile[r * kTile + lane] = p;
#pragma unroll
      for (int j = 0; j < J; ++j) acc[i][j] *= alpha;
    }
    __syncwarp();
    for (int c = 0; c < kTile; ++c) {
      const float* v_row = v_tile + c * D;
      float v[J];
#pragma unroll
      for (int j = 0; j < J; ++j) v[j] = v_row[lane + 32 * j];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const float p = p_tile[(warp * kRowsPerWarp + i) * kTile + c];
#pragma unroll
        for (int j = 0; j < J; ++j) acc[i][j] += p * v[j];
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int q = q0 + warp * kRowsPerWarp + i;
    if (q >= T) continue;
    const float inv = 1.0f / l[i];
    float* zq = z + ((int64_t{b} * T + q) * H + h) * dh;
#pragma unroll
    for (int j = 0; j < J; ++j)
      if (lane + 32 * j < dh) zq[lane + 32 * j] = acc[i][j] * inv;
    if (lane == 0) lse[int64_t{bh} * T + q] = (m[i] + log2f(l[i])) * kLn2;
  }
}

// ---- backward -----------------------------------------------------------------------------------

// delta[B,H,T] = Σ_d dz · z per query (the softmax backward's row term): one warp per row.
__global__ void flash_delta_kernel(float* delta, const float* dz, const float* z, int B, int T, int H, int dh) {
  const int64_t row = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;  // (b, t, h)
  if (row >= int64_t{B} * T * H) return;
  const int lane = threadIdx.x % 32;
  float dot = 0.0f;
  for (int d = lane; d < dh; d += 32) dot += dz[row * dh + d] * z[row * dh + d];
  dot = warp_sum(dot);
  const int64_t h = row % H, bt = row / H, t = bt % T, b = bt / T;
  if (lane == 0) delta[(b * H + h) * T + t] = dot;
}

// dq for one query tile: dq = scale Σ_keys p (dp - delta) k, with p from lse and dp = dz · v.
template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_backward_dq_kernel(float* dqkv, const float* dz, const float* lse, const float* delta, const float* qkv,
                             int T, int H, int dh, float scale, float scale_log2) {
  constexpr int J = D / 32;
  extern __shared__ float smem[];
  float* q_tile = smem;                       // [32][D]    broadcast
  float* dz_tile = q_tile + kTile * D;        // [32][D]    broadcast
  float* k_tile = dz_tile + kTile * D;        // [32][D+1]  lane = key, then lane = d
  float* v_tile = k_tile + kTile * (D + 1);   // [32][D+1]  lane = key
  float* ds_tile = v_tile + kTile * (D + 1);  // [32][32]
  const int bh = blockIdx.y, b = bh / H, h = bh % H;
  const int tile = gridDim.x - 1 - blockIdx.x;
  const int q0 = tile * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  load_tile<D>(q_tile, D, head_view(qkv, b, h, 0, T, H, dh), q0, T, dh);
  load_tile<D>(dz_tile, D, HeadRowsView{dz + int64_t{b} * T * H * dh + int64_t{h} * dh, int64_t{H} * dh}, q0, T, dh);
  float lse2[kRowsPerWarp], dlt[kRowsPerWarp], dq[kRowsPerWarp][J];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int q = q0 + warp * kRowsPerWarp + i;
    lse2[i] = q < T ? lse[int64_t{bh} * T + q] * kLog2e : 0.0f;
    dlt[i] = q < T ? delta[int64_t{bh} * T + q] : 0.0f;
#pragma unroll
    for (int j = 0; j < J; ++j) dq[i][j] = 0.0f;
  }
  for (int kt = 0; kt <= tile; ++kt) {
    const int k0 = kt * kTile;
    __syncthreads();
    load_tile<D>(k_tile, D + 1, head_view(qkv, b, h, 1, T, H, dh), k0, T, dh);
    load_tile<D>(v_tile, D + 1, head_view(qkv, b, h, 2, T, H, dh), k0, T, dh);
    __syncthreads();
    float s[kRowsPerWarp] = {}, dp[kRowsPerWarp] = {};
    for (int d = 0; d < dh; ++d) {
      const float kd = k_tile[lane * (D + 1) + d], vd = v_tile[lane * (D + 1) + d];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp * kRowsPerWarp + i;
        s[i] += q_tile[r * D + d] * kd;
        dp[i] += dz_tile[r * D + d] * vd;
      }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp * kRowsPerWarp + i, q = q0 + r, key = k0 + lane;
      const float p = (key <= q && q < T) ? exp2f(s[i] * scale_log2 - lse2[i]) : 0.0f;
      ds_tile[r * kTile + lane] = p * (dp[i] - dlt[i]);
    }
    __syncwarp();
    for (int c = 0; c < kTile; ++c) {
      const float* k_row = k_tile + c * (D + 1);
      float k[J];
#pragma unroll
      for (int j = 0; j < J; ++j) k[j] = k_row[lane + 32 * j];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const float g = ds_tile[(warp * kRowsPerWarp + i) * kTile + c];
#pragma unroll
        for (int j = 0; j < J; ++j) dq[i][j] += g * k[j];
      }
    }
  }
  const int64_t stride = int64_t{3} * H * dh;
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int q = q0 + warp * kRowsPerWarp + i;
    if (q >= T) continue;
    float* dq_row = dqkv + (int64_t{b} * T + q) * stride + int64_t{h} * dh;
#pragma unroll
    for (int j = 0; j < J; ++j)
      if (lane + 32 * j < dh) dq_row[lane + 32 * j] = dq[i][j] * scale;
  }
}

// dk and dv for one key tile: dv = Σ_queries p dz, dk = scale Σ_queries p (dp - delta) q.
template <int D>
__global__ void __launch_bounds__(kThreads)
    flash_backward_dkv_kernel(float* dqkv, const float* dz, const float* lse, const float* delta, const float* qkv,
                              int T, int H, int dh, float scale, float scale_log2) {
  constexpr int J = D / 32;
  extern __shared__ float smem[];
  float* k_tile = smem;                        // [32][D]    broadcast
  float* v_tile = k_tile + kTile * D;          // [32][D]    broadcast
  float* q_tile = v_tile + kTile * D;          // [32][D+1]  lane = query, then lane = d
  float* dz_tile = q_tile + kTile * (D + 1);   // [32][D+1]
  float* p_tile = dz_tile + kTile * (D + 1);   // [32][32]  [key][query]
  float* ds_tile = p_tile + kTile * kTile;     // [32][32]
  float* lse2_tile = ds_tile + kTile * kTile;  // [32]
  float* delta_tile = lse2_tile + kTile;       // [32]
  const int bh = blockIdx.y, b = bh / H, h = bh % H;
  const int tile = blockIdx.x;  // low key tiles meet the most queries: they start first
  const int k0 = tile * kTile;
  const int n_tiles = gridDim.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const HeadRowsView dz_rows{dz + int64_t{b} * T * H * dh + int64_t{h} * dh, int64_t{H} * dh};

  load_tile<D>(k_tile, D, head_view(qkv, b, h, 1, T, H, dh), k0, T, dh);
  load_tile<D>(v_tile, D, head_view(qkv, b, h, 2, T, H, dh), k0, T, dh);
  float dk[kRowsPerWarp][J], dv[kRowsPerWarp][J];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i)
#pragma unroll
    for (int j = 0; j < J; ++j) dk[i][j] = dv[i][j] = 0.0f;
  for (int qt = tile; qt < n_tiles; ++qt) {
    const int q0 = qt * kTile;
    __syncthreads();
    load_tile<D>(q_tile, D + 1, head_view(qkv, b, h, 0, T, H, dh), q0, T, dh);
    load_tile<D>(dz_tile, D + 1, dz_rows, q0, T, dh);
    if (threadIdx.x < kTile) {
      const int q = q0 + threadIdx.x;
      lse2_tile[threadIdx.x] = q < T ? lse[int64_t{bh} * T + q] * kLog2e : 0.0f;
      delta_tile[threadIdx.x] = q < T ? delta[int64_t{bh} * T + q] : 0.0f;
    }
    __syncthreads();
    float s[kRowsPerWarp] = {}, dp[kRowsPerWarp] = {};
    for (int d = 0; d < dh; ++d) {
      const float qd = q_tile[lane * (D + 1) + d], gd = dz_tile[lane * (D + 1) + d];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp * kRowsPerWarp + i;
        s[i] += k_tile[r * D + d] * qd;
        dp[i] += v_tile[r * D + d] * gd;
      }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp * kRowsPerWarp + i, key = k0 + r, q = q0 + lane;
      const float p = (key <= q && q < T) ? exp2f(s[i] * scale_log2 - lse2_tile[lane]) : 0.0f;
      p_tile[r * kTile + lane] = p;
      ds_tile[r * kTile + lane] = p * (dp[i] - delta_tile[lane]);
    }
    __syncwarp();
    for (int c = 0; c < kTile; ++c) {
      const float* q_row = q_tile + c * (D + 1);
      const float* dz_row = dz_tile + c * (D + 1);
      float qv[J], gv[J];
#pragma unroll
      for (int j = 0; j < J; ++j) {
        qv[j] = q_row[lane + 32 * j];
        gv[j] = dz_row[lane + 32 * j];
      }
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp * kRowsPerWarp + i;
        const float p = p_tile[r * kTile + c], g = ds_tile[r * kTile + c];
#pragma unroll
        for (int j = 0; j < J; ++j) {
          dv[i][j] += p * gv[j];
          dk[i][j] += g * qv[j];
        }
      }
    }
  }
  const int64_t stride = int64_t{3} * H * dh;
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int key = k0 + warp * kRowsPerWarp + i;
    if (key >= T) continue;
    float* row = dqkv + (int64_t{b} * T + key) * stride + int64_t{h} * dh;
#pragma unroll
    for (int j = 0; j < J; ++j) {
      if (lane + 32 * j >= dh) continue;
      row[int64_t{H} * dh + lane + 32 * j] = dk[i][j] * scale;
      row[int64_t{2} * H * dh + lane + 32 * j] = dv[i][j];
    }
  }
}

// ---- launch -------------------------------------------------------------------------------------

template <int D>
size_t forward_smem_bytes() {
  return sizeof(float) * (kTile * D * 2 + kTile * (D + 1) + kTile * kTile);
}
template <int D>
size_t dq_smem_bytes() {
  return sizeof(float) * (kTile * D * 2 + kTile * (D + 1) * 2 + kTile * kTile);
}
template <int D>
size_t dkv_smem_bytes() {
  return sizeof(float) * (kTile * D * 2 + kTile * (D + 1) * 2 + 2 * kTile * kTile + 2 * kTile);
}

struct Shape {
  int B, T, H, dh;
  unsigned tiles() const { return static_cast<unsigned>((T + kTile - 1) / kTile); }
  dim3 grid() const { return dim3(tiles(), static_cast<unsigned>(B * H)); }
};

Shape checked_shape(int64_t B, int64_t T, int64_t H, int64_t dh) {
  if (dh < 1 || dh > 256)
    throw InputError("d_head", "the fused attention supports d_head 1 to 256, got " + std::to_string(dh));
  if (B * H > 65535 || T > (int64_t{1} << 24))
    throw InternalError("flash attention: B*H = " + std::to_string(B * H) + ", T = " + std::to_string(T) +
                        " is beyond the kernel's grid");
  return {static_cast<int>(B), static_cast<int>(T), static_cast<int>(H), static_cast<int>(dh)};
}

// Raises the kernel's dynamic shared-memory limit (above 48 KiB it must be asked for).
template <typename Kernel>
void allow_smem(CudaContext& ctx, Kernel kernel, size_t bytes, const char* name) {
  if (bytes > static_cast<size_t>(ctx.max_shared_per_block()))
    throw InternalError(std::string(name) + ": needs " + std::to_string(bytes) +
                        " bytes of shared memory, the device offers " + std::to_string(ctx.max_shared_per_block()));
  HEADLAB_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <int D>
void forward_for(CudaContext& ctx, float* z, float* lse, const float* qkv, const Shape& s, float scale) {
  const size_t smem = forward_smem_bytes<D>();
  allow_smem(ctx, flash_forward_kernel<D>, smem, "flash_forward_kernel");
  flash_forward_kernel<D><<<s.grid(), kThreads, smem, ctx.stream()>>>(z, lse, qkv, s.T, s.H, s.dh, scale * kLog2e);
  HEADLAB_CUDA_CHECK_LAUNCH("flash_forward_kernel");
}

template <int D>
void backward_for(CudaContext& ctx, float* dqkv, const float* dz, const float* lse, const float* delta,
                  const float* qkv, const Shape& s, float scale) {
  const size_t dq_smem = dq_smem_bytes<D>(), dkv_smem = dkv_smem_bytes<D>();
  allow_smem(ctx, flash_backward_dq_kernel<D>, dq_smem, "flash_backward_dq_kernel");
  allow_smem(ctx, flash_backward_dkv_kernel<D>, dkv_smem, "flash_backward_dkv_kernel");
  flash_backward_dq_kernel<D>
      <<<s.grid(), kThreads, dq_smem, ctx.stream()>>>(dqkv, dz, lse, delta, qkv, s.T, s.H, s.dh, scale, scale * kLog2e);
  HEADLAB_CUDA_CHECK_LAUNCH("flash_backward_dq_kernel");
  flash_backward_dkv_kernel<D><<<s.grid(), kThreads, dkv_smem, ctx.stream()>>>(dqkv, dz, lse, delta, qkv, s.T, s.H,
                                                                               s.dh, scale, scale * kLog2e);
  HEADLAB_CUDA_CHECK_LAUNCH("flash_backward_dkv_kernel");
}

}  // namespace

void flash_attention_forward(CudaContext& ctx, float* z, float* lse, const float* qkv, int64_t B, int64_t T, int64_t H,
                             int64_t dh, float scale) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  const Shape s = checked_shape(B, T, H, dh);
  if (dh <= 32) return forward_for<32>(ctx, z, lse, qkv, s, scale);
  if (dh <= 64) return forward_for<64>(ctx, z, lse, qkv, s, scale);
  if (dh <= 128) return forward_for<128>(ctx, z, lse, qkv, s, scale);
  return forward_for<256>(ctx, z, lse, qkv, s, scale);
}

void flash_attention_backward(CudaContext& ctx, float* dqkv, const float* dz, const float* z, const float* lse,
                              const float* qkv, int64_t B, int64_t T, int64_t H, int64_t dh, float scale) {
  if (B <= 0 || T <= 0 || H <= 0) return;
  const Shape s = checked_shape(B, T, H, dh);
  float* delta = static_cast<float*>(ctx.scratch(sizeof(float) * B * H * T));  // [B, H, T]
  const int64_t rows = B * T * H;
  flash_delta_kernel<<<static_cast<unsigned>((rows + kWarps - 1) / kWarps), kThreads, 0, ctx.stream()>>>(
      delta, dz, z, s.B, s.T, s.H, s.dh);
  HEADLAB_CUDA_CHECK_LAUNCH("flash_delta_kernel");
  if (dh <= 32) return backward_for<32>(ctx, dqkv, dz, lse, delta, qkv, s, scale);
  if (dh <= 64) return backward_for<64>(ctx, dqkv, dz, lse, delta, qkv, s, scale);
  if (dh <= 128) return backward_for<128>(ctx, dqkv, dz, lse, delta, qkv, s, scale);
  return backward_for<256>(ctx, dqkv, dz, lse, delta, qkv, s, scale);
}

}  // namespace headlab::cuda
