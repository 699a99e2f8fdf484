// The in-context-learning generators (markov, triggers, bursty, parity, parity_cot) against their
// definitions: statistics of many rows (empirical transition frequencies against the stored matrices,
// the Dirichlet's moments), the structure every row must have (trigger outputs, burstiness counts,
// running parities, attention targets), corruptions confined to their positions, and bad options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/errors.h"
#include "data/dataset_annotations.h"
#include "data/tasks.h"
#include "tests/temp_dir.h"

using namespace headlab;

namespace {

TaskDataset build(TaskOptions o, int64_t n, uint64_t seed = 3) {
  o.n = n;
  o.seed = seed;
  return make_task(o, *default_task_tokenizer(o));
}

TaskOptions named(const std::string& name) {
  TaskOptions o;
  o.name = name;
  return o;
}

int32_t role_of(const TaskDataset& t, const std::string& name) {
  const std::vector<std::string>& names = t.annotations.label_names.at("role");
  const auto it = std::find(names.begin(), names.end(), name);
  EXPECT_NE(it, names.end()) << name;
  return int32_t(it - names.begin());
}

// Index of a token among the symbols (state_tokens, vocab_tokens ...), -1 when not one.
int index_in(const std::vector<int32_t>& symbols, int32_t id) {
  const auto it = std::find(symbols.begin(), symbols.end(), id);
  return it == symbols.end() ? -1 : int(it - symbols.begin());
}

}  // namespace

TEST(DataTaskGeneratorsTest, MarkovTransitionFrequenciesMatchTheStoredMatrices) {
  TaskOptions o = named("markov");
  o.states = 3;
  o.length = 4000;
  const TaskDataset t = build(o, 6);
  const TokenDataset& ds = t.data;
  ASSERT_EQ(ds.seq_len, 4001);
  const std::vector<int32_t>& states = t.annotations.task_arrays.at("state_tokens");
  const TaskTable& P = t.annotations.task_tables.at("transitions");
  ASSERT_EQ(P.shape, (std::vector<int64_t>{6, 3, 3}));
  const size_t K = 3;
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const int32_t* row = ds.tokens.data() + r * ds.seq_len;
    EXPECT_EQ(row[0], int32_t(default_task_tokenizer(o)->special().bos));
    std::vector<double> counts(K * K, 0), from(K, 0);
    for (int64_t p = 1; p + 1 < ds.seq_len; ++p) {
      const int a = index_in(states, row[p]), b = index_in(states, row[p + 1]);
      ASSERT_GE(a, 0);
      ASSERT_GE(b, 0);
      counts[size_t(a) * K + size_t(b)] += 1;
      from[size_t(a)] += 1;
    }
    const double* Pr = P.values.data() + size_t(r) * K * K;
    for (size_t a = 0; a < K; ++a) {
      double sum = 0;
      for (size_t b = 0; b < K; ++b) sum += Pr[a * K + b];
      EXPECT_NEAR(sum, 1.0, 1e-12);
      if (from[a] < 200) continue;  // a rarely visited state says little
      for (size_t b = 0; b < K; ++b) {
        const double p = Pr[a * K + b], f = counts[a * K + b] / from[a];
        EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / from[a]) + 1e-3) << "row " << r << " " << a << "->" << b;
      }
    }
    // The answer is the last state, predicted at answer_pos = T - 1; every state's prediction trains.
    EXPECT_EQ(ds.answer_pos[size_t(r)], 3999);
    EXPECT_EQ(ds.answer[size_t(r)], row[4000]);
    EXPECT_NE(ds.wrong_answer[size_t(r)], ds.answer[size_t(r)]);
    EXPECT_GE(index_in(states, ds.wrong_answer[size_t(r)]), 0);
    for (int64_t p = 0; p < ds.seq_len; ++p) EXPECT_EQ(ds.loss_mask[size_t(r * ds.seq_len + p)], p >= 1 ? 1 : 0);
    // The corrupted twin keeps the last two states and changes the context.
    const int32_t* bad = ds.corrupted.data() + r * ds.seq_len;
    EXPECT_EQ(bad[3999], row[3999]);
    EXPECT_EQ(bad[4000], row[4000]);
    EXPECT_GT(std::count_if(bad + 1, bad + 3999, [&, i = 0](int32_t v) mutable { return v != row[1 + i++]; }), 1000);
  }
  // The stationary distribution is stationary: pi P = pi.
  const TaskTable& pi = t.annotations.task_tables.at("stationary");
  for (int64_t r = 0; r < ds.n_seq; ++r)
    for (size_t b = 0; b < K; ++b) {
      double v = 0;
      for (size_t a = 0; a < K; ++a) v += pi.values[size_t(r) * K + a] * P.values[size_t(r) * K * K + a * K + b];
      EXPECT_NEAR(v, pi.values[size_t(r) * K + b], 1e-9);
    }
}

TEST(DataTaskGeneratorsTest, MarkovRowsAreDirichletDistributed) {
  // Each transition entry of a symmetric Dirichlet(alpha) over K has mean 1/K and variance
  // (1/K)(1 - 1/K) / (K alpha + 1).
  for (double alpha : {0.3, 1.0, 4.0}) {
    TaskOptions o = named("markov");
    o.states = 4;
    o.length = 3;
    o.alpha = alpha;
    const TaskDataset t = build(o, 4000, 11);
    const std::vector<double>& P = t.annotations.task_tables.at("transitions").values;
    const double K = 4, mean = 1 / K, var = mean * (1 - mean) / (K * alpha + 1);
    double m = 0, v = 0;
    const size_t n = P.size();
    for (double x : P) m += x;
    m /= double(n);
    for (double x : P) v += (x - m) * (x - m);
    v /= double(n - 1);
    // n entries, correlated in fours (a row sums to 1): a loose but failing-when-wrong tolerance.
    EXPECT_NEAR(m, mean, 1e-12) << "alpha " << alpha;  // every row sums to 1 exactly (up to rounding)
    EXPECT_NEAR(v, var, 0.08 * var) << "alpha " << alpha;
  }
}

TEST(DataTaskGeneratorsTest, TriggersAreFollowedByTheirOutputsAndRolesSayHow) {
  TaskOptions o = named("triggers");
  o.vocab = 16;
  o.triggers = 3;
  o.length = 64;
  const TaskDataset t = build(o, 400);
  const TokenDataset& ds = t.data;
  const std::vector<int32_t>& vocab = t.annotations.task_arrays.at("vocab_tokens");
  const std::vector<int32_t>& trig = t.annotations.task_arrays.at("trigger_tokens");
  const std::vector<int32_t>& outs = t.annotations.task_arrays.at("output_tokens");
  const std::vector<int32_t>& role = ds.labels.at("role");
  const int32_t bigram = role_of(t, "bigram"), first = role_of(t, "trigger_first"),
                repeat = role_of(t, "trigger_repeat"), end = role_of(t, "END");
  const size_t N = 16;
  std::vector<double> counts(N * N, 0), from(N, 0);
  int64_t repeats = 0;
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const int32_t* row = ds.tokens.data() + r * ds.seq_len;
    const int32_t* bad = ds.corrupted.data() + r * ds.seq_len;
    const int32_t* rl = role.data() + r * ds.seq_len;
    std::map<int32_t, int32_t> output_of;
    for (int k = 0; k < 3; ++k) output_of[trig[size_t(r) * 3 + k]] = outs[size_t(r) * 3 + k];
    ASSERT_EQ(output_of.size(), 3u) << "distinct triggers";
    for (const auto& [q, out] : output_of) EXPECT_EQ(output_of.count(out), 0u) << "an output is never a trigger";
    std::set<int32_t> seen;
    for (int64_t p = 1; p + 1 < ds.seq_len; ++p) {
      const bool is_trigger = output_of.count(row[p]) > 0;
      if (rl[p] == bigram) {
        EXPECT_FALSE(is_trigger);
        const int a = index_in(vocab, row[p]), b = index_in(vocab, row[p + 1]);
        counts[size_t(a) * N + size_t(b)] += 1;
        from[size_t(a)] += 1;
      } else if (rl[p] == first || rl[p] == repeat || rl[p] == end) {
        ASSERT_TRUE(is_trigger) << "row " << r << " position " << p;
        EXPECT_EQ(row[p + 1], output_of[row[p]]);
        EXPECT_EQ(rl[p] == first, seen.count(row[p]) == 0) << "row " << r << " position " << p;
        repeats += rl[p] == repeat;
      }
      if (is_trigger) seen.insert(row[p]);
    }
    // The answer: the output of a trigger seen (with its output) earlier in the row.
    const int64_t ap = ds.answer_pos[size_t(r)];
    EXPECT_EQ(ap, ds.seq_len - 2);
    EXPECT_EQ(rl[ap], end);
    EXPECT_EQ(ds.answer[size_t(r)], output_of[row[ap]]);
    bool shown = false;
    for (int64_t p = 1; p + 1 < ap; ++p) shown |= row[p] == row[ap] && row[p + 1] == ds.answer[size_t(r)];
    EXPECT_TRUE(shown) << "row " << r;
    // Corrupted: exactly the in-context outputs of the query trigger differ, and they become the wrong answer.
    for (int64_t p = 1; p < ds.seq_len; ++p) {
      const bool after_query = p + 1 < ap + 1 && p >= 2 && row[p - 1] == row[ap];
      EXPECT_EQ(bad[p], after_query ? ds.wrong_answer[size_t(r)] : row[p]) << "row " << r << " position " << p;
    }
  }
  EXPECT_GT(repeats, 400);
  // Pooled over rows, the bigram positions follow the stored global bigram.
  const TaskTable& B = t.annotations.task_tables.at("bigram");
  ASSERT_EQ(B.shape, (std::vector<int64_t>{16, 16}));
  int checked = 0;
  for (size_t a = 0; a < N; ++a) {
    if (from[a] < 300) continue;
    for (size_t b = 0; b < N; ++b) {
      const double p = B.values[a * N + b], f = counts[a * N + b] / from[a];
      EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / from[a]) + 2e-3) << a << "->" << b;
      ++checked;
    }
  }
  EXPECT_GT(checked, 5 * 16);
}

TEST(DataTaskGeneratorsTest, BurstyContextsHoldBCopiesOfEachClass) {
  TaskOptions o = named("bursty");
  o.classes = 20;
  o.novel_classes = 10;
  o.labels = 5;
  o.exemplars = 3;
  for (int64_t B : {1, 2, 4}) {
    o.burstiness = B;
    const TaskDataset t = build(o, 300);
    const TokenDataset& ds = t.data;
    ASSERT_EQ(ds.seq_len, 2 * 8 + 3);
    const std::unique_ptr<Tokenizer> tok = default_task_tokenizer(o);
    const std::vector<int32_t>& class_labels = t.annotations.task_arrays.at("class_labels");
    const std::vector<int32_t>& label_tokens = t.annotations.task_arrays.at("label_tokens");
    const std::vector<int32_t>& query_class = t.annotations.task_arrays.at("query_class");
    // The class of an item token, from its word "c<class>x<m>".
    const auto class_of = [&](int32_t id) {
      const std::string w = tok->decode({id});
      EXPECT_EQ(w[0], 'c') << w;
      return std::stoi(w.substr(1, w.find('x') - 1));
    };
    for (int64_t r = 0; r < ds.n_seq; ++r) {
      const int32_t* row = ds.tokens.data() + r * ds.seq_len;
      std::map<int, int> copies;
      for (int i = 0; i < 8; ++i) {
        const int c = class_of(row[1 + 2 * i]);
        ++copies[c];
        EXPECT_EQ(row[2 + 2 * i], label_tokens[size_t(class_labels[size_t(c)])]) << "the fixed label";
      }
      EXPECT_EQ(copies.size(), size_t(8 / B));
      for (const auto& [c, k] : copies) EXPECT_EQ(k, B);
      const int q = class_of(row[17]);
      EXPECT_EQ(q, query_class[size_t(r)]);
      EXPECT_EQ(copies.count(q), 1u) << "the query's class is in the context";
      EXPECT_EQ(ds.answer_pos[size_t(r)], 17);
      EXPECT_EQ(ds.answer[size_t(r)], label_tokens[size_t(class_labels[size_t(q)])]);
      EXPECT_EQ(row[18], ds.answer[size_t(r)]);
      // Only the answer trains; the corrupted twin differs at the query only, with another label.
      for (int64_t p = 0; p < ds.seq_len; ++p) {
        EXPECT_EQ(ds.loss_mask[size_t(r * ds.seq_len + p)], p == 18 ? 1 : 0);
        if (p != 17) {
          EXPECT_EQ(ds.corrupted[size_t(r * ds.seq_len + p)], row[p]);
        }
      }
      EXPECT_NE(ds.wrong_answer[size_t(r)], ds.answer[size_t(r)]);
    }
  }
  // Labels are balanced over the training classes: 20 classes, 5 labels, 4 each.
  o.burstiness = 4;
  const TaskDataset t = build(o, 4);
  std::map<int32_t, int> per_label;
  for (int32_t l : t.annotations.task_arrays.at("class_labels")) ++per_label[l];
  EXPECT_EQ(per_label.size(), 5u);
  for (const auto& [l, k] : per_label) EXPECT_EQ(k, 4);
}

TEST(DataTaskGeneratorsTest, BurstySplitsTestInContextAndInWeightsLearning) {
  TaskOptions o = named("bursty");
  o.classes = 20;
  o.novel_classes = 10;
  o.labels = 5;
  o.exemplars = 2;
  o.burstiness = 2;
  const std::unique_ptr<Tokenizer> tok = default_task_tokenizer(o);
  o.split = "ic";
  const TaskDataset ic = build(o, 300);
  for (int64_t r = 0; r < ic.data.n_seq; ++r) {
    const int32_t* row = ic.data.tokens.data() + r * ic.data.seq_len;
    std::map<std::string, int32_t> label_of_class;
    std::set<int32_t> labels;
    for (int i = 0; i < 8; ++i) {
      const std::string w = tok->decode({row[1 + 2 * i]});
      ASSERT_EQ(w[0], 'n') << "novel classes only: " << w;
      const std::string cls = w.substr(0, w.find('x'));
      if (label_of_class.count(cls)) {
        EXPECT_EQ(label_of_class[cls], row[2 + 2 * i]) << "one label per class within a row";
      }
      label_of_class[cls] = row[2 + 2 * i];
    }
    for (const auto& [c, l] : label_of_class) labels.insert(l);
    EXPECT_EQ(labels.size(), label_of_class.size()) << "distinct labels for the row's classes";
    const std::string q = tok->decode({row[17]});
    ASSERT_EQ(label_of_class.count(q.substr(0, q.find('x'))), 1u);
    EXPECT_EQ(ic.data.answer[size_t(r)], label_of_class[q.substr(0, q.find('x'))]);
  }
  // ic_swap: training classes, each context class with a row label other than its fixed one.
  o.split = "ic_swap";
  const TaskDataset swap = build(o, 300);
  const std::vector<int32_t>& class_labels = swap.annotations.task_arrays.at("class_labels");
  const std::vector<int32_t>& label_tokens = swap.annotations.task_arrays.at("label_tokens");
  for (int64_t r = 0; r < swap.data.n_seq; ++r) {
    const int32_t* row = swap.data.tokens.data() + r * swap.data.seq_len;
    std::map<int, int32_t> label_of_class;
    std::set<int32_t> labels;
    for (int i = 0; i < 8; ++i) {
      const std::string w = tok->decode({row[1 + 2 * i]});
      ASSERT_EQ(w[0], 'c') << "training classes only: " << w;
      const int cls = std::stoi(w.substr(1, w.find('x') - 1));
      if (label_of_class.count(cls)) {
        EXPECT_EQ(label_of_class[cls], row[2 + 2 * i]) << "one label per class within a row";
      }
      label_of_class[cls] = row[2 + 2 * i];
      EXPECT_NE(row[2 + 2 * i], label_tokens[size_t(class_labels[size_t(cls)])]) << "never the class's own label";
    }
    for (const auto& [c, l] : label_of_class) labels.insert(l);
    EXPECT_EQ(labels.size(), label_of_class.size()) << "distinct labels for the row's classes";
    const std::string q = tok->decode({row[17]});
    const int q_class = std::stoi(q.substr(1, q.find('x') - 1));
    ASSERT_EQ(label_of_class.count(q_class), 1u);
    EXPECT_EQ(swap.data.answer[size_t(r)], label_of_class[q_class]);
    EXPECT_NE(swap.data.wrong_answer[size_t(r)], swap.data.answer[size_t(r)]);
  }
  o.split = "iwl";
  const TaskDataset iwl = build(o, 300);
  for (int64_t r = 0; r < iwl.data.n_seq; ++r) {
    const int32_t* row = iwl.data.tokens.data() + r * iwl.data.seq_len;
    const std::string q = tok->decode({row[17]});
    for (int i = 0; i < 8; ++i) {
      const std::string w = tok->decode({row[1 + 2 * i]});
      EXPECT_NE(w.substr(0, w.find('x')), q.substr(0, q.find('x'))) << "the query's class is absent";
    }
  }
  // Burstiness 0: items i.i.d., so a query's class is in the context about 1 - (19/20)^8 = 34% of the time.
  o.split = "train";
  o.burstiness = 0;
  const TaskDataset iid = build(o, 2000);
  int in_context = 0;
  for (int64_t r = 0; r < iid.data.n_seq; ++r) {
    const int32_t* row = iid.data.tokens.data() + r * iid.data.seq_len;
    const std::string q = tok->decode({row[17]});
    bool found = false;
    for (int i = 0; i < 8; ++i) {
      const std::string w = tok->decode({row[1 + 2 * i]});
      found |= w.substr(0, w.find('x')) == q.substr(0, q.find('x'));
    }
    in_context += found;
  }
  EXPECT_NEAR(in_context / 2000.0, 1 - std::pow(19.0 / 20.0, 8), 0.04);
}

TEST(DataTaskGeneratorsTest, ParityStepsAreRunningXorsAndTargetsNameTheirInputs) {
  TaskOptions o = named("parity_cot");
  o.length = 10;
  const TaskDataset t = build(o, 200);
  const TokenDataset& ds = t.data;
  const std::vector<int32_t>& bits = t.annotations.task_arrays.at("bit_tokens");
  const std::vector<int32_t>& target = ds.labels.at("attend_target");
  ASSERT_EQ(ds.seq_len, 22);
  const auto bit = [&](int32_t id) { return index_in(bits, id); };
  for (int64_t r = 0; r < ds.n_seq; ++r) {
    const int32_t* row = ds.tokens.data() + r * ds.seq_len;
    const int32_t* bad = ds.corrupted.data() + r * ds.seq_len;
    const int32_t* tg = target.data() + r * ds.seq_len;
    int s = 0, flips = 0;
    for (int64_t p = 1; p <= 10; ++p) flips += row[p] != bad[p];
    EXPECT_EQ(flips, 1);
    // The step predicted at position q is s_{q-10}; it needs the input at tg[q], and s there equals the
    // step before it xor that input bit.
    for (int64_t q = 0; q < ds.seq_len; ++q) {
      if (q < 11 || q > 20) {
        EXPECT_EQ(tg[q], -1);
        continue;
      }
      ASSERT_EQ(tg[q], q - 10);
      s ^= bit(row[tg[q]]);
      EXPECT_EQ(bit(row[q + 1]), s) << "row " << r << " step " << q - 10;
      EXPECT_EQ(ds.loss_mask[size_t(r * ds.seq_len + q + 1)], 1);
    }
    EXPECT_EQ(ds.answer_pos[size_t(r)], 20);
    EXPECT_EQ(bit(ds.answer[size_t(r)]), s);
    EXPECT_EQ(bit(ds.wrong_answer[size_t(r)]), 1 - s);
  }
  o.name = "parity";
  const TaskDataset plain = build(o, 200);
  ASSERT_EQ(plain.data.seq_len, 13);
  for (int64_t r = 0; r < plain.data.n_seq; ++r) {
    const int32_t* row = plain.data.tokens.data() + r * plain.data.seq_len;
    int s = 0;
    for (int64_t p = 1; p <= 10; ++p) s ^= bit(row[p]);
    EXPECT_EQ(plain.data.answer_pos[size_t(r)], 11);
    EXPECT_EQ(bit(row[12]), s);
    for (int64_t p = 0; p < 13; ++p) EXPECT_EQ(plain.data.loss_mask[size_t(r * 13 + p)], p == 12 ? 1 : 0);
  }
}

TEST(DataTaskGeneratorsTest, TablesAndArraysSurviveTheFile) {
  TaskOptions o = named("markov");
  o.length = 20;
  const TaskDataset t = build(o, 5);
  headlab::testing::TempDir dir;
  const std::string path = dir.path("markov.h5");
  write_annotated_dataset(path, t.data, t.annotations);
  const DatasetAnnotations back = read_dataset_annotations(path);
  EXPECT_EQ(back.task_tables.at("transitions").shape, (std::vector<int64_t>{5, 3, 3}));
  EXPECT_EQ(back.task_tables.at("transitions").values, t.annotations.task_tables.at("transitions").values);
  EXPECT_EQ(back.task_arrays.at("state_tokens"), t.annotations.task_arrays.at("state_tokens"));
  const nlohmann::json opts = nlohmann::json::parse(back.attributes.at("task_options"));
  EXPECT_EQ(opts.at("states"), 3);
  EXPECT_EQ(opts.at("alpha"), 1.0);
}

TEST(DataTaskGeneratorsTest, RowsDependOnTheSeedOnly) {
  for (const std::string name : {"markov", "triggers", "bursty", "parity", "parity_cot"}) {
    const TaskDataset a = build(named(name), 20, 5), b = build(named(name), 20, 5), c = build(named(name), 20, 6);
    EXPECT_EQ(a.data.tokens, b.data.tokens) << name;
    EXPECT_EQ(a.data.corrupted, b.data.corrupted) << name;
    EXPECT_NE(a.data.tokens, c.data.tokens) << name;
  }
}

TEST(DataTaskGeneratorsTest, BadOptionsAreInputErrors) {
  const auto rejects = [](TaskOptions o, const std::string& option) {
    o.n = 4;
    try {
      make_task(o, *default_task_tokenizer(named(o.name)));
      ADD_FAILURE() << o.name << ": accepted a bad " << option;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
    }
    EXPECT_THROW(default_task_tokenizer(o), InputError) << o.name << " " << option;
  };
  struct BadOption {
    const char* task;
    const char* option;  // the option the error must name
    std::function<void(TaskOptions&)> set;
  };
  const std::vector<BadOption> bad = {
      {"markov", "--states", [](TaskOptions& o) { o.states = 1; }},
      {"markov", "--alpha", [](TaskOptions& o) { o.alpha = -1; }},
      {"markov", "--length", [](TaskOptions& o) { o.length = 2; }},
      {"triggers", "--triggers", [](TaskOptions& o) { o.triggers = 40; }},
      {"triggers", "--vocab", [](TaskOptions& o) { o.vocab = 2; }},
      {"bursty", "--burstiness", [](TaskOptions& o) { o.burstiness = 3; }},
      {"bursty", "--split", [](TaskOptions& o) { o.split = "test"; }},
      {"bursty", "--burstiness",
       [](TaskOptions& o) {
         o.split = "ic";
         o.burstiness = 0;
       }},
      {"bursty", "--labels", [](TaskOptions& o) { o.labels = 1; }},
      {"bursty", "--burstiness",
       [](TaskOptions& o) {
         o.split = "ic_swap";
         o.burstiness = 0;
       }},
      {"bursty", "--labels",
       [](TaskOptions& o) {
         o.split = "ic_swap";
         o.burstiness = 2;  // 4 context classes need 5 labels
         o.labels = 4;
       }},
      {"parity_cot", "--length", [](TaskOptions& o) { o.length = 1; }},
  };
  for (const BadOption& b : bad) {
    TaskOptions o = named(b.task);
    b.set(o);
    rejects(o, b.option);
  }
}
