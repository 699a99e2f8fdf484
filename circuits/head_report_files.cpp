#include "circuits/head_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "circuits/heads_arg.h"
#include "circuits/svg_plot.h"
#include "core/atomic_write.h"
#include "core/errors.h"
#include "core/h5_file.h"

// The head report's renderers: heads.txt, heads.json, heads.h5, heads.html and the heatmaps, all
// from one computed HeadReport (head_report.cpp).
namespace headlab {

// ---- text ---------------------------------------------------------------------------------------

namespace {

struct Pair {
  int l1, h1, l2, h2;
  double score;
};
// The strongest composition pairs, best first.
std::vector<Pair> top_pairs(const std::vector<double>& comp, const ModelConfig& c, size_t count) {
  std::vector<Pair> pairs;
  const int L = c.n_layers, H = c.n_heads;
  for (int l1 = 0; l1 < L; ++l1)
    for (int h1 = 0; h1 < H; ++h1)
      for (int l2 = l1 + 1; l2 < L; ++l2)
        for (int h2 = 0; h2 < H; ++h2)
          pairs.push_back({l1, h1, l2, h2, comp[size_t(((l1 * H + h1) * L + l2) * H + h2)]});
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.score > b.score; });
  if (pairs.size() > count) pairs.resize(count);
  return pairs;
}

std::string ablation_kind(const HeadReport& r) { return r.ablated.empty() ? "none" : probe_ablation_name(r.ablation); }

std::vector<std::string> ablated_labels(const HeadReport& r) {
  std::vector<std::string> out;
  for (const HeadRef& h : r.ablated) out.push_back(head_label(h));
  return out;
}

std::string probe_summary(const HeadReport& r) {
  const DetectOptions& d = r.detect;
  return std::to_string(r.n_seq) + " sequences of BOS + 2 x " + std::to_string(r.half_len) + " random tokens (seed " +
         std::to_string(r.seed) + "); detect_head " + (d.measure == ErrorMeasure::mul ? "mul" : "abs") +
         ", exclude_bos " + (d.exclude_bos ? "yes" : "no") + ", exclude_current_token " +
         (d.exclude_current_token ? "yes" : "no") + (r.ablated.empty() ? "" : "; " + ablated_heads_phrase(r));
}

}  // namespace

std::string ablated_heads_phrase(const HeadReport& r) {
  std::string heads;
  for (const HeadRef& h : r.ablated) heads += (heads.empty() ? "" : ", ") + head_label(h);
  switch (r.ablation) {
    case ProbeAblation::mean:
      return heads + " mean-ablated (hook_z) in every probe forward";
    case ProbeAblation::first_token:
      return heads + ": attention to position 0 removed (pattern renormalised) in every probe forward";
    case ProbeAblation::zero:
      break;
  }
  return heads + " zero-ablated (hook_z) in every probe forward";
}

std::string head_report_text(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  std::ostringstream o;
  o << "headlab head report\n";
  o << "checkpoint: " << r.checkpoint << "  (model " << r.model_hash << ")\n";
  o << "model: " << c.n_layers << " layers x " << c.n_heads << " heads, d_model " << c.d_model << ", d_head "
    << c.d_head << ", d_vocab " << c.d_vocab << ", n_ctx " << c.n_ctx << (c.attn_only ? ", attention-only" : "")
    << ", norm " << to_string(c.normalization_type) << "\n";
  o << "probe: " << probe_summary(r) << "\n";
  o << "copying and composition read " << weights_phrase(r.weights) << "\n";
  o << "loss on the probe: first half " << fixed(r.probe.loss_first_half, 3) << ", repeated half "
    << fixed(r.probe.loss_repeated_half, 3) << "; in-context-learning score (loss at position " << r.probe.icl_late
    << " - loss at position " << r.probe.icl_early << ", Olsson et al. 2022) " << fixed(r.probe.icl_score, 3) << "\n\n";

  o << "roles (a head is named where a score passes its threshold; stages of Zheng et al. 2024's survey):\n";
  if (r.roles.empty()) o << "  (no head passes a threshold)\n";
  for (const HeadRole& role : r.roles) o << "  " << role.line << "\n";
  for (const std::string& note : r.notes) o << "  note: " << note << "\n";

  o << "\nthresholds:\n";
  for (const RoleRule& rule : role_rules()) {
    const HeadScoreTable* s = r.score(rule.score);
    o << "  " << (s ? s->label : rule.score) << (rule.below ? " < " : " > ") << fixed(rule.threshold, 1) << "  "
      << rule.role << " (" << rule.stage << "): " << rule.basis << "\n";
  }

  o << "\nscores:\n";
  for (const HeadScoreTable& s : r.scores)
    o << "  " << s.label << ": " << s.description << " [" << s.source << "]"
      << (s.computed ? "" : " -- not computed: " + s.not_computed) << "\n";
  o << "\n  head ";
  for (const HeadScoreTable& s : r.scores)
    if (s.computed) o << " " << std::string(std::max<size_t>(9, s.label.size()) - s.label.size(), ' ') << s.label;
  o << "\n";
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h) {
      std::string label = head_label({l, h});
      o << "  " << label << std::string(label.size() < 5 ? 5 - label.size() : 0, ' ');
      for (const HeadScoreTable& s : r.scores)
        if (s.computed) {
          const std::string v = fixed(s.values[size_t(l * c.n_heads + h)], 3);
          const size_t width = std::max<size_t>(9, s.label.size());
          o << " " << std::string(width > v.size() ? width - v.size() : 0, ' ') << v;
        }
      o << "\n";
    }
  if (r.successor_source.size()) o << "\n  successor pairs from: " << r.successor_source << "\n";
  if (r.retrieval_source.size()) o << "  retrieval rows from: " << r.retrieval_source << "\n";

  o << "\nstrongest composition (earlier head -> later head; ||L R||_F / (||L||_F ||R||_F), Elhage et al. 2021):\n";
  if (c.n_layers < 2) o << "  (one layer: no pairs)\n";
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"K", &r.composition_k}, {"Q", &r.composition_q}, {"V", &r.composition_v}};
  if (c.n_layers >= 2)
    for (const auto& [name, comp] : kinds) {
      o << "  " << name << ":";
      for (const Pair& p : top_pairs(*comp, c, 5))
        o << "  " << head_label({p.l1, p.h1}) << "->" << head_label({p.l2, p.h2}) << " " << fixed(p.score, 3);
      o << "\n";
    }
  return o.str();
}

// ---- files --------------------------------------------------------------------------------------

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw InputError(dir, "cannot create the output directory (" + ec.message() + ")");
}

namespace {

nlohmann::json per_head_json(const std::vector<double>& v, const ModelConfig& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (int l = 0; l < c.n_layers; ++l) {
    nlohmann::json row = nlohmann::json::array();
    for (int h = 0; h < c.n_heads; ++h) row.push_back(v[size_t(l * c.n_heads + h)]);
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json composition_json(const std::vector<double>& v, const ModelConfig& c) {
  const int L = c.n_layers, H = c.n_heads;
  nlohmann::json a = nlohmann::json::array();
  for (int l1 = 0; l1 < L; ++l1) {
    nlohmann::json b = nlohmann::json::array();
    for (int h1 = 0; h1 < H; ++h1) {
      std::vector<double> slice(v.begin() + (l1 * H + h1) * L * H, v.begin() + (l1 * H + h1 + 1) * L * H);
      b.push_back(per_head_json(slice, c));
    }
    a.push_back(b);
  }
  return a;
}

nlohmann::json thresholds_json() {
  nlohmann::json t = nlohmann::json::array();
  for (const RoleRule& rule : role_rules())
    t.push_back({{"score", rule.score},
                 {"threshold", rule.threshold},
                 {"direction", rule.below ? "below" : "above"},
                 {"role", rule.role},
                 {"stage", rule.stage},
                 {"basis", rule.basis}});
  return t;
}

nlohmann::json report_json(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  nlohmann::json j;
  j["format"] = "headlab.head_scores";
  j["format_version"] = 1;
  j["checkpoint"] = r.checkpoint;
  j["model_hash"] = r.model_hash;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["weight_processing"] = to_string(r.weights);
  j["probe"] = {{"n_seq", r.n_seq},
                {"half_len", r.half_len},
                {"seed", r.seed},
                {"error_measure", r.detect.measure == ErrorMeasure::mul ? "mul" : "abs"},
                {"exclude_bos", r.detect.exclude_bos},
                {"exclude_current_token", r.detect.exclude_current_token},
                {"icl_score", r.probe.icl_score},
                {"icl_early", r.probe.icl_early},
                {"icl_late", r.probe.icl_late},
                {"loss_first_half", r.probe.loss_first_half},
                {"loss_repeated_half", r.probe.loss_repeated_half},
                {"loss_all", r.probe.loss_all},
                {"ablation", ablation_kind(r)},
                {"ablated_heads", ablated_labels(r)}};
  j["thresholds"] = thresholds_json();
  for (const HeadScoreTable& s : r.scores) {
    nlohmann::json e = {
        {"label", s.label}, {"description", s.description}, {"source", s.source}, {"computed", s.computed}};
    if (s.computed)
      e["values"] = per_head_json(s.values, c);
    else
      e["not_computed"] = s.not_computed;
    j["scores"][s.name] = e;
  }
  if (!r.successor_source.empty()) j["scores"]["successor"]["data"] = r.successor_source;
  if (!r.retrieval_source.empty()) j["scores"]["retrieval"]["data"] = r.retrieval_source;
  j["composition"] = {{"shape", {c.n_layers, c.n_heads, c.n_layers, c.n_heads}},
                      {"q", composition_json(r.composition_q, c)},
                      {"k", composition_json(r.composition_k, c)},
                      {"v", composition_json(r.composition_v, c)}};
  j["notes"] = r.notes;
  j["roles"] = nlohmann::json::array();
  for (const HeadRole& role : r.roles)
    j["roles"].push_back({{"head", head_label({role.layer, role.head})},
                          {"layer", role.layer},
                          {"head_index", role.head},
                          {"role", role.rule->role},
                          {"stage", role.rule->stage},
                          {"score", role.rule->score},
                          {"value", role.value},
                          {"threshold", role.rule->threshold},
                          {"line", role.line}});
  return j;
}

void write_h5(const HeadReport& r, const std::string& path) {
  const ModelConfig& c = r.cfg;
  const int64_t L = c.n_layers, H = c.n_heads;
  h5::AtomicFile out(path);
  h5::File& f = out.file();
  h5::set_format(f, "headlab.head_scores", 1);
  f.set_attr("checkpoint", r.checkpoint);
  f.set_attr("model_hash", r.model_hash);
  f.set_attr("n_layers", int64_t(L));
  f.set_attr("n_heads", int64_t(H));
  f.set_attr("probe_n_seq", r.n_seq);
  f.set_attr("probe_half_len", r.half_len);
  f.set_attr("probe_seed", int64_t(r.seed));
  f.set_attr("probe_error_measure", r.detect.measure == ErrorMeasure::mul ? "mul" : "abs");
  f.set_attr("probe_exclude_bos", r.detect.exclude_bos);
  f.set_attr("probe_exclude_current_token", r.detect.exclude_current_token);
  f.set_attr("weight_processing", to_string(r.weights));
  f.set_attr("thresholds_json", thresholds_json().dump());
  h5::Group scores = f.create_group("scores");
  h5::Group not_computed = f.create_group("not_computed");
  for (const HeadScoreTable& s : r.scores) {
    if (!s.computed) {
      not_computed.write_string(s.name, s.not_computed);
      continue;
    }
    std::vector<float> v(s.values.begin(), s.values.end());
    scores.write<float>(s.name, v.data(), {L, H});
    scores.set_attr(s.name + "_description", s.description);
    scores.set_attr(s.name + "_source", s.source);
  }
  h5::Group comp = f.create_group("composition");
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"q", &r.composition_q}, {"k", &r.composition_k}, {"v", &r.composition_v}};
  for (const auto& [name, values] : kinds) {
    std::vector<float> v(values->begin(), values->end());
    comp.write<float>(name, v.data(), {L, H, L, H});
  }
  h5::Group probe = f.create_group("probe");
  probe.set_attr("icl_score", r.probe.icl_score);
  probe.set_attr("icl_early", r.probe.icl_early);
  probe.set_attr("icl_late", r.probe.icl_late);
  probe.set_attr("loss_first_half", r.probe.loss_first_half);
  probe.set_attr("loss_repeated_half", r.probe.loss_repeated_half);
  probe.set_attr("loss_all", r.probe.loss_all);
  probe.set_attr("ablation", ablation_kind(r));
  std::string ablated_text;
  for (const std::string& h : ablated_labels(r)) ablated_text += (ablated_text.empty() ? "" : ",") + h;
  probe.set_attr("ablated_heads", ablated_text);
  std::string lines;
  for (const HeadRole& role : r.roles) lines += role.line + "\n";
  f.write_string("roles", lines);
  out.commit();
}

// A cell's background: white (0) to red (1) for scores in [0, 1]; blue for negative values.
std::string cell_colour(double v) {
  const double a = std::min(1.0, std::fabs(v));
  const int fade = int(std::lround(255 * (1 - 0.75 * a)));
  char buf[16];
  if (v >= 0)
    std::snprintf(buf, sizeof buf, "#ff%02x%02x", fade, fade);
  else
    std::snprintf(buf, sizeof buf, "#%02x%02xff", fade, fade);
  return buf;
}

std::string report_html(const HeadReport& r) {
  const ModelConfig& c = r.cfg;
  auto esc = [](const std::string& s) { return svg::escape_xml(s); };
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>headlab head report</title>\n"
    << "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222}"
    << "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    << "th{background:#f4f4f4}td.l{text-align:left}caption{text-align:left;font-weight:bold;margin-bottom:4px}"
    << "</style></head><body>\n";
  o << "<h1>Head report</h1>\n<p>checkpoint <code>" << esc(r.checkpoint) << "</code> (model " << esc(r.model_hash)
    << "): " << c.n_layers << " layers &times; " << c.n_heads << " heads, d_model " << c.d_model
    << ".<br>probe: " << esc(probe_summary(r)) << ".<br>copying and composition read " << esc(weights_phrase(r.weights))
    << ".<br>loss on the probe: first half " << fixed(r.probe.loss_first_half, 3) << ", repeated half "
    << fixed(r.probe.loss_repeated_half, 3) << "; in-context-learning score " << fixed(r.probe.icl_score, 3)
    << ".</p>\n";
  o << "<table><caption>Roles (stages of Zheng et al. 2024)</caption><tr><th>head</th><th>role</th><th>stage</th>"
    << "<th>score</th><th>value</th><th>threshold</th></tr>\n";
  for (const HeadRole& role : r.roles)
    o << "<tr><td class=l>" << head_label({role.layer, role.head}) << "</td><td class=l>" << esc(role.rule->role)
      << "</td><td class=l>" << esc(role.rule->stage) << "</td><td class=l>" << esc(r.score(role.rule->score)->label)
      << "</td><td>" << fixed(role.value, 3) << "</td><td>" << (role.rule->below ? "&lt; " : "&gt; ")
      << fixed(role.rule->threshold, 1) << "</td></tr>\n";
  if (r.roles.empty()) o << "<tr><td class=l colspan=6>no head passes a threshold</td></tr>\n";
  o << "</table>\n";
  for (const std::string& note : r.notes) o << "<p><b>Note:</b> " << esc(note) << "</p>\n";
  o << "<table><caption>Scores</caption><tr><th>head</th>";
  for (const HeadScoreTable& s : r.scores)
    if (s.computed)
      o << "<th title=\"" << esc(s.description + " [" + s.source + "]") << "\">" << esc(s.label) << "</th>";
  o << "</tr>\n";
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = 0; h < c.n_heads; ++h) {
      o << "<tr><td class=l>" << head_label({l, h}) << "</td>";
      for (const HeadScoreTable& s : r.scores)
        if (s.computed) {
          const double v = s.values[size_t(l * c.n_heads + h)];
          o << "<td style=\"background:" << cell_colour(v) << "\">" << fixed(v, 3) << "</td>";
        }
      o << "</tr>\n";
    }
  o << "</table>\n<ul>\n";
  for (const HeadScoreTable& s : r.scores)
    o << "<li><b>" << esc(s.label) << "</b>: " << esc(s.description) << " [" << esc(s.source) << "]"
      << (s.computed ? "" : " &mdash; <i>not computed: " + esc(s.not_computed) + "</i>") << "</li>\n";
  o << "</ul>\n<table><caption>Thresholds</caption><tr><th>score</th><th>threshold</th><th>role</th><th>stage</th>"
    << "<th>basis</th></tr>\n";
  for (const RoleRule& rule : role_rules())
    o << "<tr><td class=l>" << esc(rule.score) << "</td><td>" << (rule.below ? "&lt; " : "&gt; ")
      << fixed(rule.threshold, 1) << "</td><td class=l>" << esc(rule.role) << "</td><td class=l>" << esc(rule.stage)
      << "</td><td class=l>" << esc(rule.basis) << "</td></tr>\n";
  o << "</table>\n<p>Heatmaps: <code>heads_&lt;score&gt;.svg</code>, <code>composition_{q,k,v}.svg</code>.</p>\n"
    << "</body></html>\n";
  return o.str();
}

void write_svgs(const HeadReport& r, const std::string& dir) {
  const ModelConfig& c = r.cfg;
  for (const HeadScoreTable& s : r.scores) {
    if (!s.computed) continue;
    svg::Heatmap h;
    h.title = s.label + ": " + s.description;
    h.x_title = "head";
    h.y_title = "layer";
    h.x_labels = svg::head_labels(c.n_heads);
    h.y_labels = svg::layer_labels(c.n_layers);
    h.values = s.values;
    h.scale = s.name == "copying" ? svg::ColourScale::diverging : svg::ColourScale::sequential;
    h.limit = 1.0;
    h.value_title = s.label;
    svg::write_svg(dir + "/heads_" + s.name + ".svg", svg::heatmap(h));
  }
  if (c.n_layers < 2) return;
  const int L = c.n_layers, H = c.n_heads;
  std::vector<std::string> labels;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) labels.push_back(head_label({l, h}));
  const std::pair<const char*, const std::vector<double>*> kinds[] = {
      {"q", &r.composition_q}, {"k", &r.composition_k}, {"v", &r.composition_v}};
  for (const auto& [name, comp] : kinds) {
    svg::Heatmap h;
    h.title = std::string(1, char(std::toupper(name[0]))) + "-composition: earlier head (row) -> later head (column)";
    h.x_title = "later head";
    h.y_title = "earlier head";
    h.x_labels = labels;
    h.y_labels = labels;
    h.values.assign(size_t(L * H * L * H), NAN);
    for (int l1 = 0; l1 < L; ++l1)
      for (int l2 = l1 + 1; l2 < L; ++l2)
        for (int h1 = 0; h1 < H; ++h1)
          for (int h2 = 0; h2 < H; ++h2) {
            const size_t i = size_t(((l1 * H + h1) * L + l2) * H + h2);
            h.values[i] = (*comp)[i];
          }
    h.scale = svg::ColourScale::sequential;
    h.value_title = "composition";
    svg::write_svg(dir + "/composition_" + name + ".svg", svg::heatmap(h));
  }
}

}  // namespace

void write_head_report(const HeadReport& report, const std::string& dir) {
  make_output_dir(dir);
  write_h5(report, dir + "/heads.h5");
  write_text_file_atomically(dir + "/heads.json", report_json(report).dump(1) + "\n");
  write_text_file_atomically(dir + "/heads.txt", head_report_text(report));
  write_text_file_atomically(dir + "/heads.html", report_html(report));
  write_svgs(report, dir);
}

}  // namespace headlab
