// The stages of the backward (what a data-parallel trainer may start summing before the backward
// ends): they tile the arena, and each stage's gradients, read when backward announces it, are
// already the final ones, bit for bit, in every model variant.
#include <gtest/gtest.h>

#include <vector>

#include "model/backend.h"
#include "model/transformer.h"
#include "tests/model/model_test_util.h"

namespace headlab {
namespace {

class BackwardStagesTest : public ::testing::TestWithParam<testing::Variant> {};

TEST_P(BackwardStagesTest, StagesTileTheArenaAndAreFinalWhenAnnounced) {
  const ModelConfig cfg = GetParam().cfg;
  auto backend = make_cpu_backend(1);
  Transformer model(cfg, *backend);
  model.init_gpt2(5);
  const std::vector<ArenaRange> stages = backward_stages(model.table());
  ASSERT_EQ(stages.size(), size_t(cfg.n_layers + 2));
  // Last part of the arena first, each stage right below the previous one, down to offset 0.
  int64_t top = model.table().arena_size();
  for (const ArenaRange& s : stages) {
    EXPECT_GT(s.size, 0);
    EXPECT_EQ(s.offset + s.size, top);
    top = s.offset;
  }
  EXPECT_EQ(top, 0);
  // Stage 1 is the last block: it starts at the last block's first tensor.
  EXPECT_EQ(stages[1].offset, model.table().offsets().blocks.back().ln1_w >= 0
                                  ? model.table().offsets().blocks.back().ln1_w
                                  : model.table().offsets().blocks.back().W_qkv);

  const int B = 2, T = 7;
  const auto tokens = testing::random_tokens(B * T, cfg.d_vocab, 3);
  const auto targets = testing::next_token_targets(tokens, B, T);
  // Two micro-batches, as gradient accumulation runs them; stages announced on the second only.
  model.zero_grads();
  model.forward_loss(tokens.data(), targets.data(), B, T);
  model.backward(nullptr, 0.5f);
  const auto tokens2 = testing::random_tokens(B * T, cfg.d_vocab, 4);
  const auto targets2 = testing::next_token_targets(tokens2, B, T);
  model.forward_loss(tokens2.data(), targets2.data(), B, T);
  std::vector<int> announced;
  std::vector<std::vector<float>> at_announce;
  model.backward(nullptr, 0.5f, [&](int stage) {
    announced.push_back(stage);
    at_announce.push_back(model.grads_to_host());
  });
  const std::vector<float> final_grads = model.grads_to_host();
  ASSERT_EQ(announced.size(), stages.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    EXPECT_EQ(announced[i], int(i));
    const ArenaRange& s = stages[size_t(announced[i])];
    int64_t differing = 0, zero = 0;
    for (int64_t j = s.offset; j < s.offset + s.size; ++j) {
      differing += at_announce[i][size_t(j)] != final_grads[size_t(j)];
      zero += final_grads[size_t(j)] == 0.0f;
    }
    EXPECT_EQ(differing, 0) << "stage " << i << ": gradients changed after it was announced final";
    EXPECT_LT(zero, s.size) << "stage " << i << " has no gradient at all";
  }
  // Before the last stage is announced, the embeddings still lack the embedding backward's part.
  int64_t unfinished = 0;
  const ArenaRange& embeddings = stages.back();
  for (int64_t j = embeddings.offset; j < embeddings.offset + embeddings.size; ++j)
    unfinished += at_announce[stages.size() - 2][size_t(j)] != final_grads[size_t(j)];
  EXPECT_GT(unfinished, 0) << "the test would not see a stage announced too early";
}

INSTANTIATE_TEST_SUITE_P(Variants, BackwardStagesTest, ::testing::ValuesIn(testing::all_variants()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace headlab
