#include "circuits/formation.h"
#include "core/atomic_write.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "circuits/head_report.h"
#include "circuits/heads_arg.h"
#include "circuits/svg_plot.h"
#include "core/errors.h"

namespace headlab {
namespace {

// The interval (i - 1, i) where y changes fastest per step in the direction `sign` (+1 rise,
// -1 drop); -1 when no interval moves that way. NaN values are skipped.
int64_t steepest(const std::vector<int64_t>& steps, const std::vector<double>& y, int sign) {
  int64_t best = -1;
  double best_slope = 0;
  for (size_t i = 1; i < y.size(); ++i) {
    if (!std::isfinite(y[i]) || !std::isfinite(y[i - 1])) continue;
    const double slope = sign * (y[i] - y[i - 1]) / double(steps[i] - steps[i - 1]);
    if (slope > best_slope) best_slope = slope, best = int64_t(i);
  }
  return best;
}

std::vector<double> max_over_heads(const FormationTrack& t, std::vector<double> ProbeScores::*member) {
  std::vector<double> m;
  for (const FormationPoint& p : t.points) {
    const std::vector<double>& v = p.scores.*member;
    m.push_back(v.empty() ? NAN : *std::max_element(v.begin(), v.end()));
  }
  return m;
}

std::vector<double> series(const FormationTrack& t, double ProbeScores::*member) {
  std::vector<double> y;
  for (const FormationPoint& p : t.points) y.push_back(p.scores.*member);
  return y;
}

}  // namespace

FormationAnalysis analyse_formation(const FormationTrack& t, double threshold) {
  if (t.points.empty()) throw InputError("--track", "the file holds no scored points yet");
  FormationAnalysis a;
  a.n_points = int64_t(t.points.size());
  a.threshold = threshold;
  std::vector<int64_t> steps;
  for (const FormationPoint& p : t.points) steps.push_back(p.step);
  const std::vector<double> m = max_over_heads(t, &ProbeScores::induction_stripe);

  const std::vector<double>& last = t.points.back().scores.induction_stripe;
  const size_t best = size_t(std::max_element(last.begin(), last.end()) - last.begin());
  a.best_layer = int(best / size_t(t.n_heads));
  a.best_head = int(best % size_t(t.n_heads));
  a.final_induction = last[best];
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i] > threshold) {
      a.first_above_threshold = steps[i];
      break;
    }
  const int64_t rise = steepest(steps, m, +1);
  if (rise > 0) {
    a.rise_from = steps[size_t(rise - 1)];
    a.rise_to = a.formation_step = steps[size_t(rise)];
    a.rise = m[size_t(rise)] - m[size_t(rise - 1)];
  }
  const std::vector<double> rep = series(t, &ProbeScores::loss_repeated_half);
  const int64_t drop = steepest(steps, rep, -1);
  if (drop > 0) {
    a.loss_drop_step = steps[size_t(drop)];
    a.loss_drop = rep[size_t(drop - 1)] - rep[size_t(drop)];
  }
  const std::vector<double> icl = series(t, &ProbeScores::icl_score);
  const int64_t icl_drop = steepest(steps, icl, -1);
  if (icl_drop > 0) {
    a.icl_drop_step = steps[size_t(icl_drop)];
    a.icl_drop = icl[size_t(icl_drop - 1)] - icl[size_t(icl_drop)];
  }
  std::vector<double> train;
  for (const FormationPoint& p : t.points) train.push_back(p.train_loss);
  for (size_t i = 1; i < train.size(); ++i)
    if (std::isfinite(train[i]) && std::isfinite(train[i - 1]) && train[i] - train[i - 1] > a.loss_bump) {
      a.loss_bump = train[i] - train[i - 1];
      a.loss_bump_step = steps[i];
    }
  if (rise > 0 && drop > 0) a.score_loss_gap_points = std::llabs(rise - drop);
  return a;
}

std::string formation_text(const FormationTrack& t, const FormationAnalysis& a, const std::string& source) {
  std::ostringstream o;
  o << "headlab head formation\n";
  o << "track: " << source << " (" << a.n_points << " points, every " << t.every << " steps; probe " << t.probe_n_seq
    << " sequences of BOS + 2 x " << t.probe_half_len << " random tokens)\n";
  o << "induction score: the induction-stripe score (ARENA) of the best head at each point\n";
  if (a.formation_step >= 0)
    o << "induction heads form at step " << a.formation_step << ": the steepest rise of the best head's induction "
      << "score, +" << fixed(a.rise, 3) << " between steps " << a.rise_from << " and " << a.rise_to << "\n";
  else
    o << "induction heads do not form: the best head's induction score never rises\n";
  o << "first above " << fixed(a.threshold, 1) << ": "
    << (a.first_above_threshold >= 0 ? "step " + std::to_string(a.first_above_threshold) : std::string("never"))
    << "\n";
  o << "final: " << head_label({a.best_layer, a.best_head}) << " with induction score " << fixed(a.final_induction, 3)
    << "\n";
  if (a.loss_drop_step >= 0)
    o << "repeated-half loss drops fastest at step " << a.loss_drop_step << " (-" << fixed(a.loss_drop, 3) << ")\n";
  if (a.icl_drop_step >= 0)
    o << "in-context-learning score (loss at " << t.icl_late << " - loss at " << t.icl_early
      << ") drops fastest at step " << a.icl_drop_step << " (-" << fixed(a.icl_drop, 3) << ")\n";
  if (a.loss_bump_step >= 0)
    o << "largest rise of the training loss: +" << fixed(a.loss_bump, 3) << " at step " << a.loss_bump_step
      << " (one batch's loss: small rises are noise)\n";
  else
    o << "the training loss never rises between points (no bump)\n";
  if (a.score_loss_gap_points >= 0)
    o << "score rise and loss drop are " << a.score_loss_gap_points << " point(s) apart"
      << (a.score_loss_gap_points <= 1 ? ": they move together, as in Olsson et al. 2022's phase change" : "") << "\n";
  const FormationPoint& first = t.points.front();
  const FormationPoint& last = t.points.back();
  o << "probe losses, first / repeated half: step " << first.step << " " << fixed(first.scores.loss_first_half, 3)
    << " / " << fixed(first.scores.loss_repeated_half, 3) << "; step " << last.step << " "
    << fixed(last.scores.loss_first_half, 3) << " / " << fixed(last.scores.loss_repeated_half, 3) << "\n";
  return o.str();
}

namespace {

// One series per head, or per layer's best head when there are too many heads to read.
std::vector<svg::Series> head_series(const FormationTrack& t, std::vector<double> ProbeScores::*member) {
  std::vector<svg::Series> out;
  const int L = t.n_layers, H = t.n_heads;
  const bool per_head = L * H <= 12;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < (per_head ? H : 1); ++h) {
      svg::Series s;
      s.name = per_head ? head_label({l, h}) : "L" + std::to_string(l) + " (best head)";
      for (const FormationPoint& p : t.points) {
        const std::vector<double>& v = p.scores.*member;
        s.y.push_back(per_head ? v[size_t(l * H + h)] : *std::max_element(v.begin() + l * H, v.begin() + (l + 1) * H));
      }
      out.push_back(std::move(s));
    }
  return out;
}

nlohmann::json per_head_curves(const FormationTrack& t, std::vector<double> ProbeScores::*member) {
  nlohmann::json j = nlohmann::json::array();
  for (const FormationPoint& p : t.points) j.push_back(p.scores.*member);
  return j;
}

}  // namespace

void write_formation_report(const FormationTrack& t, const FormationAnalysis& a, const std::string& source,
                            const std::string& dir) {
  make_output_dir(dir);
  std::vector<double> x;
  for (const FormationPoint& p : t.points) x.push_back(double(p.step));
  const std::string formed =
      a.formation_step >= 0 ? " (steepest rise at step " + std::to_string(a.formation_step) + ")" : "";

  svg::LineChart induction{"induction-stripe score" + formed, "training step", "score", x,
                           head_series(t, &ProbeScores::induction_stripe)};
  svg::LineChart prev{"previous-token score", "training step", "score", x,
                      head_series(t, &ProbeScores::previous_token)};
  svg::LineChart losses{
      "losses on the probe, and the in-context-learning score", "training step", "loss (nats)", x, {}};
  losses.series.push_back({"first half", series(t, &ProbeScores::loss_first_half)});
  losses.series.push_back({"repeated half", series(t, &ProbeScores::loss_repeated_half)});
  std::vector<double> train;
  for (const FormationPoint& p : t.points) train.push_back(p.train_loss);
  losses.series.push_back({"training loss", train});
  losses.series.push_back({"ICL score", series(t, &ProbeScores::icl_score)});
  svg::write_svg(dir + "/formation.svg",
                 svg::stack({svg::line_chart(induction), svg::line_chart(prev), svg::line_chart(losses)}));

  nlohmann::json j;
  j["format"] = "headlab.formation_report";
  j["format_version"] = 1;
  j["track"] = source;
  j["n_layers"] = t.n_layers;
  j["n_heads"] = t.n_heads;
  j["analysis"] = {{"formation_step", a.formation_step},
                   {"rise_from", a.rise_from},
                   {"rise_to", a.rise_to},
                   {"rise", a.rise},
                   {"threshold", a.threshold},
                   {"first_above_threshold", a.first_above_threshold},
                   {"best_head", head_label({a.best_layer, a.best_head})},
                   {"final_induction", a.final_induction},
                   {"loss_drop_step", a.loss_drop_step},
                   {"loss_drop", a.loss_drop},
                   {"icl_drop_step", a.icl_drop_step},
                   {"icl_drop", a.icl_drop},
                   {"loss_bump_step", a.loss_bump_step},
                   {"loss_bump", a.loss_bump},
                   {"score_loss_gap_points", a.score_loss_gap_points}};
  nlohmann::json curves;
  curves["steps"] = x;
  nlohmann::json train_json = nlohmann::json::array();
  for (double v : train) train_json.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
  curves["train_loss"] = train_json;
  curves["loss_first_half"] = series(t, &ProbeScores::loss_first_half);
  curves["loss_repeated_half"] = series(t, &ProbeScores::loss_repeated_half);
  curves["icl_score"] = series(t, &ProbeScores::icl_score);
  curves["induction_stripe"] = per_head_curves(t, &ProbeScores::induction_stripe);  // [points][L*H]
  curves["induction"] = per_head_curves(t, &ProbeScores::induction);
  curves["previous_token"] = per_head_curves(t, &ProbeScores::previous_token);
  j["curves"] = curves;
  write_text_file_atomically(dir + "/formation.json", j.dump(1) + "\n");
  write_text_file_atomically(dir + "/formation.txt", formation_text(t, a, source));
}

}  // namespace headlab
