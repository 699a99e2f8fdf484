// TrainOptions: every setting of a training run, as a plain struct (the command fills it from
// Boost.Program_options; tests fill it directly). validate() checks each value and throws one
// InputError naming the option (`--lr`, `--model.n_ctx` ...) and what was expected.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "data/induction_task.h"
#include "model/config.h"

namespace headlab {

enum class OptimizerKind { adamw, sgd };
enum class LrShape { constant, cosine };
// every: a checkpoint each `checkpoint_every` steps. log: log-spaced steps (dense early, where
// heads form), `checkpoints_per_octave` per doubling, plus multiples of `checkpoint_every` if > 0.
enum class CheckpointSpacing { every, log };

// The data sources that need no file, generated batch by batch from the seed: repeated random
// sequences (BOS, r_1..r_n, r_1..r_n) (data/repeat_task.h), and random tokens in which spans recur
// at random distances (data/induction_task.h), the task on which an induction circuit forms.
constexpr const char* kBuiltinRepeat = "builtin:repeat";
constexpr const char* kBuiltinInduction = "builtin:induction";
bool is_builtin_data(const std::string& name);

// The model to build when neither --init nor --resume supplies one. Fields not given take values
// from the data: d_vocab = the dataset's d_vocab; n_ctx = seq_len - 1 for a sequences dataset,
// 2 * repeat_half_len for builtin:repeat, induction_seq_len for builtin:induction (a stream keeps
// ModelConfig's default).
struct ModelRequest {
  ModelConfig config;
  bool any_given = false;  // some [model] key was set (an error with --init / --resume)
  bool n_ctx_given = false;
  bool d_vocab_given = false;
};

// Limits validate() enforces: beyond them a value is a typo, and would run for ever or overflow
// the int the kernels take (the model's own limits are ModelLimits).
constexpr int64_t kMaxSteps = 1'000'000'000;
constexpr int64_t kMaxBatchSize = int64_t(1) << 20;       // sequences per micro-batch
constexpr int64_t kMaxBatchesPerStep = int64_t(1) << 16;  // --grad-accum, --eval-batches

struct TrainOptions {
  // ---- what to train on and where it goes
  std::string data;      // token dataset (.h5), builtin:repeat or builtin:induction
  std::string val_data;  // token dataset or a builtin; empty: a builtin validates on fresh
                         // sequences of its own, a file dataset is not validated
  std::string init;      // start from this checkpoint's weights (fresh optimizer, step 0)
  std::string resume;    // continue this checkpoint's run exactly
  std::string out;       // DIR: metrics.jsonl, checkpoints/step_NNNNNN.h5, final.h5; empty = none
  ModelRequest model;
  // How --data is read: "memory" (whole, at the start), "disk" (windows and rows from the file as
  // training goes, read ahead on a thread: memory bounded whatever the file's size), or "auto" (disk
  // when the tokens would take over a quarter of the usable memory). The batches are the same.
  std::string read_data = "auto";
  // builtin:repeat: each row repeats n random tokens, n uniform in [min, half_len] (see batcher.h).
  // min 0 = half_len: every row is (BOS, r_1..r_n, r_1..r_n), the task as defined.
  int64_t repeat_half_len = 32;
  int64_t repeat_min_half_len = 0;
  // builtin:induction (data/induction_task.h): rows of BOS + induction_seq_len tokens (the model
  // reads induction_seq_len of them); at each position not inside a copy a copy of an earlier span
  // starts with probability induction_copy_prob, its length uniform in [min_span, max_span].
  int64_t induction_seq_len = 64;
  double induction_copy_prob = 0.2;
  int64_t induction_min_span = 4;
  int64_t induction_max_span = 16;

  // ---- length and batches
  int64_t steps = 1000;  // total optimizer steps of the run (the LR schedule's horizon)
  int64_t stop_at = 0;   // > 0: stop after this step (a checkpoint is written there) to resume later
  int64_t batch_size = 16;
  int64_t grad_accum = 1;

  // ---- optimizer and schedule
  OptimizerKind optimizer = OptimizerKind::adamw;
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // PyTorch's AdamW defaults
  float weight_decay = 0.01f;                       // matrices only
  float grad_clip = 1.0f;                           // max global grad norm; 0 = off
  int64_t warmup = 0;
  LrShape schedule = LrShape::constant;
  float min_lr = 0.0f;  // where cosine ends

  // ---- machine
  uint64_t seed = 0;
  int threads = 0;  // 0 = every core
  std::string device = "cpu";

  // ---- logging, evaluation, checkpoints
  int64_t log_every = 10;
  int64_t eval_every = 0;  // 0: evaluate only at the start and at the last step
  int64_t eval_batches = 4;
  int64_t checkpoint_every = 0;
  CheckpointSpacing checkpoint_schedule = CheckpointSpacing::every;
  int checkpoints_per_octave = 4;

  // ---- head formation (the command's --track-heads FILE.h5 --track-every N; the library does
  // not read them). Stored with the other options, so that a resumed run goes on tracking.
  std::string track_heads;  // empty = no tracking
  int64_t track_every = 100;

  bool uses_builtin_repeat() const { return data == kBuiltinRepeat; }
  bool uses_builtin() const { return is_builtin_data(data); }
  // Input tokens per row (T) of built-in source `name` (is_builtin_data(name)).
  int64_t builtin_seq_len(const std::string& name) const;
  InductionTaskSpec induction_spec() const {
    return {induction_seq_len + 1, induction_copy_prob, induction_min_span, induction_max_span};
  }
  int64_t repeat_min_half() const { return repeat_min_half_len > 0 ? repeat_min_half_len : repeat_half_len; }
  // Throws InputError("--<option>", why) for the first bad value.
  void validate() const;
};

std::string to_string(OptimizerKind k);
std::string to_string(LrShape s);
std::string to_string(CheckpointSpacing s);
// InputError(option, ...) on an unknown name.
OptimizerKind parse_optimizer(const std::string& s, const std::string& option = "--optimizer");
LrShape parse_lr_shape(const std::string& s, const std::string& option = "--schedule");
CheckpointSpacing parse_checkpoint_spacing(const std::string& s, const std::string& option = "--checkpoint-schedule");

// Every training option, declared once: the command builds its command line and --config keys from
// this table, checkpoints store and read the options through it, and a resume compares them through
// it. Table order is the order of --help.
struct TrainOption {
  using Field = std::variant<std::string TrainOptions::*, int64_t TrainOptions::*, int TrainOptions::*,
                             uint64_t TrainOptions::*, float TrainOptions::*, double TrainOptions::*,
                             OptimizerKind TrainOptions::*, LrShape TrainOptions::*, CheckpointSpacing TrainOptions::*>;
  enum class Group { training, head_formation };

  const char* name;  // --name on the command line; in --config's [train] section, name or name_with_underscores
  Field field;
  std::string help;   // with the default, as --help shows it
  bool stored;        // in a checkpoint's options (the JSON key is the name with '_')
  bool resume_warns;  // a resume may change it, and is warned that it no longer repeats the original run
  Group group;

  std::string json_key() const;
};
const std::vector<TrainOption>& train_option_table();
// The option's value in `o` as a person reads it ("0.001", "adamw", "16").
std::string option_value_text(const TrainOptions& o, const TrainOption& option);
bool option_values_equal(const TrainOptions& a, const TrainOptions& b, const TrainOption& option);

// The training settings as JSON text (stored in checkpoints so --resume can continue with them).
// The model request, init, resume and stop_at are left out: a resumed run's model is the
// checkpoint's, and it must not stop again at the same step.
std::string options_to_json(const TrainOptions& o);
// Fills the fields present in `json` over `base`; InputError(what, ...) when it is malformed or
// a field has the wrong type (an integer option given 6.5, -1 for the seed, a number beyond int64).
TrainOptions options_from_json(const std::string& json, const TrainOptions& base, const std::string& what);

}  // namespace headlab
