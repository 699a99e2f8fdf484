// Building task rows: a prompt and its corrupted twin, token by token side by side, so that they have the
// same length by construction and differ only where a task says so. The answer token ends each row (at
// answer_pos + 1) in both twins, so the same rows serve training and patching (the logits at answer_pos
// do not see the answer token). loss_mask follows the trainer's convention (train/batcher.h): a 1 at
// position t means predicting the token AT t (from position t - 1) counts, so the answer's mask is at
// answer_pos + 1.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset_annotations.h"
#include "data/token_dataset.h"
#include "data/tokenizer.h"

namespace headlab {

struct TaskRow {
  std::vector<int32_t> clean, corrupted;  // [length], answer last
  std::vector<uint8_t> loss_mask;         // [length]; 1 where predicting the token there is trained
  std::vector<int32_t> role;              // [length]; the task's role of each position, 0 = none
  int32_t answer = -1, wrong = -1, answer_pos = -1;
};

class RowBuilder {
 public:
  explicit RowBuilder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  void bos();
  // Text shared by both twins; returns the position of its first token.
  int32_t text(std::string_view text, int32_t role = 0);
  // One token, the same in both twins; returns its position.
  int32_t same(int32_t id, int32_t role = 0) { return differing(id, id, role); }
  // One token in each twin; returns its position.
  int32_t differing(int32_t clean_id, int32_t corrupted_id, int32_t role = 0);
  // Marks the last position as the answer position and appends the answer to both twins.
  void answer(int32_t answer_id, int32_t wrong_id, int32_t end_role = 0);
  int32_t size() const { return int32_t(row_.clean.size()); }
  TaskRow finish() { return std::move(row_); }

 private:
  const Tokenizer& tokenizer_;
  TaskRow row_;
};

// A row that is a whole sequence, trained at every position (the in-context tasks: Markov chains,
// triggers): BOS, then `clean` and `corrupted` token by token (the same length), every token's loss
// mask 1. The last token is the answer (answer_pos is the position before it) and `wrong` its
// contrast. `role` has one entry per row position, BOS's included. InternalError on mismatched sizes.
TaskRow sequence_row(const Tokenizer& tokenizer, const std::vector<int32_t>& clean,
                     const std::vector<int32_t>& corrupted, std::vector<int32_t> role, int32_t wrong);

// The id of the one token `text` encodes to, or -1 when it is several tokens or cannot be encoded.
int32_t single_token(const Tokenizer& tokenizer, std::string_view text);

// The words of `candidates` that, with `prefix` before them (" " for a word inside a sentence), are one
// token each; at most `limit` of them, in list order. InputError naming --tokenizer when fewer than
// `minimum` are, saying which list fell short.
std::vector<std::string> single_token_words(const Tokenizer& tokenizer, const std::vector<std::string>& candidates,
                                            const std::string& prefix, size_t minimum, size_t limit,
                                            const std::string& list_name);

// The ids of " word" for every word of `words`, in order. InputError naming --tokenizer, and the first
// word that is not one token, when any is not: the symbolic tasks need every symbol.
std::vector<int32_t> symbol_tokens(const Tokenizer& tokenizer, const std::vector<std::string>& words,
                                   const std::string& list_name);

// A template such as "When {N1} and {N2} went to the {PLACE}, {S} gave a {OBJECT} to": literal pieces and
// slots. The space before a slot belongs to the slot, so a slot renders as one token " Mary".
struct TemplatePiece {
  std::string literal;  // when slot < 0
  int slot = -1;        // index into the slot names given to parse_template
  bool space_before = false;
};
// InternalError on an unknown slot name or a slot without a space before it (it would tokenize differently).
std::vector<TemplatePiece> parse_template(std::string_view pattern, const std::vector<std::string>& slot_names);
// The template's literal text with slots removed, for collecting a task's words.
std::string template_words(std::string_view pattern);

// Pads every row to `row_length` with PAD (loss mask 0, role 0) into a sequences dataset.
// InternalError when a row is longer than row_length.
TokenDataset assemble_rows(const std::vector<TaskRow>& rows, int32_t row_length, const Tokenizer& tokenizer,
                           const std::string& source);

}  // namespace headlab
