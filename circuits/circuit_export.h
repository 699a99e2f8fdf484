// A circuit for people and other tools: JSON (nodes, edges, scores, the run's settings; edge names
// also in EAP-IG / MIB's spelling, a0.h1->a1.h2<q>), Graphviz DOT, and an SVG drawn here with the
// nodes laid out by layer and each edge's width by |score|.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "circuits/edge_graph.h"
#include "circuits/svg_plot.h"

namespace headlab {

// EAP-IG's names: input, a{l}.h{h}, m{l}, logits; destinations a{l}.h{h}<q>, m{l}, logits.
std::string eap_ig_src_name(const EdgeGraph& g, int src);
std::string eap_ig_dst_name(const EdgeGraph& g, int dst);

// keep: 0/1 per cell (the circuit); scores: per cell. settings: any JSON object (method, metric ...).
nlohmann::json circuit_json(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep,
                            const nlohmann::json& settings);
// Reads the edges a JSON written by circuit_json keeps (in_graph true), or a plain {"edges": [names]}
// list; InputError naming `what` for unknown nodes or malformed text.
EdgeMatrix circuit_from_json(const EdgeGraph& g, const nlohmann::json& j, const std::string& what);
std::string circuit_dot(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep, const std::string& title);
svg::Picture circuit_picture(const EdgeGraph& g, const EdgeMatrix& scores, const EdgeMatrix& keep,
                             const std::string& title);

}  // namespace headlab
