// What a person reads about each SAE feature (a Neuronpedia-style page, computed here): its top
// activating contexts over a dataset, its activation density, the logits its decoder direction
// promotes and suppresses (through W_O for hook_z, then W_U: the direct effect, no final norm), and
// for attention-output SAEs its heads. Written as JSON and a static HTML page (sae_pages.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "probes/sae_eval.h"
#include "probes/sae_heads.h"
#include "probes/sae_inference.h"

namespace headlab {

struct FeatureContext {
  int64_t sequence = 0, position = 0;
  float activation = 0;
  int64_t first = 0;               // position of window[0] in the sequence
  std::vector<int32_t> tokens;     // the window of tokens around `position`
  std::vector<float> activations;  // the feature's activation at each of them
};

struct FeaturePage {
  int64_t feature = 0;
  int64_t active_tokens = 0;
  double density = 0;  // active_tokens / tokens
  float max_activation = 0;
  std::vector<FeatureContext> contexts;               // strongest first
  std::vector<std::pair<int32_t, float>> promoted;    // (token, direct logit effect), largest first
  std::vector<std::pair<int32_t, float>> suppressed;  // most negative first
  std::vector<float> head_share;                      // [n_heads] for attention-output SAEs
};

struct FeatureReportOptions {
  int64_t max_sequences = 0;  // 0 = all
  int64_t batch = 16;
  int64_t contexts = 8;            // per feature
  int64_t before = 10, after = 3;  // window around the token
  int64_t logits = 8;              // promoted and suppressed tokens per feature
  int64_t max_features = 256;      // the live features with the highest density, at most this many
};

struct FeatureReport {
  int64_t tokens = 0, sequences = 0, live = 0;
  std::vector<FeaturePage> pages;  // ordered by density, highest first
  bool has_logits = false;
  bool has_heads = false;
  HeadAttribution heads;  // when has_heads
};

FeatureReport build_feature_report(const Sae& sae, Transformer& model, const SequenceView& seqs,
                                   const FeatureReportOptions& opt);

// The direct logit effect of feature i's decoder direction, [d_vocab], or empty when the hook is
// not in the residual stream's space (or hook_z, through W_O). `params`: model.params_to_host().
std::vector<float> feature_logit_effect(const Sae& sae, const Transformer& model, const std::vector<float>& params,
                                        int64_t feature);

}  // namespace headlab
