// The activation store: 16-bit conversions, the writer/reader round trip, extraction equal to the
// model's own cache (in process and through headlab-model run), bounded memory, and bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "../command_runner.h"
#include "../model/model_test_util.h"
#include "../temp_dir.h"
#include "core/h5_file.h"
#include "data/token_dataset.h"
#include "model/backend.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "probes/activation_store.h"
#include "probes/extract.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
using testing::run_command_line;
using testing::TempDir;

const std::string kProbes = HEADLAB_BINARY_DIR "/bin/headlab-probes";

std::string model_tool() {
  for (const char* p : {HEADLAB_BINARY_DIR "/bin/headlab-model", HEADLAB_BINARY_DIR "/model/headlab-model"})
    if (fs::exists(p)) return p;
  return "";
}

float f32(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

TEST(ProbesHalfFloatTest, EveryHalfRoundTripsAndMidpointsRoundToEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float x = half_to_float(uint16_t(h));
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(x))));
      continue;
    }
    ASSERT_EQ(float_to_half(x), h) << h;
  }
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);          // rounds past the largest half: inf
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 1);  // the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0);  // the midpoint to 0 rounds to even (0)
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: to even (1); 1 + 3 * 2^-11 to 1 + 2^-9.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bfloat16(f32(0x3f808000u)), 0x3f80);  // halfway: to even
  EXPECT_EQ(float_to_bfloat16(f32(0x3f818000u)), 0x3f82);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
  for (uint32_t b = 0; b < 65536; ++b) {
    const float x = bfloat16_to_float(uint16_t(b));
    if (!std::isnan(x)) {
      ASSERT_EQ(float_to_bfloat16(x), b) << b;
    }
  }
}

StoreSpec synthetic_spec(int64_t n, StoredFloat dtype, int deflate) {
  StoreSpec s;
  s.hooks = {{"blocks.0.hook_resid_post", {5}}, {"blocks.0.attn.hook_z", {2, 3}}};
  s.labels = {"tag"};
  s.n_tokens = n;
  s.dtype = dtype;
  s.deflate = deflate;
  s.provenance.label_names_json = R"({"tag": ["A", "B", "C"]})";
  return s;
}

TEST(ProbesActivationStoreTest, WriterAndReaderRoundTripInEveryType) {
  TempDir dir;
  const int64_t n = 1000;
  std::vector<float> a(size_t(n * 5)), z(size_t(n * 6));
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37f * float(i)) * 3;
  for (size_t i = 0; i < z.size(); ++i) z[i] = std::cos(0.11f * float(i)) - 0.5f;
  std::vector<int32_t> tokens(n), positions(n), tag(n);
  std::vector<int64_t> rows(n), docs(n);
  for (int64_t i = 0; i < n; ++i) {
    tokens[size_t(i)] = int32_t(i % 17), positions[size_t(i)] = int32_t(i % 10), tag[size_t(i)] = int32_t(i % 3);
    rows[size_t(i)] = i / 10, docs[size_t(i)] = i / 100;
  }
  for (StoredFloat t : {StoredFloat::f32, StoredFloat::f16, StoredFloat::bf16}) {
    const std::string path = dir.path("s_" + to_string(t) + ".h5");
    {
      ActivationStoreWriter w(path, synthetic_spec(n, t, t == StoredFloat::f16 ? 4 : 0));
      for (int64_t first = 0; first < n; first += 77) {  // appends that straddle chunks
        const int64_t k = std::min<int64_t>(77, n - first);
        StoreTokenRows meta{tokens.data() + first,
                            positions.data() + first,
                            rows.data() + first,
                            docs.data() + first,
                            {tag.data() + first}};
        w.append(k, {a.data() + first * 5, z.data() + first * 6}, meta);
      }
      w.commit();
    }
    const ActivationStore s(path);
    EXPECT_EQ(s.n_tokens(), n);
    EXPECT_EQ(s.hooks(), (std::vector<std::string>{"blocks.0.hook_resid_post", "blocks.0.attn.hook_z"}));
    EXPECT_EQ(s.shape("blocks.0.attn.hook_z"), (h5::Shape{n, 2, 3}));
    EXPECT_EQ(s.stored_as("blocks.0.attn.hook_z"), t);
    std::vector<float> back(size_t(300 * 6));
    s.read_rows("blocks.0.attn.hook_z", 500, 300, back.data());
    const double tol = t == StoredFloat::f32 ? 0 : t == StoredFloat::f16 ? 1.0 / 1024 : 1.0 / 128;
    for (size_t i = 0; i < back.size(); ++i)
      ASSERT_LE(std::abs(back[i] - z[500 * 6 + i]), tol * std::max(1.0f, std::abs(z[500 * 6 + i]))) << i;
    EXPECT_EQ(s.tokens(), tokens);
    EXPECT_EQ(s.positions(), positions);
    EXPECT_EQ(s.rows(), rows);
    EXPECT_EQ(s.doc_ids(), docs);
    EXPECT_EQ(s.class_label("tag"), tag);
    EXPECT_EQ(s.class_names("tag"), (std::vector<std::string>{"A", "B", "C"}));
    EXPECT_EQ(s.label_kind("tag"), LabelKind::classes);
    testing::expect_input_error([&] { s.read_rows("blocks.1.hook_resid_post", 0, 1, back.data()); },
                                {"blocks.1.hook_resid_post", "has no activations", "blocks.0.attn.hook_z"});
    testing::expect_input_error([&] { s.class_label("pos_tag"); }, {"/labels/pos_tag", "no such label", "tag"});
  }
  // Readable without headlab: h5py reads the 16-bit dataset converted to float32.
  if (fs::exists("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0) {
    const testing::CommandResult r =
        run_command_line("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + dir.path("s_bfloat16.h5") +
                         "', 'r'); print(f.attrs['format'], f['blocks.0.attn.hook_z'].shape, "
                         "'%.4f' % float(f['blocks.0.attn.hook_z'].astype('f4')[1, 0, 1]))\"");
    char want[64];
    std::snprintf(want, sizeof want, "headlab.activations (1000, 2, 3) %.4f\n",
                  bfloat16_to_float(float_to_bfloat16(z[7])));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want);
  }
}

// A small random model, a task dataset (rows with labels and answer positions) and a stream.
struct Fixture {
  TempDir dir;
  ModelConfig cfg = testing::tiny_config();
  std::string ckpt = dir.path("model.h5"), task = dir.path("task.h5"), stream = dir.path("stream.h5");
  std::vector<float> params;
  TokenDataset task_ds, stream_ds;

  Fixture() {
    cfg.n_ctx = 8;
    auto be = make_cpu_backend(1);
    Transformer m(cfg, *be);
    m.init_gpt2(7);
    params = m.params_to_host();
    write_checkpoint(ckpt, Checkpoint{cfg, params, std::nullopt, ""});
    task_ds.kind = DatasetKind::sequences;
    task_ds.d_vocab = cfg.d_vocab;
    task_ds.n_seq = 11;
    task_ds.seq_len = 6;
    task_ds.tokens = testing::random_tokens(66, cfg.d_vocab, 3);
    task_ds.labels["role"] = std::vector<int32_t>(66);
    for (size_t i = 0; i < 66; ++i) task_ds.labels["role"][i] = int32_t(i % 6 == 2);
    for (int r = 0; r < 11; ++r) task_ds.answer_pos.push_back(r % 4 + 1);
    task_ds.answer = testing::random_tokens(11, cfg.d_vocab, 6);
    write_token_dataset(task, task_ds);
    stream_ds.kind = DatasetKind::stream;
    stream_ds.d_vocab = cfg.d_vocab;
    stream_ds.tokens = testing::random_tokens(45, cfg.d_vocab, 4);  // 5 windows of 8 and one of 5
    stream_ds.n_seq = 1;
    stream_ds.seq_len = 45;
    stream_ds.doc_offsets = {0, 10, 30};
    stream_ds.labels["pos_tag"] = testing::random_tokens(45, 12, 5);
    write_token_dataset(stream, stream_ds);
  }

  // The model's own cache of `hook` on tokens [B, T].
  HostTensor cache(const std::string& hook, const int32_t* tokens, int B, int T) {
    auto be = make_cpu_backend(1);
    Transformer m(cfg, *be);
    m.params_from_host(params);
    HookSet hooks;
    hooks.cache(parse_hook_name(hook, cfg));
    m.forward(tokens, B, T, &hooks);
    return hooks.cached(hook);
  }
};

const std::vector<std::string> kHooks = {"blocks.0.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.0.attn.hook_result",
                                         "blocks.1.mlp.hook_post"};

TEST(ProbesExtractTest, StoreEqualsTheModelsCacheOnTaskRows) {
  Fixture f;
  auto be = make_cpu_backend(1);
  Transformer m(f.cfg, *be);
  m.params_from_host(f.params);
  ExtractOptions o;
  for (const std::string& h : kHooks) o.hooks.push_back(parse_hook_name(h, f.cfg));
  o.batch_size = 4;
  o.model_hash = model_hash(f.cfg, f.params);
  const std::string out = f.dir.path("store.h5");
  int64_t last_done = 0;
  const ExtractSummary sum = extract_activations(m, f.task, o, out, [&](int64_t d, int64_t t) {
    EXPECT_GT(d, last_done);
    EXPECT_EQ(t, 66);
    last_done = d;
  });
  EXPECT_EQ(sum.n_tokens, 66);
  EXPECT_EQ(sum.forwards, 3);
  const ActivationStore s(out);
  EXPECT_EQ(s.provenance().model_hash, model_hash(f.cfg, f.params));
  ASSERT_TRUE(s.provenance().config.has_value());
  EXPECT_EQ(s.provenance().config->d_model, f.cfg.d_model);
  EXPECT_EQ(s.shape("blocks.0.attn.hook_result"), (h5::Shape{66, 3, 12}));
  EXPECT_EQ(s.tokens(), f.task_ds.tokens);
  EXPECT_EQ(s.class_label("role"), f.task_ds.labels["role"]);
  for (const std::string& h : kHooks) {
    const HostTensor want = f.cache(h, f.task_ds.tokens.data(), 11, 6);
    std::vector<float> got(want.data.size());
    s.read_rows(h, 0, 66, got.data());
    // Batches of 4 rows against one of 11: the matrix products may block differently, so not bit for bit.
    ASSERT_EQ(got.size(), want.data.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want.data[i], 1e-6) << h << " " << i;
  }
  const std::vector<int64_t> docs = s.doc_ids();
  const std::vector<int32_t> pos = s.positions();
  for (int64_t i = 0; i < 66; ++i) {
    EXPECT_EQ(docs[size_t(i)], i / 6);
    EXPECT_EQ(pos[size_t(i)], i % 6);
  }
}

TEST(ProbesExtractTest, AnswerAndLastPositionsAndMaxTokens) {
  Fixture f;
  auto be = make_cpu_backend(1);
  Transformer m(f.cfg, *be);
  m.params_from_host(f.params);
  ExtractOptions o;
  o.hooks = {parse_hook_name("blocks.1.hook_resid_post", f.cfg)};
  o.positions = TokenPositions::answer;
  o.max_tokens = 9;
  extract_activations(m, f.task, o, f.dir.path("answer.h5"));
  const ActivationStore s(f.dir.path("answer.h5"));
  ASSERT_EQ(s.n_tokens(), 9);
  const HostTensor want = f.cache("blocks.1.hook_resid_post", f.task_ds.tokens.data(), 11, 6);
  std::vector<float> got(size_t(9 * 12));
  s.read_rows("blocks.1.hook_resid_post", 0, 9, got.data());
  for (int r = 0; r < 9; ++r) {
    const int p = r % 4 + 1;
    EXPECT_EQ(s.positions()[size_t(r)], p);
    EXPECT_EQ(s.rows()[size_t(r)], r);
    for (int j = 0; j < 12; ++j)
      EXPECT_NEAR(got[size_t(r * 12 + j)], want.data[size_t((r * 6 + p) * 12 + j)], 1e-5) << r << " " << j;
  }
  o.positions = TokenPositions::last;
  o.max_tokens = 0;
  extract_activations(m, f.stream, o, f.dir.path("last.h5"));
  const ActivationStore l(f.dir.path("last.h5"));
  EXPECT_EQ(l.n_tokens(), 6);  // one per window
  EXPECT_EQ(l.positions(), (std::vector<int32_t>{7, 7, 7, 7, 7, 4}));
  EXPECT_EQ(l.doc_ids(), (std::vector<int64_t>{0, 1, 1, 2, 2, 2}));
}

TEST(ProbesExtractTest, StreamWindowsMatchTheCacheThroughTheCommandAndHeadlabModelRun) {
  Fixture f;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  const std::string store = f.dir.path("sub/stream_store.h5");
  const testing::CommandResult r =
      run_command_line(kProbes + " extract --checkpoint " + f.ckpt + " --data " + f.stream +
                       " --hooks blocks.1.hook_resid_mid,blocks.0.attn.hook_z --max-tokens 40 --batch-size 2 --out " +
                       store + " --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("40/40 tokens (100%)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s, eta"), std::string::npos) << r.err;
  const ActivationStore s(store);
  ASSERT_EQ(s.n_tokens(), 40);
  std::vector<int32_t> want_docs;
  for (int i = 0; i < 40; ++i) want_docs.push_back(i < 10 ? 0 : i < 30 ? 1 : 2);
  EXPECT_EQ(s.doc_ids(), std::vector<int64_t>(want_docs.begin(), want_docs.end()));
  EXPECT_EQ(s.class_label("pos_tag"),
            std::vector<int32_t>(f.stream_ds.labels["pos_tag"].begin(), f.stream_ds.labels["pos_tag"].begin() + 40));
  // headlab-model run on the same 5 windows of 8 tokens.
  const std::string tool = model_tool();
  if (tool.empty()) GTEST_SKIP() << "headlab-model was not built";
  {
    h5::AtomicFile tf(f.dir.path("windows.h5"));
    tf.file().write<int32_t>("tokens", f.stream_ds.tokens.data(), {5, 8});
    tf.commit();
  }
  const testing::CommandResult run = run_command_line(
      tool + " run --checkpoint " + f.ckpt + " --tokens " + f.dir.path("windows.h5") +
      " --hooks blocks.1.hook_resid_mid,blocks.0.attn.hook_z --out " + f.dir.path("run.h5") + " --threads 1");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const h5::File cache = h5::File::open(f.dir.path("run.h5"));
  for (const std::string h : {"blocks.1.hook_resid_mid", "blocks.0.attn.hook_z"}) {
    const std::vector<float> want = cache.read<float>("cache/" + h);
    std::vector<float> got(want.size());
    s.read_rows(h, 0, 40, got.data());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << h << " " << i;
  }
}

// True and false statements: each row up to its answer position, then the answer (truth 1) or the
// wrong answer (truth 0); the store keeps the appended token's activations.
TEST(ProbesExtractTest, StatementsAppendTheTrueAndTheWrongAnswer) {
  Fixture f;
  {  // the fixture's task with wrong answers
    f.task_ds.wrong_answer = testing::random_tokens(11, f.cfg.d_vocab, 7);
    write_token_dataset(f.task, f.task_ds);
  }
  auto be = make_cpu_backend(1);
  Transformer m(f.cfg, *be);
  m.params_from_host(f.params);
  ExtractOptions o;
  o.hooks = {parse_hook_name("blocks.1.hook_resid_post", f.cfg)};
  o.positions = TokenPositions::statements;
  o.batch_size = 3;
  extract_activations(m, f.task, o, f.dir.path("st.h5"));
  const ActivationStore s(f.dir.path("st.h5"));
  ASSERT_EQ(s.n_tokens(), 22);
  const std::vector<int32_t> truth = s.class_label("truth"), tokens = s.tokens(), positions = s.positions();
  const std::vector<int64_t> docs = s.doc_ids();
  std::vector<float> got(size_t(22 * 12));
  s.read_rows("blocks.1.hook_resid_post", 0, 22, got.data());
  for (int i = 0; i < 22; ++i) {
    const int row = i / 2, ap = row % 4 + 1;
    EXPECT_EQ(truth[size_t(i)], i % 2 == 0 ? 1 : 0);
    EXPECT_EQ(docs[size_t(i)], row);
    EXPECT_EQ(positions[size_t(i)], ap + 1);
    const int32_t appended = i % 2 == 0 ? f.task_ds.answer[size_t(row)] : f.task_ds.wrong_answer[size_t(row)];
    EXPECT_EQ(tokens[size_t(i)], appended);
    std::vector<int32_t> seq(f.task_ds.tokens.begin() + row * 6, f.task_ds.tokens.begin() + row * 6 + ap + 1);
    seq.push_back(appended);
    const HostTensor want = f.cache("blocks.1.hook_resid_post", seq.data(), 1, int(seq.size()));
    for (int j = 0; j < 12; ++j)
      EXPECT_NEAR(got[size_t(i * 12 + j)], want.data[size_t((ap + 1) * 12 + j)], 1e-5) << i << " " << j;
  }
}

// The store is several times larger than the memory extraction uses: it streams. Measured as the peak
// resident set above that of the same program printing its help (the shared libraries it maps, CUDA's
// included, count in both), not with `ulimit -v`: a CUDA build maps gigabytes of address space it never touches.
TEST(ProbesExtractTest, StoreLargerThanTheMemoryItUses) {
  TempDir dir;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  ModelConfig c = testing::tiny_config();
  c.n_layers = 1, c.d_model = 64, c.n_heads = 8, c.d_head = 8, c.d_mlp = 64, c.n_ctx = 64, c.d_vocab = 50;
  auto be = make_cpu_backend(1);
  Transformer m(c, *be);
  m.init_gpt2(1);
  write_checkpoint(dir.path("m.h5"), Checkpoint{c, m.params_to_host(), std::nullopt, ""});
  TokenDataset ds;
  ds.kind = DatasetKind::stream;
  ds.d_vocab = c.d_vocab;
  const int64_t n = 200000;  // hook_result: 8 heads x 64 floats = 2 KiB a token: a 390 MiB store
  ds.tokens = testing::random_tokens(n, c.d_vocab, 2);
  ds.n_seq = 1;
  ds.seq_len = n;
  ds.doc_offsets = {0};
  write_token_dataset(dir.path("d.h5"), ds);
  const testing::CommandResult idle = run_command_line("OMP_NUM_THREADS=1 " + kProbes + " extract --help");
  ASSERT_EQ(idle.exit_code, 0) << idle.err;
  // Under AddressSanitizer freed blocks wait in its quarantine (256 MiB by default) before reuse, and
  // would count as held: the quarantine is turned off for this run (the variable is inert elsewhere).
  const std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
  const testing::CommandResult r = run_command_line(
      "ASAN_OPTIONS='" + asan + (asan.empty() ? "" : ":") + "quarantine_size_mb=0' OMP_NUM_THREADS=1 " + kProbes +
      " extract --checkpoint " + dir.path("m.h5") + " --data " + dir.path("d.h5") +
      " --hooks blocks.0.attn.hook_result --batch-size 8 --threads 1 --out " + dir.path("big.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(r.peak_rss_kib - idle.peak_rss_kib, 128L << 10)
      << "extraction held " << (r.peak_rss_kib - idle.peak_rss_kib) / 1024 << " MiB above the idle program";
  const int64_t bytes = int64_t(fs::file_size(dir.path("big.h5")));
  EXPECT_GT(bytes, 3 * (int64_t(128) << 20));
  const ActivationStore s(dir.path("big.h5"));
  EXPECT_EQ(s.n_tokens(), n);
  std::vector<float> last(8 * 64);
  s.read_rows("blocks.0.attn.hook_result", n - 1, 1, last.data());
  double norm = 0;
  for (float x : last) norm += double(x) * x;
  EXPECT_GT(norm, 0);
}

TEST(ProbesExtractTest, BadInputsOneLineExit2NoFile) {
  Fixture f;
  if (!fs::exists(kProbes)) GTEST_SKIP() << "headlab-probes was not built";
  const std::string base = kProbes + " extract --checkpoint " + f.ckpt + " --threads 1 --out " + f.dir.path("o.h5");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --data " + f.stream + " --hooks blocks.0.hook_resid_pre --positions answer", "--positions answer"},
      {" --data " + f.task + " --hooks blocks.0.attn.hook_pattern", "attention pattern"},
      {" --data " + f.task + " --hooks blocks.7.hook_resid_pre", "--hooks"},
      {" --data " + f.task + " --hooks blocks.0.hook_resid_pre --dtype float8", "--dtype"},
      {" --data " + f.task + " --hooks blocks.0.hook_resid_pre --positions middle", "--positions"},
      {" --data " + f.ckpt + " --hooks blocks.0.hook_resid_pre", "format"},
      {" --data " + f.task, "--hooks"},
  };
  for (const auto& [args, needle] : cases) {
    const testing::CommandResult r = run_command_line(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("headlab-probes: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(f.dir.path("o.h5"))) << args;
    for (const auto& e : fs::directory_iterator(fs::path(f.dir.path("o.h5")).parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".o.h5"), std::string::npos) << "a temporary was left: " << args;
  }
}

}  // namespace
}  // namespace headlab
