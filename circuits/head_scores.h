// Training-free head scores (the survey's "scoring" methods, Zheng et al. 2024), one function per
// score, each with its formula and source. Attention patterns are TransformerLens' hook_pattern:
// A[q, k] = attention from query position q to key position k, rows summing to 1 over k <= q.
//
// Pattern scores take one layer's patterns [B, H, T, T] and return one value per head [H], the
// mean over the B sequences (TransformerLens' detect_head, given a list of sequences, averages the
// per-sequence scores). Nothing here modifies the patterns it reads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/composition.h"
#include "circuits/heads_arg.h"
#include "model/backend.h"
#include "model/transformer.h"

namespace headlab {

// ---- TransformerLens' head detector (transformer_lens/head_detector.py) ------------------------

enum class HeadPattern { previous_token, duplicate_token, induction };
const char* to_string(HeadPattern kind);

// The detection pattern P [T, T] of tokens [T] (lower triangular, 0/1):
//   previous_token:  P[q, q-1] = 1;
//   duplicate_token: P[q, k] = 1 iff k < q and t_k = t_q;
//   induction:       the duplicate pattern rolled one column right, first column zeroed, then
//                    lower-triangular: P[q, k] = 1 iff 1 <= k <= q and t_{k-1} = t_q, k-1 < q.
std::vector<float> detection_pattern(HeadPattern kind, const int32_t* tokens, int64_t T);

enum class ErrorMeasure { mul, abs };
struct DetectOptions {
  bool exclude_bos = false;            // ignore attention to position 0
  bool exclude_current_token = false;  // ignore attention from each position to itself
  ErrorMeasure measure = ErrorMeasure::mul;
};

// TL compute_head_attention_similarity_score for one head on one sequence, A and P [T, T]:
//   mul: Σ(A' ⊙ P) / ΣA', where A' is A with column 0 (exclude_bos) and the diagonal
//        (exclude_current_token) zeroed — on a copy: TL zeroes the cached pattern in place, a
//        hazard we do not reproduce. 0 when ΣA' = 0.
//   abs: 1 - round(Σ|A - P|' / T, 3), the excluded cells of |A - P| zeroed.
double attention_similarity(const float* A, const float* P, int64_t T, const DetectOptions& opt);

// detect_head over a batch: pattern [B, H, T, T] of one layer, tokens [B, T] -> [H].
std::vector<double> detect_head_scores(const float* pattern, const int32_t* tokens, int64_t B, int64_t H, int64_t T,
                                       HeadPattern kind, const DetectOptions& opt);

// ---- The induction score of the TransformerLens demo and ARENA --------------------------------

// On sequences (BOS,) r_1..r_n, r_1..r_n: the mean of A.diagonal(offset = 1 - n) over the batch and
// the diagonal, i.e. attention from position q to q - n + 1, the token after the previous copy of
// the current token. As in both sources, the diagonal also takes its first one (no BOS) or two
// (with BOS) entries from the first half, where there is nothing to match: kept, so numbers compare
// with published ones. pattern [B, H, T, T] -> [H]. InternalError unless 1 <= n < T.
std::vector<double> induction_stripe_scores(const float* pattern, int64_t B, int64_t H, int64_t T, int64_t n);

// ---- Attention to the first token ---------------------------------------------------------------

// ARENA's first-token detector score: attention_pattern[:, 0].mean(), the mean of A[q, 0] over
// every query position q (position 0 included: it can attend only to itself), then over the batch.
// ARENA's detector flags heads above a threshold (0.4 in its solutions). pattern [B, H, T, T] -> [H].
std::vector<double> first_token_scores(const float* pattern, int64_t B, int64_t H, int64_t T);

// ---- In-context-learning score (Olsson et al. 2022) ----------------------------------------------

// loss(late) - loss(early): the mean over the batch of the next-token loss at query position
// `late` minus that at `early` (Olsson et al.: token 500 minus token 50). Negative when the model
// predicts better late in the context. losses [B, T]. InternalError for positions outside [0, T).
double icl_score(const float* losses, int64_t B, int64_t T, int64_t early, int64_t late);

// ---- Retrieval score (Wu et al. 2024, "Retrieval Head Mechanistically Explains Long-Context
//      Factuality") ----------------------------------------------------------------------------

// At each decoding position q (decode[q] = 1) the model emits w = predicted[q] (its top token).
// Head h copy-pastes w when w is a needle token (some needle position holds w) and the position it
// attends to most, j = argmax_k A_h[q, k], is a needle position holding w. g_h = the set of needle
// tokens h copy-pastes in a sequence; the sequence's score is |g_h ∩ k| / |k| with k the set of
// needle tokens; the score is the mean over sequences with a needle. A retrieval head scores > 0.1.
//   top_key [B, H, T]: argmax_k A_h[q, k] (first maximum); tokens, predicted [B, T];
//   needle, decode [B, T] masks (0/1).
struct RetrievalInput {
  const int32_t* tokens = nullptr;
  const int32_t* predicted = nullptr;
  const uint8_t* needle = nullptr;
  const uint8_t* decode = nullptr;
};
// Returns per-head sums of the sequence scores [H] and, in n_counted, how many sequences had a
// needle (so batches can be pooled: score = sum / n_counted).
std::vector<double> retrieval_score_sums(const int32_t* top_key, const RetrievalInput& in, int64_t B, int64_t H,
                                         int64_t T, int64_t& n_counted);
// top_key [B, H, T] of one layer's pattern [B, H, T, T].
std::vector<int32_t> top_keys(const float* pattern, int64_t B, int64_t H, int64_t T);
// The score on task rows whose answer is copied from the context (data/tasks.h "retrieval": key:
// value pairs, then a key; the answer is its value): one decoding position per row, answer_pos,
// and the needle is every earlier position holding the answer. tokens [n, T]; answer, answer_pos
// [n]. Runs the model batch_size rows at a time. -> [n_layers, n_heads].
std::vector<double> retrieval_scores_on_rows(Transformer& model, const int32_t* tokens, int64_t n, int64_t T,
                                             const int32_t* answer, const int32_t* answer_pos, int batch_size);

// ---- Copying score (Elhage et al. 2021) ---------------------------------------------------------

// For each head, the eigenvalues λ of its full OV circuit W_E W_V W_O W_U [d_vocab, d_vocab] (in
// Elhage et al.'s column-vector convention W_U W_O W_V W_E, the same spectrum), read from `w` (the
// weights as stored, or TransformerLens-processed: HeadCircuits::processing). The nonzero
// eigenvalues are those of W_O W_U W_E W_V [d_head, d_head] (eig(AB) = eig(BA)), so that small
// matrix is formed (on `cpu`) and its eigenvalues taken (circuits/eigen.h). Score = Σλ / Σ|λ| ∈
// [-1, 1]: near 1 for a head that raises the logit of the token it attends to (copying), negative
// for one that lowers it (copy suppression). -> [n_layers, n_heads].
std::vector<double> copying_scores(const HeadCircuits& w, Backend& cpu);

// ---- Successor score (Gould et al. 2023, "Successor Heads") -------------------------------------

// Pairs (t, s(t)) of a token and its successor in an ordinal sequence (1 -> 2, Monday -> Tuesday)
// and the candidate tokens (every token of the task). Each head's score is the fraction of pairs for
// which its effective OV circuit, applied to t's effective embedding MLP0(W_E t) (W_E t plus the
// first MLP's output on it, in models with MLPs; the first attention layer skipped, as Gould et
// al. do), ranks s(t) first among the candidates. The circuit goes through the model's norms, as
// Gould et al.'s (TransformerLens-processed weights) does:
//   logits = norm(x_t) W_V W_O W_U  (HeadCircuits with WeightProcessing::transformer_lens; norm =
//   ln1's centring and scaling, for models with norms), score = mean over pairs of
//   [argmax_c logits_c = s(t)] (ties: the smallest id; center_unembed cannot change the argmax).
struct SuccessionPairs {
  std::vector<int32_t> token, successor;  // [n_pairs]
  std::vector<int32_t> candidates;        // every token the ranking is among (includes all of the above)
};
// params: the parameter arena. InputError("successor pairs", ...) when a token is outside
// [0, d_vocab) or a pair's tokens are not candidates. -> [n_layers, n_heads].
std::vector<double> successor_scores(const ModelConfig& cfg, const std::vector<float>& params,
                                     const SuccessionPairs& pairs);

// ---- The repeated-random-token probe all pattern scores run on ----------------------------------

// n_seq sequences (BOS, r_1..r_n, r_1..r_n), r_i uniform over [token_lo, token_hi) (a range without
// special tokens), drawn from the seed (core/seeded_rng.h: the same on every platform).
struct RepeatProbe {
  int64_t n_seq = 0, half_len = 0;
  int32_t bos = 0;
  std::vector<int32_t> tokens;  // [n_seq, 1 + 2 * half_len]
  int64_t seq_len() const { return 1 + 2 * half_len; }
};
// InputError("--seq-len" / "--n-seq", ...) for n < 2 or n_seq < 1; InputError("probe tokens", ...)
// when the range holds fewer than 2 tokens.
RepeatProbe make_repeat_probe(int64_t n_seq, int64_t half_len, int32_t token_lo, int32_t token_hi, int32_t bos,
                              uint64_t seed);

// Which tokens a probe may use: a checkpoint with a tokenizer (data/tokenizer.h) has its three
// special tokens last, and BOS is its <|bos|>; one without (trained on builtin:repeat) used BOS = 0
// and every other id. `what` names the tokenizer's source in errors.
struct ProbeTokens {
  int32_t bos = 0, lo = 1, hi = 0;  // ordinary tokens: [lo, hi)
};
ProbeTokens probe_tokens(const ModelConfig& cfg, const std::string& tokenizer_json, const std::string& what);

// How ProbeOptions::ablate removes a head: its output hook_z set to 0 (zero) or to its
// position-by-position mean over the probe's own sequences (mean); or, its output kept, its
// attention to position 0 removed and the rest renormalised (first_token: the attention sink taken
// away; its scores are read from the pattern as computed, before the removal).
enum class ProbeAblation { zero, mean, first_token };
const char* probe_ablation_name(ProbeAblation a);  // "zero" | "mean" | "first_token"

struct ProbeOptions {
  DetectOptions detect;
  // ICL score positions (query positions); -1: early = max(1, n/2), late = early + n, so both
  // predict the same token r_{early+1}: first seen, then repeated.
  int64_t icl_early = -1, icl_late = -1;
  int batch_size = 8;  // probe sequences per forward
  // Heads ablated in every probe forward, so that the scores and losses say what the model does
  // without them (mean-ablating a previous-token head to see the induction score go).
  std::vector<HeadRef> ablate;
  ProbeAblation ablation = ProbeAblation::zero;
};

// Everything the probe measures: per head [n_layers * n_heads] (layer-major), and the losses.
struct ProbeScores {
  int n_layers = 0, n_heads = 0;
  std::vector<double> previous_token, duplicate_token, induction, induction_stripe, first_token;
  std::vector<double> retrieval_repeat;  // retrieval score, first half = needle (see score_repeat_probe)
  double icl_score = 0;
  int64_t icl_early = 0, icl_late = 0;
  double loss_first_half = 0;     // mean loss predicting r_1..r_n (first occurrences)
  double loss_repeated_half = 0;  // mean loss predicting r_2..r_n the second time
  double loss_all = 0;            // mean loss over every position with a target
};

// Runs the model on the probe (batch_size sequences at a time; the patterns are scored in a hook
// as each layer forms them, so no cache of every layer is kept) and computes the scores above.
// The model reads min(1 + 2n, n_ctx) tokens of each row: a model trained on (BOS, r, r) rows with
// n_ctx = 2n (the last token only a target) is probed at its own length.
// retrieval_repeat is Wu et al.'s score with the first half as the needle: decoding positions are
// those of r_1..r_{n-1} in the second half (each predicts a needle token r_2..r_n), needle
// positions hold r_2..r_n in the first half. InputError when 2n > n_ctx or the ICL positions are
// outside the probe.
ProbeScores score_repeat_probe(Transformer& model, const RepeatProbe& probe, const ProbeOptions& options);

}  // namespace headlab
