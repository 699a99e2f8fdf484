// The task suites used by interpretability studies, each a sequences dataset of prompts with corrupted
// twins (data/task_rows.h): induction, ioi, successor, greater_than, facts, retrieval; and the synthetic
// training distributions of in-context-learning studies: markov, triggers, bursty, parity, parity_cot.
//
// Every row starts with BOS and ends with the answer token at answer_pos + 1; rows are padded with PAD
// to the longest row any of the task's templates can make, so the row length does not depend on n or
// the seed. Each task adds a "role" label naming the positions a study patches (IO, S1, S2, END ...),
// with the names in the dataset's label_names attribute.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "data/tokenizer.h"

namespace headlab {

struct TaskOptions {
  std::string name;
  int64_t n = 0;  // rows
  uint64_t seed = 0;
  int64_t length = 0;           // induction: length of the repeated sequence (default 16);
                                // successor: items in the prompt (default 4, 2..6)
  int64_t pairs = 0;            // retrieval: key-value pairs in the context (default 20)
  std::string split = "train";  // facts: train | test
  int64_t subjects = 0;         // facts: people in the knowledge base (default 100)
  uint64_t kb_seed = 1234;      // facts: the knowledge base's own seed, shared by its train and test splits;
                                // triggers: the global bigram's; bursty: the class -> label map's
  // 0 means the task's default in every field below.
  int64_t states = 0;         // markov: states of each chain (3)
  double alpha = 0;           // markov: Dirichlet concentration of each transition row (1);
                              // triggers: of each row of the global bigram (0.5)
  int64_t vocab = 0;          // triggers: ordinary tokens (64)
  int64_t triggers = 0;       // triggers: trigger -> output pairs per row (5)
  int64_t classes = 0;        // bursty: training classes (128)
  int64_t novel_classes = 0;  // bursty: held-out classes for --split ic (64)
  int64_t exemplars = 0;      // bursty: exemplar tokens per class (2)
  int64_t labels = 0;         // bursty: label tokens (16)
  int64_t burstiness = -1;    // bursty: copies of each context class, B (-1: 4; 0: items i.i.d.)
};

struct TaskDataset {
  TokenDataset data;
  DatasetAnnotations annotations;
};

struct TaskInfo {
  std::string name;
  std::string summary;
};
const std::vector<TaskInfo>& task_list();

// The word tokenizer covering every word the task can emit (its default tokenizer). The tasks whose
// symbols depend on their options (markov's states, bursty's classes ...) take the options.
// InputError("task", ...) for an unknown name, InputError naming the option for one out of range.
std::unique_ptr<Tokenizer> default_task_tokenizer(const std::string& name);
std::unique_ptr<Tokenizer> default_task_tokenizer(const TaskOptions& options);

// Builds the task's rows with the given tokenizer. InputError for an unknown task, n <= 0, an option out
// of range, or a tokenizer under which too few of the task's words are single tokens.
TaskDataset make_task(const TaskOptions& options, const Tokenizer& tokenizer);

// One per task (data/task_<name>.cpp). `words` lists every text the task can emit, for its word tokenizer.
TaskDataset make_induction_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_ioi_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_successor_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_greater_than_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_facts_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_retrieval_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_markov_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_triggers_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_bursty_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_parity_task(const TaskOptions& options, const Tokenizer& tokenizer);
TaskDataset make_parity_cot_task(const TaskOptions& options, const Tokenizer& tokenizer);
std::vector<std::string> induction_words();
std::vector<std::string> ioi_words();
std::vector<std::string> successor_words();
std::vector<std::string> greater_than_words();
std::vector<std::string> facts_words();
std::vector<std::string> retrieval_words();
std::vector<std::string> markov_words(const TaskOptions& options);
std::vector<std::string> triggers_words(const TaskOptions& options);
std::vector<std::string> bursty_words(const TaskOptions& options);
std::vector<std::string> parity_words(const TaskOptions& options);

// Shared by the task files: the annotations every task writes (task name, options, role names).
DatasetAnnotations task_annotations(const TaskOptions& options, const Tokenizer& tokenizer,
                                    std::vector<std::string> role_names);
std::string task_source(const TaskOptions& options);

}  // namespace headlab
