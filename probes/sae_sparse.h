// Sparse activations of an SAE (a few latents per row), their selection and the products with the
// decoder that use them. CPU, OpenMP over rows or latents; every result is independent of the
// thread count (each output element is summed in one fixed order).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace headlab {

// Rows in compressed form: row b's entries are [row_start[b], row_start[b + 1]).
struct SparseRows {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_start;  // [rows + 1]
  std::vector<int32_t> col;        // [nnz] latent index, increasing within a row
  std::vector<float> val;          // [nnz]
  int64_t nnz() const { return int64_t(col.size()); }
  void clear(int64_t r, int64_t c) {
    rows = r;
    cols = c;
    row_start.assign(size_t(r + 1), 0);
    col.clear();
    val.clear();
  }
};

// The k largest of each row of score [B, n] (ties: the lower index), kept only where the score is
// > 0 (a ReLU after the selection, as SAELens' TopK applies it). `value` [B, n] gives the value
// stored for a kept entry (the score itself when nullptr). Entries sorted by latent.
void topk_rows(SparseRows& out, const float* score, const float* value, int64_t B, int64_t n, int64_t k);

// The K largest positive entries of score [B, n] over the whole batch (BatchTopK; ties: the
// lower flat index), as rows. `value` as for topk_rows. Returns the smallest selected score (0 when
// none is selected).
float batch_topk(SparseRows& out, const float* score, const float* value, int64_t B, int64_t n, int64_t K);

// The k largest entries of each row of score [B, n] among the latents with allowed[i] != 0, kept
// whatever their sign (the AuxK selection); value as for topk_rows.
void topk_rows_allowed(SparseRows& out, const float* score, const float* value, const uint8_t* allowed, int64_t B,
                       int64_t n, int64_t k);

// Entries of dense [B, n] where keep(value) holds, value from `dense`: out = {(b, i, dense[b, i])}.
void dense_to_rows(SparseRows& out, const float* dense, int64_t B, int64_t n, float threshold_strict_above,
                   const float* per_latent_threshold);

// out[B, d] = bias[d] (or 0 when nullptr) + Σ_entries val · W[col, :]   (W [n, d])
void sparse_decode(float* out, const SparseRows& a, const float* W, const float* bias, int64_t d);

// grad_val[e] = dout[b, :] · W[col_e, :] for every entry e of a (row b).
void sparse_entry_dots(std::vector<float>& grad_val, const SparseRows& a, const float* dout, const float* W, int64_t d);

// For each latent i, over the entries (b, i) of a in row order:
//   dW[i, :]  += val_e · dout[b, :]      (when dW)
//   G[i, :]   += g_e · inp[b, :]         (when G; g = grad_val)
//   dbias[i]  += g_e                     (when dbias)
// with dout, inp [B, d]. Deterministic: each latent's sums run in row order.
void sparse_accumulate_by_latent(float* dW, float* G, float* dbias, const SparseRows& a, const std::vector<float>& g,
                                 const float* dout, const float* inp, int64_t d);

}  // namespace headlab
