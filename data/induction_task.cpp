#include "data/induction_task.h"

#include <climits>
#include <cmath>
#include <cstdio>

#include "core/errors.h"
#include "core/seeded_rng.h"

namespace headlab {
namespace {

void check_spec(int64_t n_seq, const InductionTaskSpec& s, int64_t d_vocab, int32_t bos) {
  const auto bad = [](const char* argument, const std::string& why) {
    throw InputError(std::string("induction task: ") + argument, why);
  };
  if (n_seq < 1) bad("n_seq", "expected a positive count, got " + std::to_string(n_seq));
  if (s.seq_len < 2 || s.seq_len > INT32_MAX)
    bad("seq_len", "expected 2 to 2^31-1 tokens (BOS and at least one more), got " + std::to_string(s.seq_len));
  if (d_vocab < 3 || d_vocab > INT32_MAX)
    bad("d_vocab", "expected 3 to 2^31-1 (BOS and at least two other tokens), got " + std::to_string(d_vocab));
  if (bos < 0 || bos >= d_vocab) bad("bos", "expected a token id in [0, d_vocab), got " + std::to_string(bos));
  if (!(s.copy_prob >= 0 && s.copy_prob <= 1))
    bad("copy_prob", "expected a probability in [0, 1], got " + std::to_string(s.copy_prob));
  if (s.min_span < 1 || s.min_span > s.max_span)
    bad("min_span",
        "expected 1 <= min_span <= max_span, got " + std::to_string(s.min_span) + " and " + std::to_string(s.max_span));
}

// Uniform over [0, d_vocab) without bos.
int32_t fresh_token(SeededRng& rng, int64_t d_vocab, int32_t bos) {
  const int64_t u = int64_t(rng.below(uint64_t(d_vocab - 1)));
  return int32_t(u >= bos ? u + 1 : u);
}

// Uniform in [0, 1) from 53 random bits: the same on every platform.
double unit_draw(SeededRng& rng) { return std::ldexp(double(rng.below(uint64_t(1) << 53)), -53); }

void fill_row(SeededRng& rng, const InductionTaskSpec& s, int64_t d_vocab, int32_t bos, int32_t* row, int32_t* label) {
  row[0] = bos;
  label[0] = kFreshToken;
  int64_t t = 1;
  while (t < s.seq_len) {
    if (t >= 2 && unit_draw(rng) < s.copy_prob) {
      const int64_t m = rng.between(s.min_span, s.max_span);
      const int64_t source = rng.between(1, t - 1);
      for (int64_t j = 0; j < m && t < s.seq_len; ++j, ++t) {
        row[t] = row[source + j];  // source + j < t: already written
        label[t] = j == 0 ? kCopyStart : kCopyNext;
      }
    } else {
      row[t] = fresh_token(rng, d_vocab, bos);
      label[t] = kFreshToken;
      ++t;
    }
  }
}

std::string describe(int64_t n_seq, const InductionTaskSpec& s, int64_t d_vocab, uint64_t seed, int32_t bos) {
  char prob[32];
  std::snprintf(prob, sizeof prob, "%g", s.copy_prob);
  return "induction_task(n_seq=" + std::to_string(n_seq) + ", seq_len=" + std::to_string(s.seq_len) +
         ", copy_prob=" + prob + ", spans=" + std::to_string(s.min_span) + ".." + std::to_string(s.max_span) +
         ", d_vocab=" + std::to_string(d_vocab) + ", seed=" + std::to_string(seed) + ", bos=" + std::to_string(bos) +
         ")";
}

}  // namespace

TokenDataset make_induction_dataset(int64_t n_seq, const InductionTaskSpec& spec, int64_t d_vocab, uint64_t seed,
                                    int32_t bos) {
  check_spec(n_seq, spec, d_vocab, bos);
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = d_vocab;
  ds.n_seq = n_seq;
  ds.seq_len = spec.seq_len;
  ds.source = describe(n_seq, spec, d_vocab, seed, bos);
  const int64_t L = spec.seq_len;
  ds.tokens.resize(size_t(n_seq * L));  // [n_seq, L]
  ds.loss_mask.assign(size_t(n_seq * L), 1);
  std::vector<int32_t>& copy = ds.labels["copy"];
  copy.resize(size_t(n_seq * L));  // [n_seq, L]
  SeededRng rng(seed);
  for (int64_t r = 0; r < n_seq; ++r) fill_row(rng, spec, d_vocab, bos, ds.tokens.data() + r * L, copy.data() + r * L);
  return ds;
}

}  // namespace headlab
