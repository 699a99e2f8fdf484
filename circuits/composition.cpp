#include "circuits/composition.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "model/params.h"

namespace headlab {
namespace {

// x [rows, cols]: subtract each column's mean over the rows (centre along axis 0).
void centre_columns(float* x, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c) {
    double mean = 0;
    for (int64_t r = 0; r < rows; ++r) mean += x[r * cols + c];
    mean /= double(rows);
    for (int64_t r = 0; r < rows; ++r) x[r * cols + c] -= float(mean);
  }
}
// x [rows, cols]: subtract each row's mean (centre along axis 1).
void centre_rows(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= double(cols);
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] -= float(mean);
  }
}
// x [rows, cols] *= w[rows] row by row (a norm weight folded into a reading matrix).
void scale_rows(float* x, const std::vector<float>& w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] *= w[size_t(r)];
}

// Gram matrices of one head's factors, [d_head, d_head] in double.
struct HeadGrams {
  std::vector<double> q, k, v;  // AᵀA of W_Q, W_K, W_V
  std::vector<double> o;        // W_O W_Oᵀ
};

// aᵀa for a [rows, n].
std::vector<double> gram_of_columns(const float* a, int64_t rows, int64_t n) {
  std::vector<double> g(size_t(n * n), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) {
      const double ai = a[r * n + i];
      for (int64_t j = 0; j < n; ++j) g[size_t(i * n + j)] += ai * a[r * n + j];
    }
  return g;
}
// a aᵀ for a [n, cols].
std::vector<double> gram_of_rows(const float* a, int64_t n, int64_t cols) {
  std::vector<double> g(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += double(a[i * cols + c]) * a[j * cols + c];
      g[size_t(i * n + j)] = g[size_t(j * n + i)] = s;
    }
  return g;
}

// Σ_ij a_ij b_ij = tr(aᵀ b).
double frobenius_dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<HeadGrams> all_grams(const HeadCircuits& w) {
  const ModelConfig& c = w.cfg;
  std::vector<HeadGrams> g(size_t(c.n_layers) * size_t(c.n_heads));
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h) {
      HeadGrams& x = g[size_t(w.head_index(l, h))];
      x.q = gram_of_columns(w.q(l, h), c.d_model, c.d_head);
      x.k = gram_of_columns(w.k(l, h), c.d_model, c.d_head);
      x.v = gram_of_columns(w.v(l, h), c.d_model, c.d_head);
      x.o = gram_of_rows(w.o(l, h), c.d_head, c.d_model);
    }
  return g;
}

}  // namespace

const char* to_string(WeightProcessing p) { return p == WeightProcessing::none ? "none" : "transformer_lens"; }

WeightProcessing parse_weight_processing(const std::string& text, const std::string& what) {
  if (text == "none" || text == "raw") return WeightProcessing::none;
  if (text == "transformer_lens" || text == "tl") return WeightProcessing::transformer_lens;
  throw InputError(what,
                   "expected none (the weights as stored) or transformer_lens (TransformerLens' "
                   "fold_ln, center_writing_weights, center_unembed), got '" +
                       text + "'");
}

HeadCircuits head_circuits(const ModelConfig& cfg, const std::vector<float>& params, WeightProcessing processing) {
  const ParamTable table(cfg);
  if (int64_t(params.size()) != table.arena_size())
    throw InternalError("head_circuits: expected " + std::to_string(table.arena_size()) + " parameters, got " +
                        std::to_string(params.size()));
  const int64_t L = cfg.n_layers, H = cfg.n_heads, D = cfg.d_model, dh = cfg.d_head, V = cfg.d_vocab;
  const bool tl = processing == WeightProcessing::transformer_lens;
  const bool fold = tl && cfg.normalization_type != Normalization::none;  // fold_ln
  const bool centre = tl && cfg.normalization_type == Normalization::LN;  // fold_ln's centring, center_writing_weights
  HeadCircuits w;
  w.cfg = cfg;
  w.processing = processing;
  const int64_t head_size = D * dh;
  w.W_Q.resize(size_t(L * H * head_size));
  w.W_K.resize(w.W_Q.size());
  w.W_V.resize(w.W_Q.size());
  w.W_O.resize(w.W_Q.size());
  for (int l = 0; l < L; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    std::vector<float> ln1_w;
    if (fold) ln1_w = table.gather(params, p + "ln1.w");
    std::vector<float>* dst[3] = {&w.W_Q, &w.W_K, &w.W_V};
    const char* names[3] = {"attn.W_Q", "attn.W_K", "attn.W_V"};
    for (int which = 0; which < 3; ++which) {
      std::vector<float> m = table.gather(params, p + names[which]);  // [H, D, dh]
      for (int64_t h = 0; h < H; ++h) {
        float* x = m.data() + h * head_size;  // [D, dh]
        if (fold) scale_rows(x, ln1_w, D, dh);
        if (centre) centre_columns(x, D, dh);
      }
      std::copy(m.begin(), m.end(), dst[which]->begin() + l * H * head_size);
    }
    std::vector<float> o = table.gather(params, p + "attn.W_O");  // [H, dh, D]
    if (centre) centre_rows(o.data(), H * dh, D);
    std::copy(o.begin(), o.end(), w.W_O.begin() + l * H * head_size);
  }
  w.W_E = table.gather(params, "embed.W_E");  // [V, D]
  if (centre) centre_rows(w.W_E.data(), V, D);
  w.W_U = table.gather(params, "unembed.W_U");  // [D, V]
  if (fold) scale_rows(w.W_U.data(), table.gather(params, "ln_final.w"), D, V);
  if (centre) centre_columns(w.W_U.data(), D, V);
  if (tl) centre_rows(w.W_U.data(), D, V);  // center_unembed, whatever the norm
  return w;
}

const char* to_string(CompositionKind kind) {
  switch (kind) {
    case CompositionKind::q:
      return "q";
    case CompositionKind::k:
      return "k";
    case CompositionKind::v:
      return "v";
  }
  return "?";
}

std::vector<double> ov_norms(const HeadCircuits& w) {
  const auto grams = all_grams(w);
  std::vector<double> out(grams.size());
  for (size_t i = 0; i < grams.size(); ++i) out[i] = std::sqrt(std::max(0.0, frobenius_dot(grams[i].v, grams[i].o)));
  return out;
}

std::vector<double> composition_scores(const HeadCircuits& w, CompositionKind kind, Backend& cpu) {
  if (cpu.device() != Device::cpu) throw InternalError("composition_scores: needs a CPU backend (host memory)");
  const ModelConfig& c = w.cfg;
  const int64_t L = c.n_layers, H = c.n_heads, D = c.d_model, dh = c.d_head, Hd = H * dh;
  const auto grams = all_grams(w);
  // The later head's R = A2 B2: its reading factor A2 and the Gram matrix B2 B2ᵀ of B2.
  auto reading = [&](int l, int h) {
    return kind == CompositionKind::q ? w.q(l, h) : kind == CompositionKind::k ? w.k(l, h) : w.v(l, h);
  };
  auto right_gram = [&](const HeadGrams& g) -> const std::vector<double>& {
    return kind == CompositionKind::q ? g.k : kind == CompositionKind::k ? g.q : g.o;
  };
  auto r_norm2 = [&](const HeadGrams& g) {
    return kind == CompositionKind::v ? frobenius_dot(g.v, g.o) : frobenius_dot(g.q, g.k);
  };

  std::vector<double> out(size_t(L * H * L * H), 0.0);
  std::vector<float> a2(size_t(D * Hd));   // [D, H*dh]: the later layer's reading factors side by side
  std::vector<float> cs(size_t(Hd * Hd));  // [H*dh, H*dh]: C = B1 A2 for every head pair of two layers
  std::vector<double> left(size_t(dh * dh)), right(size_t(dh * dh));
  for (int l2 = 1; l2 < L; ++l2) {
    for (int h2 = 0; h2 < H; ++h2) {
      const float* a = reading(l2, h2);
      for (int64_t d = 0; d < D; ++d) std::copy(a + d * dh, a + (d + 1) * dh, a2.data() + d * Hd + h2 * dh);
    }
    for (int l1 = 0; l1 < l2; ++l1) {
      // W_O of layer l1 is [H, dh, D] = [H*dh, D] in memory.
      cpu.matmul(cs.data(), w.o(l1, 0), a2.data(), nullptr, Hd, Hd, D, Transpose::no, Transpose::no,
                 Accumulate::overwrite);
      for (int h1 = 0; h1 < H; ++h1) {
        const HeadGrams& g1 = grams[size_t(w.head_index(l1, h1))];
        const double l_norm2 = frobenius_dot(g1.v, g1.o);
        for (int h2 = 0; h2 < H; ++h2) {
          const HeadGrams& g2 = grams[size_t(w.head_index(l2, h2))];
          const double denom2 = l_norm2 * r_norm2(g2);
          double score = 0;
          if (denom2 > 0) {
            // ‖L R‖² = Σ_ij (G1 C)_ij (C G2)_ij with G1 = A1ᵀA1, G2 = B2 B2ᵀ.
            const std::vector<double>& G2 = right_gram(g2);
            auto C = [&](int64_t i, int64_t j) { return double(cs[size_t((h1 * dh + i) * Hd + h2 * dh + j)]); };
            for (int64_t i = 0; i < dh; ++i)
              for (int64_t j = 0; j < dh; ++j) {
                double sl = 0, sr = 0;
                for (int64_t k = 0; k < dh; ++k) {
                  sl += g1.v[size_t(i * dh + k)] * C(k, j);
                  sr += C(i, k) * G2[size_t(k * dh + j)];
                }
                left[size_t(i * dh + j)] = sl;
                right[size_t(i * dh + j)] = sr;
              }
            score = std::sqrt(std::max(0.0, frobenius_dot(left, right)) / denom2);
          }
          out[size_t(((l1 * H + h1) * L + l2) * H + h2)] = score;
        }
      }
    }
  }
  return out;
}

}  // namespace headlab
