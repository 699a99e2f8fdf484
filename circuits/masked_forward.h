// Masked edge patching: the one primitive every edge method runs on (auto-circuit's design).
// A mask holds one value per edge of an EdgeGraph: 1 = the edge carries this run's value, 0 = the
// corrupted run's. In a masked forward every destination reads
//   its ordinary input − Σ_src (1 − mask[src, dst]) · (out_src − corrupted_out_src),
// out_src being the source's output in this very run and corrupted_out_src its output in a run on
// the corrupted tokens. All ones is the clean model, all zeros the corrupted model; a circuit is
// the mask that is 1 on its edges; EAP scores are the gradient with respect to the mask at 1.
//
// Everything stays in the backend's memory: per source one row of out − corrupted_out
// ([n_src, B*T*d_model]), and each layer's destination inputs are corrected with one product of
// its [n_dst_layer, n_readable] weights by those rows. No [edges, B, T, d_model] tensor exists.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "circuits/edge_graph.h"
#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

struct MaskedRunOptions {
  const EdgeMatrix* mask = nullptr;  // [n_src, n_dst]; null = every edge 1 (nothing patched)
  // Keep the source rows of the previous run instead of recording this run's (only with no mask:
  // the corrections need this run's rows). For runs that only need gradients, e.g. EAP-IG steps.
  bool keep_deltas = false;
  // When finite, the input (blocks.0.hook_resid_pre) is corrupted + alpha · (clean − corrupted),
  // the clean one from the kept rows of an earlier unpatched run (needs keep_deltas).
  float input_alpha = NAN;
  // When replace_count > 0: the outputs of sources [replace_first, replace_first + replace_count)
  // (one layer's heads, or one MLP) are replaced by corrupted + replace_alpha · (clean − corrupted)
  // from the kept rows of an earlier unpatched run (needs keep_deltas), and no gradient flows back
  // through them into the layer: a replaced, constant value, as a hook that returns a new tensor
  // is under autograd (EAP-IG-activations).
  int replace_first = 0, replace_count = 0;
  float replace_alpha = 0.0f;
  // Form each destination input's gradient in the next backward().
  bool gradients = false;
};

class EdgePatcher {
 public:
  EdgePatcher(Transformer& model, const EdgeGraph& graph);
  ~EdgePatcher();
  EdgePatcher(const EdgePatcher&) = delete;
  EdgePatcher& operator=(const EdgePatcher&) = delete;

  const EdgeGraph& graph() const { return g_; }
  Transformer& model() { return model_; }

  // One forward on the corrupted tokens [B, T]: each source's output is kept for the masked runs
  // that follow on rows of the same shape.
  void cache_corrupted(const int32_t* corrupted, int B, int T);
  // The masked forward on tokens [B, T] (the shape cache_corrupted saw; InternalError otherwise).
  // Logits are the model's (model().logits()).
  void forward(const int32_t* tokens, const MaskedRunOptions& opt);
  // Backward from dlogits [B, T, d_vocab] (host) through the last forward. With opt.gradients set
  // in that forward, each destination input's gradient is ADDED into the gradient rows.
  void backward(const float* dlogits);
  void zero_gradients();
  // scores[src, dst] += scale · Σ_{b,t,d} (corrupted_out_src − out_src) · gradient_dst, on edges,
  // the source rows being those of the last recorded run: one [n_src, BTD] x [BTD, n_dst] product.
  void add_edge_scores(EdgeMatrix& scores, double scale);

  // Host copies, for tests and node attribution: row r of the source deltas (out − corrupted_out)
  // or of the destination gradients, [B*T*d_model].
  std::vector<float> delta_row(int src) const;
  std::vector<float> gradient_row(int dst) const;

 private:
  void ensure_buffers(int B, int T);
  void pack_weights(const EdgeMatrix& mask);
  void correct(float* data, int first_dst, int rows, bool head_layout);
  float* scratch();  // [max(H, 1), BTD] x 2, allocated on first use
  HookSet hooks_for(const MaskedRunOptions& opt);

  Transformer& model_;
  Backend& be_;
  EdgeGraph g_;
  int B_ = 0, T_ = 0;
  int64_t BTD_ = 0;
  bool have_corrupted_ = false;
  float* corrupted_ = nullptr;  // [n_src, BTD]
  float* delta_ = nullptr;      // [n_src, BTD]
  float* grad_ = nullptr;       // [n_dst, BTD]
  float* scratch_ = nullptr;    // see scratch()
  float* weights_ = nullptr;    // packed (1 − mask) blocks, [n_dst, n_src] at most
  float* score_buf_ = nullptr;  // [n_src, n_dst]
  float* dlogits_ = nullptr;    // [BT, V]
  std::vector<void*> owned_;
  // Per destination (the first of each group): offset of its block in weights_, or -1 when the
  // whole group is unpatched.
  std::vector<int64_t> block_offset_;
  HookSet hooks_;
  bool last_gradients_ = false;
};

}  // namespace headlab
