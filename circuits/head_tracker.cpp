#include "circuits/head_tracker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "model/errors.h"
#include "model/h5_file.h"

namespace headlab {
namespace {

// The per-head series a track keeps, by dataset name.
struct PerHeadSeries {
  const char* name;
  std::vector<double> ProbeScores::*member;
};
constexpr PerHeadSeries kPerHead[] = {
    {"previous_token", &ProbeScores::previous_token}, {"duplicate_token", &ProbeScores::duplicate_token},
    {"induction", &ProbeScores::induction},           {"induction_stripe", &ProbeScores::induction_stripe},
    {"first_token", &ProbeScores::first_token},
};
struct ScalarSeries {
  const char* name;
  double ProbeScores::*member;
};
constexpr ScalarSeries kScalars[] = {
    {"icl_score", &ProbeScores::icl_score},
    {"loss_first_half", &ProbeScores::loss_first_half},
    {"loss_repeated_half", &ProbeScores::loss_repeated_half},
    {"loss_all", &ProbeScores::loss_all},
};

}  // namespace

void write_formation_track(const std::string& path, const FormationTrack& t) {
  const int64_t n = int64_t(t.points.size()), L = t.n_layers, H = t.n_heads;
  h5::AtomicFile out(path);
  h5::File& f = out.file();
  h5::set_format(f, kFormationFormat, 1);
  f.set_attr("n_layers", L);
  f.set_attr("n_heads", H);
  f.set_attr("every", t.every);
  f.set_attr("probe_n_seq", t.probe_n_seq);
  f.set_attr("probe_half_len", t.probe_half_len);
  f.set_attr("probe_seed", int64_t(t.probe_seed));
  f.set_attr("probe_bos", int64_t(t.probe_bos));
  f.set_attr("icl_early", t.icl_early);
  f.set_attr("icl_late", t.icl_late);
  std::vector<int64_t> steps(static_cast<size_t>(n));
  std::vector<float> loss(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    steps[size_t(i)] = t.points[size_t(i)].step;
    loss[size_t(i)] = t.points[size_t(i)].train_loss;
  }
  f.write<int64_t>("steps", steps);
  f.write<float>("train_loss", loss);
  for (const PerHeadSeries& s : kPerHead) {
    std::vector<float> v(size_t(n * L * H));  // [n, L, H]
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<double>& x = t.points[size_t(i)].scores.*s.member;
      std::copy(x.begin(), x.end(), v.begin() + i * L * H);
    }
    f.write<float>(s.name, v.data(), {n, L, H});
  }
  for (const ScalarSeries& s : kScalars) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(t.points[size_t(i)].scores.*s.member);
    f.write<float>(s.name, v);
  }
  out.commit();
}

FormationTrack read_formation_track(const std::string& path) {
  h5::File f = h5::File::open(path);
  h5::check_format(f, kFormationFormat, 1);
  FormationTrack t;
  auto positive = [&](const char* attr) {
    const int64_t v = f.attr_int(attr);
    if (v < 1 || v > (1 << 20))
      throw InputError(f.attr_where(attr), "expected a positive count, got " + std::to_string(v));
    return v;
  };
  t.n_layers = int(positive("n_layers"));
  t.n_heads = int(positive("n_heads"));
  t.every = f.attr_int("every");
  t.probe_n_seq = f.attr_int("probe_n_seq");
  t.probe_half_len = f.attr_int("probe_half_len");
  t.probe_seed = uint64_t(f.attr_int("probe_seed"));
  t.probe_bos = int32_t(f.attr_int("probe_bos"));
  t.icl_early = f.attr_int("icl_early");
  t.icl_late = f.attr_int("icl_late");
  const int64_t L = t.n_layers, H = t.n_heads;
  const std::vector<int64_t> steps = f.read<int64_t>("steps", h5::Shape{-1});
  const int64_t n = int64_t(steps.size());
  const std::vector<float> loss = f.read<float>("train_loss", h5::Shape{n});
  t.points.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0 && steps[size_t(i)] <= steps[size_t(i - 1)])
      throw InputError(f.where("steps"), "expected increasing steps");
    t.points[size_t(i)].step = steps[size_t(i)];
    t.points[size_t(i)].train_loss = loss[size_t(i)];
    t.points[size_t(i)].scores.n_layers = t.n_layers;
    t.points[size_t(i)].scores.n_heads = t.n_heads;
    t.points[size_t(i)].scores.icl_early = t.icl_early;
    t.points[size_t(i)].scores.icl_late = t.icl_late;
  }
  for (const PerHeadSeries& s : kPerHead) {
    const std::vector<float> v = f.read<float>(s.name, h5::Shape{n, L, H});
    for (int64_t i = 0; i < n; ++i)
      (t.points[size_t(i)].scores.*s.member).assign(v.begin() + i * L * H, v.begin() + (i + 1) * L * H);
  }
  for (const ScalarSeries& s : kScalars) {
    const std::vector<float> v = f.read<float>(s.name, h5::Shape{n});
    for (int64_t i = 0; i < n; ++i) t.points[size_t(i)].scores.*s.member = v[size_t(i)];
  }
  return t;
}

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
