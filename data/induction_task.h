// The built-in induction training task: random token rows in which spans of earlier tokens recur,
// copied from random earlier places to later ones. After the first token of a copy, the next
// token is predictable only by finding where the current token occurred before and copying the
// token that followed it there — which is what an induction circuit does (a previous-token head in
// layer 0, an induction head in layer 1), and a 2-layer attention-only model trained on these rows
// forms one after a plateau, with the phase change of Olsson et al. (2022).
//
// Why not (BOS, r_1..r_n, r_1..r_n) (data/repeat_task.h): with a fixed n the earlier copy always
// sits n - 1 positions back, and a model learns to attend that fixed distance back from learned
// positions, without any induction circuit. Here the distance from a copy to its source is spread
// over the whole row and differs from row to row, so no fixed-offset head helps.
#pragma once
#include <cstdint>

#include "data/token_dataset.h"

namespace headlab {

struct InductionTaskSpec {
  int64_t seq_len = 65;    // tokens per row, the BOS at position 0 included
  double copy_prob = 0.2;  // at each position not inside a copy (from position 2 on), the chance
                           // that a copy starts there
  int64_t min_span = 4;    // a copy's length, uniform in [min_span, max_span] (cut at the row's end)
  int64_t max_span = 16;
};

// Values of the "copy" label (TokenDataset::labels["copy"], one per token).
enum InductionCopyLabel : int32_t {
  kFreshToken = 0,  // uniform over the vocabulary without bos (and the BOS itself)
  kCopyStart = 1,   // the first token of a copy: not predictable
  kCopyNext = 2,    // a later token of a copy: predictable by induction
};

// n_seq rows [n_seq, seq_len], built left to right: row[0] = bos; at each later position t not
// inside a copy, with probability copy_prob (and t >= 2) a copy starts: a length m uniform in
// [min_span, max_span] and a source s uniform in [1, t - 1], then row[t + j] = row[s + j] for
// j < m while t + j < seq_len (a source that runs into the copy itself repeats it periodically);
// otherwise row[t] is a fresh token, uniform over the vocabulary without bos.
// loss_mask = 1 everywhere (the fresh tokens keep the loss on unpredictable tokens at ln(V - 1),
// so the loss on repeated random tokens can be compared with it); labels["copy"] marks each token.
// No clean/corrupted pairs. Deterministic in seed on every platform (SeededRng).
// InputError ("induction task: <argument>") unless n_seq >= 1, seq_len >= 2, d_vocab >= 3,
// 0 <= bos < d_vocab, 0 <= copy_prob <= 1, 1 <= min_span <= max_span.
TokenDataset make_induction_dataset(int64_t n_seq, const InductionTaskSpec& spec, int64_t d_vocab, uint64_t seed,
                                    int32_t bos = 0);

}  // namespace headlab
