#include "circuits/task_data.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace headlab {

TaskData task_data_from(const TokenDataset& ds, const std::string& what, MetricKind metric, PairsNeeded pairs,
                        int64_t max_rows, const DatasetAnnotations* annotations) {
  if (ds.kind != DatasetKind::sequences)
    throw InputError(what, "expected a task dataset of sequences [n_seq, seq_len], got a token stream");
  if (ds.n_seq < 1 || ds.seq_len < 1)
    throw InputError(what + ": /tokens", "expected at least one row of at least one token; found [" +
                                             std::to_string(ds.n_seq) + ", " + std::to_string(ds.seq_len) + "]");
  if (pairs == PairsNeeded::yes && !ds.has_pairs())
    throw InputError(what + ": /corrupted",
                     "this method needs clean/corrupted pairs, and the dataset has no /corrupted rows");
  if ((metric == MetricKind::logit_diff || metric == MetricKind::prob) && ds.answer.empty())
    throw InputError(what + ": /answer",
                     "expected the answer token of each row (scored at answer_pos); the dataset has none");
  if (metric == MetricKind::logit_diff && ds.wrong_answer.empty())
    throw InputError(what + ": /wrong_answer",
                     "metric logit_diff needs wrong-answer tokens; the dataset has none (try --metric prob)");
  if (ds.seq_len > INT32_MAX) throw InputError(what + ": /tokens", "rows are too long");
  std::vector<int32_t> years, starts;
  if (metric == MetricKind::prob_diff) {
    auto array = [&](const char* name) -> const std::vector<int32_t>& {
      if (!annotations || !annotations->task_arrays.count(name))
        throw InputError(what + ": /task/" + name,
                         "metric prob_diff (greater-than) needs /task/year_tokens and /task/start_yy, as "
                         "headlab-data task greater_than writes them; the dataset has none");
      return annotations->task_arrays.at(name);
    };
    years = array("year_tokens");
    starts = array("start_yy");
    if (years.empty() || years.size() > 100000)
      throw InputError(what + ": /task/year_tokens",
                       "expected one token id (or -1) per year, got " + std::to_string(years.size()) + " entries");
    if (int64_t(starts.size()) != ds.n_seq)
      throw InputError(what + ": /task/start_yy", "expected one start year per row (" + std::to_string(ds.n_seq) +
                                                      "), got " + std::to_string(starts.size()));
    for (size_t i = 0; i < starts.size(); ++i)
      if (starts[i] < 0 || starts[i] >= int32_t(years.size()))
        throw InputError(what + ": /task/start_yy", "row " + std::to_string(i) + " has start year " +
                                                        std::to_string(starts[i]) + ", outside [0, " +
                                                        std::to_string(years.size()) + ")");
  }
  TaskData t;
  t.what = what;
  t.n = max_rows > 0 ? std::min(max_rows, ds.n_seq) : ds.n_seq;
  const int64_t S = ds.seq_len;  // the file's row length
  if (!ds.answer_pos.empty())
    t.answer_pos.assign(ds.answer_pos.begin(), ds.answer_pos.begin() + t.n);
  else
    t.answer_pos.assign(size_t(t.n), int32_t(S - 1));
  // Rows end at the last answer position: what follows (the answer token itself, padding) cannot
  // change the logits there, and dropping it lets rows of n_ctx + 1 tokens (a training row with its
  // answer) run on a model of context n_ctx.
  t.T = *std::max_element(t.answer_pos.begin(), t.answer_pos.end()) + 1;
  auto columns = [&](const std::vector<int32_t>& v) {
    std::vector<int32_t> out(size_t(t.n) * size_t(t.T));
    for (int64_t r = 0; r < t.n; ++r) std::copy_n(v.begin() + r * S, t.T, out.begin() + r * t.T);
    return out;
  };
  t.clean = columns(ds.tokens);
  if (ds.has_pairs()) t.corrupted = columns(ds.corrupted);
  if (!ds.answer.empty()) t.answer.assign(ds.answer.begin(), ds.answer.begin() + t.n);
  if (!ds.wrong_answer.empty()) t.wrong_answer.assign(ds.wrong_answer.begin(), ds.wrong_answer.begin() + t.n);
  if (!years.empty()) {
    t.year_tokens = years;
    t.start_year.assign(starts.begin(), starts.begin() + t.n);
  }
  // Next-token targets from the whole row (so the last kept position predicts the answer), with
  // the trainer's loss_mask convention: a 1 at position p counts the prediction of token p.
  t.targets.assign(size_t(t.n) * size_t(t.T), -1);
  for (int64_t r = 0; r < t.n; ++r)
    for (int64_t p = 0; p < t.T && p + 1 < S; ++p) {
      const size_t next = size_t(r * S + p + 1);
      if (ds.loss_mask.empty() || ds.loss_mask[next]) t.targets[size_t(r * t.T + p)] = ds.tokens[next];
    }
  return t;
}

void check_task_fits_model(const TaskData& task, const ModelConfig& cfg) {
  if (task.T > cfg.n_ctx)
    throw InputError(task.what, "rows have " + std::to_string(task.T) +
                                    " tokens; the model's context is n_ctx = " + std::to_string(cfg.n_ctx));
  // `row_length` 0: one id per row ([row]); else ids per token ([row, position]).
  auto check = [&](const std::vector<int32_t>& ids, const char* name, int64_t row_length) {
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= cfg.d_vocab) {
        const int64_t at = int64_t(i);
        const std::string where =
            row_length > 0 ? "[" + std::to_string(at / row_length) + ", " + std::to_string(at % row_length) + "]"
                           : "[" + std::to_string(at) + "]";
        throw InputError(task.what + ": " + name,
                         "token id " + std::to_string(ids[i]) + " at " + where +
                             " is outside the model's vocabulary [0, d_vocab = " + std::to_string(cfg.d_vocab) + ")");
      }
  };
  check(task.clean, "/tokens", task.T);
  check(task.corrupted, "/corrupted", task.T);
  check(task.answer, "/answer", 0);
  check(task.wrong_answer, "/wrong_answer", 0);
  for (size_t i = 0; i < task.year_tokens.size(); ++i)
    if (task.year_tokens[i] < -1 || task.year_tokens[i] >= cfg.d_vocab)
      throw InputError(task.what + ": /task/year_tokens",
                       "entry " + std::to_string(i) + " is " + std::to_string(task.year_tokens[i]) +
                           ", neither -1 (no token) nor inside the model's vocabulary [0, " +
                           std::to_string(cfg.d_vocab) + ")");
}

MetricTargets TaskBatch::metric_targets(int V, const float* reference_logprobs) const {
  MetricTargets m;
  m.B = B;
  m.T = T;
  m.V = V;
  m.answer = answer;
  m.wrong_answer = wrong_answer;
  m.answer_pos = answer_pos;
  m.reference_logprobs = reference_logprobs;
  m.year_tokens = year_tokens;
  m.n_years = n_years;
  m.start_year = start_year;
  return m;
}

std::vector<TaskBatch> task_batches(const TaskData& t, int batch_size) {
  if (batch_size < 1)
    throw InputError("--batch-size", "expected a positive integer, got " + std::to_string(batch_size));
  std::vector<TaskBatch> out;
  auto at = [](const std::vector<int32_t>& v, int64_t off) { return v.empty() ? nullptr : v.data() + off; };
  for (int64_t first = 0; first < t.n; first += batch_size) {
    TaskBatch b;
    b.first = first;
    b.B = int(std::min<int64_t>(batch_size, t.n - first));
    b.T = t.T;
    b.clean = at(t.clean, first * t.T);
    b.corrupted = at(t.corrupted, first * t.T);
    b.answer = at(t.answer, first);
    b.wrong_answer = at(t.wrong_answer, first);
    b.answer_pos = at(t.answer_pos, first);
    b.targets = at(t.targets, first * t.T);
    b.start_year = at(t.start_year, first);
    b.year_tokens = at(t.year_tokens, 0);
    b.n_years = int(t.year_tokens.size());
    out.push_back(b);
  }
  return out;
}

double run_metric_sum(Transformer& model, MetricKind kind, const int32_t* tokens, const TaskBatch& batch,
                      const float* reference_logprobs, HookSet* hooks) {
  model.forward(tokens, batch.B, batch.T, hooks);
  std::vector<float> buffer;
  const float* logits = host_logits(model, buffer);
  return metric_sum(kind, logits, batch.metric_targets(model.config().d_vocab, reference_logprobs));
}

double LossSum::mean() const { return count > 0 ? sum / double(count) : std::nan(""); }

LossSum run_loss_sum(Transformer& model, const TaskBatch& batch, HookSet* hooks) {
  LossSum s;
  for (int64_t i = 0; i < int64_t(batch.B) * batch.T; ++i) s.count += batch.targets[i] >= 0;
  if (s.count == 0) {
    model.forward(batch.clean, batch.B, batch.T, hooks);
    return s;
  }
  s.sum = double(model.forward_loss(batch.clean, batch.targets, batch.B, batch.T, hooks)) * double(s.count);
  return s;
}

}  // namespace headlab
