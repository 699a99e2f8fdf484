// Induction: BOS, a random token sequence, the same sequence again. The rows come from
// make_repeat_dataset (data/repeat_task.h), the generator the trainer's built-in repeat task uses, so a
// model trained there is probed on the same distribution; this file only restricts its random tokens to
// the tokenizer's ordinary ids (never BOS, EOS or PAD) and adds the tokenizer and the role labels.
// Corrupted: the second half replaced by fresh random tokens; the mask trains every position.
#include "core/errors.h"
#include "data/repeat_task.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kFirstHalf, kSecondHalf, kEnd };
const std::vector<std::string> kRoleNames = {"none", "first_half", "second_half", "END"};
constexpr int64_t kDefaultLength = 16;

}  // namespace

std::vector<std::string> induction_words() {
  std::vector<std::string> words = first_names();
  words.insert(words.end(), ioi_objects().begin(), ioi_objects().end());
  words.insert(words.end(), ioi_places().begin(), ioi_places().end());
  return words;
}

TaskDataset make_induction_task(const TaskOptions& options_in, const Tokenizer& tok) {
  TaskOptions options = options_in;
  if (options.length == 0) options.length = kDefaultLength;
  if (options.length < 2 || options.length > 4096)
    throw InputError("--length", "the repeated sequence needs 2 to 4096 tokens, got " + std::to_string(options.length));
  if (tok.vocab_size() < 6) throw InputError("--tokenizer", "induction needs at least 3 ordinary tokens");
  // Random ids uniform over [0, bos) = the ordinary ids, since the special tokens end the vocabulary.
  const int32_t bos = tok.special().bos;
  TaskDataset task;
  TokenDataset& ds = task.data;
  ds = make_repeat_dataset(options.n, options.length, int64_t(bos) + 1, options.seed, bos);
  ds.d_vocab = tok.vocab_size();
  ds.tokenizer_json = tok.to_json();
  ds.source = task_source(options) + " --length " + std::to_string(options.length);
  std::vector<int32_t>& role = ds.labels["role"];
  role.assign(ds.tokens.size(), kNone);
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    int32_t* row = role.data() + r * ds.seq_len;
    for (int64_t p = 1; p <= options.length; ++p) row[p] = kFirstHalf;
    for (int64_t p = options.length + 1; p < ds.seq_len; ++p) row[p] = kSecondHalf;
    row[ds.answer_pos[size_t(r)]] = kEnd;
  }
  task.annotations = task_annotations(options, tok, kRoleNames);
  return task;
}

}  // namespace headlab
