#include "train/trainer.h"

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include "core/atomic_write.h"
#include "model/checkpoint.h"
#include "train/metrics_log.h"

namespace headlab {
namespace {

std::string describe(double x) { return std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf"); }

void make_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir, "cannot create the directory: " + ec.message());
}

// What killed writes leave in DIR and DIR/checkpoints: the hidden temporaries of the checkpoint
// writer (hidden_temporary_path: ".<name>.tmp"), an older writer's "<name>.tmp", and the metrics
// rewrite's ".metrics.jsonl.tmp". Only names this trainer writes: DIR may be shared.
const std::regex kCheckpointLeftover(R"(\.?step_[0-9]+\.h5\.tmp)");
const std::regex kOutLeftover(R"(\.?final\.h5\.tmp|\.metrics\.jsonl\.tmp)");

void remove_leftovers(const std::string& dir, const std::regex& leftover) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && std::regex_match(entry.path().filename().string(), leftover))
      std::filesystem::remove(entry.path(), ec);
}

}  // namespace

bool test_kill_due(const char* point, int64_t step) {
  static const char* spec = std::getenv("HEADLAB_TEST_KILL_AT");  // "<point>:<step>"
  if (!spec || !*point) return false;
  const char* colon = std::strchr(spec, ':');
  const size_t n = std::strlen(point);
  return colon && size_t(colon - spec) == n && std::strncmp(spec, point, n) == 0 &&
         std::strtoll(colon + 1, nullptr, 10) == step;
}

void kill_if_testing(const char* point, int64_t step) {
  if (!test_kill_due(point, step)) return;
  std::fflush(nullptr);
  std::raise(SIGKILL);
}

TrainingDiverged::TrainingDiverged(int64_t step_, const std::string& quantity, double value,
                                   const std::string& last_checkpoint_)
    : InputError(
          "step " + std::to_string(step_),
          quantity + " = " + describe(value) + "; training stopped (" +
              (last_checkpoint_.empty() ? "no checkpoint was written" : "last good checkpoint: " + last_checkpoint_) +
              "); try a lower --lr or --grad-clip"),
      step(step_),
      last_checkpoint(last_checkpoint_) {}

Trainer::Trainer(TrainSession& session)
    : s_(session), o_(session.options), lr_(session.options), checkpoints_(session.options) {
  if (!s_.ranks) {
    own_ranks_ = single_process_group();
    s_.ranks = own_ranks_.get();
  }
  ranks_ = s_.ranks;
  gradient_sum_ = std::make_unique<GradientSum>(*ranks_, *s_.model, s_.reduction, s_.bucket_floats);
  if (o_.batch_size % ranks_->size() != 0)
    throw InputError("--batch-size " + std::to_string(o_.batch_size),
                     "is the global batch, shared by the " + std::to_string(ranks_->size()) +
                         " ranks: it must be a multiple of their number");
  if (!o_.out.empty() && ranks_->rank() == 0) {
    make_directory(o_.out + "/checkpoints");
    remove_leftovers(o_.out, kOutLeftover);
    remove_leftovers(o_.out + "/checkpoints", kCheckpointLeftover);
    metrics_ = std::make_unique<MetricsLog>(o_.out + "/metrics.jsonl", s_.step);
    observers_.push_back(metrics_.get());
  }
}

Trainer::~Trainer() = default;

TrainResult Trainer::run() {
  TrainResult result;
  Transformer& model = *s_.model;
  const int64_t last = last_step();
  run_start_ = Clock::now();
  if (s_.step == 0) notify(nullptr, evaluate());
  while (s_.step < last) {
    const int64_t step = s_.step + 1;
    const Clock::time_point started = Clock::now();
    model.zero_grads();
    const float loss = accumulate_gradients(step);  // next batch, forward, backward (x grad_accum)
    const double norm = global_grad_norm(model.backend(), model.grads(), model.table().arena_size());
    if (!std::isfinite(norm)) diverged(step, "gradient norm", norm);
    const float lr = lr_.at(step);
    s_.optimizer->update(model.params(), model.grads(), step, lr, clip_factor(norm, o_.grad_clip));
    s_.step = step;
    kill_if_testing("step", step);
    step_seconds_ += std::chrono::duration<double>(Clock::now() - started).count();
    const bool eval_point = eval_due(step);
    StepRecord record = make_record(step, loss, lr, norm, eval_point);
    if (ranks_->size() > 1) record.allreduce_s = gradient_sum_->seconds();
    if (eval_point) record.val_loss = evaluate();
    notify(&record, record.val_loss);
    result.losses.push_back(loss);
    if (record.val_loss) result.final_val_loss = record.val_loss;
    if (!o_.out.empty() && (checkpoints_.due(step) || step == o_.stop_at))
      save_checkpoint(step_checkpoint_path(step), "checkpoint");
  }
  result.step = s_.step;
  result.finished = s_.step == o_.steps;  // also when resumed from a checkpoint at --steps
  if (result.finished && !o_.out.empty()) save_checkpoint(o_.out + "/final.h5", "final");
  return result;
}

// Rows [first, first + n) of a global batch: this rank's share.
namespace {
struct Share {
  int first = 0, n = 0;
  int64_t n_targets = 0;  // counted targets in the share
};
Share share_of(const Batch& b, const RankGroup& ranks) {
  Share s;
  s.n = b.B / ranks.size();
  s.first = s.n * ranks.rank();
  for (int64_t i = int64_t(s.first) * b.T; i < int64_t(s.first + s.n) * b.T; ++i)
    s.n_targets += b.targets[size_t(i)] >= 0;
  return s;
}
}  // namespace

// Every rank draws the whole global batch (the same draw as one process) and trains on its rows;
// its loss, a mean over its own targets, is weighted by its share of the batch's targets, so the
// gradients summed over ranks are the whole batch's. One process: the share is the batch.
float Trainer::accumulate_gradients(int64_t step) {
  Transformer& model = *s_.model;
  std::vector<double> batch_loss(size_t(o_.grad_accum), 0.0);  // this rank's part of each mean
  std::vector<double> batch_counted(size_t(o_.grad_accum), 0.0);
  const GradientsFinal on_final = gradient_sum_->on_final();
  for (int64_t k = 0; k < o_.grad_accum; ++k) {
    const Batch& b = s_.train_batches->next();
    s_.tokens_seen += int64_t(b.B) * b.T;
    window_tokens_ += int64_t(b.B) * b.T;
    if (b.n_targets == 0) continue;  // every target masked: nothing to learn from this micro-batch
    batch_counted[size_t(k)] = ranks_->rank() == 0 ? 1.0 : 0.0;
    const Share share = share_of(b, *ranks_);
    if (share.n_targets == 0) continue;  // this rank's rows are all masked: it adds nothing
    const size_t at = size_t(share.first) * size_t(b.T);
    const float loss = model.forward_loss(b.tokens.data() + at, b.targets.data() + at, share.n, b.T);
    const double weight = double(share.n_targets) / double(b.n_targets);
    // The mean over micro-batches; the last one's backward may start summing the finished layers.
    model.backward(nullptr, float(weight / double(o_.grad_accum)),
                   k + 1 == o_.grad_accum ? on_final : GradientsFinal());
    batch_loss[size_t(k)] = double(loss) * weight;
  }
  gradient_sum_->finish();
  ranks_->sum(batch_loss.data(), o_.grad_accum);
  ranks_->sum(batch_counted.data(), o_.grad_accum);
  double sum = 0;
  int64_t counted = 0;
  for (int64_t k = 0; k < o_.grad_accum; ++k)
    if (batch_counted[size_t(k)] > 0) {
      if (!std::isfinite(batch_loss[size_t(k)])) diverged(step, "loss", batch_loss[size_t(k)]);
      sum += batch_loss[size_t(k)];
      ++counted;
    }
  return counted > 0 ? float(sum / double(counted)) : std::nanf("");
}

StepRecord Trainer::make_record(int64_t step, float loss, float lr, double grad_norm, bool eval_point) {
  ++steps_this_run_;
  StepRecord r;
  r.step = step;
  r.total_steps = o_.steps;
  r.loss = loss;
  r.lr = lr;
  r.grad_norm = grad_norm;
  r.tokens_seen = s_.tokens_seen;
  r.elapsed_s = std::chrono::duration<double>(Clock::now() - run_start_).count();
  const int64_t last = last_step();
  r.eta_s = step_seconds_ / double(steps_this_run_) * double(last - step);
  const double window = step_seconds_ - window_seconds_;
  r.tokens_per_s = window > 0 ? double(window_tokens_) / window : 0.0;
  r.log = step == 1 || step % o_.log_every == 0 || step == o_.steps || eval_point;
  if (r.log) {  // the next log point measures from here
    window_seconds_ = step_seconds_;
    window_tokens_ = 0;
  }
  return r;
}

// record = nullptr: the evaluation of the initial model (step 0).
void Trainer::notify(const StepRecord* record, std::optional<float> val_loss) {
  Transformer& model = *s_.model;
  if (record)
    for (TrainObserver* obs : observers_) obs->on_step(*record, model);
  if (eval_due(record ? record->step : 0))
    for (TrainObserver* obs : observers_) obs->on_eval(record ? record->step : 0, val_loss, model);
}

int64_t Trainer::last_step() const { return o_.stop_at > 0 ? o_.stop_at : o_.steps; }

bool Trainer::eval_due(int64_t step) const {
  return step == 0 || step == o_.steps || (o_.eval_every > 0 && step % o_.eval_every == 0);
}

std::optional<float> Trainer::evaluate() {
  std::unique_ptr<Batcher> batches = s_.make_val_batcher();
  if (!batches) return std::nullopt;
  double sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < o_.eval_batches; ++i) {
    const Batch& b = batches->next();
    if (b.n_targets == 0) continue;
    if (b.B % ranks_->size() != 0) {  // a batch the ranks cannot share: rank 0 takes it whole
      if (ranks_->rank() == 0) {
        const float loss = s_.model->forward_loss(b.tokens.data(), b.targets.data(), b.B, b.T);
        sum += double(loss) * double(b.n_targets);
      }
      count += b.n_targets;
      continue;
    }
    const Share share = share_of(b, *ranks_);
    count += b.n_targets;
    if (share.n_targets == 0) continue;
    const size_t at = size_t(share.first) * size_t(b.T);
    const float loss = s_.model->forward_loss(b.tokens.data() + at, b.targets.data() + at, share.n, b.T);
    sum += double(loss) * double(share.n_targets);  // weighted: the mean over every counted target
  }
  ranks_->sum(&sum, 1);
  if (count == 0) return std::nullopt;
  return float(sum / double(count));
}

void Trainer::save_checkpoint(const std::string& path) { save_checkpoint(path, ""); }

void Trainer::save_checkpoint(const std::string& path, const char* kill_point) {
  Transformer& model = *s_.model;
  Checkpoint ck;
  ck.config = model.config();
  ck.params = model.params_to_host();
  for (float p : ck.params)  // never replace a good checkpoint with broken weights
    if (!std::isfinite(p)) diverged(s_.step, "a weight after the update", p);
  TrainState st;
  st.step = s_.step;
  st.tokens_seen = s_.tokens_seen;
  const BatcherState data = s_.train_batches->state();
  st.rng_state = data.rng;
  st.data_position = data.position;
  st.options_json = checkpoint_options_json(s_);
  st.optimizer_name = s_.optimizer->name();
  st.m = s_.optimizer->m_to_host();
  st.v = s_.optimizer->v_to_host();
  ck.train = std::move(st);
  ck.tokenizer_json = s_.tokenizer_json;
  if (test_kill_due(kill_point, s_.step)) {  // leave what a kill inside the HDF5 write leaves
    const std::string tmp = hidden_temporary_path(path);
    write_checkpoint(tmp, ck);
    std::error_code ec;
    std::filesystem::resize_file(tmp, std::filesystem::file_size(tmp, ec) / 2, ec);
    kill_if_testing(kill_point, s_.step);
  }
  if (ranks_->rank() == 0) write_checkpoint(path, ck);  // through a hidden temporary, renamed into place whole
  s_.last_checkpoint = path;
  for (TrainObserver* obs : observers_) obs->on_checkpoint(s_.step, path);
}

void Trainer::diverged(int64_t step, const std::string& quantity, double value) {
  throw TrainingDiverged(step, quantity, value, s_.last_checkpoint);
}

std::string Trainer::step_checkpoint_path(int64_t step) const {
  char name[64];
  std::snprintf(name, sizeof name, "/checkpoints/step_%06lld.h5", static_cast<long long>(step));
  return o_.out.empty() ? std::string() : o_.out + name;
}

}  // namespace headlab
