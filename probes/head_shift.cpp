#include "probes/head_shift.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/h5_file.h"

namespace headlab {

std::vector<HeadProbe> read_head_probes(const std::string& path, const ModelConfig& cfg,
                                        const std::string& model_hash) {
  const h5::File f = h5::File::open(path);
  h5::check_format(f, "headlab.probe", 1);
  const std::string trained_on = f.attr_string("model_hash");
  if (!model_hash.empty() && !trained_on.empty() && trained_on != model_hash)
    throw InputError(path, "its probes were trained on another model's activations (model hash " + trained_on +
                               "; this checkpoint's is " + model_hash + ")");
  const h5::Group table = f.group("table");
  const nlohmann::json names = nlohmann::json::parse(table.attr_string("names"), nullptr, false);
  if (!names.is_array()) throw InputError(table.attr_where("names"), "expected a JSON list of probe names");
  const int64_t P = int64_t(names.size());
  const std::vector<int32_t> layer = table.read<int32_t>("layer", h5::Shape{P}),
                             head = table.read<int32_t>("head", h5::Shape{P});
  const std::vector<double> val = table.read<double>("validation_score", h5::Shape{P}),
                            test = table.read<double>("test_score", h5::Shape{P});
  std::vector<HeadProbe> out;
  for (int64_t i = 0; i < P; ++i) {
    if (head[size_t(i)] < 0 || layer[size_t(i)] < 0) continue;
    const std::string hook = "blocks." + std::to_string(layer[size_t(i)]) + ".attn.hook_z";
    const std::string group = "probes/" + hook + "/H" + std::to_string(head[size_t(i)]);
    if (!names[size_t(i)].is_string() || names[size_t(i)].get<std::string>().rfind(hook + " ", 0) != 0) continue;
    if (layer[size_t(i)] >= cfg.n_layers || head[size_t(i)] >= cfg.n_heads)
      throw InputError(f.where(group), "names a head the model does not have (" + std::to_string(cfg.n_layers) +
                                           " layers of " + std::to_string(cfg.n_heads) + " heads)");
    if (!f.exists(group + "/direction"))
      throw InputError(f.where(group), "has no direction: probes of a label with two classes have one");
    HeadProbe p;
    p.layer = layer[size_t(i)];
    p.head = head[size_t(i)];
    p.validation_score = val[size_t(i)];
    p.test_score = test[size_t(i)];
    p.direction = f.read<float>(group + "/direction", h5::Shape{cfg.d_head});
    p.sigma = f.group(group).attr_float("projection_std");
    out.push_back(std::move(p));
  }
  if (out.empty())
    throw InputError(path,
                     "holds no per-head probes on blocks.*.attn.hook_z (headlab-probes linear --per-head on a "
                     "store of hook_z)");
  return out;
}

std::vector<HeadProbe> top_heads(std::vector<HeadProbe> probes, int k) {
  std::stable_sort(probes.begin(), probes.end(), [](const HeadProbe& a, const HeadProbe& b) {
    if (a.validation_score != b.validation_score) return a.validation_score > b.validation_score;
    return a.layer != b.layer ? a.layer < b.layer : a.head < b.head;
  });
  if (int(probes.size()) > k) probes.resize(size_t(k));
  return probes;
}

std::map<int, std::vector<float>> hook_z_shifts(const std::vector<HeadProbe>& heads, const ModelConfig& cfg) {
  std::map<int, std::vector<float>> out;
  for (const HeadProbe& h : heads) {
    std::vector<float>& v = out[h.layer];
    v.resize(size_t(cfg.n_heads * cfg.d_head), 0.0f);
    for (int j = 0; j < cfg.d_head; ++j) v[size_t(h.head * cfg.d_head + j)] = float(h.sigma * h.direction[size_t(j)]);
  }
  return out;
}

}  // namespace headlab
