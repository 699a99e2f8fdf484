#include "probes/sae_pages.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "core/markup_text.h"

namespace headlab {

namespace {

std::string token_text(const Tokenizer* tok, int32_t id) {
  if (tok && id >= 0 && id < tok->vocab_size()) return tok->token_bytes(id);
  return "#" + std::to_string(id);
}

// Valid UTF-8 for JSON and HTML: invalid bytes (a token that is half a character) become U+FFFD.
std::string clean_utf8(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(0);
}

std::string html_escape(const std::string& raw) {
  const nlohmann::json j = raw;
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s = nlohmann::json::parse(s).get<std::string>();  // the replaced, valid UTF-8 text
  return escape_xml(s, "\xe2\x86\xb5");             // ↵: a newline token stays visible
}

std::string fmt(double v, const char* f = "%.3g") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string head_name(int layer, int64_t h) { return "L" + std::to_string(layer) + "H" + std::to_string(h); }

int hook_layer(const Sae& sae) {
  // "blocks.{l}...." -> l
  int l = -1;
  std::sscanf(sae.hook_name.c_str(), "blocks.%d.", &l);
  return l;
}

}  // namespace

nlohmann::json feature_report_json(const FeatureReport& rep, const Sae& sae, const Tokenizer* tok) {
  using nlohmann::json;
  const int layer = hook_layer(sae);
  json feats = json::array();
  for (const FeaturePage& p : rep.pages) {
    json f = {{"feature", p.feature},
              {"density", p.density},
              {"active_tokens", p.active_tokens},
              {"max_activation", p.max_activation}};
    json ctx = json::array();
    for (const FeatureContext& c : p.contexts) {
      json toks = json::array();
      for (int32_t t : c.tokens) toks.push_back(nlohmann::json::parse(clean_utf8(token_text(tok, t))));
      ctx.push_back({{"sequence", c.sequence},
                     {"position", c.position},
                     {"activation", c.activation},
                     {"first_position", c.first},
                     {"token_ids", c.tokens},
                     {"tokens", toks},
                     {"activations", c.activations}});
    }
    f["contexts"] = ctx;
    if (rep.has_logits) {
      auto list = [&](const std::vector<std::pair<int32_t, float>>& v) {
        json a = json::array();
        for (const auto& [id, l] : v)
          a.push_back({{"token_id", id}, {"token", json::parse(clean_utf8(token_text(tok, id)))}, {"logit", l}});
        return a;
      };
      f["promoted"] = list(p.promoted);
      f["suppressed"] = list(p.suppressed);
    }
    if (rep.has_heads) {
      json heads = json::object();
      int64_t best = 0;
      for (size_t h = 0; h < p.head_share.size(); ++h) {
        heads[head_name(layer, int64_t(h))] = p.head_share[h];
        if (p.head_share[h] > p.head_share[size_t(best)]) best = int64_t(h);
      }
      f["head_share"] = heads;
      f["top_head"] = head_name(layer, best);
    }
    feats.push_back(f);
  }
  json out = {{"format", "headlab.sae_features"},
              {"format_version", 1},
              {"hook_name", sae.hook_name},
              {"architecture", sae.architecture},
              {"trained_as", to_string(sae.trained_as)},
              {"d_in", sae.d_in},
              {"d_sae", sae.d_sae},
              {"tokens", rep.tokens},
              {"sequences", rep.sequences},
              {"live_features", rep.live},
              {"features", feats}};
  if (rep.has_heads) {
    json summary = json::array();
    for (int64_t h = 0; h < rep.heads.n_heads; ++h)
      summary.push_back({{"head", head_name(layer, h)},
                         {"features_top", rep.heads.top_count[size_t(h)]},
                         {"features_dominated", rep.heads.dominant_count[size_t(h)]}});
    out["heads"] = summary;
    out["dominated_means_share_at_least"] = rep.heads.dominant;
  }
  return out;
}

std::string feature_report_html(const FeatureReport& rep, const Sae& sae, const Tokenizer* tok,
                                const std::string& title) {
  const int layer = hook_layer(sae);
  std::string h;
  h += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) + "</title>\n<style>\n";
  h += "body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}th{background:#eee}"
       ".ctx{font-family:monospace;white-space:pre-wrap;margin:2px 0;line-height:1.6}"
       ".tok{border-radius:2px;padding:0 1px}.cur{outline:1px solid #c00}"
       ".bar{display:inline-block;height:10px;background:#36c;vertical-align:middle}"
       "section{border-top:1px solid #999;margin-top:1.5em}.small{color:#666;font-size:85%}\n</style></head><body>\n";
  h += "<h1>" + html_escape(title) + "</h1>\n<p>" + html_escape(sae.hook_name) + " &middot; " +
       html_escape(to_string(sae.trained_as)) + " SAE, " + std::to_string(sae.d_sae) + " features over " +
       std::to_string(sae.d_in) + " inputs &middot; " + std::to_string(rep.tokens) + " tokens (" +
       std::to_string(rep.sequences) + " sequences), " + std::to_string(rep.live) + " features active; " +
       std::to_string(rep.pages.size()) + " shown, most frequent first.</p>\n";
  if (rep.has_heads) {
    h += "<h2>Heads</h2><table><tr><th>head</th><th>features whose largest decoder share is this head</th>"
         "<th>features with share &ge; " +
         fmt(rep.heads.dominant, "%.2f") + "</th></tr>\n";
    for (int64_t k = 0; k < rep.heads.n_heads; ++k)
      h += "<tr><td>" + head_name(layer, k) + "</td><td>" + std::to_string(rep.heads.top_count[size_t(k)]) +
           "</td><td>" + std::to_string(rep.heads.dominant_count[size_t(k)]) + "</td></tr>\n";
    h += "</table>\n";
  }
  h += "<h2>Features</h2><table><tr><th>feature</th><th>density</th><th>max act</th>";
  if (rep.has_heads) h += "<th>top head</th>";
  if (rep.has_logits) h += "<th>promotes</th>";
  h += "<th>top context</th></tr>\n";
  auto ctx_html = [&](const FeatureContext& c, float max_act) {
    std::string s = "<div class=\"ctx\">";
    for (size_t q = 0; q < c.tokens.size(); ++q) {
      const float a = max_act > 0 ? std::min(1.0f, std::max(0.0f, c.activations[q] / max_act)) : 0.0f;
      const bool cur = int64_t(q) + c.first == c.position;
      s += "<span class=\"tok" + std::string(cur ? " cur" : "") + "\" style=\"background:rgba(255,120,0," +
           fmt(a, "%.2f") + ")\" title=\"" + fmt(c.activations[q]) + "\">" + html_escape(token_text(tok, c.tokens[q])) +
           "</span>";
    }
    return s + "</div>";
  };
  auto top_head = [&](const FeaturePage& p) {
    int64_t best = 0;
    for (size_t k = 0; k < p.head_share.size(); ++k)
      if (p.head_share[k] > p.head_share[size_t(best)]) best = int64_t(k);
    return head_name(layer, best) + " (" + fmt(p.head_share[size_t(best)], "%.2f") + ")";
  };
  for (const FeaturePage& p : rep.pages) {
    h += "<tr><td><a href=\"#f" + std::to_string(p.feature) + "\">" + std::to_string(p.feature) + "</a></td><td>" +
         fmt(p.density) + "</td><td>" + fmt(p.max_activation) + "</td>";
    if (rep.has_heads) h += "<td>" + top_head(p) + "</td>";
    if (rep.has_logits) {
      std::string prom;
      for (size_t j = 0; j < std::min<size_t>(3, p.promoted.size()); ++j)
        prom += (j ? " " : "") + std::string("<code>") + html_escape(token_text(tok, p.promoted[j].first)) + "</code>";
      h += "<td>" + prom + "</td>";
    }
    h += "<td>" + (p.contexts.empty() ? std::string() : ctx_html(p.contexts[0], p.max_activation)) + "</td></tr>\n";
  }
  h += "</table>\n";
  for (const FeaturePage& p : rep.pages) {
    h += "<section id=\"f" + std::to_string(p.feature) + "\"><h3>Feature " + std::to_string(p.feature) + "</h3>\n";
    h += "<p>density " + fmt(p.density) + " (" + std::to_string(p.active_tokens) + " of " + std::to_string(rep.tokens) +
         " tokens), max activation " + fmt(p.max_activation) + "</p>\n";
    if (rep.has_heads) {
      h += "<p>heads: ";
      for (size_t k = 0; k < p.head_share.size(); ++k)
        h += head_name(layer, int64_t(k)) +
             " <span class=\"bar\" style=\"width:" + fmt(80.0 * p.head_share[k], "%.0f") + "px\"></span> " +
             fmt(p.head_share[k], "%.2f") + " &nbsp; ";
      h += "</p>\n";
    }
    if (rep.has_logits) {
      h += "<p>promotes: ";
      for (const auto& [id, l] : p.promoted)
        h += "<code>" + html_escape(token_text(tok, id)) + "</code> <span class=\"small\">" + fmt(l, "%+.2f") +
             "</span> ";
      h += "<br>suppresses: ";
      for (const auto& [id, l] : p.suppressed)
        h += "<code>" + html_escape(token_text(tok, id)) + "</code> <span class=\"small\">" + fmt(l, "%+.2f") +
             "</span> ";
      h += "</p>\n";
    }
    h += "<p class=\"small\">top contexts (sequence:position, activation):</p>\n";
    for (const FeatureContext& c : p.contexts)
      h += "<div class=\"small\">" + std::to_string(c.sequence) + ":" + std::to_string(c.position) + " &middot; " +
           fmt(c.activation) + "</div>" + ctx_html(c, p.max_activation) + "\n";
    h += "<p class=\"small\"><a href=\"#\">top</a></p></section>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace headlab
