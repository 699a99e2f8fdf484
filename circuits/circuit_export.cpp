#include "circuits/circuit_export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/errors.h"

namespace headlab {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Which sources the circuit touches: an end of a kept edge (a destination counts for its owner).
std::vector<char> nodes_in(const EdgeGraph& g, const EdgeMatrix& keep, bool& logits) {
  std::vector<char> in(size_t(g.n_src()), 0);
  logits = false;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d) && keep[size_t(g.cell(s, d))] != 0.0f) {
        in[size_t(s)] = 1;
        const int o = g.dst_owner(d);
        if (o < 0)
          logits = true;
        else
          in[size_t(o)] = 1;
      }
  return in;
}

}  // namespace

std::string eap_ig_src_name(const EdgeGraph& g, int src) {
  const EdgeGraph::Node n = g.src_node(src);
  if (n.kind == EdgeGraph::Kind::input) return "input";
  if (n.kind == EdgeGraph::Kind::head) return "a" + std::to_string(n.layer) + ".h" + std::to_string(n.head);
  return "m" + std::to_string(n.layer);
}

std::string eap_ig_dst_name(const EdgeGraph& g, int dst) {
  const EdgeGraph::Node n = g.dst_node(dst);
  if (n.kind == EdgeGraph::Kind::logits) return "logits";
  if (n.kind == EdgeGraph::Kind::mlp) return "m" + std::to_string(n.layer);
  return "a" + std::to_string(n.layer) + ".h" + std::to_string(n.head) + "<" + "qkv"[int(n.which)] + ">";
}

nlohmann::json circuit_json(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep,
                            const nlohmann::json& settings) {
  nlohmann::json j;
  j["format"] = "headlab.circuit";
  j["format_version"] = 1;
  j["settings"] = settings;
  j["graph"] = {{"n_layers", g.n_layers()}, {"n_heads", g.n_heads()},      {"mlps", g.has_mlps()},
                {"n_sources", g.n_src()},   {"n_destinations", g.n_dst()}, {"n_edges", g.n_edges()}};
  bool logits = false;
  const std::vector<char> in = nodes_in(g, keep, logits);
  nlohmann::json nodes = nlohmann::json::object();
  for (int s = 0; s < g.n_src(); ++s) nodes[g.src_name(s)] = bool(in[size_t(s)]);
  nodes["logits"] = logits;
  j["nodes"] = nodes;
  nlohmann::json edges = nlohmann::json::array();
  int64_t kept = 0;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d) {
      if (!g.is_edge(s, d)) continue;
      const bool k = keep[size_t(g.cell(s, d))] != 0.0f;
      kept += k;
      edges.push_back({{"name", g.edge_name(s, d)},
                       {"eap_ig_name", eap_ig_src_name(g, s) + "->" + eap_ig_dst_name(g, d)},
                       {"score", scores[size_t(g.cell(s, d))]},
                       {"in_graph", k}});
    }
  j["n_edges_in_graph"] = kept;
  j["edges"] = edges;
  return j;
}

EdgeMatrix circuit_from_json(const EdgeGraph& g, const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("edges") || !j["edges"].is_array())
    throw InputError(what, "expected a JSON object with an \"edges\" array (a headlab circuit file)");
  EdgeMatrix keep(size_t(g.n_cells()), 0.0f);
  for (const auto& e : j["edges"]) {
    std::string name;
    bool in = true;
    if (e.is_string()) {
      name = e.get<std::string>();
    } else if (e.is_object() && e.contains("name") && e["name"].is_string()) {
      name = e["name"].get<std::string>();
      if (e.contains("in_graph")) {
        if (!e["in_graph"].is_boolean()) throw InputError(what, "edge " + name + ": in_graph must be true or false");
        in = e["in_graph"].get<bool>();
      }
    } else {
      throw InputError(what, "each edge must be a name or an object with a \"name\"");
    }
    const size_t arrow = name.find("->");
    if (arrow == std::string::npos) throw InputError(what, "edge '" + name + "': expected SOURCE->DESTINATION");
    const int s = g.find_src(name.substr(0, arrow)), d = g.find_dst(name.substr(arrow + 2));
    if (s < 0)
      throw InputError(what, "edge '" + name + "': the model has no source node '" + name.substr(0, arrow) + "'");
    if (d < 0)
      throw InputError(what, "edge '" + name + "': the model has no destination '" + name.substr(arrow + 2) + "'");
    if (!g.is_edge(s, d))
      throw InputError(what, "edge '" + name + "': the destination reads the residual before the source writes it");
    if (in) keep[size_t(g.cell(s, d))] = 1.0f;
  }
  return keep;
}

std::string circuit_dot(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep,
                        const std::string& title) {
  bool logits = false;
  const std::vector<char> in = nodes_in(g, keep, logits);
  double mx = 0;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d) && keep[size_t(g.cell(s, d))] != 0.0f)
        mx = std::max(mx, std::fabs(double(scores[size_t(g.cell(s, d))])));
  std::string out =
      "digraph circuit {\n  label=\"" + title + "\";\n  rankdir=BT;\n  node [shape=box, style=rounded];\n";
  for (int s = 0; s < g.n_src(); ++s)
    if (in[size_t(s)]) out += "  \"" + g.src_name(s) + "\";\n";
  if (logits) out += "  \"logits\" [shape=ellipse];\n";
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d) {
      if (!g.is_edge(s, d) || keep[size_t(g.cell(s, d))] == 0.0f) continue;
      const double v = scores[size_t(g.cell(s, d))];
      const int o = g.dst_owner(d);
      const EdgeGraph::Node n = g.dst_node(d);
      char line[256];
      std::snprintf(line, sizeof line, "  \"%s\" -> \"%s\" [label=\"%s%.3g\", penwidth=%.2f, color=\"%s\"];\n",
                    g.src_name(s).c_str(), o < 0 ? "logits" : g.src_name(o).c_str(),
                    n.kind == EdgeGraph::Kind::head ? (std::string(1, "qkv"[int(n.which)]) + " ").c_str() : "", v,
                    mx > 0 ? 0.5 + 4.5 * std::fabs(v) / mx : 1.0, v >= 0 ? "#b2182b" : "#2166ac");
      out += line;
    }
  return out + "}\n";
}

svg::Picture circuit_picture(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep,
                             const std::string& title) {
  // Rows from the bottom: input, then per layer the heads and the MLP, the logits on top.
  const int H = g.n_heads(), L = g.n_layers();
  const double col = 90, row = 80, left = 40, top = 50;
  const int rows = 2 + L * (g.has_mlps() ? 2 : 1);
  const double width = left * 2 + col * std::max(H, 1), height = top + row * rows + 20;
  auto row_of = [&](const EdgeGraph::Node& n) {
    if (n.kind == EdgeGraph::Kind::input) return 0;
    if (n.kind == EdgeGraph::Kind::logits) return rows - 1;
    const int per = g.has_mlps() ? 2 : 1;
    return 1 + n.layer * per + (n.kind == EdgeGraph::Kind::mlp ? 1 : 0);
  };
  auto pos = [&](const EdgeGraph::Node& n) {
    const double y = top + row * (rows - 1 - row_of(n)) + row / 2;
    const double x = n.kind == EdgeGraph::Kind::head ? left + col * (n.head + 0.5) : width / 2;
    return std::make_pair(x, y);
  };
  bool logits = false;
  const std::vector<char> in = nodes_in(g, keep, logits);
  double mx = 0;
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d) && keep[size_t(g.cell(s, d))] != 0.0f)
        mx = std::max(mx, std::fabs(double(scores[size_t(g.cell(s, d))])));
  std::string body = "<text x=\"" + num(left) +
                     "\" y=\"24\" font-size=\"15\" font-family=\"Helvetica, Arial, "
                     "sans-serif\">" +
                     svg::escape_xml(title) + "</text>\n";
  // Edges first, under the nodes; q, k and v inputs enter a head at its left, middle and right.
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d) {
      if (!g.is_edge(s, d) || keep[size_t(g.cell(s, d))] == 0.0f) continue;
      const double v = scores[size_t(g.cell(s, d))];
      auto [x1, y1] = pos(g.src_node(s));
      const EdgeGraph::Node dn = g.dst_node(d);
      auto [x2, y2] = pos(dn);
      if (dn.kind == EdgeGraph::Kind::head) x2 += (int(dn.which) - 1) * 14;
      y1 -= 12;
      y2 += 12;
      const double w = mx > 0 ? 0.6 + 6.0 * std::fabs(v) / mx : 1.0;
      const double cx = (x1 + x2) / 2 + (y1 - y2) * 0.15;
      body += "<path d=\"M" + num(x1) + "," + num(y1) + " Q" + num(cx) + "," + num((y1 + y2) / 2) + " " + num(x2) +
              "," + num(y2) + "\" fill=\"none\" stroke=\"" + (v >= 0 ? "#b2182b" : "#2166ac") +
              "\" stroke-opacity=\"0.7\" stroke-width=\"" + num(w) + "\"" +
              (dn.kind == EdgeGraph::Kind::head && dn.which != QKV::v
                   ? (dn.which == QKV::q ? " stroke-dasharray=\"2,2\"" : " stroke-dasharray=\"6,3\"")
                   : "") +
              "><title>" + svg::escape_xml(g.edge_name(s, d)) + " " + num(v) + "</title></path>\n";
    }
  auto node = [&](const EdgeGraph::Node& n, const std::string& name, bool on) {
    auto [x, y] = pos(n);
    body += "<rect x=\"" + num(x - 30) + "\" y=\"" + num(y - 12) + "\" width=\"60\" height=\"24\" rx=\"6\" fill=\"" +
            (on ? "#fff7e0" : "#f4f4f4") + "\" stroke=\"" + (on ? "#333" : "#ccc") + "\"/>\n";
    body += "<text x=\"" + num(x) + "\" y=\"" + num(y + 4) +
            "\" font-size=\"11\" text-anchor=\"middle\" font-family=\"Helvetica, Arial, sans-serif\" fill=\"" +
            (on ? "#222" : "#aaa") + "\">" + svg::escape_xml(name) + "</text>\n";
  };
  for (int s = 0; s < g.n_src(); ++s) node(g.src_node(s), g.src_name(s), in[size_t(s)]);
  EdgeGraph::Node ln;
  ln.kind = EdgeGraph::Kind::logits;
  node(ln, "logits", logits);
  body += "<text x=\"" + num(left) + "\" y=\"" + num(height - 6) +
          "\" font-size=\"10\" font-family=\"Helvetica, Arial, sans-serif\" fill=\"#555\">red: positive score, blue: "
          "negative; width: |score|; into heads: q dotted, k dashed, v solid</text>\n";
  return {width, height, body};
}

}  // namespace headlab
