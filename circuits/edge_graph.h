// The graph edge methods search (EAP, EAP-IG, ACDC; Hanna et al. 2024's graph):
//   sources (upstream outputs): input (the embeddings, blocks.0.hook_resid_pre), every head's
//     result L{l}H{h} (hook_result), every MLP's output M{l} (hook_mlp_out): 1 + L(H+1);
//   destinations (downstream inputs): every head's q, k and v inputs (hook_{q,k,v}_input), every
//     MLP's input (hook_mlp_in), and the logits (the final residual): L(3H+1) + 1;
//   an edge from every source to every destination that reads the residual after the source
//   wrote to it. Attention-only models have no M{l}.
// Sources are numbered in the order they write (input, then layer by layer the heads, then the
// MLP), so the sources a destination can read are always a prefix 0..n_readable(d).
// Arrays over edges are dense [n_src, n_dst] (source-major), 0 where no edge exists.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "circuits/heads_arg.h"
#include "model/config.h"

namespace headlab {

enum class QKV { q = 0, k = 1, v = 2 };

class EdgeGraph {
 public:
  explicit EdgeGraph(const ModelConfig& cfg);

  int n_layers() const { return L_; }
  int n_heads() const { return H_; }
  bool has_mlps() const { return mlps_; }
  int n_src() const { return 1 + L_ * per_layer_src(); }
  int n_dst() const { return L_ * per_layer_dst() + 1; }
  int64_t n_cells() const { return int64_t(n_src()) * n_dst(); }
  int64_t n_edges() const { return n_edges_; }

  int src_input() const { return 0; }
  int src_head(int layer, int head) const { return 1 + layer * per_layer_src() + head; }
  int src_mlp(int layer) const { return 1 + layer * per_layer_src() + H_; }
  int dst_head(int layer, QKV which, int head) const { return layer * per_layer_dst() + int(which) * H_ + head; }
  int dst_mlp(int layer) const { return layer * per_layer_dst() + 3 * H_; }
  int dst_logits() const { return L_ * per_layer_dst(); }

  // The sources destination d can read: 0 .. n_readable(d) - 1.
  int n_readable(int dst) const;
  bool is_edge(int src, int dst) const { return src < n_readable(dst); }
  int64_t cell(int src, int dst) const { return int64_t(src) * n_dst() + dst; }

  // What a source or destination is: kind, layer, head (head and which only for heads).
  enum class Kind { input, head, mlp, logits };
  struct Node {
    Kind kind = Kind::input;
    int layer = -1, head = -1;
    QKV which = QKV::q;
  };
  Node src_node(int src) const;
  Node dst_node(int dst) const;
  // The source that a destination belongs to as a node (a head's q/k/v inputs and outputs are one
  // node), or -1 for the logits.
  int dst_owner(int dst) const;

  // "input", "L1H2", "M0"; "L1H2:q", "M0" (the MLP's input), "logits"; "L0H1->L1H2:k".
  std::string src_name(int src) const;
  std::string dst_name(int dst) const;
  std::string edge_name(int src, int dst) const { return src_name(src) + "->" + dst_name(dst); }
  // Inverse of the names above; -1 when the text names no such source / destination.
  int find_src(const std::string& name) const;
  int find_dst(const std::string& name) const;

 private:
  int per_layer_src() const { return H_ + (mlps_ ? 1 : 0); }
  int per_layer_dst() const { return 3 * H_ + (mlps_ ? 1 : 0); }
  int L_, H_;
  bool mlps_;
  int64_t n_edges_ = 0;
};

// A value per edge, dense [n_src, n_dst]; cells that are no edge are ignored by every user.
using EdgeMatrix = std::vector<float>;
EdgeMatrix edge_matrix(const EdgeGraph& g, float value);  // value on every edge, 0 elsewhere
// The heads a circuit (`keep`: nonzero on its edges) touches: each head one of its edges leaves or
// enters (a q/k/v input belongs to its head), in graph order.
std::vector<HeadRef> circuit_heads(const EdgeGraph& g, const EdgeMatrix& keep);

}  // namespace headlab
