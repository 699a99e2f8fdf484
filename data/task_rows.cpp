#include "data/task_rows.h"

#include "core/errors.h"

namespace headlab {

void RowBuilder::bos() { same(tokenizer_.special().bos); }

int32_t RowBuilder::text(std::string_view text, int32_t role) {
  const int32_t first = size();
  for (int32_t id : tokenizer_.encode(text)) same(id, role);
  return first;
}

int32_t RowBuilder::differing(int32_t clean_id, int32_t corrupted_id, int32_t role) {
  row_.clean.push_back(clean_id);
  row_.corrupted.push_back(corrupted_id);
  row_.loss_mask.push_back(0);
  row_.role.push_back(role);
  return size() - 1;
}

void RowBuilder::answer(int32_t answer_id, int32_t wrong_id, int32_t end_role) {
  if (size() == 0) throw InternalError("task row: an answer needs a prompt before it");
  row_.answer_pos = size() - 1;
  row_.answer = answer_id;
  row_.wrong = wrong_id;
  if (end_role) row_.role[row_.answer_pos] = end_role;
  same(answer_id);
  row_.loss_mask.back() = 1;
}

TaskRow sequence_row(const Tokenizer& tokenizer, const std::vector<int32_t>& clean,
                     const std::vector<int32_t>& corrupted, std::vector<int32_t> role, int32_t wrong) {
  if (clean.size() < 2 || corrupted.size() != clean.size() || role.size() != clean.size() + 1)
    throw InternalError(
        "task row: a sequence row needs clean and corrupted twins of the same length (>= 2) and a "
        "role per position");
  TaskRow row;
  row.clean.push_back(tokenizer.special().bos);
  row.corrupted.push_back(tokenizer.special().bos);
  row.loss_mask.push_back(0);
  row.clean.insert(row.clean.end(), clean.begin(), clean.end());
  row.corrupted.insert(row.corrupted.end(), corrupted.begin(), corrupted.end());
  row.loss_mask.resize(row.clean.size(), 1);
  row.role = std::move(role);
  row.answer_pos = int32_t(clean.size()) - 1;
  row.answer = clean.back();
  row.wrong = wrong;
  return row;
}

int32_t single_token(const Tokenizer& tokenizer, std::string_view text) {
  try {
    const std::vector<int32_t> ids = tokenizer.encode(text);
    return ids.size() == 1 ? ids[0] : -1;
  } catch (const InputError&) {
    return -1;  // a word tokenizer that does not know the word
  }
}

std::vector<std::string> single_token_words(const Tokenizer& tokenizer, const std::vector<std::string>& candidates,
                                            const std::string& prefix, size_t minimum, size_t limit,
                                            const std::string& list_name) {
  std::vector<std::string> kept;
  for (const std::string& word : candidates) {
    if (kept.size() >= limit) break;
    if (single_token(tokenizer, prefix + word) >= 0) kept.push_back(word);
  }
  if (kept.size() < minimum)
    throw InputError("--tokenizer", "only " + std::to_string(kept.size()) + " of the " +
                                        std::to_string(candidates.size()) + " candidate " + list_name +
                                        " are single tokens under this tokenizer (the task needs " +
                                        std::to_string(minimum) + "); use a tokenizer with a larger vocabulary");
  return kept;
}

std::vector<int32_t> symbol_tokens(const Tokenizer& tokenizer, const std::vector<std::string>& words,
                                   const std::string& list_name) {
  std::vector<int32_t> ids;
  for (const std::string& word : words) {
    const int32_t id = single_token(tokenizer, " " + word);
    if (id < 0)
      throw InputError("--tokenizer", "the " + list_name + " symbol '" + word +
                                          "' is not a single token under this tokenizer (the task needs all " +
                                          std::to_string(words.size()) + "; use the task's own word list)");
    ids.push_back(id);
  }
  return ids;
}

std::vector<TemplatePiece> parse_template(std::string_view pattern, const std::vector<std::string>& slot_names) {
  std::vector<TemplatePiece> pieces;
  size_t i = 0;
  while (i < pattern.size()) {
    const size_t open = pattern.find('{', i);
    std::string literal(pattern.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i));
    if (open == std::string_view::npos) {
      pieces.push_back({literal, -1, false});
      break;
    }
    const size_t close = pattern.find('}', open);
    if (close == std::string_view::npos) throw InternalError("template '" + std::string(pattern) + "': unclosed {");
    const std::string name(pattern.substr(open + 1, close - open - 1));
    int slot = -1;
    for (size_t s = 0; s < slot_names.size(); ++s)
      if (slot_names[s] == name) slot = int(s);
    if (slot < 0) throw InternalError("template '" + std::string(pattern) + "': unknown slot {" + name + "}");
    if (literal.empty() || literal.back() != ' ')
      throw InternalError("template '" + std::string(pattern) + "': slot {" + name + "} needs a space before it");
    literal.pop_back();
    if (!literal.empty()) pieces.push_back({literal, -1, false});
    pieces.push_back({"", slot, true});
    i = close + 1;
  }
  return pieces;
}

std::string template_words(std::string_view pattern) {
  std::string words;
  bool in_slot = false;
  for (char c : pattern) {
    if (c == '{')
      in_slot = true;
    else if (c == '}')
      in_slot = false, words.push_back(' ');
    else if (!in_slot)
      words.push_back(c);
  }
  return words;
}

TokenDataset assemble_rows(const std::vector<TaskRow>& rows, int32_t row_length, const Tokenizer& tokenizer,
                           const std::string& source) {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = tokenizer.vocab_size();
  ds.tokenizer_json = tokenizer.to_json();
  ds.source = source;
  ds.n_seq = int64_t(rows.size());
  ds.seq_len = row_length;
  const size_t total = rows.size() * size_t(row_length);
  const int32_t pad = tokenizer.special().pad;
  ds.tokens.assign(total, pad);
  ds.corrupted.assign(total, pad);
  ds.loss_mask.assign(total, 0);
  std::vector<int32_t>& role = ds.labels["role"];
  role.assign(total, 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    const TaskRow& row = rows[r];
    if (int32_t(row.clean.size()) > row_length)
      throw InternalError("task row " + std::to_string(r) + " has " + std::to_string(row.clean.size()) +
                          " tokens, more than the row length " + std::to_string(row_length));
    const size_t base = r * size_t(row_length);
    std::copy(row.clean.begin(), row.clean.end(), ds.tokens.begin() + base);
    std::copy(row.corrupted.begin(), row.corrupted.end(), ds.corrupted.begin() + base);
    std::copy(row.loss_mask.begin(), row.loss_mask.end(), ds.loss_mask.begin() + base);
    std::copy(row.role.begin(), row.role.end(), role.begin() + base);
    ds.answer.push_back(row.answer);
    ds.wrong_answer.push_back(row.wrong);
    ds.answer_pos.push_back(row.answer_pos);
  }
  return ds;
}

}  // namespace headlab
