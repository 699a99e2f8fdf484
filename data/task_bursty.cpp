// Bursty in-context classification (Reddy 2024, "The mechanistic basis of data dependence and abrupt
// learning in an in-context classification task"; Chan et al. 2022): --pairs exemplar-label pairs, then
// a query exemplar whose label is the answer.
//
// Reddy's items are D-dimensional Gaussian vectors around a class mean; here an item is a token. Each
// class is a cluster of --exemplars tokens (its exemplars: an item is one of them, uniformly), which
// stands for the within-class noise: with M exemplars a query repeats the very token of a context item
// of its class only part of the time. --classes training classes each have a label (one of --labels
// label tokens, balanced, fixed by --kb-seed); --novel-classes more classes never appear in training
// rows (their tokens exist in the vocabulary, so every split shares one tokenizer).
//
// --burstiness B >= 1: the context holds pairs/B classes, B items of each (in random order), and the
// query's class is one of them; B = 0: every context class and the query's class i.i.d. uniform (the
// query's class is then rarely in the context). Splits:
//   train: training classes, their fixed labels;
//   ic:    novel classes, bursty (B >= 1 required), each context class given a random label for the row
//          (distinct within the row): only in-context learning answers. With tokens for items, a novel
//          class's exemplars are tokens no training row holds (their embeddings stay at their random
//          initialisation), so a query that is another exemplar than its context items cannot be matched
//          to them: Reddy's novel Gaussian items still lie in the space the network was trained on;
//   ic_swap: training classes, bursty, each context class given a random label for the row other than
//          its own (distinct within the row; Reddy's second in-context test, labels swapped): only
//          in-context learning answers, and in-weights learning answers wrong;
//   iwl:   training classes with their labels, the query's class absent from the context: only
//          in-weights learning answers.
// Row: BOS, x_1 l_1 ... x_N l_N, x_q, l_q; answer_pos = 2N + 1 (the query), only the answer trained.
// Corrupted: the query replaced by an exemplar of another class whose label in the row differs (an
// in-context one where the query's class is in context), the wrong answer that class's label.
// /task/query_class [n] (novel classes numbered from --classes on), /task/class_labels [classes] (the
// training classes' label indices), /task/label_tokens [labels].
#include <algorithm>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kItem, kLabel, kEnd };
const std::vector<std::string> kRoleNames = {"none", "item", "label", "END"};
constexpr int64_t kDefaultPairs = 8, kDefaultClasses = 128, kDefaultNovel = 64, kDefaultExemplars = 2,
                  kDefaultLabels = 16, kDefaultBurstiness = 4;

TaskOptions resolved(const TaskOptions& in) {
  TaskOptions o = in;
  if (o.pairs == 0) o.pairs = kDefaultPairs;
  if (o.classes == 0) o.classes = kDefaultClasses;
  if (o.novel_classes == 0) o.novel_classes = kDefaultNovel;
  if (o.exemplars == 0) o.exemplars = kDefaultExemplars;
  if (o.labels == 0) o.labels = kDefaultLabels;
  if (o.burstiness < 0) o.burstiness = kDefaultBurstiness;
  if (o.pairs < 1 || o.pairs > 256)
    throw InputError("--pairs", "a bursty row holds 1 to 256 context pairs, got " + std::to_string(o.pairs));
  if (o.labels < 2 || o.labels > 4096)
    throw InputError("--labels", "expected 2 to 4096 labels, got " + std::to_string(o.labels));
  if (o.classes < 2 || o.classes > 100000)
    throw InputError("--classes", "expected 2 to 100000 training classes, got " + std::to_string(o.classes));
  if (o.novel_classes < 2 || o.novel_classes > 100000)
    throw InputError("--novel-classes", "expected 2 to 100000 novel classes, got " + std::to_string(o.novel_classes));
  if (o.exemplars < 1 || o.exemplars > 64)
    throw InputError("--exemplars", "expected 1 to 64 exemplar tokens per class, got " + std::to_string(o.exemplars));
  if ((o.classes + o.novel_classes) * o.exemplars > 1'000'000)
    throw InputError("--exemplars", "(classes + novel classes) x exemplars must stay under 1,000,000 tokens");
  if (o.burstiness > o.pairs || (o.burstiness > 0 && o.pairs % o.burstiness != 0))
    throw InputError("--burstiness", "must divide --pairs (" + std::to_string(o.pairs) + "), or be 0, got " +
                                         std::to_string(o.burstiness));
  if (o.split != "train" && o.split != "ic" && o.split != "ic_swap" && o.split != "iwl")
    throw InputError("--split", "the bursty task's splits are train, ic, ic_swap and iwl, got '" + o.split + "'");
  const int64_t in_context = o.burstiness > 0 ? o.pairs / o.burstiness : 0;
  if (o.split == "ic" || o.split == "ic_swap") {
    if (o.burstiness == 0)
      throw InputError("--burstiness",
                       "the " + o.split + " split needs the query's class in the context: give 1 or more");
    if (in_context > o.labels || (o.split == "ic" && in_context > o.novel_classes))
      throw InputError("--split", "ic gives each of the " + std::to_string(in_context) +
                                      " context classes its own label and novel class: needs that many of each");
    // Each context class needs a label of its own that is not its fixed one.
    if (o.split == "ic_swap" && in_context + 1 > o.labels)
      throw InputError("--labels", "ic_swap gives each of the " + std::to_string(in_context) +
                                       " context classes another label than its own: needs at least " +
                                       std::to_string(in_context + 1) + " labels");
  }
  if (in_context > o.classes || (o.split == "iwl" && o.classes < 2))
    throw InputError("--classes", "too few classes for " + std::to_string(in_context) + " per row");
  return o;
}

std::vector<std::string> item_words(const TaskOptions& o) {
  std::vector<std::string> w;
  for (int64_t c = 0; c < o.classes; ++c)
    for (int64_t m = 0; m < o.exemplars; ++m) w.push_back("c" + std::to_string(c) + "x" + std::to_string(m));
  for (int64_t c = 0; c < o.novel_classes; ++c)
    for (int64_t m = 0; m < o.exemplars; ++m) w.push_back("n" + std::to_string(c) + "x" + std::to_string(m));
  return w;
}

std::vector<std::string> label_words(const TaskOptions& o) {
  std::vector<std::string> w;
  for (int64_t l = 0; l < o.labels; ++l) w.push_back("L" + std::to_string(l));
  return w;
}

}  // namespace

std::vector<std::string> bursty_words(const TaskOptions& options_in) {
  const TaskOptions o = resolved(options_in);
  std::vector<std::string> w = item_words(o);
  for (const std::string& l : label_words(o)) w.push_back(l);
  return w;
}

TaskDataset make_bursty_task(const TaskOptions& options_in, const Tokenizer& tok) {
  const TaskOptions o = resolved(options_in);
  const std::vector<int32_t> item_ids = symbol_tokens(tok, item_words(o), "item");
  const std::vector<int32_t> label_ids = symbol_tokens(tok, label_words(o), "label");
  const size_t K = size_t(o.classes), Kn = size_t(o.novel_classes), M = size_t(o.exemplars), L = size_t(o.labels),
               N = size_t(o.pairs), B = size_t(o.burstiness);
  // Balanced labels: class c gets label perm[c] % L for a seeded permutation of the classes.
  std::vector<int32_t> class_label(K);
  {
    SeededRng kb(o.kb_seed);
    std::vector<size_t> perm(K);
    for (size_t c = 0; c < K; ++c) perm[c] = c;
    kb.shuffle(perm);
    for (size_t c = 0; c < K; ++c) class_label[c] = int32_t(perm[c] % L);
  }
  const bool novel = o.split == "ic";
  const bool row_labelled = novel || o.split == "ic_swap";  // labels drawn for each row
  SeededRng rng(o.seed);
  const auto exemplar = [&](size_t cls) {  // cls numbered over training then novel classes
    return item_ids[cls * M + rng.below(M)];
  };
  std::vector<TaskRow> rows;
  std::vector<int32_t> query_class;
  for (int64_t r = 0; r < o.n; ++r) {
    std::vector<size_t> ctx(N);     // class of each context item
    std::vector<int32_t> label_of;  // label index by position in `classes`
    std::vector<size_t> classes;    // the row's distinct context classes (bursty) or all drawn
    size_t q = 0;
    if (o.split == "iwl") {
      q = rng.below(K);
      for (size_t i = 0; i < N; ++i) {
        do ctx[i] = rng.below(K);
        while (ctx[i] == q);
      }
    } else if (B == 0) {
      for (size_t i = 0; i < N; ++i) ctx[i] = rng.below(K);
      q = rng.below(K);
    } else {
      const std::vector<size_t> drawn = rng.distinct(novel ? Kn : K, N / B);
      for (size_t i = 0; i < N; ++i) ctx[i] = drawn[i / B] + (novel ? K : 0);
      rng.shuffle(ctx);
      q = drawn[rng.below(drawn.size())] + (novel ? K : 0);
    }
    // Labels: the row's own for its context classes in ic and ic_swap (distinct within the row; in
    // ic_swap never a class's fixed label), else the training classes' fixed ones.
    std::vector<std::pair<size_t, int32_t>> row_labels;  // class -> label index
    const auto label = [&](size_t cls) -> int32_t {
      for (const auto& [c, l] : row_labels)
        if (c == cls) return l;
      if (cls < K) return class_label[cls];
      throw InternalError("bursty: a novel class without a label");
    };
    if (row_labelled) {
      std::vector<size_t> distinct_classes;
      for (size_t c : ctx)
        if (std::find(distinct_classes.begin(), distinct_classes.end(), c) == distinct_classes.end())
          distinct_classes.push_back(c);
      if (novel) {
        const std::vector<size_t> labels = rng.distinct(L, distinct_classes.size());
        for (size_t i = 0; i < distinct_classes.size(); ++i)
          row_labels.push_back({distinct_classes[i], int32_t(labels[i])});
      } else {
        // Labels in a random order, each class taking the first one left that is not its own: there are
        // more labels than classes, so one is always left.
        std::vector<size_t> order(L);
        for (size_t l = 0; l < L; ++l) order[l] = l;
        rng.shuffle(order);
        std::vector<bool> taken(L, false);
        for (size_t c : distinct_classes) {
          size_t pick = 0;
          while (taken[order[pick]] || int32_t(order[pick]) == class_label[c]) ++pick;
          taken[order[pick]] = true;
          row_labels.push_back({c, int32_t(order[pick])});
        }
      }
    }
    // The corrupted query: another class with a different label, from the context where the query's
    // class is there, else any training class.
    const bool in_context = std::find(ctx.begin(), ctx.end(), q) != ctx.end();
    std::vector<size_t> candidates;
    if (in_context)
      for (size_t c : ctx)
        if (label(c) != label(q) && std::find(candidates.begin(), candidates.end(), c) == candidates.end())
          candidates.push_back(c);
    size_t decoy;
    if (!candidates.empty()) {
      decoy = candidates[rng.below(candidates.size())];
    } else {
      // No in-context class with another label (one context class, or B = 0 / iwl with the query's
      // class out of the context): another training class whose label differs from the query's label.
      do decoy = rng.below(K);
      while (decoy == q || label(decoy) == label(q));
    }
    RowBuilder row(tok);
    row.bos();
    for (size_t i = 0; i < N; ++i) {
      row.same(exemplar(ctx[i]), kItem);
      row.same(label_ids[size_t(label(ctx[i]))], kLabel);
    }
    row.differing(exemplar(q), exemplar(decoy));
    row.answer(label_ids[size_t(label(q))], label_ids[size_t(label(decoy))], kEnd);
    rows.push_back(row.finish());
    query_class.push_back(int32_t(q));
  }
  TaskDataset task;
  task.data = assemble_rows(rows, int32_t(2 * N + 3), tok,
                            task_source(o) + " --split " + o.split + " --pairs " + std::to_string(N) + " --classes " +
                                std::to_string(K) + " --novel-classes " + std::to_string(Kn) + " --exemplars " +
                                std::to_string(M) + " --labels " + std::to_string(L) + " --burstiness " +
                                std::to_string(B) + " --kb-seed " + std::to_string(o.kb_seed));
  task.annotations = task_annotations(o, tok, kRoleNames);
  task.annotations.task_arrays["query_class"] = std::move(query_class);
  task.annotations.task_arrays["class_labels"] = class_label;
  task.annotations.task_arrays["label_tokens"] = label_ids;
  return task;
}

}  // namespace headlab
