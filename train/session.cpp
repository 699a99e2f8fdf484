#include "train/session.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "core/errors.h"
#include "core/h5_file.h"
#include "core/hash.h"
#include "data/token_file_reader.h"
#include "data/tokenizer.h"
#include "model/checkpoint.h"

namespace headlab {
namespace {

constexpr uint64_t kDataStream = 1, kValStream = 2;  // mix_seed streams of the run's seed

void require_dataset_file(const std::string& path, const std::string& option) {
  if (path.rfind("builtin:", 0) == 0)
    throw InputError(option + " " + path, std::string("expected a token dataset (.h5), ") + kBuiltinRepeat + " or " +
                                              kBuiltinInduction + "; there is no such built-in task");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(option, "no such file: " + path);
}

// Whether --data is read from its file as training goes (auto: when its tokens, as int32 in memory,
// would take more than a quarter of the memory this process may use).
bool read_from_disk(const TrainOptions& o) {
  if (o.read_data == "disk") return true;
  if (o.read_data == "memory") return false;
  const h5::File f = h5::File::open(o.data);
  if (!f.is_dataset("tokens")) return false;  // read_token_dataset names what is missing
  const double n = double(h5::numel(f.shape("tokens")));
  // More tokens than the file could hold even compressed is a damaged shape: the memory check of
  // read_token_dataset names it, rather than a pass over terabytes of fill values.
  struct stat st;
  if (::stat(o.data.c_str(), &st) == 0 && n > 64.0 * double(st.st_size)) return false;
  return n * 4.0 > usable_memory_bytes() / 4;
}

std::shared_ptr<const TokenDataset> load_dataset(const std::string& path, const std::string& option) {
  require_dataset_file(path, option);
  auto ds = std::make_shared<const TokenDataset>(read_token_dataset(path));
  // A mask with no 1 leaves nothing to train on (every loss would be NaN).
  if (!ds->loss_mask.empty() && std::none_of(ds->loss_mask.begin(), ds->loss_mask.end(), [](uint8_t m) { return m; }))
    throw InputError(option + " " + path, std::string("/loss_mask has no 1: no position to ") +
                                              (option == "--val-data" ? "evaluate" : "train on"));
  // The tokenizer travels into every checkpoint: a damaged one is refused here, not at sampling.
  if (!ds->tokenizer_json.empty()) tokenizer_from_json(ds->tokenizer_json, option + " " + path + ": /tokenizer");
  return ds;
}

// The dataset must fit the model: ids within its vocabulary, rows within its context.
void check_fits(const TokenDataset& ds, const ModelConfig& c, const std::string& what) {
  if (ds.d_vocab > c.d_vocab)
    throw InputError(what, "the dataset's d_vocab " + std::to_string(ds.d_vocab) + " exceeds the model's d_vocab " +
                               std::to_string(c.d_vocab));
  if (ds.kind == DatasetKind::stream) {
    if (ds.seq_len < int64_t(c.n_ctx) + 1)  // a stream's seq_len is its length, also when read from disk
      throw InputError(what, "a stream of " + std::to_string(ds.seq_len) +
                                 " tokens is shorter than n_ctx + 1 = " + std::to_string(c.n_ctx + 1));
    return;
  }
  if (ds.n_seq < 1 || ds.seq_len < 2)
    throw InputError(what, "expected sequences of at least 2 tokens, got [" + std::to_string(ds.n_seq) + ", " +
                               std::to_string(ds.seq_len) + "]");
  if (ds.seq_len > int64_t(c.n_ctx) + 1)
    throw InputError(what, "sequences of " + std::to_string(ds.seq_len) + " tokens are longer than n_ctx + 1 = " +
                               std::to_string(c.n_ctx + 1) + " (inputs are seq_len - 1 tokens)");
}

// Built-in source `name` must fit the model too.
void check_builtin_fits(const TrainOptions& o, const std::string& name, const ModelConfig& c) {
  if (name == kBuiltinRepeat && 2 * o.repeat_half_len > c.n_ctx)
    throw InputError("--repeat-half-len", "sequences of 1 + 2 * " + std::to_string(o.repeat_half_len) +
                                              " tokens need n_ctx >= " + std::to_string(2 * o.repeat_half_len) +
                                              ", the model has n_ctx = " + std::to_string(c.n_ctx));
  if (name == kBuiltinInduction && o.induction_seq_len > c.n_ctx)
    throw InputError("--induction-seq-len", "rows of 1 + " + std::to_string(o.induction_seq_len) +
                                                " tokens need n_ctx >= " + std::to_string(o.induction_seq_len) +
                                                ", the model has n_ctx = " + std::to_string(c.n_ctx));
  if (c.d_vocab < 3) throw InputError("--model.d_vocab", name + " needs d_vocab >= 3");
}

// The checkpoint a run starts from (--resume, else --init), checked; none for a fresh run.
std::optional<Checkpoint> load_start(const TrainOptions& o) {
  const std::string& path = o.resume.empty() ? o.init : o.resume;
  if (path.empty()) return std::nullopt;
  const std::string option = o.resume.empty() ? "--init" : "--resume";
  if (o.model.any_given)
    throw InputError("--model.*",
                     "the model comes from the checkpoint given to " + option + "; leave out the model options");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(option, "no such file: " + path);
  Checkpoint ck = read_checkpoint(path);
  require_finite_params(ck, option + " " + path);  // not "loss = nan at step 1; lower --lr"
  if (!o.resume.empty() && !ck.train)
    throw InputError(option + " " + path, "has no training state (/train); use --init to start from its weights");
  return ck;
}

// What a run trained on, in words a person can compare: kind, shape, d_vocab and a hash of the
// tokens and loss mask as read (so the same tokens stored as uint16 or uint32 match).
std::string data_fingerprint(const TokenDataset& ds, const TokenFileReader* file) {
  uint64_t h = fnv1a(kFnv1aOffset, ds.tokens.data(), ds.tokens.size() * sizeof(int32_t));
  h = fnv1a(h, ds.loss_mask.data(), ds.loss_mask.size());
  if (file) h = file->content_hash();  // the same hash, taken while the file was checked
  char buf[160];
  if (ds.kind == DatasetKind::stream)
    std::snprintf(buf, sizeof buf, "a stream of %lld tokens, d_vocab %lld, hash %016llx", (long long)ds.seq_len,
                  (long long)ds.d_vocab, (unsigned long long)h);
  else
    std::snprintf(buf, sizeof buf, "sequences [%lld, %lld], d_vocab %lld, hash %016llx", (long long)ds.n_seq,
                  (long long)ds.seq_len, (long long)ds.d_vocab, (unsigned long long)h);
  return buf;
}

// Field `key` of a checkpoint's options_json; "" when there is none. InputError(what, ...) when
// it is there but not a string.
std::string json_string_field(const std::string& json, const char* key, const std::string& what) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains(key)) return "";
  if (!j[key].is_string())
    throw InputError(what + ": /train attribute options_json",
                     std::string(key) + ": expected a string, got " + j[key].dump());
  return j[key].get<std::string>();
}

std::string shown(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}
std::string shown(int64_t x) { return std::to_string(x); }

// The resumed run against the one in the checkpoint (see open_session in session.h).
void check_resume_options(TrainSession& s, const TrainState& st, const std::string& what) {
  const TrainOptions& now = s.options;
  const TrainOptions was = options_from_json(st.options_json, TrainOptions{}, what + ": /train options_json");
  if (now.seed != was.seed)
    throw InputError("--seed", "the run in " + what + " has seed " + std::to_string(was.seed) + ", not " +
                                   std::to_string(now.seed) + "; a resumed run keeps its seed (leave out --seed)");
  if ((is_builtin_data(now.data) || is_builtin_data(was.data)) && now.data != was.data)
    throw InputError("--data " + now.data, "the run in " + what + " trained on " + was.data +
                                               ". Resume on the same data, or start a new run with --init");
  const std::string was_data = json_string_field(st.options_json, "data_fingerprint", what);
  if (!was_data.empty() && !s.data_fingerprint.empty() && was_data != s.data_fingerprint)
    throw InputError("--data " + now.data, "is " + s.data_fingerprint + "; the run in " + what + " trained on " +
                                               was.data + ", " + was_data +
                                               ". Resume on the same data, or start a new run with --init");
  if (st.step > now.steps)
    throw InputError("--steps", "the run in " + what + " already reached step " + std::to_string(st.step) +
                                    ", past --steps " + std::to_string(now.steps) + "; give --steps " +
                                    std::to_string(st.step) + " or more");
  if (now.stop_at > 0 && now.stop_at < st.step)
    throw InputError("--stop-at", "the run in " + what + " is at step " + std::to_string(st.step) +
                                      " already, past --stop-at " + std::to_string(now.stop_at));
  const std::string changes = "the resumed run goes on with the new value, so it will not match the original run";
  auto warn = [&](const std::string& option, const std::string& a_now, const std::string& a_was,
                  const std::string& effect) {
    s.warnings.push_back(option + " " + a_now + " differs from the run in " + what + " (" + a_was + "): " + effect);
  };
  auto compare = [&](const char* option, auto a_now, auto a_was, const std::string& effect) {
    if (a_now != a_was) warn(option, shown(a_now), shown(a_was), effect);
  };
  for (const TrainOption& option : train_option_table())
    if (option.resume_warns && !option_values_equal(now, was, option))
      warn(std::string("--") + option.name, option_value_text(now, option), option_value_text(was, option), changes);
  if (now.schedule == LrShape::cosine)
    compare("--steps", now.steps, was.steps,
            "the cosine schedule now ends at step " + std::to_string(now.steps) +
                ", so the learning rates differ from the original run's");
  compare("--threads", int64_t(now.threads), int64_t(was.threads),
          "sums may differ from the original run's in the last bits");
}

// AdamW's moments: a NaN or inf would turn the first update's weights into NaN (reported as a
// divergence at the next step, blaming the learning rate), a negative second moment its sqrt.
void require_finite_moments(const std::vector<float>& x, const char* name, bool second, const std::string& what) {
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || (second && x[i] < 0))
      throw InputError(what + ": " + name, std::string("expected finite") + (second ? ", non-negative" : "") +
                                               " optimizer moments; found " + shown(double(x[i])) + " at [" +
                                               std::to_string(i) + "]");
}

void restore_run(TrainSession& s, const TrainState& st, const std::string& what) {
  const TrainOptions& o = s.options;
  if (st.optimizer_name != to_string(o.optimizer))
    throw InputError("--optimizer", "the run in " + what + " was trained with " + st.optimizer_name + ", not " +
                                        to_string(o.optimizer));
  require_finite_moments(st.m, "/optimizer/m", false, what);
  require_finite_moments(st.v, "/optimizer/v", true, what);
  s.optimizer->state_from_host(st.m, st.v, what);
  s.train_batches->restore({st.rng_state, st.data_position}, what);
  s.step = st.step;  // == --steps: nothing left to train; the trainer writes final.h5
  s.tokens_seen = st.tokens_seen;
}

}  // namespace

ModelConfig resolve_model(const TrainOptions& o, const TokenDataset* data) {
  ModelConfig c = o.model.config;
  // n_ctx and d_vocab taken from the data: a bad value is the data's, so name it.
  if (data && data->kind == DatasetKind::sequences && !o.model.n_ctx_given && data->seq_len < 2)
    throw InputError("--data " + o.data, "expected sequences of at least 2 tokens, got [" +
                                             std::to_string(data->n_seq) + ", " + std::to_string(data->seq_len) + "]");
  if (data && !o.model.d_vocab_given && data->d_vocab > ModelLimits::d_vocab)
    throw InputError("--data " + o.data, "its d_vocab " + std::to_string(data->d_vocab) + " exceeds the " +
                                             std::to_string(ModelLimits::d_vocab) + " a model can have");
  if (!o.model.d_vocab_given && data) c.d_vocab = int(data->d_vocab);
  if (!o.model.n_ctx_given) {
    if (o.uses_builtin())
      c.n_ctx = int(o.builtin_seq_len(o.data));
    else if (data && data->kind == DatasetKind::sequences)
      c.n_ctx = int(data->seq_len - 1);
  }
  c.validate();
  return c;
}

TrainSession open_session(const TrainOptions& options, int gpu) {
  options.validate();
  TrainSession s;
  s.options = options;
  const TrainOptions& o = s.options;

  std::shared_ptr<const TokenDataset> data;  // with --data read from disk: its header, without the tokens
  std::shared_ptr<const TokenFileReader> data_file;
  if (!o.uses_builtin()) {
    require_dataset_file(o.data, "--data");
    if (read_from_disk(o)) {
      data_file = std::make_shared<const TokenFileReader>(o.data);
      if (data_file->has_loss_mask() && !data_file->mask_has_a_one())
        throw InputError("--data " + o.data, "/loss_mask has no 1: no position to train on");
      const TokenDataset& h = data_file->header();
      if (!h.tokenizer_json.empty()) tokenizer_from_json(h.tokenizer_json, "--data " + o.data + ": /tokenizer");
      data = std::make_shared<const TokenDataset>(h);
      s.data_from_disk = true;
    } else {
      data = load_dataset(o.data, "--data");
    }
  }
  if (!o.val_data.empty() && !is_builtin_data(o.val_data)) s.val_dataset_ = load_dataset(o.val_data, "--val-data");
  s.val_repeat_ = is_builtin_data(o.val_data) || (o.val_data.empty() && o.uses_builtin());
  for (const TokenDataset* d : {data.get(), s.val_dataset_.get()})
    if (d && !d->assumed.empty()) s.warnings.push_back(d->assumed);

  if (data) s.data_fingerprint = data_fingerprint(*data, data_file.get());

  const std::optional<Checkpoint> start = load_start(o);
  if (!o.resume.empty()) check_resume_options(s, *start->train, o.resume);
  const ModelConfig config = start ? start->config : resolve_model(o, data.get());
  if (data) check_fits(*data, config, "--data " + o.data);
  if (s.val_dataset_) check_fits(*s.val_dataset_, config, "--val-data " + o.val_data);
  if (o.uses_builtin()) check_builtin_fits(o, o.data, config);
  if (s.val_repeat_) check_builtin_fits(o, o.val_data.empty() ? o.data : o.val_data, config);

  require_memory(config.memory_bytes(o.batch_size, config.n_ctx, /*training=*/true),
                 "--batch-size " + std::to_string(o.batch_size),
                 "training " + std::to_string(config.n_params()) + " parameters on batches of " +
                     std::to_string(o.batch_size) + " x " + std::to_string(config.n_ctx) + " tokens");
  const Device device = parse_device(o.device);
  s.backend = device == Device::cuda ? make_cuda_backend(gpu) : make_backend(device, o.threads);
  s.model = std::make_unique<Transformer>(config, *s.backend);
  if (start)
    s.model->params_from_host(start->params);
  else
    s.model->init_gpt2(o.seed);
  s.optimizer = std::make_unique<Optimizer>(OptimizerSettings::from(o), s.model->table(), *s.backend);
  const uint64_t data_seed = mix_seed(o.seed, kDataStream);
  if (o.uses_builtin())
    s.train_batches = make_builtin_batcher(o, o.data, int(o.batch_size), config.d_vocab, data_seed);
  else if (data_file)  // read ahead on a thread, so the step does not wait for the file
    s.train_batches = make_prefetching_batcher(
        make_dataset_batcher(file_token_access(data_file), int(o.batch_size), config.n_ctx, data_seed));
  else
    s.train_batches = make_dataset_batcher(data, int(o.batch_size), config.n_ctx, data_seed);
  if (data) s.tokenizer_json = data->tokenizer_json;
  if (start && s.tokenizer_json.empty() && !start->tokenizer_json.empty()) {
    // It travels into every checkpoint of this run: a damaged one is refused here.
    const std::string& path = o.resume.empty() ? o.init : o.resume;
    tokenizer_from_json(start->tokenizer_json, (o.resume.empty() ? "--init " : "--resume ") + path + ": /tokenizer");
    s.tokenizer_json = start->tokenizer_json;
  }
  if (!o.init.empty()) s.init_fingerprint = model_hash(start->config, start->params);
  if (!o.resume.empty())
    s.init_fingerprint = json_string_field(start->train->options_json, "init_fingerprint", o.resume);
  if (!o.resume.empty()) {
    restore_run(s, *start->train, "--resume " + o.resume);
    s.last_checkpoint = o.resume;
  }
  return s;
}

std::unique_ptr<Batcher> TrainSession::make_val_batcher() const {
  const uint64_t seed = mix_seed(options.seed, kValStream);
  const ModelConfig& c = model->config();
  if (val_dataset_) return make_dataset_batcher(val_dataset_, int(options.batch_size), c.n_ctx, seed);
  if (val_repeat_)  // a built-in source: --val-data's, else --data's own fresh rows
    return make_builtin_batcher(options, options.val_data.empty() ? options.data : options.val_data,
                                int(options.batch_size), c.d_vocab, seed);
  return nullptr;
}

std::string checkpoint_options_json(const TrainSession& s) {
  nlohmann::json j = nlohmann::json::parse(options_to_json(s.options));
  if (!s.data_fingerprint.empty()) j["data_fingerprint"] = s.data_fingerprint;
  if (!s.init_fingerprint.empty()) j["init_fingerprint"] = s.init_fingerprint;
  return j.dump();
}

TrainOptions resumed_options(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError("--resume", "no such file: " + path);
  std::string json;
  {
    const h5::File f = h5::File::open(path);
    if (!f.exists("train"))
      throw InputError("--resume " + path, "has no training state (/train); use --init to start from its weights");
    json = f.group("train").attr_string("options_json");
  }
  const std::string what = path + ": /train attribute options_json";
  TrainOptions o = options_from_json(json, TrainOptions{}, what);
  o.resume = path;
  o.init.clear();
  o.stop_at = 0;
  try {  // a value out of range is the file's fault, not the command line's
    o.validate();
  } catch (const InputError& e) {
    throw InputError(what, e.what());
  }
  return o;
}

std::string run_difference(const std::string& options_json, const ModelConfig& config,
                           const std::string& other_options_json, const ModelConfig& other_config) {
  if (model_hash(config, {}) != model_hash(other_config, {})) return "another model";
  nlohmann::json a = nlohmann::json::parse(options_json, nullptr, /*allow_exceptions=*/false);
  nlohmann::json b = nlohmann::json::parse(other_options_json, nullptr, /*allow_exceptions=*/false);
  if (!a.is_object() || !b.is_object()) return "unreadable training options";
  for (const char* bookkeeping : {"out", "val_data", "log_every", "eval_every", "eval_batches", "checkpoint_every",
                                  "checkpoint_schedule", "checkpoints_per_octave", "track_heads", "track_every"}) {
    a.erase(bookkeeping);
    b.erase(bookkeeping);
  }
  if (a.contains("data_fingerprint") && b.contains("data_fingerprint")) {  // the data by contents: a moved file is fine
    a.erase("data");
    b.erase("data");
  }
  auto text = [](const nlohmann::json& j, const char* key) -> std::string {
    if (!j.contains(key)) return "none";
    if (j[key].is_number_float()) return shown(j[key].get<double>());
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  };
  nlohmann::json keys = a;
  keys.update(b);
  for (const auto& item : keys.items()) {
    const char* key = item.key().c_str();
    if (!a.contains(key) || !b.contains(key) || a[key] != b[key])
      return std::string(key) + " " + text(b, key) + " there, " + text(a, key) + " here";
  }
  return "";
}

}  // namespace headlab
