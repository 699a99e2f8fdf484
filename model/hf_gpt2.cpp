#include "model/hf_gpt2.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "model/params.h"
#include "model/safetensors.h"

namespace headlab {
namespace {

nlohmann::json read_config_json(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path, "no such file (expected a Hugging Face model folder with config.json)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    nlohmann::json j = nlohmann::json::parse(text.str());
    if (!j.is_object()) throw InputError(path, "expected a JSON object");
    return j;
  } catch (const nlohmann::json::exception&) {
    throw InputError(path, "not valid JSON");
  }
}

int config_int(const nlohmann::json& j, std::initializer_list<const char*> keys, const std::string& path) {
  for (const char* k : keys)
    if (j.contains(k) && !j[k].is_null()) {
      if (!j[k].is_number_integer() || j[k].get<int64_t>() <= 0 || j[k].get<int64_t>() > (int64_t(1) << 30))
        throw InputError(path, std::string(k) + " must be a positive integer, got " + j[k].dump());
      return int(j[k].get<int64_t>());
    }
  throw InputError(path, std::string("has no ") + *keys.begin());
}

// Settings of GPT2Config that change the forward; refused unless at GPT-2's values.
void require_gpt2_forward(const nlohmann::json& j, const std::string& path) {
  auto expect = [&](const char* key, const nlohmann::json& value) {
    if (j.contains(key) && !j[key].is_null() && j[key] != value)
      throw InputError(path,
                       std::string(key) + " is " + j[key].dump() + "; headlab imports GPT-2 with " + value.dump());
  };
  expect("scale_attn_weights", true);
  expect("scale_attn_by_inverse_layer_idx", false);
  expect("reorder_and_upcast_attn", false);
  expect("add_cross_attention", false);
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"] == false)
    throw InputError(path, "tie_word_embeddings is false; GPT-2's unembedding is its embedding");
}

ModelConfig gpt2_config(const nlohmann::json& j, const std::string& path) {
  const std::string type = j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>()
                                                                                   : std::string("(none)");
  if (type != "gpt2")
    throw InputError(path, "model_type is '" + type + "'; only GPT-2 (model_type \"gpt2\") can be imported");
  require_gpt2_forward(j, path);
  ModelConfig c;
  c.n_layers = config_int(j, {"n_layer", "num_hidden_layers"}, path);
  c.d_model = config_int(j, {"n_embd", "hidden_size"}, path);
  c.n_heads = config_int(j, {"n_head", "num_attention_heads"}, path);
  if (c.d_model % c.n_heads)
    throw InputError(
        path, "n_embd " + std::to_string(c.d_model) + " is not a multiple of n_head " + std::to_string(c.n_heads));
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = j.contains("n_inner") && !j["n_inner"].is_null() ? config_int(j, {"n_inner"}, path) : 4 * c.d_model;
  c.n_ctx = config_int(j, {"n_positions", "n_ctx"}, path);
  c.d_vocab = config_int(j, {"vocab_size"}, path);
  const std::string act = j.value("activation_function", std::string("gelu_new"));
  if (act == "gelu_new")
    c.act_fn = ActFn::gelu_new;
  else if (act == "gelu")
    c.act_fn = ActFn::gelu;
  else if (act == "relu")
    c.act_fn = ActFn::relu;
  else if (act == "silu")
    c.act_fn = ActFn::silu;
  else
    throw InputError(path, "activation_function '" + act + "' is not one headlab has (gelu_new, gelu, relu, silu)");
  c.eps = j.contains("layer_norm_epsilon") && j["layer_norm_epsilon"].is_number() ? j["layer_norm_epsilon"].get<float>()
                                                                                  : 1e-5f;
  c.normalization_type = Normalization::LN;
  c.positional_embedding_type = PositionalEmbedding::standard;
  c.attn_only = false;
  c.tie_embeddings = true;
  c.validate(path + ": ");
  return c;
}

class Gpt2Tensors {
 public:
  Gpt2Tensors(const SafetensorsSet& set, HfImportReport* report) : set_(set), report_(report) {
    // GPT2LMHeadModel saves under "transformer."; GPT2Model without a prefix.
    prefix_ = set.find("transformer.wte.weight").tensor ? "transformer." : "";
  }
  std::vector<float> get(const std::string& name, std::vector<int64_t> shape) {
    const SafetensorsSet::Entry e = set_.find(prefix_ + name);
    if (!e.tensor) throw InputError(set_.path(), "has no tensor '" + prefix_ + name + "' (not a GPT-2 checkpoint?)");
    const SafetensorsTensor* t = e.tensor;
    if (t->shape != shape) {
      std::string want, got;
      for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int64_t d : t->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw InputError(e.file->path(),
                       "tensor '" + t->name + "' has shape [" + got + "]; config.json implies [" + want + "]");
    }
    used_.push_back(t->name);
    if (report_) report_->source_dtype = t->dtype;
    return e.file->read_f32(*t);
  }
  const std::vector<std::string>& used() const { return used_; }

 private:
  const SafetensorsSet& set_;
  HfImportReport* report_;
  std::string prefix_;
  std::vector<std::string> used_;
};

// Copies `values` (row-major in the TL entry's shape) into the arena.
void put(const ParamTable& table, std::vector<float>& arena, const std::string& name,
         const std::vector<float>& values) {
  const ParamInfo* p = table.find(name);
  if (!p || p->numel() != int64_t(values.size())) throw InternalError("hf import: bad TL entry " + name);
  for (int64_t i = 0; i < p->numel(); ++i) arena[p->arena_offset(i)] = values[i];
}

}  // namespace

Checkpoint import_hf_gpt2(const std::string& dir, HfImportReport* report) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError(dir, "not a folder (expected a Hugging Face model folder: config.json, model.safetensors)");
  const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
  const std::string single_path = (std::filesystem::path(dir) / "model.safetensors").string();
  const std::string index_path = (std::filesystem::path(dir) / "model.safetensors.index.json").string();
  // Hugging Face's own loader prefers the single file when a folder has both.
  const bool sharded = !std::filesystem::exists(single_path, ec) && std::filesystem::exists(index_path, ec);
  Checkpoint ck;
  ck.config = gpt2_config(read_config_json(config_path), config_path);
  const ModelConfig& c = ck.config;
  if (!sharded && !std::filesystem::exists(single_path, ec))
    throw InputError(single_path,
                     "no such file, nor model.safetensors.index.json (only safetensors weights are read; convert a "
                     "pytorch_model.bin with transformers' save_pretrained(safe_serialization=True))");
  require_memory(c.memory_bytes(0, 0, false) * 2, config_path, "importing this model");
  const SafetensorsSet file = sharded ? SafetensorsSet::open_index(index_path) : SafetensorsSet::open_file(single_path);
  if (report) report->n_shards = sharded ? int64_t(file.n_files()) : 0;
  Gpt2Tensors tensors(file, report);
  const ParamTable table(c);
  ck.params.assign(size_t(table.arena_size()), 0.0f);
  const int64_t D = c.d_model, H = c.n_heads, dh = c.d_head, M = c.d_mlp;
  put(table, ck.params, "embed.W_E", tensors.get("wte.weight", {c.d_vocab, D}));
  put(table, ck.params, "pos_embed.W_pos", tensors.get("wpe.weight", {c.n_ctx, D}));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string hf = "h." + std::to_string(l) + ".", tl = "blocks." + std::to_string(l) + ".";
    put(table, ck.params, tl + "ln1.w", tensors.get(hf + "ln_1.weight", {D}));
    put(table, ck.params, tl + "ln1.b", tensors.get(hf + "ln_1.bias", {D}));
    const std::vector<float> w = tensors.get(hf + "attn.c_attn.weight", {D, 3 * D});  // [D, (qkv, head, e)]
    const std::vector<float> b = tensors.get(hf + "attn.c_attn.bias", {3 * D});
    const char* names = "QKV";
    for (int which = 0; which < 3; ++which) {
      std::vector<float> W(size_t(H * D * dh)), B(size_t(H * dh));
      for (int64_t h = 0; h < H; ++h)
        for (int64_t e = 0; e < dh; ++e) {
          const int64_t col = which * D + h * dh + e;
          for (int64_t d = 0; d < D; ++d) W[(h * D + d) * dh + e] = w[d * 3 * D + col];
          B[h * dh + e] = b[col];
        }
      put(table, ck.params, tl + "attn.W_" + names[which], W);
      put(table, ck.params, tl + "attn.b_" + names[which], B);
    }
    // c_proj [H * dh, D] is W_O [H, dh, D] in the same memory order.
    put(table, ck.params, tl + "attn.W_O", tensors.get(hf + "attn.c_proj.weight", {D, D}));
    put(table, ck.params, tl + "attn.b_O", tensors.get(hf + "attn.c_proj.bias", {D}));
    put(table, ck.params, tl + "ln2.w", tensors.get(hf + "ln_2.weight", {D}));
    put(table, ck.params, tl + "ln2.b", tensors.get(hf + "ln_2.bias", {D}));
    put(table, ck.params, tl + "mlp.W_in", tensors.get(hf + "mlp.c_fc.weight", {D, M}));
    put(table, ck.params, tl + "mlp.b_in", tensors.get(hf + "mlp.c_fc.bias", {M}));
    put(table, ck.params, tl + "mlp.W_out", tensors.get(hf + "mlp.c_proj.weight", {M, D}));
    put(table, ck.params, tl + "mlp.b_out", tensors.get(hf + "mlp.c_proj.bias", {D}));
  }
  put(table, ck.params, "ln_final.w", tensors.get("ln_f.weight", {D}));
  put(table, ck.params, "ln_final.b", tensors.get("ln_f.bias", {D}));
  // b_U stays 0: GPT-2 has no unembedding bias. A separate lm_head.weight must equal wte (tied).
  if (const SafetensorsSet::Entry e = file.find("lm_head.weight"); e.tensor) {
    const SafetensorsTensor* head = e.tensor;
    if (head->shape != std::vector<int64_t>{c.d_vocab, D})
      throw InputError(e.file->path(), "lm_head.weight is not [vocab_size, n_embd]");
    const std::vector<float> lm = e.file->read_f32(*head);
    const ParamInfo* we = table.find("embed.W_E");
    for (int64_t i = 0; i < we->numel(); ++i)
      if (lm[size_t(i)] != ck.params[size_t(we->arena_offset(i))])
        throw InputError(e.file->path(), "lm_head.weight differs from wte.weight; headlab's GPT-2 ties them");
    if (report) report->ignored.push_back("lm_head.weight (equal to wte.weight)");
  }
  if (report) {
    report->n_tensors = int64_t(file.entries().size());
    for (const SafetensorsSet::Entry& e : file.entries())
      if (std::find(tensors.used().begin(), tensors.used().end(), e.tensor->name) == tensors.used().end() &&
          e.tensor->name != "lm_head.weight")
        report->ignored.push_back(e.tensor->name);
  }
  return ck;
}

void export_safetensors(const Checkpoint& ckpt, const std::string& path) {
  const ParamTable table(ckpt.config);
  if (int64_t(ckpt.params.size()) != table.arena_size()) throw InternalError("export_safetensors: params size");
  std::vector<SafetensorsArray> arrays;
  for (const ParamInfo& p : table.params()) {
    SafetensorsArray a;
    a.name = p.name;
    a.shape = p.shape;
    a.values.resize(size_t(p.numel()));
    for (int64_t i = 0; i < p.numel(); ++i) a.values[size_t(i)] = ckpt.params[size_t(p.arena_offset(i))];
    arrays.push_back(std::move(a));
  }
  nlohmann::json cfg = {{"n_layers", ckpt.config.n_layers},
                        {"d_model", ckpt.config.d_model},
                        {"n_heads", ckpt.config.n_heads},
                        {"d_head", ckpt.config.d_head},
                        {"d_mlp", ckpt.config.d_mlp},
                        {"n_ctx", ckpt.config.n_ctx},
                        {"d_vocab", ckpt.config.d_vocab},
                        {"act_fn", to_string(ckpt.config.act_fn)},
                        {"normalization_type", to_string(ckpt.config.normalization_type)},
                        {"positional_embedding_type", to_string(ckpt.config.positional_embedding_type)},
                        {"attn_only", ckpt.config.attn_only},
                        {"tie_embeddings", ckpt.config.tie_embeddings},
                        {"eps", ckpt.config.eps}};
  write_safetensors(path, arrays, {{"format", "pt"}, {"headlab_config", cfg.dump()}});
}

}  // namespace headlab
