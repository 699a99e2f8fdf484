// The foundation's end-to-end check: a 2-layer attention-only model trained on builtin:repeat
// learns to predict the repeated half (which takes an induction circuit), and not the random one.
#include <gtest/gtest.h>

#include <chrono>

#include "train/batcher.h"
#include "train/trainer.h"

namespace headlab {
namespace {

TEST(TrainRepeatTaskTest, TwoLayerAttentionOnlyModelLearnsTheRepeatedHalf) {
  const int64_t half = 8;
  TrainOptions o;
  o.data = kBuiltinRepeat;
  o.repeat_half_len = half;  // every row (BOS, r_1..r_8, r_1..r_8)
  ModelConfig& c = o.model.config;
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = 4;
  c.d_head = 16;
  c.attn_only = true;
  c.d_vocab = 64;
  c.n_ctx = int(2 * half);
  o.model.any_given = o.model.n_ctx_given = o.model.d_vocab_given = true;
  o.steps = 200;
  o.batch_size = 32;
  o.lr = 2e-3f;
  o.seed = 7;
  o.threads = 1;  // ctest runs tests side by side: one thread each avoids OpenMP barrier waits on a shared core
  o.eval_batches = 1;

  const auto start = std::chrono::steady_clock::now();
  TrainSession s = open_session(o);
  const TrainResult r = Trainer(s).run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.finished);

  // Per-position losses on sequences the model never saw (another seed).
  auto batches = make_repeat_batcher(64, half, /*min_half_len=*/half, c.d_vocab, 12345);
  const Batch& b = batches->next();
  s.model->forward_loss(b.tokens.data(), b.targets.data(), b.B, b.T);
  const std::vector<float> losses = s.model->losses_to_host();  // [B, T]
  double first = 0, second = 0;
  for (int i = 0; i < b.B; ++i)
    for (int64_t t = 0; t < b.T; ++t) (t < half ? first : second) += losses[size_t(i * b.T + t)];
  first /= double(b.B * half);   // predicting r_1..r_n: chance, ln(63) = 4.14
  second /= double(b.B * half);  // predicting the repeat of r_1..r_n
  std::printf("repeat task: %lld steps in %.1f s; loss %.4f -> %.4f; first half %.4f, second half %.4f (%.1f%%)\n",
              (long long)o.steps, seconds, r.losses.front(), r.losses.back(), first, second, 100 * second / first);
  EXPECT_GT(first, 3.5);
  EXPECT_LT(second, 0.1 * first);
}

}  // namespace
}  // namespace headlab
