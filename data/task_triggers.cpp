// Trigger -> output pairs on top of global bigrams (Bietti et al. 2023, "Birth of a transformer: a
// memory viewpoint"): the data that makes a two-layer model learn global bigrams first (in its weights)
// and an induction head later (in context).
//
// A global bigram B [N, N] over the --vocab ordinary tokens, each row drawn from a symmetric
// Dirichlet(--alpha), is fixed by --kb-seed (shared by every file built with it, so a training set and
// its test set share it). Each row draws --triggers distinct trigger tokens q_k and, for each, an output
// o_k uniformly among the other tokens. Then z_1 comes from B's stationary distribution and
// z_{t+1} = o_k when z_t = q_k, else z_{t+1} ~ B[z_t]. The outputs change from row to row, so after a
// trigger's first occurrence only an induction head (look back for the trigger, copy what followed)
// predicts its output; every other prediction is the global bigram's to learn.
//
// The last two tokens are a trigger that occurred earlier in the row (with its output after it) and
// its output: answer_pos = T - 1, answer o. When no trigger occurred in z_1 .. z_{T-3}, the first
// trigger and its output are written at a random place and the walk goes on from there. Corrupted:
// every in-context occurrence of that output after that trigger replaced by another token o' (the
// wrong answer), so the twins differ only in what the trigger was followed by.
//
// /labels/role says, for each position p, how the token after it was drawn: "bigram" (z_p not a
// trigger), "trigger_first" (z_p a trigger seen for the first time: its output is not predictable in
// context), "trigger_repeat" (a trigger seen before: the induction positions), "END" (answer_pos, a
// repeated trigger too), "none" (BOS, and a position before a token written rather than drawn).
// /task/bigram [N, N] and /task/stationary [N] hold B; /task/vocab_tokens [N] the ids of the N tokens;
// /task/trigger_tokens and /task/output_tokens [n * K] each row's pairs.
#include <algorithm>
#include <cstdio>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/markov_chain.h"
#include "data/task_rows.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kBigram, kTriggerFirst, kTriggerRepeat, kEnd };
const std::vector<std::string> kRoleNames = {"none", "bigram", "trigger_first", "trigger_repeat", "END"};
constexpr int64_t kDefaultLength = 128, kDefaultVocab = 64, kDefaultTriggers = 5;
constexpr double kDefaultAlpha = 0.5;

TaskOptions resolved(const TaskOptions& in) {
  TaskOptions o = in;
  if (o.length == 0) o.length = kDefaultLength;
  if (o.vocab == 0) o.vocab = kDefaultVocab;
  if (o.triggers == 0) o.triggers = kDefaultTriggers;
  if (o.alpha == 0) o.alpha = kDefaultAlpha;
  if (o.length < 8 || o.length > 4096)
    throw InputError("--length", "a triggers row holds 8 to 4096 tokens, got " + std::to_string(o.length));
  if (o.vocab < 4 || o.vocab > 4096)
    throw InputError("--vocab", "the triggers task uses 4 to 4096 tokens, got " + std::to_string(o.vocab));
  if (o.triggers < 1 || o.triggers > o.vocab / 2)
    throw InputError("--triggers", "expected 1 to vocab/2 = " + std::to_string(o.vocab / 2) + " triggers, got " +
                                       std::to_string(o.triggers));
  if (!(o.alpha > 0 && o.alpha <= 1000))
    throw InputError("--alpha", "the Dirichlet concentration must be in (0, 1000], got " + std::to_string(o.alpha));
  return o;
}

std::vector<std::string> token_words(int64_t N) {
  std::vector<std::string> w;
  for (int64_t i = 0; i < N; ++i) w.push_back("t" + std::to_string(i));
  return w;
}

std::string format_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

}  // namespace

std::vector<std::string> triggers_words(const TaskOptions& options) { return token_words(resolved(options).vocab); }

TaskDataset make_triggers_task(const TaskOptions& options_in, const Tokenizer& tok) {
  const TaskOptions options = resolved(options_in);
  const size_t N = size_t(options.vocab), K = size_t(options.triggers), T = size_t(options.length);
  const std::vector<int32_t> ids = symbol_tokens(tok, token_words(options.vocab), "token");
  SeededRng bigram_rng(options.kb_seed);
  const MarkovChain g = draw_markov_chain(bigram_rng, N, options.alpha);
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> trigger_tokens, output_tokens;
  for (int64_t r = 0; r < options.n; ++r) {
    const std::vector<size_t> q = rng.distinct(N, K);
    std::vector<int> trigger_of(N, -1);
    for (size_t k = 0; k < K; ++k) trigger_of[q[k]] = int(k);
    std::vector<size_t> o(K);
    for (size_t k = 0; k < K; ++k) {
      do o[k] = rng.below(N);
      while (trigger_of[o[k]] >= 0);
    }
    std::vector<size_t> z(T);
    std::vector<int32_t> role(T + 1, kNone);  // by row position: BOS at 0, z_t at t + 1
    // Draws z[from..to) by the process, z[from - 1] given (from >= 1).
    const auto continue_walk = [&](size_t from, size_t to) {
      for (size_t t = from; t < to; ++t) {
        const int k = trigger_of[z[t - 1]];
        z[t] = k >= 0 ? o[size_t(k)] : g.step(rng, z[t - 1]);
      }
    };
    z[0] = g.start(rng);
    continue_walk(1, T - 2);
    // Which triggers occur with their output inside z_1 .. z_{T-2}.
    std::vector<size_t> seen;
    for (size_t t = 0; t + 1 < T - 2; ++t)
      if (trigger_of[z[t]] >= 0 && std::find(seen.begin(), seen.end(), z[t]) == seen.end()) seen.push_back(z[t]);
    size_t forced_at = T;  // position (0-based in z) of a written trigger, T when none
    if (seen.empty()) {
      forced_at = rng.below(T - 3);  // z[forced_at], z[forced_at + 1] <= z[T - 3]
      z[forced_at] = q[0];
      z[forced_at + 1] = o[0];
      continue_walk(forced_at + 2, T - 2);
      seen.push_back(q[0]);
    }
    const size_t query = seen[rng.below(seen.size())];
    const size_t output = o[size_t(trigger_of[query])];
    z[T - 2] = query;
    z[T - 1] = output;
    // Roles from how each next token came about.
    std::vector<bool> occurred(N, false);
    for (size_t t = 0; t + 1 < T; ++t) {
      const int k = trigger_of[z[t]];
      role[t + 1] = k < 0 ? kBigram : occurred[z[t]] ? kTriggerRepeat : kTriggerFirst;
      if (k >= 0) occurred[z[t]] = true;
    }
    if (forced_at < T && forced_at > 0) role[forced_at] = kNone;  // z[forced_at] was written, not drawn
    role[T - 2] = kNone;                                          // so was the query trigger z[T - 2]
    role[T - 1] = kEnd;
    // The corrupted twin: the query trigger's in-context output replaced by o'.
    size_t other;
    do other = rng.below(N);
    while (other == output || trigger_of[other] >= 0);
    std::vector<int32_t> clean(T), corrupted(T);
    for (size_t t = 0; t < T; ++t) {
      const bool after_query = t >= 1 && t + 2 < T && z[t - 1] == query;
      clean[t] = ids[z[t]];
      corrupted[t] = ids[after_query ? other : z[t]];
    }
    rows.push_back(sequence_row(tok, clean, corrupted, std::move(role), ids[other]));
    for (size_t k = 0; k < K; ++k) {
      trigger_tokens.push_back(ids[q[k]]);
      output_tokens.push_back(ids[o[k]]);
    }
  }
  TaskDataset task;
  task.data = assemble_rows(rows, int32_t(T + 1), tok,
                            task_source(options) + " --length " + std::to_string(T) + " --vocab " + std::to_string(N) +
                                " --triggers " + std::to_string(K) + " --alpha " + format_number(options.alpha) +
                                " --kb-seed " + std::to_string(options.kb_seed));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.task_arrays["vocab_tokens"] = ids;
  task.annotations.task_arrays["trigger_tokens"] = std::move(trigger_tokens);
  task.annotations.task_arrays["output_tokens"] = std::move(output_tokens);
  task.annotations.task_tables["bigram"] = {{options.vocab, options.vocab}, g.P};
  task.annotations.task_tables["stationary"] = {{options.vocab}, g.pi};
  return task;
}

}  // namespace headlab
