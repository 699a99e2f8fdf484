// Heads as people write them: "L1H4" (layer 1, head 4, both 0-based), lists "L0H1,L1H4".
#pragma once
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab {

struct HeadRef {
  int layer = 0, head = 0;
  bool operator==(const HeadRef& o) const { return layer == o.layer && head == o.head; }
  bool operator<(const HeadRef& o) const { return layer != o.layer ? layer < o.layer : head < o.head; }
};

std::string head_label(HeadRef h);  // "L1H4"

// One head ("L1H4" or "l1h4"). InputError(what, ...) when it is malformed or the model has no such
// head (naming the model's layer and head ranges).
HeadRef parse_head(const std::string& text, const ModelConfig& cfg, const std::string& what);
// A comma- or space-separated list of heads, in the order given; InputError for an empty list, a
// bad entry or a head listed twice.
std::vector<HeadRef> parse_head_list(const std::string& text, const ModelConfig& cfg, const std::string& what);
// Every head of the model, layer by layer.
std::vector<HeadRef> all_heads(const ModelConfig& cfg);

}  // namespace headlab
