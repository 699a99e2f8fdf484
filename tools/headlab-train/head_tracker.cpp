#include "tools/headlab-train/head_tracker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/errors.h"

namespace headlab {

HeadTracker::HeadTracker(const ModelConfig& cfg, const std::string& tokenizer_json, HeadTrackerOptions options,
                         int64_t start_step)
    : options_(std::move(options)) {
  if (options_.path.empty()) throw InputError("--track-heads", "expected a file name");
  if (options_.every < 1) throw InputError("--track-every", "expected a positive number of steps");
  const int64_t n = options_.half_len > 0 ? options_.half_len : std::min<int64_t>(50, cfg.n_ctx / 2);
  if (2 * n > cfg.n_ctx)
    throw InputError("--track-seq-len", "a probe of BOS + 2 x " + std::to_string(n) + " tokens needs n_ctx >= " +
                                            std::to_string(2 * n) + "; the model has " + std::to_string(cfg.n_ctx));
  const ProbeTokens pt = probe_tokens(cfg, tokenizer_json, "the training run's tokenizer");
  probe_ = make_repeat_probe(options_.n_seq, n, pt.lo, pt.hi, pt.bos, options_.seed);
  track_.n_layers = cfg.n_layers;
  track_.n_heads = cfg.n_heads;
  track_.every = options_.every;
  track_.probe_n_seq = probe_.n_seq;
  track_.probe_half_len = probe_.half_len;
  track_.probe_seed = options_.seed;
  track_.probe_bos = pt.bos;
  bool dropped = false;
  if (start_step > 0 && std::filesystem::exists(options_.path)) {
    // Continue the history of the run being resumed, when it was scored on the same probe.
    try {
      FormationTrack old = read_formation_track(options_.path);
      if (old.n_layers == track_.n_layers && old.n_heads == track_.n_heads && old.probe_n_seq == track_.probe_n_seq &&
          old.probe_half_len == track_.probe_half_len && old.probe_seed == track_.probe_seed &&
          old.probe_bos == track_.probe_bos) {
        const size_t had = old.points.size();
        track_.icl_early = old.icl_early;
        track_.icl_late = old.icl_late;
        for (FormationPoint& p : old.points)
          if (p.step <= start_step) track_.points.push_back(std::move(p));
        dropped = track_.points.size() < had;
      }
    } catch (const InputError&) {
      // Not a formation file of this run: it is replaced.
    }
  }
  // The points past the checkpoint go from the file now, not at the next scored step: a second
  // kill before it must not leave the first run's later points behind.
  if (dropped) write_formation_track(options_.path, track_);
}

void HeadTracker::on_step(const StepRecord& r, Transformer& model) {
  if (r.step % options_.every == 0 || r.step == r.total_steps) record(r.step, r.loss, model);
}

void HeadTracker::on_eval(int64_t step, std::optional<float>, Transformer& model) {
  if (step == 0 && (track_.points.empty() || track_.points.back().step != 0)) record(0, std::nanf(""), model);
}

void HeadTracker::record(int64_t step, float train_loss, Transformer& model) {
  if (!track_.points.empty() && track_.points.back().step >= step) return;  // already scored
  FormationPoint p;
  p.step = step;
  p.train_loss = train_loss;
  p.scores = score_repeat_probe(model, probe_, options_.probe);
  track_.icl_early = p.scores.icl_early;
  track_.icl_late = p.scores.icl_late;
  track_.points.push_back(std::move(p));
  write_formation_track(options_.path, track_);
}

}  // namespace headlab
