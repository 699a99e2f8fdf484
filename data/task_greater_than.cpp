// Greater-than (Hanna et al. 2023): "The war lasted from the year 1732 to the year 17" -> a two-digit
// year above 32. The year is written as two pieces, the century " 17" and the digits "32", each one
// token, as GPT-2 splits such years. answer: a year drawn from those above the start, wrong: one drawn
// from those below; /task/year_tokens (the id of "00".."99", -1 where not one token) and
// /task/start_yy let a study sum probabilities over all years above and below instead.
// Corrupted: the start year XX01, which leaves no year below, so the digits of the start year are the
// only position that differs. Under a tokenizer where "01" is not one token (a BPE trained on Brown
// has only two dozen two-digit tokens) XX00 serves instead; the attribute corrupted_start says which.
#include "core/errors.h"
#include "core/seeded_rng.h"
#include "data/task_rows.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"

namespace headlab {
namespace {

const std::vector<std::string> kSlots = {"NOUN", "XX", "YY"};
enum Slot { kNoun, kCentury, kStartDigits };
enum Role { kRoleNone, kRoleNoun, kRoleCentury, kRoleStartYY, kRoleEnd };
const std::vector<std::string> kRoleNames = {"none", "NOUN", "XX1", "YY", "END"};

const std::vector<std::string>& templates() {
  // The century appears twice: slot {XX} renders at both places, the second ending the prompt.
  static const std::vector<std::string> t = {
      "The {NOUN} lasted from the year {XX}{YY} to the year {XX}",
      "The {NOUN} started in the year {XX}{YY} and ended in the year {XX}",
      "The {NOUN} went on from the year {XX}{YY} until the year {XX}",
  };
  return t;
}

constexpr int kFirstCentury = 11, kLastCentury = 17;
constexpr size_t kMinNouns = 3;

std::string two_digits(int yy) { return std::string(1, char('0' + yy / 10)) + char('0' + yy % 10); }

struct YearTokens {
  std::vector<int32_t> yy;         // [100] "00".."99", -1 where not a single token
  std::vector<int32_t> centuries;  // ids of " 11".." 17" that are single tokens
  std::vector<int32_t> starts;     // start digits usable: 02..98 with a single-token year above and below
  int corrupted_start = 1;         // 01, or 00 where "01" is not one token
};

YearTokens year_tokens(const Tokenizer& tok) {
  YearTokens y;
  for (int yy = 0; yy < 100; ++yy) y.yy.push_back(single_token(tok, two_digits(yy)));
  for (int c = kFirstCentury; c <= kLastCentury; ++c)
    if (int32_t id = single_token(tok, " " + std::to_string(c)); id >= 0) y.centuries.push_back(id);
  for (int yy = 2; yy <= 98; ++yy) {
    bool above = false, below = false;
    for (int k = yy + 1; k < 100; ++k) above = above || y.yy[k] >= 0;
    for (int k = 0; k < yy; ++k) below = below || y.yy[k] >= 0;
    if (y.yy[yy] >= 0 && above && below) y.starts.push_back(yy);
  }
  y.corrupted_start = y.yy[1] >= 0 ? 1 : 0;
  if (y.yy[y.corrupted_start] < 0 || y.centuries.empty() || y.starts.empty())
    throw InputError("--tokenizer",
                     "greater_than needs \"01\" or \"00\", a century such as \" 17\" and two-digit "
                     "years above and below a start year as single tokens; this tokenizer lacks them "
                     "(use a larger vocabulary)");
  return y;
}

// A year in [low, high] whose digits are one token (one exists: year_tokens checked).
int draw_year(SeededRng& rng, const YearTokens& y, int low, int high) {
  std::vector<int> ok;
  for (int k = low; k <= high; ++k)
    if (y.yy[k] >= 0) ok.push_back(k);
  return rng.pick(ok);
}

TaskRow greater_than_row(const Tokenizer& tok, const std::vector<TemplatePiece>& pieces, int32_t noun, int32_t century,
                         int32_t start_yy, int32_t corrupt_yy, int32_t answer, int32_t wrong) {
  RowBuilder row(tok);
  row.bos();
  bool century_seen = false;
  for (const TemplatePiece& p : pieces) {
    switch (p.slot) {
      case -1:
        row.text(p.literal);
        break;
      case kNoun:
        row.same(noun, kRoleNoun);
        break;
      case kCentury:
        row.same(century, century_seen ? kRoleNone : kRoleCentury);
        century_seen = true;
        break;
      case kStartDigits:
        row.differing(start_yy, corrupt_yy, kRoleStartYY);
        break;
    }
  }
  row.answer(answer, wrong, kRoleEnd);
  return row.finish();
}

}  // namespace

std::vector<std::string> greater_than_words() {
  std::vector<std::string> texts;
  for (const std::string& t : templates()) texts.push_back(template_words(t));
  texts.insert(texts.end(), history_nouns().begin(), history_nouns().end());
  for (int c = kFirstCentury; c <= kLastCentury; ++c) texts.push_back(std::to_string(c));
  for (int yy = 0; yy < 100; ++yy) texts.push_back(two_digits(yy));
  return texts;
}

TaskDataset make_greater_than_task(const TaskOptions& options, const Tokenizer& tok) {
  const YearTokens years = year_tokens(tok);
  std::vector<int32_t> nouns;
  for (const std::string& w : single_token_words(tok, history_nouns(), " ", kMinNouns, 1000, "event nouns"))
    nouns.push_back(single_token(tok, " " + w));
  // {YY} follows {XX} with no space: the template parser wants a space before each slot, so the
  // digits slot is parsed from a spaced copy and rendered without the space (it is a bare token).
  std::vector<std::vector<TemplatePiece>> parsed;
  int32_t row_length = 0;
  for (std::string t : templates()) {
    t.replace(t.find("{XX}{YY}"), 8, "{XX} {YY}");
    parsed.push_back(parse_template(t, kSlots));
    const int32_t y = years.yy[years.starts[0]];
    const TaskRow probe = greater_than_row(tok, parsed.back(), nouns[0], years.centuries[0], y, y, y, y);
    row_length = std::max(row_length, int32_t(probe.clean.size()));
  }
  SeededRng rng(options.seed);
  std::vector<TaskRow> rows;
  std::vector<int32_t> start_of_row;  // [n] the start year's two digits
  for (int64_t i = 0; i < options.n; ++i) {
    const size_t t = rng.below(parsed.size());
    const int start = rng.pick(years.starts);
    const int above = draw_year(rng, years, start + 1, 99), below = draw_year(rng, years, 0, start - 1);
    rows.push_back(greater_than_row(tok, parsed[t], rng.pick(nouns), rng.pick(years.centuries), years.yy[start],
                                    years.yy[years.corrupted_start], years.yy[above], years.yy[below]));
    start_of_row.push_back(start);
  }
  TaskDataset task;
  task.data = assemble_rows(rows, row_length, tok, task_source(options));
  task.annotations = task_annotations(options, tok, kRoleNames);
  task.annotations.task_arrays["year_tokens"] = years.yy;
  task.annotations.task_arrays["start_yy"] = std::move(start_of_row);
  task.annotations.attributes["corrupted_start"] = two_digits(years.corrupted_start);
  return task;
}

}  // namespace headlab
