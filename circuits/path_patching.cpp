#include "circuits/path_patching.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "circuits/interventions.h"
#include "circuits/patching.h"
#include "core/errors.h"
#include "core/lists.h"

namespace headlab {
namespace {

ActivationCache cache_z(Transformer& model, const int32_t* tokens, const TaskBatch& b) {
  std::vector<HookPoint> points;
  for (int l = 0; l < model.config().n_layers; ++l) points.push_back({l, HookSite::attn_z});
  return run_with_cache(model, tokens, b.B, b.T, points);
}

// The receivers' q/k/v points, each with the heads it carries.
std::map<HookPoint, std::vector<int>> receiver_points(const PathTarget& t) {
  std::map<HookPoint, std::vector<int>> out;
  for (const PathReceiver& r : t.receivers) {
    if (r.q) out[{r.head.layer, HookSite::attn_q}].push_back(r.head.head);
    if (r.k) out[{r.head.layer, HookSite::attn_k}].push_back(r.head.head);
    if (r.v) out[{r.head.layer, HookSite::attn_v}].push_back(r.head.head);
  }
  return out;
}

// Step 2's hooks: every head's z frozen at its clean value from the first sender's layer on, the
// senders' z replaced by their corrupted values.
void add_sender_hooks(HookSet& hooks, const std::vector<HeadRef>& senders, const ActivationCache& clean_z,
                      const ActivationCache& corrupted_z, int n_layers) {
  int first = n_layers;
  for (HeadRef s : senders) first = std::min(first, s.layer);
  for (int l = first; l < n_layers; ++l) {
    const HookPoint p{l, HookSite::attn_z};
    std::vector<int> heads;
    for (HeadRef s : senders)
      if (s.layer == l) heads.push_back(s.head);
    hooks.add_forward(p, replace_from(clean_z.shared(p)));
    if (!heads.empty()) hooks.add_forward(p, replace_from(corrupted_z.shared(p), Selection::heads_at(heads)));
  }
}

// One sender set on one batch: the metric sum of step 3 (or of step 2 for the logits).
double path_patch_batch(Transformer& model, const TaskBatch& b, const std::vector<HeadRef>& senders,
                        const PathTarget& target, const ActivationCache& clean_z, const ActivationCache& corrupted_z,
                        MetricKind metric, const float* clean_logprobs, int64_t& forwards) {
  HookSet step2;
  add_sender_hooks(step2, senders, clean_z, corrupted_z, model.config().n_layers);
  if (target.logits) {
    ++forwards;
    return run_metric_sum(model, metric, b.clean, b, clean_logprobs, &step2);
  }
  const auto receivers = receiver_points(target);
  std::vector<HookPoint> points;
  for (const auto& [p, heads] : receivers) points.push_back(p);
  for (HookPoint p : points) step2.cache(p);
  model.forward(b.clean, b.B, b.T, &step2);
  ActivationCache cached = step2.take_cached();
  HookSet step3;
  for (const auto& [p, heads] : receivers)
    step3.add_forward(p, replace_from(cached.take(p), Selection::heads_at(heads)));
  forwards += 2;
  return run_metric_sum(model, metric, b.clean, b, clean_logprobs, &step3);
}

}  // namespace

int PathTarget::min_layer() const {
  int m = INT32_MAX;
  for (const PathReceiver& r : receivers) m = std::min(m, r.head.layer);
  return m;
}

PathTarget parse_path_target(const std::string& text, const ModelConfig& cfg, const std::string& what) {
  PathTarget t;
  if (text == "logits") {
    t.logits = true;
    return t;
  }
  for (const std::string& item : split_list(text)) {
    if (item.empty()) continue;
    const size_t colon = item.find(':');
    PathReceiver r;
    r.head = parse_head(item.substr(0, colon), cfg, what);
    const std::string inputs = colon == std::string::npos ? "qkv" : item.substr(colon + 1);
    for (char ch : inputs) {
      bool& flag = ch == 'q' ? r.q : ch == 'k' ? r.k : ch == 'v' ? r.v : r.q;
      if ((ch != 'q' && ch != 'k' && ch != 'v') || flag)
        throw InputError(what, "receiver '" + item + "': expected the inputs as letters among q, k, v (e.g. L2H1:q)");
      flag = true;
    }
    if (inputs.empty()) throw InputError(what, "receiver '" + item + "': expected q, k and/or v after the colon");
    for (const PathReceiver& o : t.receivers)
      if (o.head == r.head) throw InputError(what, "receiver " + head_label(r.head) + " is listed twice");
    t.receivers.push_back(r);
  }
  if (t.receivers.empty())
    throw InputError(what, "expected 'logits' or receiver heads with their inputs (e.g. L2H1:q,L2H3:kv)");
  return t;
}

std::string describe(const PathTarget& t) {
  if (t.logits) return "logits";
  std::string s;
  for (const PathReceiver& r : t.receivers) {
    s += (s.empty() ? "" : ",") + head_label(r.head) + ":";
    if (r.q) s += "q";
    if (r.k) s += "k";
    if (r.v) s += "v";
  }
  return s;
}

bool sender_reaches(HeadRef sender, const PathTarget& target, const ModelConfig& cfg) {
  if (target.logits) return true;
  for (const PathReceiver& r : target.receivers)
    if (sender.layer < r.head.layer) return true;
  return false;
}

PathPatchReport run_path_patching(Transformer& model, const TaskData& task,
                                  const std::vector<std::vector<HeadRef>>& sender_sets, const PathTarget& target,
                                  const PathPatchOptions& opt) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted", "path patching needs clean/corrupted pairs; the dataset has none");
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  std::vector<bool> runs(sender_sets.size());
  for (size_t i = 0; i < sender_sets.size(); ++i) {
    if (sender_sets[i].empty()) throw InputError("--senders", "expected at least one sender head");
    for (HeadRef s : sender_sets[i]) runs[i] = runs[i] || sender_reaches(s, target, c);
  }
  PathPatchReport report;
  report.metric_kind = opt.metric;
  report.n_rows = task.n;
  report.sender_sets = sender_sets;
  std::vector<double> sums(sender_sets.size(), 0.0);
  double clean_sum = 0, corrupted_sum = 0;
  const auto batches = task_batches(task, opt.batch_size);
  for (const TaskBatch& b : batches) {
    const ActivationCache clean_z = cache_z(model, b.clean, b);
    std::vector<float> buffer;
    const float* logits = host_logits(model, buffer);
    const std::vector<float> clean_logprobs = answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos);
    clean_sum += metric_sum(opt.metric, logits, b.metric_targets(c.d_vocab, clean_logprobs.data()));
    const ActivationCache corrupted_z = cache_z(model, b.corrupted, b);
    corrupted_sum +=
        metric_sum(opt.metric, host_logits(model, buffer), b.metric_targets(c.d_vocab, clean_logprobs.data()));
    report.forwards += 2;
    for (size_t i = 0; i < sender_sets.size(); ++i)
      if (runs[i])
        sums[i] += path_patch_batch(model, b, sender_sets[i], target, clean_z, corrupted_z, opt.metric,
                                    clean_logprobs.data(), report.forwards);
    if (opt.progress)
      opt.progress("batch " + std::to_string(b.first / opt.batch_size + 1) + "/" + std::to_string(batches.size()) +
                   " done (" + std::to_string(report.forwards) + " forwards)");
  }
  report.clean = clean_sum / double(task.n);
  report.corrupted = corrupted_sum / double(task.n);
  for (size_t i = 0; i < sender_sets.size(); ++i) {
    const double m = runs[i] ? sums[i] / double(task.n) : std::nan("");
    report.metric.push_back(m);
    report.normalised.push_back(normalise_patched(m, report.clean, report.corrupted));
    report.effect.push_back(report.normalised.back() - 1.0);
  }
  return report;
}

}  // namespace headlab
