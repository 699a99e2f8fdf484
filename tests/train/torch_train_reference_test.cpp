// Training against an outside reference: the same steps taken by PyTorch (torch.optim.AdamW / SGD,
// torch.nn.utils.clip_grad_norm_, float64 autograd through TransformerLens' math) in
// tests/train/torch_train_reference.py. headlab trains through the library (Trainer, Optimizer,
// LrSchedule) from a checkpoint's weights on batches given here, one run per case; the reference
// starts from the same checkpoint and batches. Two comparisons per step:
//  - replay: torch's optimizer fed headlab's own gradients. Isolates the update (clipping, decay
//    groups, AdamW / SGD, the learning rate) from float32 gradient rounding: tight tolerances.
//  - train: every step in float64 in torch, forward and backward included. The losses, gradient
//    norms and weights drift from headlab's float32 only by rounding.
// Skips, saying why, where /usr/bin/python3 with torch, h5py and numpy is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/h5_file.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tests/python_reference.h"
#include "tests/train/train_test_util.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace headlab {
namespace {

// Batches [S steps][A micro-batches] of B rows: random tokens and targets, some targets ignored
// (-1). Any tokens do: both sides see the same.
using StepBatches = std::vector<std::vector<Batch>>;

StepBatches random_batches(int S, int A, int B, int T, int d_vocab, uint64_t seed, bool ignore_some) {
  std::mt19937_64 rng(seed);
  StepBatches steps(size_t(S), std::vector<Batch>(static_cast<size_t>(A)));
  for (auto& micro : steps)
    for (Batch& b : micro) {
      b.B = B;
      b.T = T;
      b.tokens.resize(size_t(B * T));
      b.targets.resize(size_t(B * T));
      for (auto& t : b.tokens) t = int32_t(rng() % uint64_t(d_vocab));
      for (auto& t : b.targets) t = int32_t(rng() % uint64_t(d_vocab));
      if (ignore_some)  // the same count in every micro-batch: their mean is then the batch mean
        for (int r = 0; r < B; ++r) b.targets[size_t(r * T + (r * 3) % T)] = -1;
      b.n_targets = std::count_if(b.targets.begin(), b.targets.end(), [](int32_t t) { return t >= 0; });
    }
  return steps;
}

// The same rows as one micro-batch per step: A x [B, T] -> [A B, T].
StepBatches merged(const StepBatches& steps) {
  StepBatches out;
  for (const auto& micro : steps) {
    Batch m;
    m.B = 0;
    m.T = micro[0].T;
    for (const Batch& b : micro) {
      m.B += b.B;
      m.tokens.insert(m.tokens.end(), b.tokens.begin(), b.tokens.end());
      m.targets.insert(m.targets.end(), b.targets.begin(), b.targets.end());
      m.n_targets += b.n_targets;
    }
    out.push_back({m});
  }
  return out;
}

// Hands the trainer the given batches in order.
class ScriptedBatcher : public Batcher {
 public:
  explicit ScriptedBatcher(const StepBatches& steps) {
    for (const auto& micro : steps) batches_.insert(batches_.end(), micro.begin(), micro.end());
  }
  const Batch& next() override {
    if (next_ >= batches_.size()) throw InternalError("ScriptedBatcher: asked for more batches than given");
    return batches_[next_++];
  }
  int seq_len() const override { return batches_.front().T; }
  BatcherState state() const override { return {}; }
  void restore(const BatcherState&, const std::string& what) override {
    throw InternalError(what + ": a scripted batcher cannot be restored");
  }

 private:
  std::vector<Batch> batches_;
  size_t next_ = 0;
};

// What the trainer did at each step: the record, the gradient (before clipping) and the weights
// after the update.
struct StepLog : TrainObserver {
  std::vector<StepRecord> records;
  std::vector<std::vector<float>> grads, params;  // [S][arena_size]
  void on_step(const StepRecord& r, Transformer& model) override {
    records.push_back(r);
    grads.push_back(model.grads_to_host());
    params.push_back(model.params_to_host());
  }
};

// GPT-2 initialisation with every weight made to matter: matrices and embeddings 5x larger (so
// that weight decay moves them by more than rounding), biases and norm weights off 0 and 1 (so
// that decaying them by mistake would show).
std::vector<float> initial_weights(const ModelConfig& cfg) {
  auto be = make_cpu_backend(1);
  Transformer model(cfg, *be);
  model.init_gpt2(7);
  std::vector<float> p = model.params_to_host();
  for (const StorageInfo& s : model.table().storage())
    for (int64_t i = 0; i < s.size; ++i) {
      float& x = p[size_t(s.offset + i)];
      if (s.kind == ParamKind::matrix || s.kind == ParamKind::embedding) x *= 5.0f;
      if (s.kind == ParamKind::bias || s.kind == ParamKind::norm) x += 0.1f * float((i * 7 + 3) % 11 - 5);
    }
  return p;
}

StepLog train_headlab(const ModelConfig& cfg, const std::vector<float>& init, const TrainOptions& o,
                      const StepBatches& batches) {
  TrainSession s;
  s.options = o;
  s.backend = make_cpu_backend(o.threads);
  s.model = std::make_unique<Transformer>(cfg, *s.backend);
  s.model->params_from_host(init);
  s.optimizer = std::make_unique<Optimizer>(OptimizerSettings::from(o), s.model->table(), *s.backend);
  s.train_batches = std::make_unique<ScriptedBatcher>(batches);
  StepLog log;
  Trainer trainer(s);
  trainer.add_observer(&log);
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.step, o.steps);
  return log;
}

struct Case {
  std::string name;
  ModelConfig cfg;
  TrainOptions options;  // the optimizer, schedule and clipping; steps = S; out empty
  StepBatches batches;
};

ModelConfig small_model() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 2;
  c.d_head = 8;
  c.d_mlp = 32;
  c.n_ctx = 8;
  c.d_vocab = 16;
  return c;
}

TrainOptions adamw_options(int steps) {
  TrainOptions o;
  o.steps = steps;
  o.optimizer = OptimizerKind::adamw;
  o.lr = 1e-2f;
  o.min_lr = 1e-3f;
  o.warmup = 2;
  o.schedule = LrShape::cosine;
  o.beta1 = 0.9f;
  o.beta2 = 0.95f;
  o.eps = 1e-8f;
  o.weight_decay = 0.1f;
  o.grad_clip = 1.0f;
  o.threads = 1;
  o.eval_every = 0;
  return o;
}

// The reference's outputs for one case.
struct Reference {
  h5::File file;
  std::vector<double> lr, lr_nanogpt, loss, grad_norm, clip_coef, replay_grad_norm;
};

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

// Writes the checkpoint and the run file, runs the reference, opens its output.
Reference run_reference(const Case& c, const std::vector<float>& init, const StepLog& log,
                        const testing::TempDir& dir) {
  const TrainOptions& o = c.options;
  Checkpoint ck;
  ck.config = c.cfg;
  ck.params = init;
  write_checkpoint(dir / "init.h5", ck);
  const int64_t S = int64_t(c.batches.size()), A = int64_t(c.batches[0].size());
  const int64_t B = c.batches[0][0].B, T = c.batches[0][0].T;
  {
    h5::AtomicFile f(dir / "run.h5");
    h5::File& g = f.file();
    set_format(g, "headlab.train_reference_run", 1);
    g.set_attr("checkpoint", dir / "init.h5");
    g.set_attr("optimizer", to_string(o.optimizer));
    g.set_attr("schedule", to_string(o.schedule));
    const std::initializer_list<std::pair<const char*, float>> hyper = {{"lr", o.lr},
                                                                        {"min_lr", o.min_lr},
                                                                        {"beta1", o.beta1},
                                                                        {"beta2", o.beta2},
                                                                        {"eps", o.eps},
                                                                        {"weight_decay", o.weight_decay},
                                                                        {"grad_clip", o.grad_clip}};
    for (const auto& [key, value] : hyper) g.set_attr(key, double(value));  // headlab's float32 values, exactly
    g.set_attr("warmup", o.warmup);
    g.set_attr("steps", o.steps);
    std::vector<int32_t> tokens, targets;
    for (const auto& micro : c.batches)
      for (const Batch& b : micro) {
        tokens.insert(tokens.end(), b.tokens.begin(), b.tokens.end());
        targets.insert(targets.end(), b.targets.begin(), b.targets.end());
      }
    g.write<int32_t>("tokens", tokens.data(), {S, A, B, T});
    g.write<int32_t>("targets", targets.data(), {S, A, B, T});
    const ParamTable table(c.cfg);
    for (const ParamInfo& info : table.params()) {
      if (info.alias) continue;  // a tied W_U: its gradient is W_E's
      h5::Shape shape{S};
      shape.insert(shape.end(), info.shape.begin(), info.shape.end());
      for (auto [what, steps] : {std::pair{"grads", &log.grads}, std::pair{"params", &log.params}}) {
        std::vector<float> per_step;
        for (const auto& arena : *steps)
          for (int64_t i = 0; i < info.numel(); ++i) per_step.push_back(arena[size_t(info.arena_offset(i))]);
        g.write<float>("headlab/" + std::string(what) + "/" + info.name, per_step.data(), shape);
      }
    }
    f.commit();
  }
  const std::string cmd =
      std::string(testing::kReferencePython) + " " HEADLAB_SOURCE_DIR "/tests/train/torch_train_reference.py " +
      shell_quote(dir / "run.h5") + " " + shell_quote(dir / "ref.h5") + " > " + shell_quote(dir / "ref.log") + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log_file(dir / "ref.log");
    std::stringstream text;
    text << log_file.rdbuf();
    throw std::runtime_error("the reference failed: " + cmd + "\n" + text.str());
  }
  Reference r{h5::File::open(dir / "ref.h5"), {}, {}, {}, {}, {}, {}};
  check_format(r.file, "headlab.train_reference_out", 1);
  r.lr = r.file.read<double>("lr", h5::Shape{S});
  r.lr_nanogpt = r.file.read<double>("lr_nanogpt", h5::Shape{S});
  r.loss = r.file.read<double>("train/loss", h5::Shape{S});
  r.grad_norm = r.file.read<double>("train/grad_norm", h5::Shape{S});
  r.clip_coef = r.file.read<double>("train/clip_coef", h5::Shape{S});
  r.replay_grad_norm = r.file.read<double>("replay/grad_norm", h5::Shape{S});
  return r;
}

// Weights after each step in arena order, [S][arena_size].
using Trajectory = std::vector<std::vector<double>>;

Trajectory to_trajectory(const std::vector<std::vector<float>>& steps) {
  Trajectory t;
  for (const auto& p : steps) t.emplace_back(p.begin(), p.end());
  return t;
}

// /<prefix><name> [S, *shape] for every parameter, in arena order.
Trajectory read_trajectory(const h5::File& f, const std::string& prefix, const ModelConfig& cfg, int64_t S) {
  const ParamTable table(cfg);
  Trajectory t(size_t(S), std::vector<double>(size_t(table.arena_size())));
  for (const ParamInfo& info : table.params()) {
    if (info.alias) continue;
    h5::Shape shape{S};
    shape.insert(shape.end(), info.shape.begin(), info.shape.end());
    const std::vector<double> steps = f.read<double>(prefix + info.name, shape);
    const int64_t n = info.numel();
    for (int64_t s = 0; s < S; ++s)
      for (int64_t i = 0; i < n; ++i) t[size_t(s)][size_t(info.arena_offset(i))] = steps[size_t(s * n + i)];
  }
  return t;
}

// How far apart two trajectories may be: at each step, every element of a parameter tensor within
//   rel_moved × the tensor's largest move from the start (in the expected trajectory)
// + rel_size × the tensor's largest expected weight (float32 storage)
// + for AdamW, what Adam makes of float32 gradient rounding. Adam divides each gradient by its own
//   running size, so an element whose exact gradient is about 0 (b_K of a model without rotary:
//   softmax ignores a shift shared by every key) moves by lr × noise / (noise + eps) in float32,
//   where float64 moves it by nothing; PyTorch float32 does the same. Allowed: the sum over the
//   steps so far of lr_t ν_t / (|g_t| + ν_t + eps), g_t the element's clipped gradient in the
//   reference and ν_t = noise_rel × the model's largest |g_t|: about lr for a gradient of 0,
//   nothing for one well above float32 rounding.
struct Tolerance {
  double rel_moved, rel_size, noise_rel, adam_eps;
};

// Returns the worst error / allowed ratio. `grads`: the expected trajectory's gradients (for
// noise_rel > 0).
double expect_trajectories_match(const std::string& what, const ModelConfig& cfg, const std::vector<float>& init,
                                 const Trajectory& got, const Trajectory& want, const std::vector<double>& lrs,
                                 const Tolerance& tol, const Trajectory* grads = nullptr) {
  const ParamTable table(cfg);
  std::vector<double> noise_allowed(size_t(table.arena_size()), 0.0);  // accumulated over the steps
  double worst = 0;
  for (size_t s = 0; s < want.size(); ++s) {
    if (tol.noise_rel > 0) {
      double largest = 0;
      for (double g : (*grads)[s]) largest = std::max(largest, std::fabs(g));
      const double nu = tol.noise_rel * largest;
      for (size_t a = 0; a < noise_allowed.size(); ++a)
        noise_allowed[a] += lrs[s] * nu / (std::fabs((*grads)[s][a]) + nu + tol.adam_eps);
    }
    for (const ParamInfo& info : table.params()) {
      if (info.alias) continue;
      double size = 0, moved = 0;
      for (int64_t i = 0; i < info.numel(); ++i) {
        const size_t a = size_t(info.arena_offset(i));
        size = std::max(size, std::fabs(want[s][a]));
        moved = std::max(moved, std::fabs(want[s][a] - double(init[a])));
      }
      double ratio = 0;
      int64_t at = 0;
      for (int64_t i = 0; i < info.numel(); ++i) {
        const size_t a = size_t(info.arena_offset(i));
        const double allowed = tol.rel_moved * moved + tol.rel_size * size + noise_allowed[a] + 1e-15;
        const double r = std::fabs(got[s][a] - want[s][a]) / allowed;
        if (r > ratio) ratio = r, at = i;
      }
      worst = std::max(worst, ratio);
      const size_t a = size_t(info.arena_offset(at));
      EXPECT_LE(ratio, 1.0) << what << ": " << info.name << " element " << at << " after step " << s + 1 << ": "
                            << got[s][a] << " vs " << want[s][a] << " (tensor moved " << moved << ", size " << size
                            << ", noise allowance " << noise_allowed[a] << ")";
    }
  }
  return worst;
}

struct Outcome {
  int clipped_steps = 0;  // the reference's clip coefficient < 1
  std::vector<float> losses;
  Trajectory weights;                     // headlab's
  Trajectory reference, reference_grads;  // torch's float64 run
};

// The optimizer alone, on the same gradients: float32 against float64 rounding, nothing more.
constexpr Tolerance kReplay{1e-5, 1e-6, 0.0, 0.0};

// headlab's run and torch's for case c, compared step by step.
Outcome expect_matches_reference(const Case& c, const Tolerance& train_tol) {
  Outcome out;
  const std::vector<float> init = initial_weights(c.cfg);
  const StepLog log = train_headlab(c.cfg, init, c.options, c.batches);
  const int64_t S = int64_t(c.batches.size());
  if (int64_t(log.records.size()) != S) {
    ADD_FAILURE() << c.name << ": " << log.records.size() << " steps recorded, expected " << S;
    return out;
  }
  testing::TempDir dir("torchref_" + c.name);
  const Reference ref = run_reference(c, init, log, dir);

  for (int64_t s = 0; s < S; ++s) {
    const StepRecord& r = log.records[size_t(s)];
    SCOPED_TRACE(c.name + " step " + std::to_string(s + 1));
    EXPECT_NEAR(r.lr, ref.lr[size_t(s)], 1e-7 * ref.lr[size_t(s)]);  // float32 of the formula
    if (c.options.schedule == LrShape::cosine) {
      EXPECT_NEAR(r.lr, ref.lr_nanogpt[size_t(s)], 1e-7 * ref.lr[size_t(s)]);
    }
    EXPECT_NEAR(r.grad_norm, ref.replay_grad_norm[size_t(s)], 1e-12 * ref.replay_grad_norm[size_t(s)]);
    EXPECT_NEAR(r.loss, ref.loss[size_t(s)], 2e-6 * ref.loss[size_t(s)]);
    EXPECT_NEAR(r.grad_norm, ref.grad_norm[size_t(s)], 1e-4 * ref.grad_norm[size_t(s)]);
    const double coef = clip_factor(r.grad_norm, c.options.grad_clip);
    EXPECT_NEAR(coef, ref.clip_coef[size_t(s)], 1e-4 * ref.clip_coef[size_t(s)]);
    out.losses.push_back(r.loss);
  }
  out.weights = to_trajectory(log.params);
  out.reference = read_trajectory(ref.file, "train/params/", c.cfg, S);
  out.reference_grads = read_trajectory(ref.file, "train/grads/", c.cfg, S);
  const double worst_replay =
      expect_trajectories_match(c.name + " replay", c.cfg, init, out.weights,
                                read_trajectory(ref.file, "replay/params/", c.cfg, S), ref.lr, kReplay);
  const double worst_train = expect_trajectories_match(c.name + " train", c.cfg, init, out.weights, out.reference,
                                                       ref.lr, train_tol, &out.reference_grads);
  std::printf("[ %s ] worst error / allowed: replay %.3g, train %.3g\n", c.name.c_str(), worst_replay, worst_train);
  out.clipped_steps = int(std::count_if(ref.clip_coef.begin(), ref.clip_coef.end(), [](double k) { return k < 1.0; }));
  return out;
}

class TrainTorchReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = testing::python_reference_missing();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

// Whole runs: float32 forward, backward and update against float64 (see Tolerance).
Tolerance adamw_train_tolerance(const TrainOptions& o) { return {3e-4, 1e-6, 1e-7, double(o.eps)}; }
constexpr Tolerance kSgdTrain{1e-4, 1e-6, 0.0, 0.0};  // SGD is linear in the gradient: no amplification

// AdamW with decoupled weight decay 0.1 on the matrices only, linear warmup over 2 steps then a
// cosine to min_lr at the last step, and a clip that cuts every step's gradient.
TEST_F(TrainTorchReferenceTest, AdamWWarmupCosineClipMatchesPyTorch) {
  Case c{"adamw", small_model(), adamw_options(6), {}};
  c.options.grad_clip = 0.5f;
  c.batches = random_batches(6, 1, 4, c.cfg.n_ctx, c.cfg.d_vocab, 11, /*ignore_some=*/true);
  EXPECT_EQ(expect_matches_reference(c, adamw_train_tolerance(c.options)).clipped_steps, 6);
}

// Two micro-batches of 2 rows per step against one of 4 rows (the same rows): each matches torch,
// torch's two runs agree, and so do headlab's. Tied embeddings, rotary, RMSNorm; constant LR.
TEST_F(TrainTorchReferenceTest, GradAccumTwoEqualsTwiceTheBatch) {
  ModelConfig cfg = small_model();
  cfg.tie_embeddings = true;
  cfg.positional_embedding_type = PositionalEmbedding::rotary;
  cfg.normalization_type = Normalization::RMS;
  Case accum{"accum2", cfg, adamw_options(5), {}};
  accum.options.grad_accum = 2;
  accum.options.schedule = LrShape::constant;
  accum.options.batch_size = 2;
  accum.batches = random_batches(5, 2, 2, cfg.n_ctx, cfg.d_vocab, 12, /*ignore_some=*/true);
  Case big = accum;
  big.name = "batch2x";
  big.options.grad_accum = 1;
  big.options.batch_size = 4;
  big.batches = merged(accum.batches);
  const Outcome a = expect_matches_reference(accum, adamw_train_tolerance(accum.options));
  const Outcome b = expect_matches_reference(big, adamw_train_tolerance(big.options));
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t s = 0; s < a.losses.size(); ++s) EXPECT_NEAR(a.losses[s], b.losses[s], 1e-6 * b.losses[s]) << s;
  const std::vector<double> lrs(a.losses.size(), double(accum.options.lr));
  const std::vector<float> init = initial_weights(cfg);
  expect_trajectories_match("torch accum2 vs batch2x", cfg, init, a.reference, b.reference, lrs,
                            {1e-9, 1e-12, 0.0, 0.0});
  expect_trajectories_match("headlab accum2 vs batch2x", cfg, init, a.weights, b.weights, lrs,
                            adamw_train_tolerance(big.options), &b.reference_grads);
}

// SGD (no momentum) with weight decay 0.1 as torch.optim.SGD applies it, p -= lr (g + wd p), on
// the matrices only; warmup, cosine and a clip that cuts some steps.
TEST_F(TrainTorchReferenceTest, SgdWithWeightDecayMatchesPyTorch) {
  ModelConfig cfg = small_model();
  cfg.attn_only = true;
  Case c{"sgd", cfg, adamw_options(6), {}};
  c.options.optimizer = OptimizerKind::sgd;
  c.options.lr = 0.5f;
  c.options.min_lr = 0.05f;
  c.options.grad_clip = 1.0f;
  c.batches = random_batches(6, 1, 4, cfg.n_ctx, cfg.d_vocab, 13, /*ignore_some=*/true);
  EXPECT_GT(expect_matches_reference(c, kSgdTrain).clipped_steps, 0);
}

}  // namespace
}  // namespace headlab
