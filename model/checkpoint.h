// Checkpoints: one HDF5 file that stands alone (docs/files.md), readable by h5py.
//
//   /            attributes format = "headlab.checkpoint", format_version = 1 (a copy of /config's,
//                so any headlab file says what it is at its root)
//   /config      attributes format, format_version, and one per ModelConfig field:
//                  n_layers d_model n_heads d_head d_mlp n_ctx d_vocab   int64
//                  act_fn normalization_type positional_embedding_type   string (config.h names)
//                  attn_only tie_embeddings                              int8, 0 or 1
//                  rotary_base eps                                       float32
//   /params/<TransformerLens state_dict name>   float32, TransformerLens' shape (W_Q is
//                [n_heads, d_model, d_head] ...). A tied unembed.W_U is written too (W_E
//                transposed) so the file loads anywhere; on load it is checked, not used.
//   /optimizer   attributes name ("adamw", "sgd" ...), step; datasets m, v: float32
//                [arena_size] in arena order (ParamTable::storage()), each present only when
//                the optimizer keeps it. Present with /train.
//   /train       attributes step, tokens_seen (int64), options_json (string); datasets
//                rng_state, data_position (uint64, 1-D, any length).
//   /tokenizer   the tokenizer's JSON text (a string dataset), when there is one.
//
// Reading checks all of it and throws one InputError naming the file and the dataset or
// attribute at fault, and what was expected. Readers accept bools stored as any integer 0/1 (or
// h5py's numpy bool), floats stored as float64, and params stored as float64.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"

namespace headlab {

namespace h5 {
class Group;
}

// Everything needed to resume training exactly.
struct TrainState {
  int64_t step = 0;
  int64_t tokens_seen = 0;
  std::vector<uint64_t> rng_state;
  std::vector<uint64_t> data_position;
  std::string options_json;
  std::string optimizer_name;
  std::vector<float> m, v;  // [arena_size] or empty
};

struct Checkpoint {
  ModelConfig config;
  std::vector<float> params;  // [ParamTable(config).arena_size()], arena order
  std::optional<TrainState> train;
  std::string tokenizer_json;  // empty = none
};

constexpr const char* kCheckpointFormat = "headlab.checkpoint";
constexpr int64_t kCheckpointVersion = 1;

// Atomic: written to a hidden temporary beside it (h5::AtomicFile), renamed into place. InternalError when params (or a
// non-empty m / v) is not arena-sized; InputError when the path cannot be written.
void write_checkpoint(const std::string& path, const Checkpoint& ckpt);
Checkpoint read_checkpoint(const std::string& path);
// A /config group's attributes (format, format_version and one per field), for every file that
// records the model it came from (checkpoints, activation stores). Reading checks and validates.
void write_config_group(h5::Group& g, const ModelConfig& c);
ModelConfig read_config_group(const h5::Group& g);
// Only /config, checked and validated (ModelConfig::validate()).
ModelConfig read_checkpoint_config(const std::string& path);

// InputError("<what>: /params/<name>", "expected finite weights; found nan at [i, j]") for the
// first NaN or inf. Reading accepts such weights (info and run show what is there); what computes
// with them as if they were a model (training from them, sampling) calls this first.
void require_finite_params(const Checkpoint& ckpt, const std::string& what);

// 16 hex digits: FNV-1a 64 over the config's canonical text and the params' bytes (arena order).
// Tags what was computed from a model (activation stores), so equal hashes mean the same model.
std::string model_hash(const ModelConfig& config, const std::vector<float>& params);
std::string checkpoint_hash(const std::string& path);  // model_hash of the file's config and params

}  // namespace headlab
