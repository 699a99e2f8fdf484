#include "train/options.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "core/errors.h"
#include "model/backend.h"

namespace headlab {
namespace {

void require(bool ok, const char* option, const std::string& why) {
  if (!ok) throw InputError(option, why);
}
std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}
void positive_int(int64_t x, const char* option) {
  require(x >= 1, option, "expected a positive integer, got " + std::to_string(x));
}
void int_in(int64_t x, int64_t lo, int64_t hi, const char* option) {
  require(x >= lo && x <= hi, option,
          "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
}
void non_negative_int(int64_t x, const char* option) {
  require(x >= 0, option, "expected an integer >= 0, got " + std::to_string(x));
}

// One field of the stored options, of exactly its type: nlohmann's get_to would truncate 6.5 to
// 6, wrap -1 into a 2^64 - 1 seed and turn 1e30 into INT64_MIN.
void read_field(const nlohmann::json& v, const char* key, std::string& field, const std::string& what) {
  if (!v.is_string()) throw InputError(what, std::string(key) + ": expected a string, got " + v.dump());
  field = v.get<std::string>();
}
template <class Int>
void read_int(const nlohmann::json& v, const char* key, Int& field, const std::string& what) {
  static_assert(std::is_integral<Int>::value, "integers only");
  bool fits = false;
  if (v.is_number_unsigned()) {  // nlohmann's kind for integers >= 0
    fits = v.get<uint64_t>() <= uint64_t(std::numeric_limits<Int>::max());
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    fits = x >= int64_t(std::numeric_limits<Int>::min()) &&
           (x < 0 || uint64_t(x) <= uint64_t(std::numeric_limits<Int>::max()));
  }
  if (!fits)
    throw InputError(what, std::string(key) + ": expected an integer" + (std::is_signed<Int>::value ? "" : " >= 0") +
                               " that fits, got " + v.dump());
  field = v.is_number_unsigned() ? Int(v.get<uint64_t>()) : Int(v.get<int64_t>());
}
void read_field(const nlohmann::json& v, const char* key, int64_t& field, const std::string& what) {
  read_int(v, key, field, what);
}
void read_field(const nlohmann::json& v, const char* key, uint64_t& field, const std::string& what) {
  read_int(v, key, field, what);
}
void read_field(const nlohmann::json& v, const char* key, int& field, const std::string& what) {
  read_int(v, key, field, what);
}
template <class Float>
void read_float(const nlohmann::json& v, const char* key, Float& field, const std::string& what) {
  // JSON has no NaN or inf (nlohmann writes them as null): a stored option is always finite.
  if (!v.is_number() || !std::isfinite(v.get<double>()) ||
      std::fabs(v.get<double>()) > double(std::numeric_limits<Float>::max()))
    throw InputError(what, std::string(key) + ": expected a finite number, got " + v.dump());
  field = Float(v.get<double>());
}
void read_field(const nlohmann::json& v, const char* key, float& field, const std::string& what) {
  read_float(v, key, field, what);
}
void read_field(const nlohmann::json& v, const char* key, double& field, const std::string& what) {
  read_float(v, key, field, what);
}

}  // namespace

bool is_builtin_data(const std::string& name) { return name == kBuiltinRepeat || name == kBuiltinInduction; }

int64_t TrainOptions::builtin_seq_len(const std::string& name) const {
  return name == kBuiltinInduction ? induction_seq_len : 2 * repeat_half_len;
}

void TrainOptions::validate() const {
  if (read_data != "auto" && read_data != "memory" && read_data != "disk")
    throw InputError("--read-data", "expected auto, memory or disk, got '" + read_data + "'");
  require(!data.empty(), "--data", "is required: a token dataset (.h5), builtin:repeat or builtin:induction");
  require(init.empty() || resume.empty(), "--init", "cannot be combined with --resume (a resumed run has its weights)");
  int_in(steps, 1, kMaxSteps, "--steps");
  require(stop_at >= 0 && stop_at <= steps, "--stop-at",
          "expected a step in [0, --steps = " + std::to_string(steps) + "], got " + std::to_string(stop_at));
  int_in(batch_size, 1, kMaxBatchSize, "--batch-size");
  int_in(grad_accum, 1, kMaxBatchesPerStep, "--grad-accum");
  require(std::isfinite(lr) && lr > 0, "--lr", "expected a positive number, got " + num(lr));
  require(beta1 >= 0 && beta1 < 1, "--beta1", "expected a number in [0, 1), got " + num(beta1));
  require(beta2 >= 0 && beta2 < 1, "--beta2", "expected a number in [0, 1), got " + num(beta2));
  require(std::isfinite(eps) && eps > 0, "--eps", "expected a positive number, got " + num(eps));
  require(std::isfinite(weight_decay) && weight_decay >= 0, "--weight-decay",
          "expected a number >= 0, got " + num(weight_decay));
  require(std::isfinite(grad_clip) && grad_clip >= 0, "--grad-clip",
          "expected a number >= 0 (0 = no clipping), got " + num(grad_clip));
  non_negative_int(warmup, "--warmup");
  require(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= lr, "--min-lr",
          "expected a number in [0, --lr = " + num(lr) + "], got " + num(min_lr));
  require_cpu_threads(threads);
  require(device == "cpu" || device == "cuda", "--device", "expected cpu or cuda, got '" + device + "'");
  positive_int(log_every, "--log-every");
  non_negative_int(eval_every, "--eval-every");
  int_in(eval_batches, 1, kMaxBatchesPerStep, "--eval-batches");
  non_negative_int(checkpoint_every, "--checkpoint-every");
  require(checkpoints_per_octave >= 1 && checkpoints_per_octave <= 64, "--checkpoints-per-octave",
          "expected an integer in [1, 64], got " + std::to_string(checkpoints_per_octave));
  int_in(repeat_half_len, 1, ModelLimits::n_ctx / 2, "--repeat-half-len");
  require(repeat_min_half_len >= 0 && repeat_min_half_len <= repeat_half_len, "--repeat-min-half-len",
          "expected an integer in [0, --repeat-half-len = " + std::to_string(repeat_half_len) +
              "] (0 = equal to it), got " + std::to_string(repeat_min_half_len));
  int_in(induction_seq_len, 1, ModelLimits::n_ctx, "--induction-seq-len");
  require(induction_copy_prob >= 0 && induction_copy_prob <= 1, "--induction-copy-prob",
          "expected a probability in [0, 1], got " + num(induction_copy_prob));
  positive_int(induction_min_span, "--induction-min-span");
  require(track_heads.empty() || track_every >= 1, "--track-every",
          "expected a positive number of steps, got " + std::to_string(track_every));
  require(induction_max_span >= induction_min_span, "--induction-max-span",
          "expected an integer >= --induction-min-span = " + std::to_string(induction_min_span) + ", got " +
              std::to_string(induction_max_span));
}

std::string to_string(OptimizerKind k) { return k == OptimizerKind::adamw ? "adamw" : "sgd"; }
std::string to_string(LrShape s) { return s == LrShape::constant ? "constant" : "cosine"; }
std::string to_string(CheckpointSpacing s) { return s == CheckpointSpacing::every ? "every" : "log"; }

OptimizerKind parse_optimizer(const std::string& s, const std::string& option) {
  if (s == "adamw") return OptimizerKind::adamw;
  if (s == "sgd") return OptimizerKind::sgd;
  throw InputError(option, "expected adamw or sgd, got '" + s + "'");
}
LrShape parse_lr_shape(const std::string& s, const std::string& option) {
  if (s == "constant") return LrShape::constant;
  if (s == "cosine") return LrShape::cosine;
  throw InputError(option, "expected constant or cosine, got '" + s + "'");
}
CheckpointSpacing parse_checkpoint_spacing(const std::string& s, const std::string& option) {
  if (s == "every") return CheckpointSpacing::every;
  if (s == "log") return CheckpointSpacing::log;
  throw InputError(option, "expected every or log, got '" + s + "'");
}

std::string TrainOption::json_key() const {
  std::string key = name;
  for (char& c : key)
    if (c == '-') c = '_';
  return key;
}

namespace {

std::string value_text(const std::string& x) { return x; }
std::string value_text(int64_t x) { return std::to_string(x); }
std::string value_text(int x) { return std::to_string(x); }
std::string value_text(uint64_t x) { return std::to_string(x); }
std::string value_text(float x) { return num(x); }
std::string value_text(double x) { return num(x); }
std::string value_text(OptimizerKind x) { return to_string(x); }
std::string value_text(LrShape x) { return to_string(x); }
std::string value_text(CheckpointSpacing x) { return to_string(x); }

// A default as --help has always shown it (a stream's formatting of the number).
template <class T>
std::string streamed(const T& x) {
  std::ostringstream os;
  os << x;
  return os.str();
}
std::string streamed(OptimizerKind x) { return to_string(x); }
std::string streamed(LrShape x) { return to_string(x); }
std::string streamed(CheckpointSpacing x) { return to_string(x); }

// help + " (default <the default value>)".
TrainOption with_default(const char* name, TrainOption::Field field, const std::string& help, bool stored,
                         bool resume_warns, TrainOption::Group group = TrainOption::Group::training) {
  const TrainOptions d;
  const std::string value = std::visit([&](auto member) { return streamed(d.*member); }, field);
  return {name, field, help + " (default " + value + ")", stored, resume_warns, group};
}

std::vector<TrainOption> make_table() {
  using O = TrainOptions;
  const auto G = TrainOption::Group::head_formation;
  return {
      {"data", &O::data, "token dataset (.h5: stream or sequences), builtin:repeat or builtin:induction", true, false,
       TrainOption::Group::training},
      {"val-data", &O::val_data,
       "validation dataset or a builtin (default: a builtin's own fresh sequences; none for a file)", true, false,
       TrainOption::Group::training},
      {"read-data", &O::read_data,
       "auto | memory | disk: read --data whole at the start, or from the file as training goes (bounded memory; "
       "default auto: disk when the tokens would take over a quarter of the usable memory)",
       false, false, TrainOption::Group::training},
      with_default("repeat-half-len", &O::repeat_half_len,
                   "builtin:repeat: the most tokens a row repeats (rows are 1 + 2 x this long)", true, false),
      {"repeat-min-half-len", &O::repeat_min_half_len,
       "builtin:repeat: the fewest tokens a row repeats; rows with fewer start with random noise (default: "
       "--repeat-half-len, every row the same length)",
       true, false, TrainOption::Group::training},
      with_default("induction-seq-len", &O::induction_seq_len,
                   "builtin:induction: tokens the model reads per row (rows are BOS + this many)", true, false),
      with_default("induction-copy-prob", &O::induction_copy_prob,
                   "builtin:induction: chance that a copy of an earlier span starts at a position", true, false),
      with_default("induction-min-span", &O::induction_min_span, "builtin:induction: the fewest tokens a copy has",
                   true, false),
      with_default("induction-max-span", &O::induction_max_span, "builtin:induction: the most tokens a copy has", true,
                   false),
      {"init", &O::init, "start from this checkpoint's weights (new optimizer, step 0)", false, false,
       TrainOption::Group::training},
      {"resume", &O::resume, "continue this checkpoint's run exactly (weights, optimizer, step, data, RNG)", false,
       false, TrainOption::Group::training},
      {"out", &O::out, "output directory", true, false, TrainOption::Group::training},
      with_default("steps", &O::steps, "total optimizer steps", true, false),
      {"stop-at", &O::stop_at, "stop after this step (checkpoint written; resume later)", false, false,
       TrainOption::Group::training},
      with_default("batch-size", &O::batch_size, "sequences per micro-batch", true, true),
      with_default("grad-accum", &O::grad_accum, "micro-batches per step", true, true),
      {"optimizer", &O::optimizer, "adamw | sgd (default adamw)", true, false, TrainOption::Group::training},
      with_default("lr", &O::lr, "peak learning rate", true, true),
      with_default("beta1", &O::beta1, "AdamW beta1", true, true),
      with_default("beta2", &O::beta2, "AdamW beta2", true, true),
      with_default("eps", &O::eps, "AdamW epsilon", true, true),
      with_default("weight-decay", &O::weight_decay, "decoupled weight decay, matrices only", true, true),
      with_default("grad-clip", &O::grad_clip, "max global gradient norm, 0 = off", true, true),
      with_default("warmup", &O::warmup, "linear warmup steps", true, true),
      {"schedule", &O::schedule, "constant | cosine, after warmup (default constant)", true, true,
       TrainOption::Group::training},
      with_default("min-lr", &O::min_lr, "where cosine ends", true, true),
      with_default("seed", &O::seed, "seed of the initialisation and the data order", true, false),
      {"threads", &O::threads, "CPU threads (default 0 = every core)", true, false, TrainOption::Group::training},
      {"device", &O::device, "cpu | cuda (default cpu)", true, false, TrainOption::Group::training},
      with_default("log-every", &O::log_every, "steps between log lines", true, false),
      {"eval-every", &O::eval_every, "steps between validation losses (default 0: start and end only)", true, false,
       TrainOption::Group::training},
      with_default("eval-batches", &O::eval_batches, "validation batches per evaluation", true, false),
      {"checkpoint-every", &O::checkpoint_every, "steps between checkpoints (default 0: none but final.h5)", true,
       false, TrainOption::Group::training},
      {"checkpoint-schedule", &O::checkpoint_schedule,
       "every | log: log-spaced steps 1, 2, 3, 4, 5, 6, 7, 8, 10, ... (default every)", true, false,
       TrainOption::Group::training},
      with_default("checkpoints-per-octave", &O::checkpoints_per_octave, "log schedule density", true, false),
      {"track-heads", &O::track_heads,
       "score every head on a fixed repeated-token probe during training; write the history to FILE.h5 (a resume "
       "into the same --out goes on tracking; '' = off)",
       true, false, G},
      with_default("track-every", &O::track_every, "steps between head scores", true, false, G),
  };
}

template <class T>
nlohmann::json json_value(const T& x) {
  return x;
}
nlohmann::json json_value(OptimizerKind x) { return to_string(x); }
nlohmann::json json_value(LrShape x) { return to_string(x); }
nlohmann::json json_value(CheckpointSpacing x) { return to_string(x); }

void read_named(const nlohmann::json& v, const char* key, OptimizerKind& field, const std::string& what) {
  std::string name;
  read_field(v, key, name, what);
  field = parse_optimizer(name, what + " " + key);
}
void read_named(const nlohmann::json& v, const char* key, LrShape& field, const std::string& what) {
  std::string name;
  read_field(v, key, name, what);
  field = parse_lr_shape(name, what + " " + key);
}
void read_named(const nlohmann::json& v, const char* key, CheckpointSpacing& field, const std::string& what) {
  std::string name;
  read_field(v, key, name, what);
  field = parse_checkpoint_spacing(name, what + " " + key);
}
template <class T>
void read_named(const nlohmann::json& v, const char* key, T& field, const std::string& what) {
  read_field(v, key, field, what);
}

}  // namespace

const std::vector<TrainOption>& train_option_table() {
  static const std::vector<TrainOption> table = make_table();
  return table;
}

std::string option_value_text(const TrainOptions& o, const TrainOption& option) {
  return std::visit([&](auto member) { return value_text(o.*member); }, option.field);
}

bool option_values_equal(const TrainOptions& a, const TrainOptions& b, const TrainOption& option) {
  return std::visit([&](auto member) { return a.*member == b.*member; }, option.field);
}

std::string options_to_json(const TrainOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  for (const TrainOption& option : train_option_table())
    if (option.stored)
      j[option.json_key()] = std::visit([&](auto member) { return json_value(o.*member); }, option.field);
  return j.dump();
}

TrainOptions options_from_json(const std::string& text, const TrainOptions& base, const std::string& what) {
  TrainOptions o = base;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object()) throw InputError(what, "expected a JSON object of training options");
    for (const TrainOption& option : train_option_table()) {
      const std::string key = option.json_key();
      if (!option.stored || !j.contains(key)) continue;
      std::visit([&](auto member) { read_named(j.at(key), key.c_str(), o.*member, what); }, option.field);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what, std::string("malformed training options: ") + e.what());
  }
  return o;
}

}  // namespace headlab
