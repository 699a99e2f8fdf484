// The task suites, under their own word tokenizers and under a BPE: row shapes, single-token answers,
// corruptions that touch only their positions (checked position by position), right answers, and the
// errors for bad requests.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "data/bpe_tokenizer.h"
#include "data/task_word_lists.h"
#include "data/tasks.h"
#include "data/word_tokenizer.h"

using namespace headlab;

namespace {

const std::vector<std::string> kTasks = {"induction", "ioi", "successor", "greater_than", "facts", "retrieval"};

// A BPE in which the tasks' words are single tokens: trained on every task word many times, each after
// a space as in a sentence, plus the two-digit years as chunks of their own ("17-32" pre-tokenizes as
// " 17", "-", "32").
const BpeTokenizer& task_bpe() {
  static const BpeTokenizer tok = [] {
    std::vector<std::string> words;
    for (const std::string& name : kTasks) {
      const std::unique_ptr<Tokenizer> w = default_task_tokenizer(name);
      for (const std::string& word : static_cast<const WordTokenizer&>(*w).words()) words.push_back(word);
    }
    std::mt19937_64 rng(1);
    std::string text;
    for (int round = 0; round < 12; ++round) {
      std::shuffle(words.begin(), words.end(), rng);
      for (const std::string& w : words) text += " " + w;
      for (int yy = 0; yy < 100; ++yy) text += " 17-" + std::string(1, char('0' + yy / 10)) + char('0' + yy % 10);
    }
    BpeTrainingOptions o;
    o.vocab_size = 4000;
    return train_bpe({text}, o);
  }();
  return tok;
}

TaskDataset build(const std::string& name, const Tokenizer& tok, int64_t n = 200, uint64_t seed = 7) {
  TaskOptions o;
  o.name = name;
  o.n = n;
  o.seed = seed;
  return make_task(o, tok);
}

int32_t role_id(const TaskDataset& task, const std::string& role) {
  const std::vector<std::string>& names = task.annotations.label_names.at("role");
  const auto it = std::find(names.begin(), names.end(), role);
  EXPECT_NE(it, names.end()) << role;
  return int32_t(it - names.begin());
}

struct RowView {
  const int32_t* clean;
  const int32_t* corrupted;
  const uint8_t* mask;
  const int32_t* role;
  int32_t answer, wrong, answer_pos;
};

RowView row(const TaskDataset& task, int64_t r) {
  const TokenDataset& ds = task.data;
  const size_t base = size_t(r * ds.seq_len);
  return {ds.tokens.data() + base,    ds.corrupted.data() + base,
          ds.loss_mask.data() + base, ds.labels.at("role").data() + base,
          ds.answer[size_t(r)],       ds.wrong_answer[size_t(r)],
          ds.answer_pos[size_t(r)]};
}

// What every task row must satisfy. Induction (rows from make_repeat_dataset) differs in two ways: its
// mask trains every position, and its corrupted twin replaces the whole second half, answer included.
struct RowRules {
  bool mask_only_the_answer = true;
  bool corrupted_ends_with_the_answer = true;
};

void check_rows(const TaskDataset& task, const Tokenizer& tok, RowRules rules = {}) {
  const TokenDataset& ds = task.data;
  ds.validate("task");
  ASSERT_EQ(ds.corrupted.size(), ds.tokens.size());
  ASSERT_EQ(ds.labels.at("role").size(), ds.tokens.size());
  const SpecialTokenIds special = tok.special();
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const RowView v = row(task, r);
    ASSERT_EQ(v.clean[0], special.bos);
    ASSERT_EQ(v.corrupted[0], special.bos);
    ASSERT_LT(v.answer_pos + 1, ds.seq_len);
    EXPECT_EQ(v.clean[v.answer_pos + 1], v.answer) << "row " << r;
    if (rules.corrupted_ends_with_the_answer) {
      EXPECT_EQ(v.corrupted[v.answer_pos + 1], v.answer) << "row " << r;
    }
    EXPECT_NE(v.answer, v.wrong) << "row " << r;
    for (int32_t id : {v.answer, v.wrong}) {
      EXPECT_FALSE(tok.is_special(id));
      EXPECT_EQ(tok.encode(tok.token_bytes(id)), std::vector<int32_t>{id}) << "answer is not one token";
    }
    for (int64_t p = v.answer_pos + 2; p < ds.seq_len; ++p) {
      EXPECT_EQ(v.clean[p], special.pad);
      EXPECT_EQ(v.corrupted[p], special.pad);
      EXPECT_EQ(v.mask[p], 0);
    }
    if (rules.mask_only_the_answer) {
      for (int64_t p = 0; p < ds.seq_len; ++p) EXPECT_EQ(v.mask[p], p == v.answer_pos + 1 ? 1 : 0) << "row " << r;
    }
  }
}

// Positions where clean and corrupted differ must all carry one of the roles (and, when `each`, every
// position with such a role must differ).
void check_corruption_only_at(const TaskDataset& task, const std::vector<std::string>& roles, bool each) {
  std::vector<int32_t> ids;
  for (const std::string& r : roles) ids.push_back(role_id(task, r));
  int64_t differing = 0;
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    for (int64_t p = 0; p < task.data.seq_len; ++p) {
      const bool allowed = std::count(ids.begin(), ids.end(), v.role[p]) > 0;
      if (v.clean[p] != v.corrupted[p]) {
        ++differing;
        EXPECT_TRUE(allowed) << "row " << r << " position " << p << " differs but has role " << v.role[p];
      } else if (allowed && each) {
        ADD_FAILURE() << "row " << r << " position " << p << " should differ";
      }
    }
  }
  EXPECT_GT(differing, 0);
}

class DataTasksTest : public ::testing::TestWithParam<bool> {  // true: under the BPE
 protected:
  std::unique_ptr<Tokenizer> tokenizer_for(const std::string& name) const {
    if (GetParam()) return tokenizer_from_json(task_bpe().to_json(), "bpe");
    return default_task_tokenizer(name);
  }
};

std::string text_of(const Tokenizer& tok, int32_t id) {
  std::string t = tok.token_bytes(id);
  return t.substr(t.find_first_not_of(' '));
}

}  // namespace

TEST_P(DataTasksTest, InductionRepeatsTheFirstHalf) {
  const auto tok = tokenizer_for("induction");
  const TaskDataset task = build("induction", *tok);
  check_rows(task, *tok, RowRules{false, false});
  const int64_t half = (task.data.seq_len - 1) / 2;
  EXPECT_EQ(half, 16);
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    for (int64_t p = 1; p <= 2 * half; ++p) EXPECT_FALSE(tok->is_special(v.clean[p]));
    for (int64_t p = half + 1; p <= 2 * half; ++p) EXPECT_EQ(v.clean[p], v.clean[p - half]);
    for (int64_t p = 0; p <= half; ++p) EXPECT_EQ(v.corrupted[p], v.clean[p]) << "the first half is never corrupted";
    EXPECT_EQ(v.answer_pos, 2 * half - 1);
  }
  check_corruption_only_at(task, {"second_half", "END"}, false);
}

TEST_P(DataTasksTest, IoiAnswerIsTheIndirectObject) {
  const auto tok = tokenizer_for("ioi");
  const TaskDataset task = build("ioi", *tok);
  check_rows(task, *tok);
  check_corruption_only_at(task, {"S2"}, true);
  const int32_t io = role_id(task, "IO"), s1 = role_id(task, "S1"), s2 = role_id(task, "S2");
  const std::vector<int32_t>& order = task.annotations.task_arrays.at("order");
  std::map<int32_t, int> orders;
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    int64_t at_io = -1, at_s1 = -1, at_s2 = -1;
    for (int64_t p = 0; p < task.data.seq_len; ++p) {
      if (v.role[p] == io) at_io = p;
      if (v.role[p] == s1) at_s1 = p;
      if (v.role[p] == s2) at_s2 = p;
    }
    ASSERT_TRUE(at_io > 0 && at_s1 > 0 && at_s2 > std::max(at_io, at_s1)) << "row " << r;
    EXPECT_EQ(v.answer, v.clean[at_io]);
    EXPECT_EQ(v.wrong, v.clean[at_s1]);
    EXPECT_EQ(v.clean[at_s2], v.clean[at_s1]) << "S2 repeats the subject";
    EXPECT_NE(v.corrupted[at_s2], v.clean[at_io]) << "ABC: a third name";
    EXPECT_NE(v.corrupted[at_s2], v.clean[at_s1]);
    EXPECT_EQ(order[size_t(r)], at_io < at_s1 ? 0 : 1) << "ABBA puts IO first";
    ++orders[order[size_t(r)]];
  }
  EXPECT_GT(orders[0], 50);  // both orders, about half each
  EXPECT_GT(orders[1], 50);
  EXPECT_GE(nlohmann::json::parse(task.annotations.attributes.at("templates")).size(), 15u);
  EXPECT_EQ(nlohmann::json::parse(task.annotations.attributes.at("names")).size(), 50u);
}

TEST_P(DataTasksTest, SuccessorAnswerFollowsTheLastItem) {
  const auto tok = tokenizer_for("successor");
  const TaskDataset task = build("successor", *tok);
  check_rows(task, *tok);
  check_corruption_only_at(task, {"item", "END"}, false);  // the last item is also the END position
  std::vector<std::vector<std::string>> sequences = {weekdays(), months(), {}, {}};
  for (int i = 1; i <= 99; ++i) sequences[2].push_back(std::to_string(i));
  for (char c = 'A'; c <= 'Z'; ++c) sequences[3].push_back(std::string(1, c));
  const std::vector<int32_t>& kind = task.annotations.task_arrays.at("sequence");
  const std::vector<int> index_of = {2, 0, 1, 3};  // the task's order: numbers, weekdays, months, letters
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    const std::vector<std::string>& seq = sequences[size_t(index_of[size_t(kind[size_t(r)])])];
    const std::string last = text_of(*tok, v.clean[v.answer_pos]);
    const size_t at = size_t(std::find(seq.begin(), seq.end(), last) - seq.begin());
    ASSERT_LT(at, seq.size()) << last;
    EXPECT_EQ(text_of(*tok, v.answer), seq[(at + 1) % seq.size()]);
    EXPECT_EQ(v.wrong, v.clean[v.answer_pos]);
    std::vector<int32_t> clean_items(v.clean + 1, v.clean + v.answer_pos + 1),
        corrupted_items(v.corrupted + 1, v.corrupted + v.answer_pos + 1);
    EXPECT_NE(corrupted_items.back(), clean_items.back()) << "the shuffle moves the last item";
    std::sort(clean_items.begin(), clean_items.end());
    std::sort(corrupted_items.begin(), corrupted_items.end());
    EXPECT_EQ(clean_items, corrupted_items) << "the same items, shuffled";
  }
}

TEST_P(DataTasksTest, GreaterThanAnswersAboveAndWrongBelow) {
  const auto tok = tokenizer_for("greater_than");
  const TaskDataset task = build("greater_than", *tok);
  check_rows(task, *tok);
  check_corruption_only_at(task, {"YY"}, true);
  if (!GetParam()) {
    EXPECT_EQ(task.annotations.attributes.at("corrupted_start"), "01");
  }
  const int32_t yy_role = role_id(task, "YY");
  const std::vector<int32_t>& start = task.annotations.task_arrays.at("start_yy");
  const std::vector<int32_t>& years = task.annotations.task_arrays.at("year_tokens");
  ASSERT_EQ(years.size(), 100u);
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    const int64_t at = std::find(v.role, v.role + task.data.seq_len, yy_role) - v.role;
    EXPECT_EQ(v.clean[at], years[size_t(start[size_t(r)])]);
    EXPECT_EQ(text_of(*tok, v.corrupted[at]), task.annotations.attributes.at("corrupted_start"));
    EXPECT_GT(std::stoi(text_of(*tok, v.answer)), start[size_t(r)]);
    EXPECT_LT(std::stoi(text_of(*tok, v.wrong)), start[size_t(r)]);
    EXPECT_EQ(v.clean[at - 1], v.clean[v.answer_pos]) << "the same century twice";
  }
}

TEST_P(DataTasksTest, FactsAnswerIsTheSubjectsValue) {
  const auto tok = tokenizer_for("facts");
  for (const std::string split : {"train", "test"}) {
    TaskOptions o;
    o.name = "facts";
    o.n = 200;
    o.seed = 3;
    o.split = split;
    const TaskDataset task = make_task(o, *tok);
    check_rows(task, *tok);
    check_corruption_only_at(task, {"subject_first", "subject_last"}, false);
    const nlohmann::json kb = nlohmann::json::parse(task.annotations.attributes.at("knowledge_base"));
    const nlohmann::json attributes = nlohmann::json::parse(task.annotations.attributes.at("attribute_names"));
    const std::vector<int32_t>& subject = task.annotations.task_arrays.at("subject");
    const std::vector<int32_t>& attribute = task.annotations.task_arrays.at("attribute");
    const std::vector<int32_t>& question = task.annotations.task_arrays.at("question");
    const int32_t first_role = role_id(task, "subject_first");
    int questions = 0;
    for (int64_t r = 0; r < task.data.n_seq; ++r) {
      const RowView v = row(task, r);
      const nlohmann::json& person = kb[size_t(subject[size_t(r)])];
      const int64_t at = std::find(v.role, v.role + task.data.seq_len, first_role) - v.role;
      EXPECT_EQ(text_of(*tok, v.clean[at]) + " " + text_of(*tok, v.clean[at + 1]),
                person["subject"].get<std::string>());
      const std::string attribute_name = attributes[size_t(attribute[size_t(r)])].get<std::string>();
      EXPECT_EQ(text_of(*tok, v.answer), person[attribute_name].get<std::string>());
      if (split == "test") {
        EXPECT_TRUE(person["held_out"].get<bool>()) << "test rows ask about held-out people only";
        EXPECT_EQ(question[size_t(r)], 1);
      } else if (question[size_t(r)] == 1) {
        EXPECT_FALSE(person["held_out"].get<bool>()) << "train questions never ask about held-out people";
      }
      questions += question[size_t(r)];
    }
    if (split == "train") {
      EXPECT_GT(questions, 0);
    }
  }
}

TEST_P(DataTasksTest, RetrievalAnswerIsTheQueriedValue) {
  const auto tok = tokenizer_for("retrieval");
  const TaskDataset task = build("retrieval", *tok);
  check_rows(task, *tok);
  check_corruption_only_at(task, {"query"}, true);
  const int32_t query = role_id(task, "query");
  for (int64_t r = 0; r < task.data.n_seq; ++r) {
    const RowView v = row(task, r);
    const int64_t q = std::find(v.role, v.role + task.data.seq_len, query) - v.role;
    // The value two positions after the key's occurrence in the context ("key : value").
    const auto value_of = [&](const int32_t* tokens) {
      const int64_t k = std::find(tokens + 1, tokens + q, tokens[q]) - tokens;
      EXPECT_LT(k, q) << "the queried key is in the context";
      return tokens[k + 2];
    };
    EXPECT_EQ(v.answer, value_of(v.clean));
    EXPECT_EQ(v.wrong, value_of(v.corrupted));
  }
}

TEST_P(DataTasksTest, RowsDependOnTheSeedOnly) {
  for (const std::string& name : kTasks) {
    const auto tok = tokenizer_for(name);
    const TaskDataset a = build(name, *tok, 50, 1), b = build(name, *tok, 50, 1), c = build(name, *tok, 50, 2);
    EXPECT_EQ(a.data.tokens, b.data.tokens) << name;
    EXPECT_EQ(a.data.corrupted, b.data.corrupted) << name;
    EXPECT_NE(a.data.tokens, c.data.tokens) << name;
    EXPECT_EQ(a.data.seq_len, build(name, *tok, 5, 9).data.seq_len) << name << ": row length depends on the rows";
  }
}

INSTANTIATE_TEST_SUITE_P(WordAndBpe, DataTasksTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Bpe" : "WordList"; });

TEST(DataTasksErrorsTest, RejectsBadRequests) {
  const auto tok = default_task_tokenizer("ioi");
  EXPECT_THROW(default_task_tokenizer("nosuch"), InputError);
  TaskOptions o;
  o.name = "nosuch";
  o.n = 5;
  EXPECT_THROW(make_task(o, *tok), InputError);
  o.name = "ioi";
  for (int64_t n : {0, -3}) {
    o.n = n;
    EXPECT_THROW(make_task(o, *tok), InputError);
  }
  o.n = 5;
  o.name = "successor";
  o.length = 9;
  EXPECT_THROW(make_task(o, *default_task_tokenizer("successor")), InputError);
  o.name = "facts";
  o.length = 0;
  o.split = "validation";
  EXPECT_THROW(make_task(o, *default_task_tokenizer("facts")), InputError);
  // The IOI word list cannot encode the retrieval task's words.
  o.name = "retrieval";
  o.split = "train";
  EXPECT_THROW(make_task(o, *tok), InputError);
}

TEST(DataTasksErrorsTest, TooFewSingleTokenNamesIsAClearError) {
  BpeTrainingOptions small;
  small.vocab_size = 300;
  const BpeTokenizer tok = train_bpe({"the cat sat on the mat and then the cat ran"}, small);
  TaskOptions o;
  o.name = "ioi";
  o.n = 5;
  try {
    make_task(o, tok);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--tokenizer: only 0 of the 110 candidate names are single tokens"),
              std::string::npos)
        << e.what();
  }
}
