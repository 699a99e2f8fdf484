// The feature report as files a person opens without a server: features.json (everything) and
// index.html (an index table, then one section per feature with its contexts highlighted by
// activation, its logits and its heads). Token text comes from the tokenizer, "#id" without one.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "data/tokenizer.h"
#include "probes/sae_features.h"

namespace headlab {

nlohmann::json feature_report_json(const FeatureReport& rep, const Sae& sae, const Tokenizer* tok);
std::string feature_report_html(const FeatureReport& rep, const Sae& sae, const Tokenizer* tok,
                                const std::string& title);

}  // namespace headlab
