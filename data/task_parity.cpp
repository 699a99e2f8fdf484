// Parity with and without a chain of thought (Cabannes et al. 2024, "Iteration head: a mechanistic study
// of chain-of-thought"): --length L random bits x_1 .. x_L, the end-of-input token EOI, then
//   parity:      s_L = x_1 xor ... xor x_L, the answer (only it is trained);
//   parity_cot:  s_1 .. s_L, the running parities s_t = s_{t-1} xor x_t (every step trained).
// With the chain of thought each step is one xor of the previous step and one input bit: the
// prediction of s_t is made at the position of s_{t-1} (EOI for t = 1), row position L + t, and needs
// x_t, at row position t (BOS is at 0): an "iteration head" attends from L + t to t.
// /labels/attend_target gives, at each position that predicts a step, the input position that step
// needs (t at L + t; -1 elsewhere); /labels/role names input, EOI, cot and END (answer_pos).
// answer_pos: the prediction of s_L (EOI's position L + 1 without CoT, 2L with it); wrong = 1 - s_L.
// Corrupted: one input bit x_j flipped (j uniform) and the steps after it recomputed, so its parity,
// and the answer it implies, is the wrong one.
#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kInput, kEoi, kCot, kEnd };
const std::vector<std::string> kRoleNames = {"none", "input", "EOI", "cot", "END"};
constexpr int64_t kDefaultLength = 16;

TaskOptions resolved(const TaskOptions& in) {
  TaskOptions o = in;
  if (o.length == 0) o.length = kDefaultLength;
  if (o.length < 2 || o.length > 2046)
    throw InputError("--length", "parity takes 2 to 2046 input bits, got " + std::to_string(o.length));
  return o;
}

TaskDataset make_parity(const TaskOptions& options_in, const Tokenizer& tok, bool cot) {
  const TaskOptions o = resolved(options_in);
  const size_t L = size_t(o.length);
  const std::vector<int32_t> ids = symbol_tokens(tok, {"0", "1", "EOI"}, "parity");
  const int32_t eoi = ids[2];
  SeededRng rng(o.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> target;  // /labels/attend_target, [n, row length]
  const size_t row_length = cot ? 2 * L + 2 : L + 3;
  for (int64_t r = 0; r < o.n; ++r) {
    std::vector<int> x(L), y(L);
    for (size_t t = 0; t < L; ++t) x[t] = int(rng.below(2));
    const size_t flip = rng.below(L);
    y = x;
    y[flip] ^= 1;
    std::vector<int> s(L), sc(L);  // running parities, clean and corrupted
    for (size_t t = 0; t < L; ++t) {
      s[t] = (t ? s[t - 1] : 0) ^ x[t];
      sc[t] = (t ? sc[t - 1] : 0) ^ y[t];
    }
    RowBuilder row(tok);
    row.bos();
    for (size_t t = 0; t < L; ++t) row.differing(ids[size_t(x[t])], ids[size_t(y[t])], kInput);
    row.same(eoi, kEoi);
    if (cot)
      for (size_t t = 0; t + 1 < L; ++t) row.differing(ids[size_t(s[t])], ids[size_t(sc[t])], kCot);
    row.answer(ids[size_t(s[L - 1])], ids[size_t(1 - s[L - 1])], kEnd);
    TaskRow done = row.finish();
    std::vector<int32_t> attend(row_length, -1);
    if (cot) {
      for (size_t p = L + 2; p < row_length; ++p) done.loss_mask[p] = 1;  // every step s_1 .. s_L
      for (size_t t = 1; t <= L; ++t) attend[L + t] = int32_t(t);
    }
    target.insert(target.end(), attend.begin(), attend.end());
    rows.push_back(std::move(done));
  }
  TaskDataset task;
  task.data = assemble_rows(rows, int32_t(row_length), tok, task_source(o) + " --length " + std::to_string(L));
  task.annotations = task_annotations(o, tok, kRoleNames);
  if (cot) task.data.labels["attend_target"] = std::move(target);
  task.annotations.task_arrays["bit_tokens"] = {ids[0], ids[1]};
  return task;
}

}  // namespace

std::vector<std::string> parity_words(const TaskOptions& options) {
  resolved(options);
  return {"0", "1", "EOI"};
}

TaskDataset make_parity_task(const TaskOptions& options, const Tokenizer& tok) {
  return make_parity(options, tok, false);
}
TaskDataset make_parity_cot_task(const TaskOptions& options, const Tokenizer& tok) {
  return make_parity(options, tok, true);
}

}  // namespace headlab
