// Task metrics on a batch's logits at each sequence's answer position (docs/headlab-circuits.md):
//   logit_diff  logit(answer) - logit(wrong_answer)
//   prob        softmax probability of the answer
//   kl          KL(reference || this run) of the next-token distributions, the reference being the
//               clean run (0 on the clean run itself)
//   prob_diff   greater-than's probability difference (Hanna et al. 2023): the summed probability
//               of the years above the row's start year minus that of the years at or below it,
//               Σ_{y > YY} p(y) − Σ_{y <= YY} p(y), over the year tokens that exist
// Batched: one call scores every sequence of a [B, T, V] logits array.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

enum class MetricKind { logit_diff, prob, kl, prob_diff };
MetricKind parse_metric(const std::string& text, const std::string& what = "--metric");  // InputError
std::string to_string(MetricKind m);
std::string metric_description(MetricKind m);  // one line for reports

struct MetricTargets {
  int B = 0, T = 0, V = 0;
  const int32_t* answer = nullptr;            // [B]
  const int32_t* wrong_answer = nullptr;      // [B]; needed by logit_diff
  const int32_t* answer_pos = nullptr;        // [B]
  const float* reference_logprobs = nullptr;  // [B, V] log-softmax at answer_pos; needed by kl
  // prob_diff: the token of year 0..n_years-1 (-1 where no token), and each row's start year.
  const int32_t* year_tokens = nullptr;  // [n_years]
  int n_years = 0;
  const int32_t* start_year = nullptr;  // [B], in [0, n_years)
};

// The metric of each sequence of logits [B, T, V]. InternalError when an input the metric needs is missing.
std::vector<double> metric_per_sequence(MetricKind kind, const float* logits, const MetricTargets& t);
double metric_sum(MetricKind kind, const float* logits, const MetricTargets& t);
// d(metric_sum)/d(logits): [B, T, V], zero away from the answer positions. For kl the gradient of
// KL(ref || run) is softmax(run) − exp(ref) at the answer position; for prob_diff, with c_v = +1 on
// the years above, −1 on those at or below and 0 elsewhere, M = Σ_v c_v p_v: p_v (c_v − M).
std::vector<float> metric_gradient(MetricKind kind, const float* logits, const MetricTargets& t);
// log-softmax of logits [B, T, V] at each sequence's answer position: [B, V].
std::vector<float> answer_logprobs(const float* logits, int B, int T, int V, const int32_t* answer_pos);

// The last forward's logits [B, T, V] readable on the host: the model's own buffer on the CPU
// backend, else a copy in `buffer`.
const float* host_logits(Transformer& model, std::vector<float>& buffer);

}  // namespace headlab
