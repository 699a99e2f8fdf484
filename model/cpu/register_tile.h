// A register-tiled small matrix product for the attention kernels: up to kTileRows rows of
// C[r, 0..16 NV) = Σ_k A(r, k) B[k, 0..16 NV), with the whole tile of sums held in vector
// registers while k runs, so that each loaded vector of B feeds kTileRows multiply-adds. The
// products attention needs (q·kᵀ, pattern·v and their gradients) are a few hundred long on
// each side, strided, and half of each is masked off by causality: too small and too oddly shaped
// for a library call per head, and wasteful to hand over without the mask.
//
// Vec (vector_math.h) is a GCC vector extension, not an intrinsic: one zmm register with
// -march=native on an AVX-512 machine; elsewhere the compiler splits it and the code stays correct.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "model/cpu/vector_math.h"

namespace headlab::cpu {

// Rows per tile: each loaded vector of B feeds this many multiply-adds. 6 rows x 4 vectors or
// 12 rows x 2 vectors = 24 accumulators, within the 32 vector registers with room for B and the
// broadcast weight. The wide tile is for products whose rows are 32 floats or fewer (d_head 32).
constexpr int kTileRows = 6;
constexpr int kTallTileRows = 12;
constexpr int kMaxTileVecs = 4;  // widest tile: 64 columns
constexpr int max_vecs(int rows) { return rows == kTallTileRows ? 2 : kMaxTileVecs; }

// Which (row, k) pairs of the tile count, with row r of the tile at absolute position row0 + r:
// every pair; only k <= row0 + r (a causal row: keys up to the query); only k >= row0 + r (a
// causal column: queries from the key on). A masked A(r, k) is never read: it may hold anything.
enum class Band { all, lower, upper };

// A(r, k) = A[r * a_rs + k * a_cs]; B row k at B + k * b_rs (16 NV readable floats from there).
// Rows r >= rows (a ragged last tile) are computed from a copy of the last row and not stored;
// stored columns are [0, ncols) with ncols <= 16 NV. k runs over [k0, k1) within the band.
struct TileArgs {
  float* C;
  int64_t c_rs;
  int rows;
  int64_t ncols;
  const float* A;
  int64_t a_rs, a_cs;
  const float* B;
  int64_t b_rs;
  int64_t k0, k1;
  int64_t row0;  // absolute position of tile row 0 (for the band)
};

template <int R, int NV, Band band>
void register_tile(const TileArgs& t) {
  static_assert(NV <= max_vecs(R), "too many accumulators for the registers");
  Vec acc[R][NV];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = Vec{};
  const float* a[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) a[r] = t.A + int64_t(std::min(r, t.rows - 1)) * t.a_rs;

  // The diagonal block of a band [row0, row0 + R): step k counts for rows r >= k - row0 (lower)
  // or r <= k - row0 (upper), a scalar select per row. Every other step counts for every row.
  const int64_t diag0 = std::max(t.k0, t.row0), diag1 = std::min(t.k1, t.row0 + R);
  auto step = [&](int64_t k, bool masked) __attribute__((always_inline)) {
    Vec b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = load_vec(t.B + k * t.b_rs + j * kLanes);
    const int64_t d = k - t.row0;
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const float x = a[r][k * t.a_cs];
      const float w = !masked ? x : band == Band::lower ? (r >= d ? x : 0.0f) : (r <= d ? x : 0.0f);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] += w * b[j];
    }
  };
  if (band == Band::all) {
    for (int64_t k = t.k0; k < t.k1; ++k) step(k, false);
  } else if (band == Band::lower) {
    for (int64_t k = t.k0; k < std::min(t.k1, t.row0); ++k) step(k, false);
    for (int64_t k = diag0; k < diag1; ++k) step(k, true);
  } else {
    for (int64_t k = diag0; k < diag1; ++k) step(k, true);
    for (int64_t k = std::max(t.k0, t.row0 + R); k < t.k1; ++k) step(k, false);
  }

  // r runs over the whole tile (constant bounds) so that acc is indexed by constants only and
  // stays in registers.
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    if (r >= t.rows) break;
    float* c = t.C + r * t.c_rs;
    if (t.ncols == NV * kLanes) {
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) store_vec(c + j * kLanes, acc[r][j]);
    } else {
      float tmp[NV * kLanes];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) store_vec(tmp + j * kLanes, acc[r][j]);
      std::memcpy(c, tmp, size_t(t.ncols) * sizeof(float));
    }
  }
}

// register_tile with NV = ceil(ncols / 16) in [1, max_vecs(R)], chosen at run time.
template <int R, Band band>
void register_tile_any(const TileArgs& t) {
  switch ((t.ncols + kLanes - 1) / kLanes) {
    case 1:
      return register_tile<R, 1, band>(t);
    case 2:
      return register_tile<R, 2, band>(t);
    case 3:
      if constexpr (max_vecs(R) >= 3) return register_tile<R, 3, band>(t);
      [[fallthrough]];
    default:
      if constexpr (max_vecs(R) >= 4) return register_tile<R, 4, band>(t);
  }
}

// C[rows, 0..ncols) for any ncols: column blocks as wide as the tile allows, each one
// register_tile_any call. B must have 16 readable floats past every column block it is asked
// for (round ncols up to 16).
template <int R, Band band>
void tile_row_block(TileArgs t) {
  const int64_t ncols = t.ncols, width = max_vecs(R) * kLanes;
  for (int64_t c0 = 0; c0 < ncols; c0 += width) {
    TileArgs block = t;
    block.C = t.C + c0;
    block.B = t.B + c0;
    block.ncols = std::min(ncols - c0, width);
    register_tile_any<R, band>(block);
  }
}

}  // namespace headlab::cpu
