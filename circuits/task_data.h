// A task dataset (data/token_dataset.h, sequences with clean/corrupted pairs) as the circuits methods
// use it: checked against what the method and the metric need, cut into batches, with the
// next-token targets of the clean rows for losses.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/metrics.h"
#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "model/config.h"
#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

// Rows are cut after the last answer position (max of /answer_pos): later tokens cannot change the
// logits any metric reads.
struct TaskData {
  std::string what;                   // the file, for messages
  int64_t n = 0;                      // rows
  int T = 0;                          // row length used: max(answer_pos) + 1
  std::vector<int32_t> clean;         // [n, T]
  std::vector<int32_t> corrupted;     // [n, T], or empty
  std::vector<int32_t> answer;        // [n], or empty (kl only)
  std::vector<int32_t> wrong_answer;  // [n], or empty (no logit_diff)
  std::vector<int32_t> answer_pos;    // [n] (seq_len - 1 where the file has none)
  std::vector<int32_t> targets;       // [n, T] next clean token of the file's row, -1 where not counted
  // prob_diff (greater-than): the dataset's /task/year_tokens [100] and /task/start_yy [n]
  std::vector<int32_t> year_tokens, start_year;
  bool has_pairs() const { return !corrupted.empty(); }
};

enum class PairsNeeded { no, yes };

// InputError naming `what` and the missing array when the dataset is a stream, lacks what `metric`
// needs (/answer; /wrong_answer for logit_diff) or, with PairsNeeded::yes, has no /corrupted rows.
// max_rows > 0 keeps the first max_rows rows. Metric prob_diff reads the task arrays year_tokens and
// start_yy (headlab-data task greater_than writes them) from `annotations`: InputError when absent.
TaskData task_data_from(const TokenDataset& ds, const std::string& what, MetricKind metric, PairsNeeded pairs,
                        int64_t max_rows = 0, const DatasetAnnotations* annotations = nullptr);
// InputError when the rows do not fit the model (a token id >= d_vocab, rows longer than n_ctx).
void check_task_fits_model(const TaskData& task, const ModelConfig& cfg);

// Rows [first, first + B) of a task.
struct TaskBatch {
  int64_t first = 0;
  int B = 0, T = 0;
  const int32_t* clean = nullptr;         // [B, T]
  const int32_t* corrupted = nullptr;     // [B, T] or null
  const int32_t* answer = nullptr;        // [B] or null
  const int32_t* wrong_answer = nullptr;  // [B] or null
  const int32_t* answer_pos = nullptr;    // [B]
  const int32_t* targets = nullptr;       // [B, T]
  const int32_t* start_year = nullptr;    // [B] or null
  const int32_t* year_tokens = nullptr;   // [n_years] or null
  int n_years = 0;
  MetricTargets metric_targets(int V, const float* reference_logprobs = nullptr) const;
};
// InputError("--batch-size", ...) when batch_size < 1.
std::vector<TaskBatch> task_batches(const TaskData& task, int batch_size);

// A forward on `tokens` [B, T] with hooks, scored: the metric summed over the batch's sequences.
double run_metric_sum(Transformer& model, MetricKind kind, const int32_t* tokens, const TaskBatch& batch,
                      const float* reference_logprobs, HookSet* hooks = nullptr);

// Sum and count of the next-token losses of the batch's clean rows (targets), with hooks.
struct LossSum {
  double sum = 0;
  int64_t count = 0;
  double mean() const;  // NaN when count is 0
};
LossSum run_loss_sum(Transformer& model, const TaskBatch& batch, HookSet* hooks = nullptr);

}  // namespace headlab
