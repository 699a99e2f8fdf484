#include "model/sampling.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace headlab {

int32_t sample_token(const float* logits, int d_vocab, float temperature, std::mt19937_64& rng) {
  if (temperature <= 0.0f) {
    int32_t next = 0;
    for (int v = 1; v < d_vocab; ++v)
      if (logits[v] > logits[next]) next = v;
    return next;
  }
  double mx = logits[0];
  for (int v = 1; v < d_vocab; ++v) mx = std::max(mx, double(logits[v]));
  std::vector<double> p(static_cast<size_t>(d_vocab));
  double sum = 0;
  for (int v = 0; v < d_vocab; ++v) sum += p[size_t(v)] = std::exp((double(logits[v]) - mx) / temperature);
  double u = double(rng() >> 11) * 0x1.0p-53 * sum;
  for (int v = 0; v < d_vocab; ++v) {
    u -= p[size_t(v)];
    if (u < 0) return v;
  }
  return d_vocab - 1;
}

std::vector<int32_t> generate(Transformer& model, std::vector<int32_t> seq, int max_new, float temperature,
                              uint64_t seed, HookSet* hooks, const std::string& what) {
  if (seq.empty()) throw InputError("prompt", "expected at least one token");
  const ModelConfig& c = model.config();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < max_new; ++i) {
    const size_t start = seq.size() > size_t(c.n_ctx) ? seq.size() - size_t(c.n_ctx) : 0;
    const int T = int(seq.size() - start);
    model.forward(seq.data() + start, 1, T, hooks);
    const std::vector<float> logits = model.logits_to_host();
    const float* last = logits.data() + size_t(T - 1) * size_t(c.d_vocab);
    if (!std::all_of(last, last + c.d_vocab, [](float x) { return std::isfinite(x); }))
      throw InputError(what, "expected finite logits; the model gives NaN or inf for new token " + std::to_string(i));
    seq.push_back(sample_token(last, c.d_vocab, temperature, rng));
  }
  return seq;
}

}  // namespace headlab
