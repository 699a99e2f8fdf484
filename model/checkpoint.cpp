#include "model/checkpoint.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/hash.h"
#include "model/params.h"

namespace headlab {
namespace {

bool is_row_major(const ParamInfo& p) {
  int64_t expected = 1;
  for (int d = int(p.shape.size()) - 1; d >= 0; --d) {
    if (p.shape[d] != 1 && p.strides[d] != expected) return false;
    expected *= p.shape[d];
  }
  return true;
}

int int_field(const h5::Group& g, const char* name) {
  const int64_t v = g.attr_int(name);
  if (v < INT_MIN || v > INT_MAX)
    throw InputError(g.attr_where(name), "expected a 32-bit integer; found " + std::to_string(v));
  return int(v);
}

}  // namespace

// ---------------------------------------------------------------- config

void write_config_group(h5::Group& g, const ModelConfig& c) {
  h5::set_format(g, kCheckpointFormat, kCheckpointVersion);
  g.set_attr("n_layers", c.n_layers);
  g.set_attr("d_model", c.d_model);
  g.set_attr("n_heads", c.n_heads);
  g.set_attr("d_head", c.d_head);
  g.set_attr("d_mlp", c.d_mlp);
  g.set_attr("n_ctx", c.n_ctx);
  g.set_attr("d_vocab", c.d_vocab);
  g.set_attr("act_fn", to_string(c.act_fn));
  g.set_attr("normalization_type", to_string(c.normalization_type));
  g.set_attr("attn_only", c.attn_only);
  g.set_attr("positional_embedding_type", to_string(c.positional_embedding_type));
  g.set_attr("tie_embeddings", c.tie_embeddings);
  g.set_attr("rotary_base", c.rotary_base);
  g.set_attr("eps", c.eps);
}

ModelConfig read_config_group(const h5::Group& g) {
  h5::check_format(g, kCheckpointFormat, kCheckpointVersion);
  ModelConfig c;
  c.n_layers = int_field(g, "n_layers");
  c.d_model = int_field(g, "d_model");
  c.n_heads = int_field(g, "n_heads");
  c.d_head = int_field(g, "d_head");
  c.d_mlp = int_field(g, "d_mlp");
  c.n_ctx = int_field(g, "n_ctx");
  c.d_vocab = int_field(g, "d_vocab");
  c.act_fn = parse_act_fn(g.attr_string("act_fn"), g.attr_where("act_fn"));
  c.normalization_type = parse_normalization(g.attr_string("normalization_type"), g.attr_where("normalization_type"));
  c.attn_only = g.attr_bool("attn_only");
  c.positional_embedding_type =
      parse_positional(g.attr_string("positional_embedding_type"), g.attr_where("positional_embedding_type"));
  c.tie_embeddings = g.attr_bool("tie_embeddings");
  c.rotary_base = float(g.attr_float("rotary_base"));
  c.eps = float(g.attr_float("eps"));
  c.validate(g.attr_where(""));
  return c;
}

namespace {

// ---------------------------------------------------------------- params

void write_params(h5::Group& g, const ParamTable& table, const std::vector<float>& arena) {
  for (const ParamInfo& p : table.params()) {
    if (is_row_major(p)) {
      g.write<float>(p.name, arena.data() + p.offset, p.shape);
      continue;
    }
    const std::vector<float> gathered = p.gather(arena);  // a strided view (W_Q of the fused W_qkv, tied W_U)
    g.write<float>(p.name, gathered.data(), p.shape);
  }
}

// A tied W_U in the file is only a copy; it must still be W_E transposed, or the file lies.
void check_alias(const h5::Group& g, const ParamInfo& p, const std::vector<float>& arena) {
  const std::vector<float> stored = g.read<float>(p.name, p.shape);
  for (int64_t i = 0; i < p.numel(); ++i)
    if (std::memcmp(&stored[size_t(i)], &arena[size_t(p.arena_offset(i))], sizeof(float)) != 0)
      throw InputError(g.where(p.name),
                       "expected a copy of embed.W_E transposed (tie_embeddings = 1); it differs at flat index " +
                           std::to_string(i));
}

// "[2, 0, 5]": the multi-index of flat (row-major) index i in `shape`.
std::string index_text(const std::vector<int64_t>& shape, int64_t i) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] > 0 ? i % shape[d] : 0;
    i = shape[d] > 0 ? i / shape[d] : 0;
  }
  return h5::to_string(idx);
}

// /params holds exactly the model's parameters, each of its shape: checked from the metadata
// alone, so that a /config that lies about the sizes is refused before the arena is allocated.
void check_param_shapes(const h5::Group& g, const ParamTable& table) {
  for (const ParamInfo& p : table.params()) {
    if (p.alias && !g.exists(p.name)) continue;
    const h5::Shape found = g.shape(p.name);
    if (found != p.shape)
      throw InputError(g.where(p.name), "expected shape " + h5::to_string(p.shape) + "; found " + h5::to_string(found));
  }
  for (const std::string& name : g.children())
    if (!table.find(name))
      throw InputError(g.where(name),
                       "expected only the parameters of the model /config describes; this is not one of them");
}

std::vector<float> read_params(const h5::File& f, const ParamTable& table) {
  const h5::Group g = f.group("params");
  check_param_shapes(g, table);
  require_memory(4.0 * double(table.arena_size()), f.where("params"),
                 "reading " + std::to_string(table.arena_size()) + " parameters");
  std::vector<float> arena(size_t(table.arena_size()));
  std::vector<float> staged;
  for (const ParamInfo& p : table.params()) {
    if (p.alias) continue;
    if (is_row_major(p)) {
      g.read_into<float>(p.name, arena.data() + p.offset, p.shape);
      continue;
    }
    staged = g.read<float>(p.name, p.shape);
    for (int64_t i = 0; i < p.numel(); ++i) arena[size_t(p.arena_offset(i))] = staged[size_t(i)];
  }
  for (const ParamInfo& p : table.params())
    if (p.alias && g.exists(p.name)) check_alias(g, p, arena);
  return arena;
}

// ---------------------------------------------------------------- optimizer and training state

void write_train(h5::File& f, const TrainState& t) {
  h5::Group opt = f.create_group("optimizer");
  opt.set_attr("name", t.optimizer_name);
  opt.set_attr("step", t.step);
  if (!t.m.empty()) opt.write<float>("m", t.m);
  if (!t.v.empty()) opt.write<float>("v", t.v);

  h5::Group train = f.create_group("train");
  train.set_attr("step", t.step);
  train.set_attr("tokens_seen", t.tokens_seen);
  train.set_attr("options_json", t.options_json);
  train.write<uint64_t>("rng_state", t.rng_state);
  train.write<uint64_t>("data_position", t.data_position);
}

TrainState read_train(const h5::File& f, int64_t arena_size) {
  TrainState t;
  const h5::Group train = f.group("train");
  t.step = train.attr_int("step");
  if (t.step < 0) throw InputError(train.attr_where("step"), "expected a step >= 0; found " + std::to_string(t.step));
  t.tokens_seen = train.attr_int("tokens_seen");
  if (t.tokens_seen < 0)
    throw InputError(train.attr_where("tokens_seen"), "expected a count >= 0; found " + std::to_string(t.tokens_seen));
  t.options_json = train.attr_string("options_json");
  t.rng_state = train.read<uint64_t>("rng_state", {-1});
  t.data_position = train.read<uint64_t>("data_position", {-1});

  const h5::Group opt = f.group("optimizer");
  t.optimizer_name = opt.attr_string("name");
  opt.attr_int("step");  // present and an integer; /train's step is the one resumed from
  if (opt.exists("m")) t.m = opt.read<float>("m", {arena_size});
  if (opt.exists("v")) t.v = opt.read<float>("v", {arena_size});
  return t;
}

void check_sizes(const std::string& path, const Checkpoint& c, int64_t arena_size) {
  auto check = [&](const char* what, size_t n, bool may_be_empty) {
    if (int64_t(n) != arena_size && !(may_be_empty && n == 0))
      throw InternalError(path + ": " + what + " holds " + std::to_string(n) + " floats; the config's arena holds " +
                          std::to_string(arena_size));
  };
  check("params", c.params.size(), false);
  if (c.train) {
    check("optimizer m", c.train->m.size(), true);
    check("optimizer v", c.train->v.size(), true);
  }
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  ckpt.config.validate();
  const ParamTable table(ckpt.config);
  check_sizes(path, ckpt, table.arena_size());

  h5::AtomicFile out(path);
  h5::File& f = out.file();
  h5::set_format(f, kCheckpointFormat, kCheckpointVersion);
  h5::Group config = f.create_group("config");
  write_config_group(config, ckpt.config);
  h5::Group params = f.create_group("params");
  write_params(params, table, ckpt.params);
  if (ckpt.train) write_train(f, *ckpt.train);
  if (!ckpt.tokenizer_json.empty()) f.write_string("tokenizer", ckpt.tokenizer_json);
  out.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
  const h5::File f = h5::File::open(path);
  Checkpoint c;
  c.config = read_config_group(f.group("config"));
  const ParamTable table(c.config);
  c.params = read_params(f, table);
  if (f.exists("train")) c.train = read_train(f, table.arena_size());
  if (f.exists("tokenizer")) c.tokenizer_json = f.read_string("tokenizer");
  return c;
}

ModelConfig read_checkpoint_config(const std::string& path) {
  return read_config_group(h5::File::open(path).group("config"));
}

void require_finite_params(const Checkpoint& ckpt, const std::string& what) {
  const std::vector<float>& arena = ckpt.params;
  size_t bad = 0;
  while (bad < arena.size() && std::isfinite(arena[bad])) ++bad;
  if (bad == arena.size()) return;
  const ParamTable table(ckpt.config);
  for (const ParamInfo& p : table.params()) {
    if (p.alias) continue;
    for (int64_t i = 0; i < p.numel(); ++i)
      if (p.arena_offset(i) == int64_t(bad))
        throw InputError(what + ": /params/" + p.name, "expected finite weights; found " + std::to_string(arena[bad]) +
                                                           " at " + index_text(p.shape, i));
  }
  throw InputError(what + ": /params", "expected finite weights; found " + std::to_string(arena[bad]));
}

std::string model_hash(const ModelConfig& c, const std::vector<float>& params) {
  uint32_t rotary_bits, eps_bits;
  std::memcpy(&rotary_bits, &c.rotary_base, 4);
  std::memcpy(&eps_bits, &c.eps, 4);
  const std::string text = "n_layers=" + std::to_string(c.n_layers) + ";d_model=" + std::to_string(c.d_model) +
                           ";n_heads=" + std::to_string(c.n_heads) + ";d_head=" + std::to_string(c.d_head) +
                           ";d_mlp=" + std::to_string(c.d_mlp) + ";n_ctx=" + std::to_string(c.n_ctx) +
                           ";d_vocab=" + std::to_string(c.d_vocab) + ";act_fn=" + to_string(c.act_fn) +
                           ";normalization_type=" + to_string(c.normalization_type) +
                           ";attn_only=" + std::to_string(int(c.attn_only)) +
                           ";positional_embedding_type=" + to_string(c.positional_embedding_type) +
                           ";tie_embeddings=" + std::to_string(int(c.tie_embeddings)) +
                           ";rotary_base=" + std::to_string(rotary_bits) + ";eps=" + std::to_string(eps_bits) + ";";
  uint64_t h = fnv1a(kFnv1aOffset, text.data(), text.size());
  h = fnv1a(h, params.data(), params.size() * sizeof(float));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::string checkpoint_hash(const std::string& path) {
  const h5::File f = h5::File::open(path);
  const ModelConfig config = read_config_group(f.group("config"));
  return model_hash(config, read_params(f, ParamTable(config)));
}

}  // namespace headlab
