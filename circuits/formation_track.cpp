#include "circuits/formation_track.h"

#include <algorithm>

#include "core/errors.h"
#include "core/h5_file.h"

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

}  // namespace headlab
