#include "circuits/patching.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "circuits/interventions.h"
#include "core/errors.h"
#include "core/lists.h"

namespace headlab {
namespace {

struct SweepName {
  const char* name;
  HookSite site;
  bool by_head, by_position;
};
constexpr SweepName kSweeps[] = {
    {"resid_pre", HookSite::resid_pre, false, true},
    {"resid_mid", HookSite::resid_mid, false, true},
    {"resid_post", HookSite::resid_post, false, true},
    {"attn_out", HookSite::attn_out, false, true},
    {"mlp_out", HookSite::mlp_out, false, true},
    {"z", HookSite::attn_z, true, false},
    {"q", HookSite::attn_q, true, false},
    {"k", HookSite::attn_k, true, false},
    {"v", HookSite::attn_v, true, false},
    {"pattern", HookSite::attn_pattern, true, false},
    {"z_pos", HookSite::attn_z, true, true},
    {"q_pos", HookSite::attn_q, true, true},
    {"k_pos", HookSite::attn_k, true, true},
    {"v_pos", HookSite::attn_v, true, true},
    {"pattern_pos", HookSite::attn_pattern, true, true},
};

// Accumulates one sweep's metric sums over batches.
struct SweepSums {
  const PatchSweep* sweep;
  PatchDirection direction;
  std::vector<double> sums;
};

// One sweep on one batch: a patched forward per element, adding each metric sum into `sums`.
// Patching a position after every answer position cannot change the answer logits (causal
// attention), so those elements take the unpatched run's value without a forward.
// Each patched run recomputes only the patched layer and those after it, from the unpatched run's
// blocks.{l}.hook_resid_pre (`base`): a sweep over L layers costs the suffixes, not L full forwards.
// With position groups, element p of the position axis is group p: each row's positions of that group.
void sweep_batch(Transformer& model, const TaskBatch& batch, const PatchSweep& sweep, const ActivationCache& base,
                 const ActivationCache& source, double unpatched_sum, MetricKind metric, const float* clean_logprobs,
                 const PatchOptions& opt, int64_t first_cell, std::vector<double>& sums, int64_t& forwards) {
  const ModelConfig& c = model.config();
  const bool groups = opt.position_groups != nullptr;
  const int H = sweep.by_head ? c.n_heads : 1, P = sweep.by_position ? (groups ? opt.n_groups : batch.T) : 1;
  const int last_answer = *std::max_element(batch.answer_pos, batch.answer_pos + batch.B);
  size_t i = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < H; ++h)
      for (int p = 0; p < P; ++p, ++i) {
        if (!opt.shard.owns(first_cell + int64_t(i))) continue;
        std::vector<std::vector<int>> rows;
        if (sweep.by_position && groups) {
          // The group's positions in each row, up to that row's answer position (later ones cannot
          // change its logits).
          bool any = false;
          for (int b = 0; b < batch.B; ++b) {
            const int32_t* g = opt.position_groups->data() + (batch.first + b) * batch.T;
            rows.emplace_back();
            for (int t = 0; t <= batch.answer_pos[b]; ++t)
              if (g[t] == p) rows.back().push_back(t), any = true;
          }
          if (!any) {
            sums[i] += unpatched_sum;
            continue;
          }
        } else if (sweep.by_position && p > last_answer) {
          sums[i] += unpatched_sum;
          continue;
        }
        const HookPoint point{l, sweep.site};
        HookSet hooks;
        if (sweep.by_position && groups) {
          hooks.add_forward(point, replace_rows_from(source.shared(point), std::move(rows),
                                                     sweep.by_head ? std::vector<int>{h} : std::vector<int>{}));
        } else {
          Selection sel;
          if (sweep.by_head) sel.heads = {h};
          if (sweep.by_position) sel.positions = {p};
          hooks.add_forward(point, replace_from(source.shared(point), sel));
        }
        model.forward_from_layer(l, base.at({l, HookSite::resid_pre}).data.data(), &hooks);
        std::vector<float> buffer;
        sums[i] += metric_sum(metric, host_logits(model, buffer), batch.metric_targets(c.d_vocab, clean_logprobs));
        ++forwards;
      }
}

}  // namespace

std::string to_string(PatchDirection d) { return d == PatchDirection::denoising ? "denoising" : "noising"; }

std::vector<PatchDirection> parse_patch_directions(const std::string& text, const std::string& what) {
  if (text == "both") return {PatchDirection::denoising, PatchDirection::noising};
  std::vector<PatchDirection> out;
  for (const std::string& item : split_list(text)) {
    PatchDirection d;
    if (item == "denoising")
      d = PatchDirection::denoising;
    else if (item == "noising")
      d = PatchDirection::noising;
    else
      throw InputError(what, "expected denoising, noising or both, got '" + item + "'");
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

PatchSweep parse_patch_sweep(const std::string& name, const ModelConfig& cfg) {
  for (const SweepName& s : kSweeps) {
    if (name != s.name) continue;
    // The site must exist in this model (mlp_out in an attention-only model does not).
    const HookPoint probe{0, s.site};
    bool exists = false;
    for (HookPoint p : all_hook_points(cfg)) exists = exists || p == probe;
    if (!exists)
      throw InputError("--sweeps", "sweep '" + name + "' patches " + hook_name(probe) + ", which this model lacks");
    return {s.name, s.site, s.by_head, s.by_position};
  }
  std::string known;
  for (const SweepName& s : kSweeps) known += std::string(known.empty() ? "" : ", ") + s.name;
  throw InputError("--sweeps", "unknown sweep '" + name + "'; expected one of " + known);
}

std::vector<PatchSweep> parse_patch_sweeps(const std::string& list, const ModelConfig& cfg) {
  std::vector<PatchSweep> out;
  for (const std::string& item : split_list(list)) {
    if (item.empty()) continue;
    PatchSweep s = parse_patch_sweep(item, cfg);
    for (const PatchSweep& o : out)
      if (o.name == s.name) throw InputError("--sweeps", "sweep '" + s.name + "' is listed twice");
    out.push_back(s);
  }
  if (out.empty()) throw InputError("--sweeps", "expected at least one sweep (e.g. resid_pre,attn_out,z)");
  return out;
}

std::vector<int64_t> sweep_shape(const PatchSweep& s, const ModelConfig& cfg, int T) {
  std::vector<int64_t> shape = {cfg.n_layers};
  if (s.by_head) shape.push_back(cfg.n_heads);
  if (s.by_position) shape.push_back(T);
  return shape;
}

double normalise_patched(double m, double clean, double corrupted) {
  const double span = clean - corrupted;
  if (span == 0 || !std::isfinite(span)) return std::nan("");
  return (m - corrupted) / span;
}

PatchReport run_patching(Transformer& model, const TaskData& task, const std::vector<PatchSweep>& sweeps,
                         const PatchOptions& opt) {
  if (!task.has_pairs())
    throw InputError(task.what + ": /corrupted", "patching needs clean/corrupted pairs; the dataset has none");
  const ModelConfig& c = model.config();
  check_task_fits_model(task, c);
  if (opt.position_groups && (int64_t(opt.position_groups->size()) != task.n * task.T || opt.n_groups < 1))
    throw InternalError("patching: position groups must be [n, T] with at least one group");
  const int P = opt.position_groups ? opt.n_groups : task.T;
  std::vector<HookPoint> points;  // every (layer, site) a sweep patches
  {
    std::set<HookPoint> unique;
    for (const PatchSweep& s : sweeps)
      for (int l = 0; l < c.n_layers; ++l) unique.insert({l, s.site});
    for (int l = 0; l < c.n_layers; ++l) unique.insert({l, HookSite::resid_pre});  // where suffix runs start
    points.assign(unique.begin(), unique.end());
  }
  std::vector<SweepSums> all;
  for (PatchDirection d : opt.directions)
    for (const PatchSweep& s : sweeps) {
      int64_t n = 1;
      for (int64_t x : sweep_shape(s, c, P)) n *= x;
      all.push_back({&s, d, std::vector<double>(size_t(n), 0.0)});
    }

  PatchReport report;
  report.metric = opt.metric;
  report.n_rows = task.n;
  report.T = task.T;
  double clean_sum = 0, corrupted_sum = 0;
  const auto batches = task_batches(task, opt.batch_size);
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const TaskBatch& b = batches[bi];
    const ActivationCache clean = run_with_cache(model, b.clean, b.B, b.T, points);
    std::vector<float> buffer;
    const float* logits = host_logits(model, buffer);
    const std::vector<float> clean_logprobs = answer_logprobs(logits, b.B, b.T, c.d_vocab, b.answer_pos);
    const double clean_b = metric_sum(opt.metric, logits, b.metric_targets(c.d_vocab, clean_logprobs.data()));
    const ActivationCache corrupted = run_with_cache(model, b.corrupted, b.B, b.T, points);
    const double corrupted_b =
        metric_sum(opt.metric, host_logits(model, buffer), b.metric_targets(c.d_vocab, clean_logprobs.data()));
    report.forwards += 2;
    clean_sum += clean_b;
    corrupted_sum += corrupted_b;
    int64_t first_cell = 0;
    for (SweepSums& s : all) {
      const bool denoise = s.direction == PatchDirection::denoising;
      sweep_batch(model, b, *s.sweep, denoise ? corrupted : clean, denoise ? clean : corrupted,
                  denoise ? corrupted_b : clean_b, opt.metric, clean_logprobs.data(), opt, first_cell, s.sums,
                  report.forwards);
      first_cell += int64_t(s.sums.size());
    }
    if (opt.progress)
      opt.progress("batch " + std::to_string(bi + 1) + "/" + std::to_string(batches.size()) + " done (" +
                   std::to_string(report.forwards) + " forwards so far)");
  }
  report.clean = clean_sum / double(task.n);
  report.corrupted = corrupted_sum / double(task.n);
  for (SweepSums& s : all) {
    PatchResult r;
    r.sweep = *s.sweep;
    r.direction = s.direction;
    r.shape = sweep_shape(*s.sweep, c, P);
    for (double sum : s.sums) {
      r.metric.push_back(sum / double(task.n));
      r.normalised.push_back(normalise_patched(r.metric.back(), report.clean, report.corrupted));
    }
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace headlab
