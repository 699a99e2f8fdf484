// Interventions: HookFn builders on top of model/hooks.h. Each returns a function a HookSet runs
// at one hook point during forward; it edits the activation in place (replace with values from
// another run, ablate, add a direction), on any backend.
//
//   HookSet hooks;
//   hooks.add_forward({1, HookSite::attn_z}, replace_from(corrupted_z, Selection::heads_at({3})));
//   model.forward(clean_tokens, B, T, &hooks);
//
// Which part of an activation is touched is a Selection of positions and heads. Positions are
// the second axis of [batch, pos, ...] points and the query axis of [batch, head, q_pos, k_pos]
// ones (hook_pattern, hook_attn_scores); heads are the head axis where a point has one.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/hooks.h"
#include "model/transformer.h"

namespace headlab {

struct Selection {
  std::vector<int> positions;  // empty = every position
  std::vector<int> heads;      // empty = every head (must be empty where the point has no head axis)

  static Selection all() { return {}; }
  static Selection at_positions(std::vector<int> p) { return {std::move(p), {}}; }
  static Selection heads_at(std::vector<int> h) { return {{}, std::move(h)}; }
};

// How a hook point's axes map onto (batch, position, head, width): the activation is
// [batch][pos][head][width] or, for patterns, [batch][head][pos][width].
struct ActivationLayout {
  int64_t batch = 0, positions = 0, heads = 1, width = 0;
  bool head_major = false;  // [batch, head, pos, width] (hook_pattern, hook_attn_scores)
  int64_t offset(int64_t b, int64_t p, int64_t h) const {
    return head_major ? ((b * heads + h) * positions + p) * width : ((b * positions + p) * heads + h) * width;
  }
};
bool site_has_heads(HookSite site);
// InternalError when the shape does not fit the site.
ActivationLayout activation_layout(HookSite site, const std::vector<int64_t>& shape);

// Replace the selected part with the same part of `source` (a cache of another run at this point).
// The source's shape must equal the activation's, or have batch 1 (broadcast over the batch, as for
// a mean); otherwise the hook throws InputError naming the point.
HookFn replace_from(std::shared_ptr<const HostTensor> source, Selection sel = {});
// Replace, in each batch row b, the positions row_positions[b] (of the selected heads; all heads when
// empty) with the same cells of `source` (the activation's shape): patching a role whose position
// differs from row to row. InputError when the batch or a position does not fit the activation.
HookFn replace_rows_from(std::shared_ptr<const HostTensor> source, std::vector<std::vector<int>> row_positions,
                         std::vector<int> heads = {});
// Set the selected part to 0.
HookFn zero_ablation(Selection sel = {});
// Replace with a mean over a reference set ([1, ...], from mean_activation): replace_from.
HookFn mean_ablation(std::shared_ptr<const HostTensor> mean, Selection sel = {});
// Replace with the activation of other inputs (a cache of a run on them): replace_from.
HookFn resample_ablation(std::shared_ptr<const HostTensor> other_run, Selection sel = {});
// At a pattern point (hook_pattern): the selected heads' attention to position 0 (BOS, the usual
// attention sink) removed and each query row renormalised over its other keys, so the head reads
// what it attended to besides the sink; row 0, which can only attend to position 0, is kept.
// InputError when the hook is not a pattern point.
HookFn remove_first_token_attention(Selection sel = {});
// Add coefficient * direction at the selected positions (and heads). `direction` is one position's
// slice (everything after [batch, pos]: d_model floats for the residual stream, n_heads * d_head
// for hook_z ...). Not for pattern points (InputError when the hook runs).
HookFn add_direction(std::vector<float> direction, float coefficient, Selection sel = {});

// The mean activation at each point over n sequences of T tokens (tokens [n, T]), position by
// position: shape [1, ...] (hook_shape with batch 1), for mean ablation. One pass, batches of
// batch_size. InputError when n < 1.
ActivationCache mean_activations(Transformer& model, const std::vector<HookPoint>& points, const int32_t* tokens,
                                 int64_t n, int T, int batch_size);

}  // namespace headlab
