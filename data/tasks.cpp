#include "data/tasks.h"

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/word_tokenizer.h"

namespace headlab {
namespace {

using MakeTask = TaskDataset (*)(const TaskOptions&, const Tokenizer&);
using TaskWords = std::vector<std::string> (*)(const TaskOptions&);

struct TaskEntry {
  TaskInfo info;
  MakeTask make;
  TaskWords words;
};

const std::vector<TaskEntry>& registry() {
  static const std::vector<TaskEntry> entries = {
      {{"induction", "BOS, a random sequence, the sequence again; corrupted: second half fresh tokens"},
       make_induction_task,
       [](const TaskOptions&) { return induction_words(); }},
      {{"ioi", "indirect object identification, ABBA and BABA; corrupted: ABC (S2 replaced by a third name)"},
       make_ioi_task,
       [](const TaskOptions&) { return ioi_words(); }},
      {{"successor", "numbers, weekdays, months, letters in order; corrupted: the same items shuffled"},
       make_successor_task,
       [](const TaskOptions&) { return successor_words(); }},
      {{"greater_than", "'The war lasted from the year 1732 to the year 17'; corrupted: start year XX01"},
       make_greater_than_task,
       [](const TaskOptions&) { return greater_than_words(); }},
      {{"facts", "a synthetic knowledge base as sentences; held-out question forms (--split test)"},
       make_facts_task,
       [](const TaskOptions&) { return facts_words(); }},
      {{"retrieval", "key: value pairs, then a key; answer its value; corrupted: another key queried"},
       make_retrieval_task,
       [](const TaskOptions&) { return retrieval_words(); }},
      {{"markov", "Markov chains, each row's transition rows drawn from a Dirichlet; /task/transitions"},
       make_markov_task,
       markov_words},
      {{"triggers", "global bigrams plus per-row trigger -> output pairs; second trigger occurrences labelled"},
       make_triggers_task,
       triggers_words},
      {{"bursty", "exemplar-label pairs, then a query exemplar; answer its label (bursty, novel classes)"},
       make_bursty_task,
       bursty_words},
      {{"parity", "bits, EOI, their parity (no chain of thought)"}, make_parity_task, parity_words},
      {{"parity_cot", "bits, EOI, the running parities (chain of thought); /labels/attend_target"},
       make_parity_cot_task,
       parity_words},
  };
  return entries;
}

const TaskEntry& find_task(const std::string& name) {
  std::string known;
  for (const TaskEntry& e : registry()) {
    if (e.info.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.info.name;
  }
  throw InputError("task", "unknown task '" + name + "' (expected one of " + known + ")");
}

}  // namespace

const std::vector<TaskInfo>& task_list() {
  static const std::vector<TaskInfo> list = [] {
    std::vector<TaskInfo> l;
    for (const TaskEntry& e : registry()) l.push_back(e.info);
    return l;
  }();
  return list;
}

std::unique_ptr<Tokenizer> default_task_tokenizer(const std::string& name) {
  TaskOptions options;
  options.name = name;
  return default_task_tokenizer(options);
}

std::unique_ptr<Tokenizer> default_task_tokenizer(const TaskOptions& options) {
  return std::make_unique<WordTokenizer>(WordTokenizer::from_texts(find_task(options.name).words(options)));
}

TaskDataset make_task(const TaskOptions& options, const Tokenizer& tokenizer) {
  const TaskEntry& entry = find_task(options.name);
  if (options.n <= 0) throw InputError("--n", "the number of rows must be positive, got " + std::to_string(options.n));
  if (options.n > 10'000'000) throw InputError("--n", "at most 10,000,000 rows, got " + std::to_string(options.n));
  // A task's row length does not depend on n (rows are padded to the longest template), so one row
  // built first tells what n rows would take, before they are allocated.
  TaskOptions one = options;
  one.n = 1;
  const int64_t row = entry.make(one, tokenizer).data.seq_len;
  if (double(options.n) * double(row) > double(kMaxBuiltTokens))
    throw InputError("--n", std::to_string(options.n) + " rows of " + std::to_string(row) + " tokens exceed the " +
                                std::to_string(kMaxBuiltTokens) +
                                " tokens one file may hold; write fewer rows per file");
  TaskDataset task = entry.make(options, tokenizer);
  task.data.validate("task " + options.name);
  return task;
}

std::string task_source(const TaskOptions& options) {
  return "headlab-data task " + options.name + " --n " + std::to_string(options.n) + " --seed " +
         std::to_string(options.seed);
}

DatasetAnnotations task_annotations(const TaskOptions& options, const Tokenizer& tokenizer,
                                    std::vector<std::string> role_names) {
  DatasetAnnotations a;
  a.attributes["task"] = options.name;
  nlohmann::json o = {
      {"n", options.n}, {"seed", options.seed}, {"tokenizer_type", tokenizer_kind_name(tokenizer.kind())}};
  if (options.name == "induction" || options.name == "successor") o["length"] = options.length;
  if (options.name == "retrieval") o["pairs"] = options.pairs;
  if (options.name == "facts") {
    o["split"] = options.split;
    o["subjects"] = options.subjects;
    o["kb_seed"] = options.kb_seed;
  }
  if (options.name == "markov") {
    o["length"] = options.length;
    o["states"] = options.states;
    o["alpha"] = options.alpha;
  }
  if (options.name == "triggers") {
    o["length"] = options.length;
    o["vocab"] = options.vocab;
    o["triggers"] = options.triggers;
    o["alpha"] = options.alpha;
    o["kb_seed"] = options.kb_seed;
  }
  if (options.name == "bursty") {
    o["split"] = options.split;
    o["pairs"] = options.pairs;
    o["classes"] = options.classes;
    o["novel_classes"] = options.novel_classes;
    o["exemplars"] = options.exemplars;
    o["labels"] = options.labels;
    o["burstiness"] = options.burstiness;
    o["kb_seed"] = options.kb_seed;
  }
  if (options.name == "parity" || options.name == "parity_cot") o["length"] = options.length;
  a.attributes["task_options"] = o.dump();
  a.label_names["role"] = std::move(role_names);
  return a;
}

}  // namespace headlab
