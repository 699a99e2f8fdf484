// IOI classes on hand-built models whose heads' roles are known by construction. One layer: at END,
// L0H0 attends to IO and copies it to the logits (a name mover), L0H1 attends to S2 and writes
// against it (an S-suppression head), L0H2 attends to BOS and writes nothing. Which of them path
// patching credits depends on what the corrupted rows change: replacing S2 (IOI's ABC) moves only
// L0H1's output, replacing IO moves only L0H0's. Three layers: Wang et al.'s duplicate-token ->
// S-inhibition -> name mover chain.
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

// Wang et al.'s circuit by hand, three attention-only layers of one head, rows as above (names are
// tokens 2..V-1). Residual: token [0, V), position [V, V + C), a duplicate flag F, an inhibition
// block [F + 1, F + 1 + V). d_head coordinates: token match [0, V), position [V, V + C), "any name"
// kBase, and kGen.
//   L0H0 duplicate token: a name attends to an earlier copy of itself (not itself: the position
//        term), else to BOS; attending to a name sets the flag. Set at S2 only in clean rows.
//   L1H0 S-inhibition: END attends to the flagged position (else BOS) and writes that name into
//        the inhibition block.
//   L2H0 name mover: END attends to every name except the one in the inhibition block (its query),
//        and copies it to the logits.
// With S2 corrupted no flag is set, no name is inhibited, and the name mover averages the three.
constexpr int kF = kV + kC, kInh = kF + 1, kBase = kV + kC, kGen = kV + kC + 1;

ModelConfig wang_config() {
  ModelConfig c;
  c.n_layers = 3;
  c.n_heads = 1;
  c.d_model = 2 * kV + kC + 1;
  c.d_head = kV + kC + 2;
  c.d_vocab = kV;
  c.n_ctx = kC;
  c.attn_only = true;
  c.normalization_type = Normalization::none;
  c.validate();
  return c;
}

std::vector<float> wang_params(const ParamTable& table) {
  std::vector<float> p(size_t(table.arena_size()), 0.0f);
  auto at = [&](const std::string& name, std::vector<int64_t> idx) -> float& {
    const ParamInfo* info = table.find(name);
    int64_t flat = 0;
    for (size_t i = 0; i < idx.size(); ++i) flat = flat * info->shape[i] + idx[i];
    return p[size_t(info->arena_offset(flat))];
  };
  auto w = [&](int layer, const char* m, int row, int col) -> float& {
    return at("blocks." + std::to_string(layer) + ".attn." + m, {0, row, col});
  };
  for (int t = 0; t < kV; ++t) at("embed.W_E", {t, t}) = 1.0f;
  for (int q = 0; q < kC; ++q) at("pos_embed.W_pos", {q, kV + q}) = 1.0f;
  for (int t = 0; t < kV; ++t) at("unembed.W_U", {t, t}) = 4.0f;
  const float sharp = 30.0f;
  for (int pos = 0; pos < kC; ++pos) {  // L0: a position never matches itself
    w(0, "W_Q", kV + pos, kV + pos) = sharp;
    w(0, "W_K", kV + pos, kV + pos) = -2.0f;
  }
  w(0, "W_K", kBos, kBase) = 0.5f;  // BOS: the fallback of a name without an earlier copy
  w(1, "W_K", kBos, kGen) = 0.5f;   // and of END without a flagged position
  w(1, "W_Q", kV + kEnd, kGen) = sharp;
  w(1, "W_K", kF, kGen) = 1.0f;
  w(2, "W_Q", kV + kEnd, kBase) = sharp;
  for (int t = 2; t < kV; ++t) {
    w(0, "W_Q", t, t) = sharp;
    w(0, "W_Q", t, kBase) = sharp;
    w(0, "W_K", t, t) = 1.0f;
    w(0, "W_V", t, kGen) = 1.0f;
    w(1, "W_V", t, t) = 1.0f;
    w(1, "W_O", t, kInh + t) = 1.0f;
    w(2, "W_Q", kInh + t, t) = -2.0f * sharp;
    w(2, "W_K", t, kBase) = 1.0f;
    w(2, "W_K", t, t) = 1.0f;
    w(2, "W_V", t, t) = 1.0f;
    w(2, "W_O", t, t) = 1.0f;
  }
  w(0, "W_O", kGen, kF) = 1.0f;
  return p;
}

TEST(CircuitsIoiClassesTest, HandBuiltWangCircuitDuplicateTokenSInhibitionNameMover) {
  const ModelConfig c = wang_config();
  auto be = make_cpu_backend(1);
  Transformer model(c, *be);
  model.params_from_host(wang_params(model.table()));
  const TaskData abc = testing::task_of(ioi_rows(10, kS2));
  IoiClassOptions opt;
  opt.batch_size = 4;
  const IoiClasses r = classify_ioi_heads(model, abc, positions(10), {{0, 0}, {1, 0}, {2, 0}}, opt);
  for (const IoiHead& h : r.heads) std::printf("%s\n", describe(h).c_str());
  ASSERT_EQ(r.heads.size(), 3u);
  // Patching a link of the chain leaves the name mover averaging IO, S1 and S2 (S twice): the
  // logit difference falls below the corrupted run's, an effect near -4/3.
  EXPECT_EQ(r.heads[0].ioi_class, "duplicate token");
  EXPECT_LT(r.heads[0].via_s_inhibition, -0.9);
  EXPECT_GT(r.heads[0].s2_to_s1, 0.9);
  EXPECT_EQ(r.heads[1].ioi_class, "S-inhibition");
  EXPECT_LT(r.heads[1].via_name_movers, -0.9);
  EXPECT_NEAR(r.heads[1].direct_effect, 0.0, 1e-3);
  EXPECT_GT(r.heads[1].end_to_s, 0.7);
  EXPECT_EQ(r.heads[2].ioi_class, "name mover");
  EXPECT_NEAR(r.heads[2].direct_effect, -1.0, 1e-2);
  EXPECT_GT(r.heads[2].end_to_io, 0.9);
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
