// Markov chains for in-context learning (Edelman et al. 2024, "The evolution of statistical induction
// heads"): every row is a chain of its own. Its transition matrix P has rows drawn independently from a
// symmetric Dirichlet(alpha) over the --states states; the first state comes from P's stationary
// distribution and each next one from P[current]. A model can only predict well by estimating P from
// the row itself: uniform -> in-context unigram -> in-context bigram, the last one Bayes-optimal
// under the prior: p(next = j | current i) = (n_ij + alpha) / (n_i + K alpha) over the row's
// transitions so far. The file keeps P (/task/transitions [n, K, K]), the stationary distribution
// (/task/stationary [n, K]) and the states' token ids (/task/state_tokens [K]) so that the strategies
// and the truth can be computed from it alone.
//
// Row: BOS, x_1 .. x_T (T = --length), every state's prediction trained. answer_pos = T - 1 (the
// prediction of x_T), answer x_T, wrong a uniformly chosen other state. Corrupted: x_1 .. x_{T-2} from
// another chain (a fresh P), x_{T-1} and x_T kept, so the twins differ only in the statistics of the
// context.

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/markov_chain.h"
#include "data/task_rows.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kState, kEnd };
const std::vector<std::string> kRoleNames = {"none", "state", "END"};
constexpr int64_t kDefaultLength = 100, kDefaultStates = 3;
constexpr double kDefaultAlpha = 1.0;

TaskOptions resolved(const TaskOptions& in) {
  TaskOptions o = in;
  if (o.length == 0) o.length = kDefaultLength;
  if (o.states == 0) o.states = kDefaultStates;
  if (o.alpha == 0) o.alpha = kDefaultAlpha;
  if (o.length < 3 || o.length > 4096)
    throw InputError("--length", "a Markov row holds 3 to 4096 states, got " + std::to_string(o.length));
  if (o.states < 2 || o.states > 64)
    throw InputError("--states", "a chain has 2 to 64 states, got " + std::to_string(o.states));
  if (!(o.alpha > 0 && o.alpha <= 1000))
    throw InputError("--alpha", "the Dirichlet concentration must be in (0, 1000], got " + std::to_string(o.alpha));
  return o;
}

std::vector<size_t> walk(SeededRng& rng, const MarkovChain& c, size_t T) {
  std::vector<size_t> x(T);
  x[0] = c.start(rng);
  for (size_t t = 1; t < T; ++t) x[t] = c.step(rng, x[t - 1]);
  return x;
}

std::vector<std::string> state_words(int64_t K) {
  std::vector<std::string> w;
  for (int64_t i = 0; i < K; ++i) w.push_back("s" + std::to_string(i));
  return w;
}

}  // namespace

std::vector<std::string> markov_words(const TaskOptions& options) { return state_words(resolved(options).states); }

TaskDataset make_markov_task(const TaskOptions& options_in, const Tokenizer& tok) {
  const TaskOptions options = resolved(options_in);
  const size_t K = size_t(options.states), T = size_t(options.length);
  const std::vector<int32_t> ids = symbol_tokens(tok, state_words(options.states), "state");
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  TaskTable transitions{{options.n, options.states, options.states}, {}};
  TaskTable stationary{{options.n, options.states}, {}};
  for (int64_t r = 0; r < options.n; ++r) {
    const MarkovChain chain = draw_markov_chain(rng, K, options.alpha);
    const std::vector<size_t> x = walk(rng, chain, T);
    const MarkovChain other = draw_markov_chain(rng, K, options.alpha);
    std::vector<size_t> y = walk(rng, other, T);
    y[T - 2] = x[T - 2];
    y[T - 1] = x[T - 1];
    const size_t wrong = (x[T - 1] + 1 + rng.below(K - 1)) % K;
    std::vector<int32_t> clean(T), corrupted(T), role(T + 1, kState);
    for (size_t t = 0; t < T; ++t) {
      clean[t] = ids[x[t]];
      corrupted[t] = ids[y[t]];
    }
    role[0] = kNone;
    role[T - 1] = kEnd;
    rows.push_back(sequence_row(tok, clean, corrupted, std::move(role), ids[wrong]));
    transitions.values.insert(transitions.values.end(), chain.P.begin(), chain.P.end());
    stationary.values.insert(stationary.values.end(), chain.pi.begin(), chain.pi.end());
  }
  TaskDataset task;
  task.data = assemble_rows(rows, int32_t(T + 1), tok,
                            task_source(options) + " --length " + std::to_string(T) + " --states " + std::to_string(K) +
                                " --alpha " + std::to_string(options.alpha));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.task_arrays["state_tokens"] = ids;
  task.annotations.task_tables["transitions"] = std::move(transitions);
  task.annotations.task_tables["stationary"] = std::move(stationary);
  return task;
}

}  // namespace headlab
