#include "circuits/task_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "model/hooks.h"

namespace headlab {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Role sets as sets of label values.
std::vector<std::vector<int32_t>> role_sets(const std::vector<std::string>& sets, const DatasetAnnotations& a) {
  std::vector<std::vector<int32_t>> out;
  if (sets.empty()) return out;
  const auto names = a.label_names.find("role");
  if (names == a.label_names.end())
    throw InputError("--roles", "the dataset has no role names (label_names[\"role\"]); headlab-data task writes them");
  for (const std::string& set : sets) {
    std::vector<int32_t> values;
    size_t begin = 0;
    while (begin <= set.size()) {
      const size_t plus = std::min(set.find('+', begin), set.size());
      const std::string name = set.substr(begin, plus - begin);
      const auto it = std::find(names->second.begin(), names->second.end(), name);
      if (it == names->second.end()) {
        std::string known;
        for (const std::string& n : names->second) known += (known.empty() ? "" : ", ") + n;
        throw InputError("--roles", "the dataset has no role '" + name + "' (its roles: " + known + ")");
      }
      values.push_back(int32_t(it - names->second.begin()));
      begin = plus + 1;
    }
    out.push_back(values);
  }
  return out;
}

struct MarkovInfo {
  int K = 0;
  double alpha = 0;
  std::vector<int32_t> state_tokens;
  const std::vector<double>* transitions = nullptr;  // [n, K, K]
};

MarkovInfo markov_info(const DatasetAnnotations& a, int64_t n_rows) {
  const auto task = a.attributes.find("task");
  if (task == a.attributes.end() || task->second != "markov")
    throw InputError("--strategies", "the Markov strategies need a dataset of headlab-data task markov");
  MarkovInfo m;
  try {
    m.alpha = nlohmann::json::parse(a.attributes.at("task_options")).at("alpha").get<double>();
  } catch (const std::exception&) {
    throw InputError("--strategies", "the dataset's task_options attribute has no number 'alpha'");
  }
  if (!a.task_arrays.count("state_tokens") || !a.task_tables.count("transitions"))
    throw InputError("--strategies", "the dataset lacks /task/state_tokens or /task/transitions");
  m.state_tokens = a.task_arrays.at("state_tokens");
  m.K = int(m.state_tokens.size());
  const TaskTable& t = a.task_tables.at("transitions");
  if (m.K < 2 || !(m.alpha > 0) || t.shape != std::vector<int64_t>{n_rows, m.K, m.K})
    throw InputError("--strategies", "/task/transitions should be [rows, K, K] for the K = " + std::to_string(m.K) +
                                         " state tokens, with alpha > 0");
  m.transitions = &t.values;
  return m;
}

double kl(const double* p, const double* q, int K) {
  double s = 0;
  for (int j = 0; j < K; ++j)
    if (p[j] > 0) s += p[j] * std::log(p[j] / q[j]);
  return s;
}

}  // namespace

TaskEvalResult evaluate_task(Transformer& model, const TokenDataset& ds, const DatasetAnnotations& annotations,
                             const TaskEvalOptions& o, const std::string& what) {
  const ModelConfig& cfg = model.config();
  if (ds.kind != DatasetKind::sequences || ds.seq_len < 2)
    throw InputError(what, "expected a task dataset of rows of at least two tokens");
  if (o.batch_size < 1) throw InputError("--batch-size", "expected at least 1");
  const int64_t n = o.max_rows > 0 ? std::min(o.max_rows, ds.n_seq) : ds.n_seq;
  const int T = int(ds.seq_len - 1), S = int(ds.seq_len), V = int(cfg.d_vocab);
  if (T > cfg.n_ctx)
    throw InputError(what, "rows of " + std::to_string(ds.seq_len) + " tokens need a context of " + std::to_string(T) +
                               "; the model's n_ctx is " + std::to_string(cfg.n_ctx));
  for (int64_t i = 0; i < n * S; ++i)
    if (ds.tokens[size_t(i)] >= V)
      throw InputError(what, "token id " + std::to_string(ds.tokens[size_t(i)]) +
                                 " is outside the model's vocabulary (d_vocab " + std::to_string(V) + ")");
  const std::vector<std::vector<int32_t>> sets = role_sets(o.roles, annotations);
  const std::vector<int32_t>* role = nullptr;
  if (!sets.empty()) {
    if (!ds.labels.count("role")) throw InputError("--roles", "the dataset has no /labels/role");
    role = &ds.labels.at("role");
  }
  MarkovInfo markov;
  if (o.strategies) {
    markov = markov_info(annotations, ds.n_seq);
    for (int32_t id : markov.state_tokens)
      if (id < 0 || id >= V) throw InputError("--strategies", "a state token is outside the model's vocabulary");
  }
  const std::vector<int32_t>* target = nullptr;
  if (!o.attention_label.empty()) {
    const auto it = ds.labels.find(o.attention_label);
    if (it == ds.labels.end())
      throw InputError("--attention-target", "the dataset has no /labels/" + o.attention_label);
    target = &it->second;
  }

  TaskEvalResult r;
  r.rows = n;
  r.T = T;
  r.n_layers = cfg.n_layers;
  r.n_heads = cfg.n_heads;
  double loss_sum = 0, answer_hits = 0;
  int64_t loss_count = 0;
  std::vector<double> role_hits(sets.size(), 0), role_loss(sets.size(), 0);
  std::vector<int64_t> role_count(sets.size(), 0);
  const int K = markov.K;
  if (o.strategies) r.strategy_names = {"uniform", "unigram", "bigram", "true"};
  std::vector<double> kl_sum(r.strategy_names.size(), 0);
  const size_t LH = size_t(cfg.n_layers) * size_t(cfg.n_heads);
  std::vector<double> hits(LH, 0), weight(LH, 0);
  std::vector<HookPoint> pattern_points;
  if (target)
    for (int l = 0; l < cfg.n_layers; ++l) pattern_points.push_back({l, HookSite::attn_pattern});

  std::vector<int32_t> tokens;
  for (int64_t first = 0; first < n; first += o.batch_size) {
    const int B = int(std::min<int64_t>(o.batch_size, n - first));
    tokens.resize(size_t(B) * size_t(T));
    for (int b = 0; b < B; ++b)
      std::copy_n(ds.tokens.data() + (first + b) * S, T, tokens.data() + size_t(b) * size_t(T));
    ActivationCache cache;
    if (target)
      cache = run_with_cache(model, tokens.data(), B, T, pattern_points);
    else
      model.forward(tokens.data(), B, T);
    const std::vector<float> logits = model.logits_to_host();  // [B, T, V]
    for (int b = 0; b < B; ++b) {
      const int64_t row = first + b;
      const int32_t* toks = ds.tokens.data() + row * S;
      const int answer_pos = ds.answer_pos.empty() ? T - 1 : ds.answer_pos[size_t(row)];
      // Markov counts over the states seen so far (positions 1 .. p).
      std::vector<double> unigram(static_cast<size_t>(K), 0.0), bigram(static_cast<size_t>(K * K), 0.0);
      int prev_state = -1;
      for (int p = 0; p < T; ++p) {
        const float* lg = logits.data() + (size_t(b) * size_t(T) + size_t(p)) * size_t(V);
        const int next = toks[p + 1];
        // log-softmax in double
        double mx = -std::numeric_limits<double>::infinity();
        int argmax = 0;
        for (int v = 0; v < V; ++v)
          if (lg[v] > mx) mx = lg[v], argmax = v;
        double z = 0;
        for (int v = 0; v < V; ++v) z += std::exp(double(lg[v]) - mx);
        const double lz = mx + std::log(z);
        const double nll = lz - double(lg[next]);
        if (!ds.loss_mask.empty() ? ds.loss_mask[size_t(row * S + p + 1)] != 0 : true) {
          loss_sum += nll;
          ++loss_count;
        }
        if (p == answer_pos && !ds.answer.empty()) answer_hits += argmax == ds.answer[size_t(row)];
        if (role) {
          const int32_t rv = (*role)[size_t(row * S + p)];
          for (size_t s = 0; s < sets.size(); ++s)
            if (std::find(sets[s].begin(), sets[s].end(), rv) != sets[s].end()) {
              role_hits[s] += argmax == next;
              role_loss[s] += nll;
              ++role_count[s];
            }
        }
        if (o.strategies) {
          const int state = int(std::find(markov.state_tokens.begin(), markov.state_tokens.end(), toks[p]) -
                                markov.state_tokens.begin());
          if (state < K) {
            unigram[size_t(state)] += 1;
            if (prev_state >= 0) bigram[size_t(prev_state) * size_t(K) + size_t(state)] += 1;
            prev_state = state;
            if (p >= 1) {
              std::vector<double> model_p(static_cast<size_t>(K)), s(static_cast<size_t>(K));
              double zs = 0;
              for (int j = 0; j < K; ++j)
                zs += (model_p[size_t(j)] = std::exp(double(lg[markov.state_tokens[size_t(j)]]) - mx));
              for (double& v : model_p) v = std::max(v / zs, 1e-300);
              double seen = 0, from = 0;
              for (int j = 0; j < K; ++j)
                seen += unigram[size_t(j)], from += bigram[size_t(state) * size_t(K) + size_t(j)];
              const double a = markov.alpha;
              for (int j = 0; j < K; ++j) s[size_t(j)] = 1.0 / K;
              kl_sum[0] += kl(s.data(), model_p.data(), K);
              for (int j = 0; j < K; ++j) s[size_t(j)] = (unigram[size_t(j)] + a) / (seen + K * a);
              kl_sum[1] += kl(s.data(), model_p.data(), K);
              for (int j = 0; j < K; ++j)
                s[size_t(j)] = (bigram[size_t(state) * size_t(K) + size_t(j)] + a) / (from + K * a);
              kl_sum[2] += kl(s.data(), model_p.data(), K);
              const double* P = markov.transitions->data() + (size_t(row) * size_t(K) + size_t(state)) * size_t(K);
              kl_sum[3] += kl(P, model_p.data(), K);
              ++r.strategy_positions;
            }
          }
        }
        if (target) {
          const int32_t k = (*target)[size_t(row * S + p)];
          if (k < 0 || k > p) continue;  // no target, or one the causal mask hides
          ++r.attention_positions;
          for (int l = 0; l < cfg.n_layers; ++l) {
            const HostTensor& pat = cache.at(HookPoint{l, HookSite::attn_pattern});  // [B, H, T, T]
            for (int h = 0; h < cfg.n_heads; ++h) {
              const float* a =
                  pat.data.data() + ((size_t(b) * size_t(cfg.n_heads) + size_t(h)) * size_t(T) + size_t(p)) * size_t(T);
              const int best = int(std::max_element(a, a + p + 1) - a);
              hits[size_t(l) * size_t(cfg.n_heads) + size_t(h)] += best == k;
              weight[size_t(l) * size_t(cfg.n_heads) + size_t(h)] += a[k];
            }
          }
        }
      }
    }
  }
  r.loss = loss_count ? loss_sum / double(loss_count) : kNaN;
  r.answer_accuracy = ds.answer.empty() ? kNaN : answer_hits / double(n);
  for (size_t s = 0; s < sets.size(); ++s)
    r.roles.push_back({o.roles[s], role_count[s], role_count[s] ? role_hits[s] / double(role_count[s]) : kNaN,
                       role_count[s] ? role_loss[s] / double(role_count[s]) : kNaN});
  for (double v : kl_sum) r.strategy_kl.push_back(r.strategy_positions ? v / double(r.strategy_positions) : kNaN);
  if (target) {
    for (size_t i = 0; i < LH; ++i) {
      r.hit_rate.push_back(r.attention_positions ? hits[i] / double(r.attention_positions) : kNaN);
      r.target_weight.push_back(r.attention_positions ? weight[i] / double(r.attention_positions) : kNaN);
    }
  }
  return r;
}

}  // namespace headlab
