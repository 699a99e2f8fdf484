#include "probes/sae_heads.h"

#include <cmath>

#include "core/errors.h"

namespace headlab {

HeadAttribution attribute_heads(const Sae& sae, double dominant, const std::vector<bool>& counted) {
  if (sae.n_heads <= 0 || sae.d_head <= 0 || sae.n_heads * sae.d_head != sae.d_in)
    throw InputError("--sae", "not an attention-output SAE (trained on " +
                                  (sae.hook_name.empty() ? std::string("bare rows") : sae.hook_name) +
                                  ", not on hook_z with the heads concatenated)");
  if (!counted.empty() && int64_t(counted.size()) != sae.d_sae)
    throw InternalError("attribute_heads: the counted mask has " + std::to_string(counted.size()) + " entries for " +
                        std::to_string(sae.d_sae) + " features");
  HeadAttribution a;
  a.n_heads = sae.n_heads;
  a.dominant = dominant;
  const int64_t H = sae.n_heads, dh = sae.d_head;
  a.share.assign(size_t(sae.d_sae * H), 0.0f);
  a.top_head.assign(size_t(sae.d_sae), 0);
  a.top_count.assign(size_t(H), 0);
  a.dominant_count.assign(size_t(H), 0);
  for (int64_t i = 0; i < sae.d_sae; ++i) {
    std::vector<double> norm(static_cast<size_t>(H), 0.0);
    double total = 0;
    for (int64_t h = 0; h < H; ++h) {
      double ss = 0;
      for (int64_t j = 0; j < dh; ++j) {
        const double w = sae.W_dec[size_t(i * sae.d_in + h * dh + j)];
        ss += w * w;
      }
      norm[size_t(h)] = std::sqrt(ss);
      total += norm[size_t(h)];
    }
    int64_t best = 0;
    for (int64_t h = 0; h < H; ++h) {
      a.share[size_t(i * H + h)] = total > 0 ? float(norm[size_t(h)] / total) : 0.0f;
      if (norm[size_t(h)] > norm[size_t(best)]) best = h;
    }
    a.top_head[size_t(i)] = int32_t(best);
    if (total > 0 && (counted.empty() || counted[size_t(i)])) {
      ++a.top_count[size_t(best)];
      if (a.share[size_t(i * H + best)] >= dominant) ++a.dominant_count[size_t(best)];
    }
  }
  return a;
}

}  // namespace headlab
