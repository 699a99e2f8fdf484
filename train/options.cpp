#include "train/options.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
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

std::string options_to_json(const TrainOptions& o) {
  nlohmann::json j = {
      {"data", o.data},
      {"val_data", o.val_data},
      {"out", o.out},
      {"repeat_half_len", o.repeat_half_len},
      {"repeat_min_half_len", o.repeat_min_half_len},
      {"induction_seq_len", o.induction_seq_len},
      {"induction_copy_prob", o.induction_copy_prob},
      {"induction_min_span", o.induction_min_span},
      {"induction_max_span", o.induction_max_span},
      {"steps", o.steps},
      {"batch_size", o.batch_size},
      {"grad_accum", o.grad_accum},
      {"optimizer", to_string(o.optimizer)},
      {"lr", o.lr},
      {"beta1", o.beta1},
      {"beta2", o.beta2},
      {"eps", o.eps},
      {"weight_decay", o.weight_decay},
      {"grad_clip", o.grad_clip},
      {"warmup", o.warmup},
      {"schedule", to_string(o.schedule)},
      {"min_lr", o.min_lr},
      {"seed", o.seed},
      {"threads", o.threads},
      {"device", o.device},
      {"log_every", o.log_every},
      {"eval_every", o.eval_every},
      {"eval_batches", o.eval_batches},
      {"checkpoint_every", o.checkpoint_every},
      {"checkpoint_schedule", to_string(o.checkpoint_schedule)},
      {"checkpoints_per_octave", o.checkpoints_per_octave},
      {"track_heads", o.track_heads},
      {"track_every", o.track_every},
  };
  return j.dump();
}

TrainOptions options_from_json(const std::string& text, const TrainOptions& base, const std::string& what) {
  TrainOptions o = base;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (!j.is_object()) throw InputError(what, "expected a JSON object of training options");
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) read_field(j.at(key), key, field, what);
    };
    get("data", o.data);
    get("val_data", o.val_data);
    get("out", o.out);
    get("repeat_half_len", o.repeat_half_len);
    get("repeat_min_half_len", o.repeat_min_half_len);
    get("induction_seq_len", o.induction_seq_len);
    get("induction_copy_prob", o.induction_copy_prob);
    get("induction_min_span", o.induction_min_span);
    get("induction_max_span", o.induction_max_span);
    get("steps", o.steps);
    get("batch_size", o.batch_size);
    get("grad_accum", o.grad_accum);
    get("lr", o.lr);
    get("beta1", o.beta1);
    get("beta2", o.beta2);
    get("eps", o.eps);
    get("weight_decay", o.weight_decay);
    get("grad_clip", o.grad_clip);
    get("warmup", o.warmup);
    get("min_lr", o.min_lr);
    get("seed", o.seed);
    get("threads", o.threads);
    get("device", o.device);
    get("log_every", o.log_every);
    get("eval_every", o.eval_every);
    get("eval_batches", o.eval_batches);
    get("checkpoint_every", o.checkpoint_every);
    get("checkpoints_per_octave", o.checkpoints_per_octave);
    get("track_heads", o.track_heads);
    get("track_every", o.track_every);
    std::string name;
    if (j.contains("optimizer")) {
      read_field(j.at("optimizer"), "optimizer", name, what);
      o.optimizer = parse_optimizer(name, what + " optimizer");
    }
    if (j.contains("schedule")) {
      read_field(j.at("schedule"), "schedule", name, what);
      o.schedule = parse_lr_shape(name, what + " schedule");
    }
    if (j.contains("checkpoint_schedule")) {
      read_field(j.at("checkpoint_schedule"), "checkpoint_schedule", name, what);
      o.checkpoint_schedule = parse_checkpoint_spacing(name, what + " checkpoint_schedule");
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what, std::string("malformed training options: ") + e.what());
  }
  return o;
}

}  // namespace headlab
