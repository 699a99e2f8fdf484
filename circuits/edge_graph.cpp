#include "circuits/edge_graph.h"

#include "core/errors.h"

namespace headlab {

EdgeGraph::EdgeGraph(const ModelConfig& cfg) : L_(cfg.n_layers), H_(cfg.n_heads), mlps_(!cfg.attn_only) {
  for (int d = 0; d < n_dst(); ++d) n_edges_ += n_readable(d);
}

int EdgeGraph::n_readable(int dst) const {
  if (dst >= dst_logits()) return n_src();
  const int layer = dst / per_layer_dst(), within = dst % per_layer_dst();
  const int before_layer = 1 + layer * per_layer_src();
  return within < 3 * H_ ? before_layer : before_layer + H_;  // an MLP reads its own layer's heads
}

EdgeGraph::Node EdgeGraph::src_node(int src) const {
  Node n;
  if (src == 0) return n;
  const int layer = (src - 1) / per_layer_src(), within = (src - 1) % per_layer_src();
  n.layer = layer;
  if (within < H_) {
    n.kind = Kind::head;
    n.head = within;
  } else {
    n.kind = Kind::mlp;
  }
  return n;
}

EdgeGraph::Node EdgeGraph::dst_node(int dst) const {
  Node n;
  if (dst >= dst_logits()) {
    n.kind = Kind::logits;
    return n;
  }
  n.layer = dst / per_layer_dst();
  const int within = dst % per_layer_dst();
  if (within < 3 * H_) {
    n.kind = Kind::head;
    n.which = QKV(within / H_);
    n.head = within % H_;
  } else {
    n.kind = Kind::mlp;
  }
  return n;
}

int EdgeGraph::dst_owner(int dst) const {
  const Node n = dst_node(dst);
  if (n.kind == Kind::logits) return -1;
  return n.kind == Kind::head ? src_head(n.layer, n.head) : src_mlp(n.layer);
}

std::string EdgeGraph::src_name(int src) const {
  const Node n = src_node(src);
  switch (n.kind) {
    case Kind::input:
      return "input";
    case Kind::head:
      return "L" + std::to_string(n.layer) + "H" + std::to_string(n.head);
    case Kind::mlp:
      return "M" + std::to_string(n.layer);
    case Kind::logits:
      break;
  }
  return "logits";
}

std::string EdgeGraph::dst_name(int dst) const {
  const Node n = dst_node(dst);
  switch (n.kind) {
    case Kind::head:
      return "L" + std::to_string(n.layer) + "H" + std::to_string(n.head) + ":" + "qkv"[int(n.which)];
    case Kind::mlp:
      return "M" + std::to_string(n.layer);
    default:
      return "logits";
  }
}

int EdgeGraph::find_src(const std::string& name) const {
  for (int s = 0; s < n_src(); ++s)
    if (src_name(s) == name) return s;
  return -1;
}

int EdgeGraph::find_dst(const std::string& name) const {
  for (int d = 0; d < n_dst(); ++d)
    if (dst_name(d) == name) return d;
  return -1;
}

EdgeMatrix edge_matrix(const EdgeGraph& g, float value) {
  EdgeMatrix m(size_t(g.n_cells()), 0.0f);
  for (int s = 0; s < g.n_src(); ++s)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(s, d)) m[size_t(g.cell(s, d))] = value;
  return m;
}

std::vector<HeadRef> circuit_heads(const EdgeGraph& g, const EdgeMatrix& keep) {
  std::vector<bool> in(size_t(g.n_src()), false);
  for (int src = 0; src < g.n_src(); ++src)
    for (int d = 0; d < g.n_dst(); ++d)
      if (g.is_edge(src, d) && keep[size_t(g.cell(src, d))] != 0.0f) {
        in[size_t(src)] = true;
        if (g.dst_owner(d) >= 0) in[size_t(g.dst_owner(d))] = true;
      }
  std::vector<HeadRef> heads;
  for (int src = 0; src < g.n_src(); ++src) {
    const EdgeGraph::Node n = g.src_node(src);
    if (n.kind == EdgeGraph::Kind::head && in[size_t(src)]) heads.push_back({n.layer, n.head});
  }
  return heads;
}

}  // namespace headlab
