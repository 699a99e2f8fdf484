// The built-in synthetic task: repeated random token sequences (BOS, r_1..r_n, r_1..r_n). The
// second half is predictable only by looking back to the first occurrence of the current token
// and copying the token after it, so a 2-layer attention-only model learns it by forming an
// induction circuit (previous-token head in layer 0, induction head in layer 1).
#pragma once
#include <cstdint>

#include "data/token_dataset.h"

namespace headlab {

// n_seq sequences [n_seq, 1 + 2*half_len]: tokens[0] = bos, then r_1..r_n twice, each r_i uniform
// over the vocabulary without bos. loss_mask = 1 everywhere (training on every position).
// Clean/corrupted pairs: /corrupted keeps BOS and the first half and replaces the second half by
// fresh random tokens, which breaks every induction match. answer_pos = seq_len - 2 (predicting
// the last token), answer = tokens[seq_len - 1] (= r_n), wrong_answer = corrupted[seq_len - 1]
// when that differs from the answer, else another random token.
// Deterministic in seed on every platform: SeededRng (core/seeded_rng.h), std::mt19937_64 with
// our own uniform mapping (std::uniform_int_distribution differs between standard libraries).
// InputError ("repeat task: <argument>") unless n_seq >= 1, half_len >= 1, d_vocab >= 3,
// 0 <= bos < d_vocab.
TokenDataset make_repeat_dataset(int64_t n_seq, int64_t half_len, int64_t d_vocab, uint64_t seed, int32_t bos = 0);

}  // namespace headlab
