#include "data/repeat_task.h"

#include <climits>

#include "core/errors.h"
#include "core/seeded_rng.h"

namespace headlab {
namespace {

// Uniform over [0, d_vocab) without bos.
int32_t random_token(SeededRng& rng, int64_t d_vocab, int32_t bos) {
  const int64_t u = int64_t(rng.below(uint64_t(d_vocab - 1)));
  return int32_t(u >= bos ? u + 1 : u);
}

}  // namespace

TokenDataset make_repeat_dataset(int64_t n_seq, int64_t half_len, int64_t d_vocab, uint64_t seed, int32_t bos) {
  if (n_seq < 1) throw InputError("repeat task: n_seq", "expected a positive count, got " + std::to_string(n_seq));
  if (half_len < 1 || half_len > (INT32_MAX - 1) / 2)
    throw InputError("repeat task: half_len", "expected a positive length, got " + std::to_string(half_len));
  if (d_vocab < 3 || d_vocab > INT32_MAX)
    throw InputError("repeat task: d_vocab",
                     "expected 3 to 2^31-1 (BOS and at least two other tokens), got " + std::to_string(d_vocab));
  if (bos < 0 || bos >= d_vocab)
    throw InputError("repeat task: bos", "expected a token id in [0, d_vocab), got " + std::to_string(bos));

  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = d_vocab;
  ds.n_seq = n_seq;
  ds.seq_len = 1 + 2 * half_len;
  ds.source = "repeat_task(n_seq=" + std::to_string(n_seq) + ", half_len=" + std::to_string(half_len) +
              ", d_vocab=" + std::to_string(d_vocab) + ", seed=" + std::to_string(seed) +
              ", bos=" + std::to_string(bos) + ")";
  const int64_t T = ds.seq_len;
  ds.tokens.resize(size_t(n_seq * T));     // [n_seq, T]
  ds.corrupted.resize(size_t(n_seq * T));  // [n_seq, T]
  ds.loss_mask.assign(size_t(n_seq * T), 1);
  ds.answer.resize(size_t(n_seq));
  ds.wrong_answer.resize(size_t(n_seq));
  ds.answer_pos.assign(size_t(n_seq), int32_t(T - 2));

  SeededRng rng(seed);
  for (int64_t s = 0; s < n_seq; ++s) {
    int32_t* clean = ds.tokens.data() + s * T;
    int32_t* corrupt = ds.corrupted.data() + s * T;
    clean[0] = corrupt[0] = bos;
    for (int64_t i = 1; i <= half_len; ++i)
      clean[i] = corrupt[i] = clean[i + half_len] = random_token(rng, d_vocab, bos);
    for (int64_t i = half_len + 1; i < T; ++i) corrupt[i] = random_token(rng, d_vocab, bos);
    const int32_t answer = clean[T - 1];
    int32_t wrong = corrupt[T - 1];
    while (wrong == answer) wrong = random_token(rng, d_vocab, bos);
    ds.answer[size_t(s)] = answer;
    ds.wrong_answer[size_t(s)] = wrong;
  }
  return ds;
}

}  // namespace headlab
