// IOI classes on a hand-built one-layer model whose heads' roles are known by construction: at END,
// L0H0 attends to IO and copies it to the logits (a name mover), L0H1 attends to S2 and writes
// against it (an S-suppression head), L0H2 attends to BOS and writes nothing. Which of them path
// patching credits depends on what the corrupted rows change: replacing S2 (IOI's ABC) moves only
// L0H1's output, replacing IO moves only L0H0's.
#include <gtest/gtest.h>

#include <cmath>

#include "circuits/ioi_classes.h"
#include "model/params.h"
#include "tests/circuits/circuits_test_util.h"

namespace headlab {
namespace {

// Rows: BOS(0) IO(1) S1(2) filler(3) S2(4) END(5); names are tokens 2..V-1, filler and END token 1.
constexpr int kV = 12, kC = 8, kBos = 0, kIo = 1, kS1 = 2, kS2 = 4, kEnd = 5, kT = 6;

ModelConfig ioi_config() {
  ModelConfig c;
  c.n_layers = 1;
  c.n_heads = 3;
  c.d_model = kV + kC;  // one-hot token [0, V), one-hot position [V, V + C)
  c.d_head = kV;
  c.d_vocab = kV;
  c.n_ctx = kC;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  return c;
}

std::vector<float> ioi_params(const ModelConfig& c, const ParamTable& table) {
  std::vector<float> p(size_t(table.arena_size()), 0.0f);
  auto at = [&](const std::string& name, std::vector<int64_t> idx) -> float& {
    const ParamInfo* info = table.find(name);
    int64_t flat = 0;
    for (size_t i = 0; i < idx.size(); ++i) flat = flat * info->shape[i] + idx[i];
    return p[size_t(info->arena_offset(flat))];
  };
  for (int t = 0; t < kV; ++t) at("embed.W_E", {t, t}) = 1.0f;
  for (int q = 0; q < kC; ++q) at("pos_embed.W_pos", {q, kV + q}) = 1.0f;
  const float sharp = 30.0f;
  const int target[3] = {kIo, kS2, kBos};
  const float sign[3] = {1.0f, -1.0f, 0.0f};
  for (int h = 0; h < 3; ++h) {
    // Query: position END; key: the head's target position.
    at("blocks.0.attn.W_Q", {h, kV + kEnd, 0}) = sharp;
    at("blocks.0.attn.W_K", {h, kV + target[h], 0}) = 1.0f;
    for (int t = 0; t < kV; ++t) {
      at("blocks.0.attn.W_V", {h, t, t}) = 1.0f;
      at("blocks.0.attn.W_O", {h, t, t}) = sign[h];
    }
  }
  for (int t = 0; t < kV; ++t) at("unembed.W_U", {t, t}) = 4.0f;
  (void)c;
  return p;
}

// Rows with three distinct names; `corrupt` is the position whose name the corrupted twin replaces.
TokenDataset ioi_rows(int64_t n, int corrupt) {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = kV;
  ds.n_seq = n;
  ds.seq_len = kT;
  for (int64_t r = 0; r < n; ++r) {
    const int32_t io = int32_t(2 + r % 10), s = int32_t(2 + (r + 3) % 10), other = int32_t(2 + (r + 6) % 10);
    const std::vector<int32_t> row = {0, io, s, 1, s, 1};
    std::vector<int32_t> twin = row;
    twin[size_t(corrupt)] = other;
    ds.tokens.insert(ds.tokens.end(), row.begin(), row.end());
    ds.corrupted.insert(ds.corrupted.end(), twin.begin(), twin.end());
    ds.answer.push_back(io);
    ds.wrong_answer.push_back(s);
    ds.answer_pos.push_back(kEnd);
  }
  return ds;
}

IoiPositions positions(int64_t n) {
  IoiPositions p;
  p.io.assign(size_t(n), kIo);
  p.s1.assign(size_t(n), kS1);
  p.s2.assign(size_t(n), kS2);
  p.end.assign(size_t(n), kEnd);
  return p;
}

TEST(CircuitsIoiClassesTest, HandBuiltNameMoverAndSSuppressionHead) {
  const ModelConfig c = ioi_config();
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(ioi_params(c, model.table()));
  const std::vector<HeadRef> heads = {{0, 0}, {0, 1}, {0, 2}};
  IoiClassOptions opt;
  opt.batch_size = 4;
  // ABC: S2 replaced. Only L0H1 reads S2: it alone carries the difference.
  const TaskData abc = testing::task_of(ioi_rows(10, kS2));
  const IoiClasses a = classify_ioi_heads(model, abc, positions(10), heads, opt);
  ASSERT_EQ(a.heads.size(), 3u);
  for (const IoiHead& h : a.heads) std::printf("ABC:  %s\n", describe(h).c_str());
  EXPECT_EQ(a.heads[1].ioi_class, "S-suppression");
  EXPECT_NEAR(a.heads[1].direct_effect, -1.0, 1e-3);
  EXPECT_NEAR(a.heads[1].end_to_s, 1.0, 1e-3);
  EXPECT_EQ(a.heads[0].ioi_class, "other");
  EXPECT_NEAR(a.heads[0].direct_effect, 0.0, 1e-3);
  EXPECT_NEAR(a.heads[0].end_to_io, 1.0, 1e-3);
  EXPECT_EQ(a.heads[2].ioi_class, "other");
  // IO replaced: only L0H0 reads IO.
  const TaskData io = testing::task_of(ioi_rows(10, kIo));
  const IoiClasses b = classify_ioi_heads(model, io, positions(10), heads, opt);
  for (const IoiHead& h : b.heads) std::printf("IO:   %s\n", describe(h).c_str());
  EXPECT_EQ(b.heads[0].ioi_class, "name mover");
  EXPECT_NEAR(b.heads[0].direct_effect, -1.0, 1e-3);
  EXPECT_EQ(b.heads[1].ioi_class, "other");
  EXPECT_EQ(b.heads[2].ioi_class, "other");
  // A looser threshold cannot promote a head that carries nothing; no heads is an input error.
  opt.threshold = 0.01;
  EXPECT_EQ(classify_ioi_heads(model, abc, positions(10), heads, opt).heads[2].ioi_class, "other");
  EXPECT_THROW(classify_ioi_heads(model, abc, positions(10), {}, opt), InputError);
}

TEST(CircuitsIoiClassesTest, RolePositionsFromTheDatasetLabels) {
  TokenDataset ds = ioi_rows(2, kS2);
  ds.labels["role"] = {0, 1, 2, 0, 3, 4, 0, 1, 2, 0, 3, 4};
  DatasetAnnotations ann;
  ann.label_names["role"] = {"none", "IO", "S1", "S2", "END"};
  const IoiPositions p = ioi_positions(ds, ann, "rows", 2);
  EXPECT_EQ(p.io, (std::vector<int32_t>{kIo, kIo}));
  EXPECT_EQ(p.s2, (std::vector<int32_t>{kS2, kS2}));
  EXPECT_EQ(p.end, (std::vector<int32_t>{kEnd, kEnd}));
  EXPECT_THROW(ioi_positions(ds, DatasetAnnotations(), "rows", 2), InputError);
  ds.labels["role"][4] = 0;  // row 0 without S2
  EXPECT_THROW(ioi_positions(ds, ann, "rows", 2), InputError);
}

}  // namespace
}  // namespace headlab
