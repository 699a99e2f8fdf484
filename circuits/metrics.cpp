#include "circuits/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

// log Σ exp over one row of V logits, in double.
double log_sum_exp(const float* row, int V) {
  double mx = row[0];
  for (int v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
  double s = 0;
  for (int v = 0; v < V; ++v) s += std::exp(double(row[v]) - mx);
  return mx + std::log(s);
}

const float* answer_row(const float* logits, const MetricTargets& t, int b) {
  return logits + (int64_t(b) * t.T + t.answer_pos[b]) * t.V;
}

// prob_diff's sign of token v for row b: +1 a year above the start, −1 a year at or below it.
// Fills `sign` [V] (0 elsewhere).
void year_signs(const MetricTargets& t, int b, std::vector<int8_t>& sign) {
  sign.assign(size_t(t.V), 0);
  for (int y = 0; y < t.n_years; ++y) {
    const int32_t tok = t.year_tokens[y];
    if (tok >= 0 && tok < t.V) sign[size_t(tok)] = y > t.start_year[b] ? 1 : -1;
  }
}

// Σ_v sign_v p_v for one row, p = softmax(row).
double signed_prob(const float* row, int V, const std::vector<int8_t>& sign, double lse) {
  double m = 0;
  for (int v = 0; v < V; ++v)
    if (sign[size_t(v)]) m += double(sign[size_t(v)]) * std::exp(double(row[v]) - lse);
  return m;
}

}  // namespace

MetricKind parse_metric(const std::string& s, const std::string& what) {
  if (s == "logit_diff") return MetricKind::logit_diff;
  if (s == "prob") return MetricKind::prob;
  if (s == "kl") return MetricKind::kl;
  if (s == "prob_diff") return MetricKind::prob_diff;
  throw InputError(what, "expected logit_diff, prob, kl or prob_diff, got '" + s + "'");
}

std::string to_string(MetricKind m) {
  switch (m) {
    case MetricKind::logit_diff:
      return "logit_diff";
    case MetricKind::prob:
      return "prob";
    case MetricKind::kl:
      return "kl";
    case MetricKind::prob_diff:
      return "prob_diff";
  }
  return "?";
}

std::string metric_description(MetricKind m) {
  switch (m) {
    case MetricKind::logit_diff:
      return "logit(answer) - logit(wrong_answer) at answer_pos";
    case MetricKind::prob:
      return "probability of the answer at answer_pos";
    case MetricKind::kl:
      return "KL(clean || run) of the next-token distribution at answer_pos";
    case MetricKind::prob_diff:
      return "p(years > start year) - p(years <= start year) at answer_pos (greater-than)";
  }
  return "?";
}

std::vector<double> metric_per_sequence(MetricKind kind, const float* logits, const MetricTargets& t) {
  if (!t.answer_pos) throw InternalError("metric without answer positions");
  if ((kind == MetricKind::logit_diff || kind == MetricKind::prob) && !t.answer)
    throw InternalError("metric " + to_string(kind) + " without answers");
  if (kind == MetricKind::logit_diff && !t.wrong_answer) throw InternalError("logit_diff without wrong answers");
  if (kind == MetricKind::kl && !t.reference_logprobs) throw InternalError("kl without reference log-probabilities");
  if (kind == MetricKind::prob_diff && (!t.year_tokens || !t.start_year || t.n_years < 1))
    throw InternalError("prob_diff without year tokens and start years");
  std::vector<int8_t> sign;
  std::vector<double> out(size_t(t.B));
  for (int b = 0; b < t.B; ++b) {
    const float* row = answer_row(logits, t, b);
    switch (kind) {
      case MetricKind::logit_diff:
        out[size_t(b)] = double(row[t.answer[b]]) - double(row[t.wrong_answer[b]]);
        break;
      case MetricKind::prob:
        out[size_t(b)] = std::exp(double(row[t.answer[b]]) - log_sum_exp(row, t.V));
        break;
      case MetricKind::kl: {
        const double lse = log_sum_exp(row, t.V);
        const float* ref = t.reference_logprobs + int64_t(b) * t.V;
        double kl = 0;
        for (int v = 0; v < t.V; ++v) {
          const double lp = double(ref[v]);
          kl += std::exp(lp) * (lp - (double(row[v]) - lse));
        }
        out[size_t(b)] = kl;
        break;
      }
      case MetricKind::prob_diff:
        year_signs(t, b, sign);
        out[size_t(b)] = signed_prob(row, t.V, sign, log_sum_exp(row, t.V));
        break;
    }
  }
  return out;
}

double metric_sum(MetricKind kind, const float* logits, const MetricTargets& t) {
  double s = 0;
  for (double v : metric_per_sequence(kind, logits, t)) s += v;
  return s;
}

std::vector<float> metric_gradient(MetricKind kind, const float* logits, const MetricTargets& t) {
  metric_per_sequence(kind, logits, t);  // the same checks of what the metric needs
  std::vector<float> grad(size_t(t.B) * size_t(t.T) * size_t(t.V), 0.0f);
  std::vector<int8_t> sign;
  for (int b = 0; b < t.B; ++b) {
    const float* row = answer_row(logits, t, b);
    float* g = grad.data() + (int64_t(b) * t.T + t.answer_pos[b]) * t.V;
    switch (kind) {
      case MetricKind::logit_diff:
        g[t.answer[b]] += 1.0f;
        g[t.wrong_answer[b]] -= 1.0f;
        break;
      case MetricKind::prob: {  // p_a (onehot_a − p)
        const double lse = log_sum_exp(row, t.V);
        const double pa = std::exp(double(row[t.answer[b]]) - lse);
        for (int v = 0; v < t.V; ++v) g[v] = float(-pa * std::exp(double(row[v]) - lse));
        g[t.answer[b]] += float(pa);
        break;
      }
      case MetricKind::kl: {
        const double lse = log_sum_exp(row, t.V);
        const float* ref = t.reference_logprobs + int64_t(b) * t.V;
        for (int v = 0; v < t.V; ++v) g[v] = float(std::exp(double(row[v]) - lse) - std::exp(double(ref[v])));
        break;
      }
      case MetricKind::prob_diff: {
        year_signs(t, b, sign);
        const double lse = log_sum_exp(row, t.V);
        const double m = signed_prob(row, t.V, sign, lse);
        for (int v = 0; v < t.V; ++v) g[v] = float(std::exp(double(row[v]) - lse) * (double(sign[size_t(v)]) - m));
        break;
      }
    }
  }
  return grad;
}

std::vector<float> answer_logprobs(const float* logits, int B, int T, int V, const int32_t* answer_pos) {
  std::vector<float> out(size_t(B) * size_t(V));
  for (int b = 0; b < B; ++b) {
    const float* row = logits + (int64_t(b) * T + answer_pos[b]) * V;
    const double lse = log_sum_exp(row, V);
    for (int v = 0; v < V; ++v) out[size_t(b) * size_t(V) + size_t(v)] = float(double(row[v]) - lse);
  }
  return out;
}

const float* host_logits(Transformer& model, std::vector<float>& buffer) {
  if (model.backend().device() == Device::cpu) return model.logits();
  buffer = model.logits_to_host();
  return buffer.data();
}

}  // namespace headlab
