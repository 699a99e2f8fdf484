// Successor: items of an ordinal sequence in order ("Monday Tuesday Wednesday Thursday" -> " Friday"),
// from four sequences: the numbers 1..99, the weekdays and the months (both cyclic: "Saturday Sunday"
// -> " Monday"), and the letters A..Z. The wrong answer is the last item repeated (copying instead of
// counting on). Corrupted: the same items in a shuffled order whose last item differs from the clean
// one, so the multiset of tokens is unchanged and only the order (the successor cue) is lost.
#include <numeric>

#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

enum Role { kNone, kItem, kEnd };
const std::vector<std::string> kRoleNames = {"none", "item", "END"};
constexpr int64_t kDefaultLength = 4, kMinLength = 2, kMaxLength = 6;

struct OrdinalSequence {
  std::string name;
  std::vector<std::string> items;
  bool cyclic = false;
};

std::vector<OrdinalSequence> sequences() {
  std::vector<std::string> numbers, letters;
  for (int i = 1; i <= 99; ++i) numbers.push_back(std::to_string(i));
  for (char c = 'A'; c <= 'Z'; ++c) letters.push_back(std::string(1, c));
  return {{"numbers", numbers, false},
          {"weekdays", weekdays(), true},
          {"months", months(), true},
          {"letters", letters, false}};
}

// A window: `length` consecutive items starting at `start`, and the one after them (the answer), all
// single tokens. ids[i] is the token of item i of the sequence, -1 when it is not one token.
struct Window {
  const std::vector<int32_t>* ids;
  size_t start;
};

std::vector<Window> valid_windows(const OrdinalSequence& seq, const std::vector<int32_t>& ids, int64_t length) {
  std::vector<Window> windows;
  const size_t n = seq.items.size();
  const size_t starts = seq.cyclic ? n : (n >= size_t(length) + 1 ? n - size_t(length) : 0);
  for (size_t s = 0; s < starts; ++s) {
    bool ok = true;
    for (int64_t k = 0; k <= length; ++k) ok = ok && ids[(s + size_t(k)) % n] >= 0;
    if (ok) windows.push_back({&ids, s});
  }
  return windows;
}

// A permutation of [0, length) that is not the identity and moves the last item away.
std::vector<size_t> corrupting_order(SeededRng& rng, int64_t length) {
  std::vector<size_t> order(static_cast<size_t>(length));
  std::iota(order.begin(), order.end(), size_t(0));
  while (order.back() == size_t(length) - 1) rng.shuffle(order);
  return order;
}

}  // namespace

std::vector<std::string> successor_words() {
  std::vector<std::string> texts;
  for (const OrdinalSequence& s : sequences()) texts.insert(texts.end(), s.items.begin(), s.items.end());
  return texts;
}

TaskDataset make_successor_task(const TaskOptions& options_in, const Tokenizer& tok) {
  TaskOptions options = options_in;
  if (options.length == 0) options.length = kDefaultLength;
  if (options.length < kMinLength || options.length > kMaxLength)
    throw InputError("--length",
                     "successor prompts hold 2 to 6 items (a week has 7 days), got " + std::to_string(options.length));
  const std::vector<OrdinalSequence> seqs = sequences();
  std::vector<std::vector<int32_t>> ids(seqs.size());
  std::vector<Window> windows;
  std::vector<size_t> sequence_of_window;
  for (size_t q = 0; q < seqs.size(); ++q) {
    for (const std::string& item : seqs[q].items) ids[q].push_back(single_token(tok, " " + item));
  }
  for (size_t q = 0; q < seqs.size(); ++q)
    for (const Window& w : valid_windows(seqs[q], ids[q], options.length)) {
      windows.push_back(w);
      sequence_of_window.push_back(q);
    }
  if (windows.empty())
    throw InputError("--tokenizer", "no run of " + std::to_string(options.length + 1) +
                                        " consecutive numbers, weekdays, months or letters is single tokens under "
                                        "this tokenizer; use a tokenizer with a larger vocabulary");
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> sequence_of_row;  // [n]
  for (int64_t i = 0; i < options.n; ++i) {
    const size_t w = rng.below(windows.size());
    const std::vector<int32_t>& seq_ids = *windows[w].ids;
    const size_t n_items = seq_ids.size(), start = windows[w].start;
    std::vector<int32_t> items;
    for (int64_t k = 0; k < options.length; ++k) items.push_back(seq_ids[(start + size_t(k)) % n_items]);
    const std::vector<size_t> order = corrupting_order(rng, options.length);
    RowBuilder row(tok);
    row.bos();
    for (int64_t k = 0; k < options.length; ++k) row.differing(items[size_t(k)], items[order[size_t(k)]], kItem);
    row.answer(seq_ids[(start + size_t(options.length)) % n_items], items.back(), kEnd);
    rows.push_back(row.finish());
    sequence_of_row.push_back(int32_t(sequence_of_window[w]));
  }
  TaskDataset task;
  task.data = assemble_rows(rows, int32_t(options.length) + 2, tok, task_source(options));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.task_arrays["sequence"] = std::move(sequence_of_row);
  task.annotations.attributes["sequence_names"] = R"(["numbers", "weekdays", "months", "letters"])";
  return task;
}

}  // namespace headlab
