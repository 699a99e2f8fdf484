// SAELens' metrics with the reconstruction spliced into the model: the spliced run equals the model
// run with the activation replaced by hand (through forward_from_layer, another path through the
// model); a perfect reconstruction scores 1; the inference form equals the training form; the
// file round-trips and refuses damage.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "probes/sae_eval.h"
#include "probes/sae_file.h"
#include "probes/sae_trainer.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

ModelConfig tiny_attn_only() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 16;
  c.n_heads = 2;
  c.d_head = 4;
  c.d_mlp = 16;
  c.n_ctx = 12;
  c.d_vocab = 20;
  c.attn_only = true;
  c.validate();
  return c;
}

TokenDataset random_sequences(int64_t n_seq, int64_t T, int64_t V, uint64_t seed) {
  TokenDataset ds;
  ds.kind = DatasetKind::sequences;
  ds.d_vocab = V;
  ds.n_seq = n_seq;
  ds.seq_len = T;
  std::mt19937_64 rng(seed);
  ds.tokens.resize(size_t(n_seq * T));
  for (auto& t : ds.tokens) t = int32_t(rng() % uint64_t(V));
  return ds;
}

// A few training steps on the model's rows at `hook`, for an SAE that reconstructs imperfectly.
SaeTrainState trained_sae(Transformer& model, const TokenDataset& ds, const std::string& hook, SaeArch arch) {
  const HookPoint p = parse_hook_name(hook, model.config());
  ModelRows rows(model, ds, p, 0, 8, 1);
  SaeConfig cfg;
  cfg.arch = arch;
  cfg.d_in = rows.width();
  cfg.d_sae = 4 * cfg.d_in;
  cfg.k = 3;
  cfg.batch_size = 32;
  cfg.steps = 20;
  cfg.lr = 1e-2;
  cfg.l1_coefficient = 0.1;
  cfg.hook_name = hook;
  if (p.site == HookSite::attn_z) {
    cfg.n_heads = model.config().n_heads;
    cfg.d_head = model.config().d_head;
  }
  SaeTrainState st = new_sae_state(cfg, rows, 64);
  SaeTrainer trainer(st, model.backend());
  trainer.run(rows, nullptr);
  return st;
}

double cross_entropy_by_hand(const std::vector<float>& logits, const int32_t* tokens, int B, int T, int V) {
  double sum = 0;
  int64_t n = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t + 1 < T; ++t) {
      const float* l = logits.data() + (int64_t(b) * T + t) * V;
      double mx = l[0];
      for (int v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
      double s = 0;
      for (int v = 0; v < V; ++v) s += std::exp(double(l[v]) - mx);
      sum += mx + std::log(s) - l[tokens[b * T + t + 1]];
      ++n;
    }
  return sum / double(n);
}

TEST(SaeEvalTest, SplicedReconstructionEqualsReplacingByHand) {
  auto be = make_cpu_backend(1);
  const ModelConfig cfg = tiny_attn_only();
  Transformer model(cfg, *be);
  model.init_gpt2(4);
  const TokenDataset ds = random_sequences(24, 10, cfg.d_vocab, 5);
  for (SaeArch arch : {SaeArch::topk, SaeArch::relu}) {
    const Sae sae = inference_sae(trained_sae(model, ds, "blocks.1.hook_resid_pre", arch));
    const SequenceView seqs = sequence_view(ds, cfg, 0, "data");
    const SaeMetrics m = evaluate_sae(sae, model, seqs, 8, 8);
    // By hand: the clean run's resid_pre, reconstructed, fed to blocks 1.. with forward_from_layer.
    const int B = 8, T = 10;
    const HookPoint p = parse_hook_name(sae.hook_name, cfg);
    std::vector<float> x = hook_rows(model, ds.tokens.data(), B, T, p);
    SparseRows acts;
    sae_encode(sae, *be, x.data(), int64_t(B) * T, acts);
    std::vector<float> x_hat(x.size());
    sae_decode(sae, acts, x_hat.data());
    model.forward(ds.tokens.data(), B, T);
    model.forward_from_layer(1, x_hat.data());
    const double ce = cross_entropy_by_hand(model.logits_to_host(), ds.tokens.data(), B, T, cfg.d_vocab);
    EXPECT_NEAR(m.ce_sae, ce, 1e-5) << to_string(arch);
    EXPECT_LT(m.ce_loss_score, 1.0);
    EXPECT_NE(m.ce_sae, m.ce_clean);
    EXPECT_EQ(m.tokens, int64_t(B) * T);
    EXPECT_NEAR(m.l0, double(acts.nnz()) / double(B * T), 1e-12);
  }
}

// relu(x) − relu(−x) = x: an SAE with W_enc = [I, −I], W_dec = [I; −I] reconstructs exactly.
Sae identity_sae(int64_t d, const std::string& hook) {
  Sae s;
  s.architecture = "standard";
  s.trained_as = SaeArch::relu;
  s.d_in = d;
  s.d_sae = 2 * d;
  s.W_enc.assign(size_t(d * 2 * d), 0.0f);
  s.W_dec.assign(size_t(2 * d * d), 0.0f);
  for (int64_t j = 0; j < d; ++j) {
    s.W_enc[size_t(j * 2 * d + j)] = 1;
    s.W_enc[size_t(j * 2 * d + d + j)] = -1;
    s.W_dec[size_t(j * d + j)] = 1;
    s.W_dec[size_t((d + j) * d + j)] = -1;
  }
  s.b_enc.assign(size_t(2 * d), 0.0f);
  s.b_dec.assign(size_t(d), 0.0f);
  s.hook_name = hook;
  return s;
}

TEST(SaeEvalTest, PerfectReconstructionScoresOne) {
  auto be = make_cpu_backend(1);
  const ModelConfig cfg = tiny_attn_only();
  Transformer model(cfg, *be);
  model.init_gpt2(6);
  std::vector<float> w = model.params_to_host();
  for (float& v : w) v *= 8.0f;  // weights large enough that zero-ablating a hook matters
  model.params_from_host(w);
  const TokenDataset ds = random_sequences(16, 10, cfg.d_vocab, 7);
  for (const std::string hook : {"blocks.1.attn.hook_z", "blocks.0.hook_resid_post"}) {
    const int64_t d = hook_row_width(parse_hook_name(hook, cfg), cfg);
    const SaeMetrics m = evaluate_sae(identity_sae(d, hook), model, sequence_view(ds, cfg, 0, "data"), 0, 5);
    EXPECT_NEAR(m.ce_loss_score, 1.0, 1e-6) << hook;
    EXPECT_NEAR(m.kl_div_score, 1.0, 1e-6) << hook;
    EXPECT_NEAR(m.explained_variance, 1.0, 1e-6) << hook;
    EXPECT_GT(std::fabs(m.ce_zero - m.ce_clean), 1e-3) << hook << ": zero ablation should change the loss";
    EXPECT_EQ(m.sequences, 16);
  }
}

TEST(SaeEvalTest, InferenceFormEqualsTrainingForm) {
  // The folded weights (scale, decoder norms, batchtopk's threshold) give the training forward's
  // reconstruction on raw rows, for each architecture.
  auto be = make_cpu_backend(1);
  const ModelConfig cfg = tiny_attn_only();
  Transformer model(cfg, *be);
  model.init_gpt2(8);
  const TokenDataset ds = random_sequences(24, 10, cfg.d_vocab, 9);
  for (SaeArch arch : {SaeArch::relu, SaeArch::topk, SaeArch::jumprelu}) {
    SaeTrainState st = trained_sae(model, ds, "blocks.0.attn.hook_z", arch);
    const Sae sae = inference_sae(st);
    const HookPoint p = parse_hook_name(sae.hook_name, cfg);
    std::vector<float> x = hook_rows(model, ds.tokens.data(), 4, 10, p);
    const int64_t N = 40;
    SparseRows acts;
    sae_encode(sae, *be, x.data(), N, acts);
    std::vector<float> x_hat(x.size());
    sae_decode(sae, acts, x_hat.data());
    // The training form on the scaled rows, unscaled after.
    std::vector<float> xs(x);
    for (float& v : xs) v *= float(st.scale);
    SaeConfig c = st.cfg;
    SaeWorkspace ws;
    std::vector<float> grads(st.params.size());
    SaeStepInput in;
    in.x = xs.data();
    in.B = N;
    sae_step_loss_and_grad(c, *be, st.params.data(), grads.data(), in, ws);
    double worst = 0, size = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      worst = std::max(worst, std::fabs(double(ws.x_hat[i]) / st.scale - x_hat[i]));
      size = std::max(size, std::fabs(double(x_hat[i])));
    }
    EXPECT_LE(worst, 1e-4 * size + 1e-6) << to_string(arch);
    EXPECT_GT(acts.nnz(), 0) << to_string(arch);
  }
}

TEST(SaeFileTest, RoundTripsAndResumesExactly) {
  testing::TempDir dir;
  auto be = make_cpu_backend(1);
  const ModelConfig cfg = tiny_attn_only();
  Transformer model(cfg, *be);
  model.init_gpt2(10);
  const TokenDataset ds = random_sequences(24, 10, cfg.d_vocab, 11);
  const HookPoint p = parse_hook_name("blocks.1.attn.hook_z", cfg);
  SaeConfig c;
  c.arch = SaeArch::batchtopk;
  c.d_in = 8;
  c.d_sae = 32;
  c.k = 2;
  c.batch_size = 16;
  c.steps = 12;
  c.lr = 1e-2;
  c.dead_feature_window = 2;
  c.hook_name = "blocks.1.attn.hook_z";
  c.n_heads = 2;
  c.d_head = 4;
  // Straight through 12 steps, and 5 steps + checkpoint + resume for 7: the same weights, bit for bit.
  ModelRows rows_a(model, ds, p, 0, 8, 3);
  SaeTrainState a = new_sae_state(c, rows_a, 64);
  SaeTrainer(a, *be).run(rows_a, nullptr);

  ModelRows rows_b(model, ds, p, 0, 8, 3);
  SaeTrainState b = new_sae_state(c, rows_b, 64);
  SaeTrainer tb(b, *be);
  tb.run(rows_b, [](const SaeProgress& pr) { return pr.step < 5; });
  const std::string ckpt = dir.path("ckpt.h5");
  write_sae_file(ckpt, inference_sae(b), &b);
  SaeTrainState r = read_sae_train_state(ckpt);
  EXPECT_EQ(r.step, 5);
  ModelRows rows_r(model, ds, p, 0, 8, 3);
  rows_r.restore(r.source_state, "state");
  SaeTrainer(r, *be).run(rows_r, nullptr);
  EXPECT_EQ(r.params, a.params);
  EXPECT_EQ(r.topk_threshold, a.topk_threshold);
  EXPECT_GT(a.topk_threshold, 0.0);

  const std::string path = dir.path("sae.h5");
  Sae s = inference_sae(a);
  s.model_hash = "0123456789abcdef";
  write_sae_file(path, s);
  const Sae back = read_sae_file(path);
  EXPECT_EQ(back.architecture, "jumprelu");  // BatchTopK is saved as JumpReLU, as SAELens does
  EXPECT_EQ(back.trained_as, SaeArch::batchtopk);
  EXPECT_EQ(back.W_enc, s.W_enc);
  EXPECT_EQ(back.W_dec, s.W_dec);
  EXPECT_EQ(back.threshold, s.threshold);
  EXPECT_EQ(back.n_heads, 2);
  EXPECT_EQ(back.model_hash, s.model_hash);
  testing::expect_input_error([&] { read_sae_train_state(path); }, {"not a checkpoint"});

  // Damage: a misshapen decoder, a NaN weight, a wrong format.
  {
    h5::File f = h5::File::open(path, h5::Access::read_write);
    std::vector<float> w(size_t(8 * 31), 0.0f);
    f.write<float>("W_dec", w.data(), {31, 8});
    f.close();
  }
  testing::expect_input_error([&] { read_sae_file(path); }, {"W_dec"});
  write_sae_file(path, s);
  {
    h5::File f = h5::File::open(path, h5::Access::read_write);
    std::vector<float> w = s.b_enc;
    w[3] = std::nanf("");
    f.write<float>("b_enc", w.data(), {32});
    f.close();
  }
  testing::expect_input_error([&] { read_sae_file(path); }, {"b_enc", "finite"});
  {
    h5::File f = h5::File::open(path, h5::Access::read_write);
    f.set_attr("format", "headlab.checkpoint");
    f.close();
  }
  testing::expect_input_error([&] { read_sae_file(path); }, {"format"});
}

}  // namespace
}  // namespace headlab
