// Retrieval (needle in a haystack): "Codes: apple: 42, river: 17, ... wagon: 88. river:" -> " 17".
// --pairs key-value pairs with distinct keys and distinct values, then one of the keys (the needle,
// at a random place in the context) is asked for. Corrupted: a different key of the context is asked
// for instead, so the one differing position is the query, and the wrong answer is that key's value.
#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kRoleNone, kRoleNeedleKey, kRoleNeedleValue, kRoleQuery, kRoleEnd };
const std::vector<std::string> kRoleNames = {"none", "needle_key", "needle_value", "query", "END"};
constexpr int64_t kDefaultPairs = 20;
const char* const kPrefix = "Codes:";

std::vector<std::string> value_words() {
  std::vector<std::string> v;
  for (int i = 10; i <= 99; ++i) v.push_back(std::to_string(i));
  return v;
}

struct Vocabulary {
  std::vector<int32_t> keys, values;  // ids of " apple", " 42"
  int32_t colon = -1, comma = -1, period = -1;
};

Vocabulary retrieval_vocabulary(const Tokenizer& tok, int64_t pairs) {
  Vocabulary v;
  for (const std::string& w : single_token_words(tok, retrieval_keys(), " ", size_t(pairs), 1000, "keys"))
    v.keys.push_back(single_token(tok, " " + w));
  for (const std::string& w : single_token_words(tok, value_words(), " ", size_t(pairs), 1000, "two-digit values"))
    v.values.push_back(single_token(tok, " " + w));
  v.colon = single_token(tok, ":");
  v.comma = single_token(tok, ",");
  v.period = single_token(tok, ".");
  if (v.colon < 0 || v.comma < 0 || v.period < 0)
    throw InputError("--tokenizer", "retrieval needs ':', ',' and '.' as single tokens");
  return v;
}

}  // namespace

std::vector<std::string> retrieval_words() {
  std::vector<std::string> texts = retrieval_keys();
  for (const std::string& w : value_words()) texts.push_back(w);
  texts.push_back(std::string(kPrefix) + " , .");
  return texts;
}

TaskDataset make_retrieval_task(const TaskOptions& options_in, const Tokenizer& tok) {
  TaskOptions options = options_in;
  if (options.pairs == 0) options.pairs = kDefaultPairs;
  if (options.pairs < 2 || options.pairs > 50)
    throw InputError("--pairs", "retrieval holds 2 to 50 key-value pairs, got " + std::to_string(options.pairs));
  const Vocabulary v = retrieval_vocabulary(tok, options.pairs);
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> needle_of_row;  // [n] which pair is asked for
  for (int64_t i = 0; i < options.n; ++i) {
    const std::vector<size_t> keys = rng.distinct(v.keys.size(), size_t(options.pairs));
    const std::vector<size_t> values = rng.distinct(v.values.size(), size_t(options.pairs));
    const size_t needle = rng.below(size_t(options.pairs));
    const size_t decoy = (needle + 1 + rng.below(size_t(options.pairs) - 1)) % size_t(options.pairs);
    RowBuilder row(tok);
    row.bos();
    row.text(kPrefix);
    for (size_t p = 0; p < size_t(options.pairs); ++p) {
      row.same(v.keys[keys[p]], p == needle ? kRoleNeedleKey : kRoleNone);
      row.same(v.colon);
      row.same(v.values[values[p]], p == needle ? kRoleNeedleValue : kRoleNone);
      row.same(p + 1 == size_t(options.pairs) ? v.period : v.comma);
    }
    row.differing(v.keys[keys[needle]], v.keys[keys[decoy]], kRoleQuery);
    row.same(v.colon);
    row.answer(v.values[values[needle]], v.values[values[decoy]], kRoleEnd);
    rows.push_back(row.finish());
    needle_of_row.push_back(int32_t(needle));
  }
  const int32_t row_length = int32_t(rows.front().clean.size());
  TaskDataset task;
  task.data = assemble_rows(rows, row_length, tok, task_source(options) + " --pairs " + std::to_string(options.pairs));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.task_arrays["needle"] = std::move(needle_of_row);
  return task;
}

}  // namespace headlab
