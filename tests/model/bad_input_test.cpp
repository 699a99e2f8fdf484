// headlab-model fed bad inputs through its command line: every one ends in exactly one line
// `headlab-model: error: <input>: <what was expected>` and exit status 2, never a crash, and no
// output file (finished or temporary) is left behind. Plus ModelConfig's limits and memory check,
// which those errors rest on.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::run_command_line;
using testing::TempDir;

const std::string kTool = HEADLAB_BINARY_DIR "/bin/headlab-model";

// d_vocab 20, n_ctx 8, 2 layers with MLPs: small enough that each command takes milliseconds.
const char* kModelIni = "[model]\nn_layers = 2\nd_model = 16\nn_heads = 2\nd_mlp = 32\nn_ctx = 8\nd_vocab = 20\n";

class ModelBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTool)) GTEST_SKIP() << "headlab-model was not built";
    write_text("model.ini", kModelIni);
    const CommandResult init = tool("init --config " + path("model.ini") + " --seed 1 --out " + path("good.h5"));
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  std::string path(const std::string& name) const { return dir_.path(name); }
  CommandResult tool(const std::string& args) const { return run_command_line(kTool + " " + args); }
  void write_text(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }
  // A copy of good.h5 for a test to damage.
  std::string copy_of_good(const std::string& name) const {
    fs::copy_file(path("good.h5"), path(name), fs::copy_options::overwrite_existing);
    return path(name);
  }
  void write_tokens(const std::string& name, const std::vector<int32_t>& t, const h5::Shape& shape,
                    const std::string& dataset = "tokens") const {
    h5::AtomicFile f(path(name));
    f.file().write<int32_t>(dataset, t.data(), shape);
    f.commit();
  }
  // Exit 2, exactly one line on stderr with the tool's prefix, naming `mentions`.
  static void expect_input_error(const CommandResult& r, const std::string& mentions, const std::string& context) {
    EXPECT_EQ(r.exit_code, 2) << context << "\n" << r.err;
    EXPECT_EQ(r.err_lines(), 1) << context << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("headlab-model: error: ", 0), 0u) << context << "\n" << r.err;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << context << ": expected '" << mentions << "' in: " << r.err;
  }
  void expect_no_output(const std::string& name) const {
    EXPECT_FALSE(fs::exists(path(name))) << name;
    EXPECT_FALSE(fs::exists(path(name + ".tmp"))) << name << ".tmp";
  }

  TempDir dir_;
};

TEST_F(ModelBadInputTest, HelpOnEverySubcommandExitsZero) {
  for (const char* args : {"--help", "-h", "init --help", "init -h", "info --help", "info -h", "run --help", "run -h",
                           "sample --help", "sample -h"}) {
    const CommandResult r = tool(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    EXPECT_EQ(r.err, "") << args;
    EXPECT_NE(r.out.find("headlab-model"), std::string::npos) << args << "\n" << r.out;
  }
}

TEST_F(ModelBadInputTest, FilesThatAreNotCheckpointsNameTheFile) {
  write_text("empty.h5", "");
  write_text("text.h5", "[model]\nn_layers = 2\n");
  {
    std::ofstream random(path("random.h5"), std::ios::binary);
    uint32_t x = 12345;
    for (int i = 0; i < 4096; ++i) random.put(char((x = x * 1664525u + 1013904223u) >> 24));
  }
  fs::create_directories(path("dir.h5"));
  std::ifstream in(path("good.h5"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> names = {"empty.h5", "text.h5", "random.h5", "dir.h5", "missing.h5"};
  for (size_t cut : {size_t(8), size_t(100), size_t(1000), size_t(4000), bytes.size() / 2, bytes.size() - 1}) {
    const std::string name = "cut_" + std::to_string(cut) + ".h5";
    std::ofstream(path(name), std::ios::binary) << bytes.substr(0, cut);
    names.push_back(name);
  }
  write_tokens("t.h5", {1, 2, 3}, {1, 3});
  for (const std::string& name : names) {
    expect_input_error(tool("info " + path(name)), path(name), "info " + name);
    expect_input_error(tool("sample --checkpoint " + path(name) + " --prompt-tokens 1"), path(name), "sample " + name);
    expect_input_error(tool("run --checkpoint " + path(name) + " --tokens " + path("t.h5") + " --out " + path("o.h5")),
                       path(name), "run " + name);
    expect_no_output("o.h5");
  }
}

// A FIFO given as an input would block reading for ever, and one given as --out would be replaced
// by the rename (as root, so would /dev/null). `timeout` turns a regression into a failure.
TEST_F(ModelBadInputTest, AFifoIsRefusedAsInputAndAsOutput) {
  ASSERT_EQ(::mkfifo(path("fifo.h5").c_str(), 0600), 0);
  write_tokens("t.h5", {1, 2, 3}, {1, 3});
  const std::string limit = "timeout 20 ";
  expect_input_error(run_command_line(limit + kTool + " info " + path("fifo.h5")),
                     path("fifo.h5") + ": expected an HDF5 file; this is not a regular file", "info");
  expect_input_error(run_command_line(limit + kTool + " run --checkpoint " + path("good.h5") + " --tokens " +
                                      path("fifo.h5") + " --out " + path("o.h5")),
                     path("fifo.h5") + ": expected an HDF5 file", "run --tokens");
  expect_input_error(run_command_line(limit + kTool + " run --checkpoint " + path("good.h5") + " --tokens " +
                                      path("t.h5") + " --out " + path("fifo.h5")),
                     path("fifo.h5") + ": expected a file name to write; this exists and is not a regular file",
                     "run --out");
  EXPECT_TRUE(fs::is_fifo(path("fifo.h5")));
  expect_no_output("o.h5");
}

TEST_F(ModelBadInputTest, DamagedConfigNamesTheAttribute) {
  struct Case {
    const char* name;
    std::function<void(h5::Group&)> damage;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"no_attr", [](h5::Group& c) { c.remove_attr("n_layers"); }, "/config attribute n_layers: expected an attribute"},
      {"str_int", [](h5::Group& c) { c.set_attr("n_layers", "two"); }, "attribute n_layers: expected an integer"},
      {"float_int", [](h5::Group& c) { c.set_attr("d_model", 16.0); }, "attribute d_model: expected an integer"},
      {"huge", [](h5::Group& c) { c.set_attr("n_layers", int64_t(1'000'000'000'000)); }, "attribute n_layers"},
      {"int_max", [](h5::Group& c) { c.set_attr("d_model", INT32_MAX); }, "attribute d_model: expected an integer in"},
      {"big_ctx", [](h5::Group& c) { c.set_attr("n_ctx", 1'000'000'000); }, "attribute n_ctx: expected an integer in"},
      {"big_vocab", [](h5::Group& c) { c.set_attr("d_vocab", 1'000'000'000); }, "attribute d_vocab"},
      {"zero", [](h5::Group& c) { c.set_attr("n_heads", 0); }, "attribute n_heads"},
      {"negative", [](h5::Group& c) { c.set_attr("d_mlp", -1); }, "attribute d_mlp"},
      {"heads_vs_width", [](h5::Group& c) { c.set_attr("n_heads", 3); }, "/params/blocks.0.attn.W_Q: expected shape"},
      {"act_fn", [](h5::Group& c) { c.set_attr("act_fn", "tanh"); }, "attribute act_fn: expected gelu_new"},
      {"inf_eps", [](h5::Group& c) { c.set_attr("eps", std::numeric_limits<double>::infinity()); }, "attribute eps"},
      {"format", [](h5::Group& c) { c.set_attr("format_version", 99); }, "attribute format_version"},
  };
  for (const Case& c : cases) {
    const std::string file = copy_of_good(std::string(c.name) + ".h5");
    {
      h5::Group config = h5::File::open(file, h5::Access::read_write).group("config");
      c.damage(config);
    }
    expect_input_error(tool("info " + file), file + ": " + (c.mentions[0] == '/' ? "" : "/config ") + c.mentions,
                       c.name);
  }
  const std::string no_config = copy_of_good("no_config.h5");
  h5::File::open(no_config, h5::Access::read_write).remove("config");
  expect_input_error(tool("info " + no_config), no_config + ": /config: expected a group", "no /config");
}

TEST_F(ModelBadInputTest, DamagedParamsNameTheArray) {
  const std::string no_params = copy_of_good("no_params.h5");
  h5::File::open(no_params, h5::Access::read_write).remove("params");
  expect_input_error(tool("info " + no_params), no_params + ": /params: expected a group", "no /params");

  const std::string shape = copy_of_good("shape.h5");
  h5::File::open(shape, h5::Access::read_write).group("params").write("embed.W_E", std::vector<float>(16 * 20));
  expect_input_error(tool("info " + shape), shape + ": /params/embed.W_E: expected shape [20, 16]; found [320]",
                     "1-D W_E");

  const std::string ints = copy_of_good("ints.h5");
  h5::File::open(ints, h5::Access::read_write).group("params").write("unembed.b_U", std::vector<int32_t>(20));
  expect_input_error(tool("info " + ints), ints + ": /params/unembed.b_U: expected floating-point data", "int b_U");

  // float64 weights are documented as accepted (what numpy writes by default).
  const std::string f64 = copy_of_good("f64.h5");
  h5::File::open(f64, h5::Access::read_write).group("params").write("unembed.b_U", std::vector<double>(20, 0.25));
  const CommandResult ok = tool("info " + f64);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// NaN weights are what the file holds: info shows the model and run computes what it gives (NaN
// logits, for inspection); sampling would pick tokens from NaN, so it refuses, naming the weight.
TEST_F(ModelBadInputTest, NanWeightsLoadForInfoAndRunButSampleRefusesThem) {
  const std::string nan = copy_of_good("nan.h5");
  {
    h5::Group params = h5::File::open(nan, h5::Access::read_write).group("params");
    std::vector<float> w = params.read<float>("blocks.0.mlp.W_in", h5::Shape{16, 32});
    w[3 * 32 + 4] = std::nanf("");
    params.write<float>("blocks.0.mlp.W_in", w.data(), {16, 32});
  }
  EXPECT_EQ(tool("info " + nan).exit_code, 0);
  write_tokens("t.h5", {1, 2, 3}, {1, 3});
  const CommandResult run = tool("run --checkpoint " + nan + " --tokens " + path("t.h5") + " --out " + path("o.h5"));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  expect_input_error(
      tool("sample --checkpoint " + nan + " --prompt-tokens '1 2' --temperature 0"),
      "--checkpoint " + nan + ": /params/blocks.0.mlp.W_in: expected finite weights; found nan at [3, 4]", "sample");
}

TEST_F(ModelBadInputTest, BadTokenFilesForRunNameTheFileAndLeaveNoOutput) {
  write_tokens("wrong_name.h5", {1, 2}, {1, 2}, "toks");
  write_tokens("one_d.h5", {1, 2, 3}, {3});
  write_tokens("too_big.h5", {1, 20, 3}, {1, 3});
  write_tokens("negative.h5", {1, 2, -1}, {1, 3});
  write_tokens("too_long.h5", std::vector<int32_t>(9, 1), {1, 9});
  write_tokens("no_rows.h5", {}, {0, 4});
  {
    h5::AtomicFile f(path("floats.h5"));
    f.file().write<float>("tokens", std::vector<float>{1, 2, 3}.data(), {1, 3});
    f.commit();
  }
  {
    h5::AtomicFile f(path("declared_huge.h5"));  // 10^12 tokens declared, none stored
    h5::DatasetOptions lazy;
    lazy.chunk_rows = 1;
    f.file().create_dataset<int32_t>("tokens", {1'000'000'000'000 / 8, 8}, lazy);
    f.commit();
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wrong_name.h5", "/tokens: expected a dataset"},
      {"one_d.h5", "/tokens: expected a 2-D array [batch, pos], got shape [3]"},
      {"too_big.h5", "/tokens: expected token ids in [0, d_vocab = 20); found 20 at [0, 1]"},
      {"negative.h5", "/tokens: expected token ids in [0, d_vocab = 20); found -1 at [0, 2]"},
      {"too_long.h5", "/tokens: expected sequences of at most n_ctx = 8 tokens; found 9"},
      {"no_rows.h5", "/tokens: expected at least one token"},
      {"floats.h5", "/tokens: expected integer data"},
      {"declared_huge.h5", "/tokens: reading [125000000000, 8] as int32 needs about"},
      {"good.h5", "/tokens: expected a dataset"},
  };
  for (const auto& [name, mentions] : cases) {
    expect_input_error(
        tool("run --checkpoint " + path("good.h5") + " --tokens " + path(name) + " --out " + path("o.h5")),
        path(name) + ": " + mentions, name);
    expect_no_output("o.h5");
  }
}

TEST_F(ModelBadInputTest, BadOutputPathsFailBeforeTheWorkAndLeaveNothing) {
  write_tokens("t.h5", {1, 2, 3}, {1, 3});
  fs::create_directories(path("a_dir.h5"));
  const std::string run = "run --checkpoint " + path("good.h5") + " --tokens " + path("t.h5") + " --out ";
  const std::string init = "init --config " + path("model.ini") + " --out ";
  for (const std::string& cmd : {run, init}) {
    expect_input_error(tool(cmd + path("no/such/dir/o.h5")), path("no/such/dir/o.h5") + ": cannot write it", cmd);
    expect_input_error(tool(cmd + path("a_dir.h5")), path("a_dir.h5") + ": expected a file name to write", cmd);
    expect_input_error(tool(cmd + "''"), "--out: expected a file name", cmd);
  }
  EXPECT_TRUE(fs::is_empty(path("a_dir.h5")));
  EXPECT_FALSE(fs::exists(path("a_dir.h5.tmp")));
  EXPECT_FALSE(fs::exists(path("no")));
}

TEST_F(ModelBadInputTest, BadOptionValuesNameTheOption) {
  const std::string sample = "sample --checkpoint " + path("good.h5") + " ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {sample + "--prompt-tokens 1 --frobnicate 2", "unrecognised option '--frobnicate'"},
      {sample + "--prompt-tokens", "the required argument for option '--prompt-tokens' is missing"},
      {sample + "--prompt-tokens 1 --max-new lots", "the argument ('lots') for option '--max-new' is invalid"},
      // Boost would read -1 into an unsigned seed as 2^64 - 1.
      {sample + "--prompt-tokens 1 --seed -1", "the argument ('-1') for option '--seed' is invalid"},
      {"init --config " + path("model.ini") + " --seed -7 --out " + path("x.h5"), "option '--seed' is invalid"},
      // libgomp crashes when it cannot create this many threads.
      {sample + "--prompt-tokens 1 --threads 100000", "--threads: expected an integer in [0, 1024]"},
      {sample + "--prompt-tokens 1 --threads -1", "--threads: expected an integer in [0, 1024]"},
      {sample + "--prompt-tokens 1 --temperature -0.5", "--temperature: expected a finite number >= 0"},
      {sample + "--prompt-tokens 1 --temperature nan", "--temperature: expected a finite number >= 0"},
      {sample + "--prompt-tokens 1 --max-new 100000", "--max-new: expected an integer in [0, 65536]"},
      {sample + "--prompt-tokens '1 x 3'", "--prompt-tokens: expected non-negative integer token ids, got 'x'"},
      {sample + "--prompt-tokens '1 -3'", "--prompt-tokens: expected non-negative integer token ids, got '-3'"},
      {sample + "--prompt-tokens '1 20'", "--prompt-tokens: expected token ids in [0, d_vocab = 20); found 20"},
      {sample + "--prompt-tokens ''", "--prompt-tokens: expected at least one token id"},
      {sample + "--prompt hello", "--prompt: the checkpoint has no tokenizer"},
      {sample + "stray --prompt-tokens 1", "command line: 'stray': unexpected word"},
      {"info " + path("good.h5") + " " + path("good.h5"), "unexpected word"},
      {"run --checkpoint " + path("good.h5") + " --tokens x.h5 --out o.h5 --batch-size 0", "--batch-size: expected"},
      {"run --checkpoint " + path("good.h5") + " --tokens x.h5 --out o.h5 --hooks blocks.9.hook_resid_pre",
       "blocks.9.hook_resid_pre"},
      {"frobnicate", "command 'frobnicate'"},
      {"", "command: expected init, info, run, sample, import or export"},
  };
  for (const auto& [args, mentions] : cases) expect_input_error(tool(args), mentions, args);
}

// Temperature 0 is greedy (as TransformerLens' do_sample=False): the seed does not matter. Past
// n_ctx the model reads the last n_ctx tokens.
TEST_F(ModelBadInputTest, TemperatureZeroIsGreedyWhateverTheSeed) {
  const std::string sample = "sample --checkpoint " + path("good.h5") + " --prompt-tokens '4 5' --max-new 10 ";
  const CommandResult a = tool(sample + "--temperature 0 --seed 1");
  const CommandResult b = tool(sample + "--temperature 0 --seed 99");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  std::istringstream ids(a.out);
  int id, n = 0;
  while (ids >> id) ++n;
  EXPECT_EQ(n, 12);
}

TEST_F(ModelBadInputTest, BadConfigFilesNameTheFileOrTheKey) {
  fs::create_directories(path("dir.ini"));
  const std::vector<std::pair<std::string, std::string>> files = {
      {"[modle]\nn_layers = 2\n", "unknown section [modle]"},
      {"n_layers = 2\n", "key 'n_layers' is outside any section; put it under [model]"},
      {"[model]\nn_layers = 2\nn_layers = 3\n", "'model.n_layers' cannot be specified more than once"},
      {"[model]\nn_layerz = 2\n", "unknown key 'n_layerz' in [model]"},
      {"[model]\nn_layers = two\n", "the argument ('two') for option 'model.n_layers' is invalid"},
      {"[model]\nattn_only = maybe\n", "for option 'model.attn_only' is invalid"},
      {"[model\nn_layers = 2\n", "line 1: expected a section name in brackets ([model] or [train]); got '[model'"},
      {"[model]\nd_model = 30\nn_heads = 4\n", "model.d_model: d_model = 30 is not divisible by n_heads = 4"},
      {"[model]\npositional_embedding_type = rotary\nd_model = 12\nn_heads = 4\n",
       "model.d_head: rotary embeddings need an even d_head, got 3"},
      {"[model]\nn_ctx = 1000000000\n", "model.n_ctx: expected an integer in [1, 1048576]"},
      {"[model]\nn_layers = 1024\nd_model = 8192\nn_heads = 64\nd_mlp = 32768\n", "model.n_params: the model would"},
      {"[model]\neps = inf\n", "model.eps: expected a finite positive number"},
      {"[model]\nd_model = 1\x01\n", "the argument ('1\\x01')"},  // control bytes escaped on the one line
  };
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string ini = "bad" + std::to_string(i) + ".ini";
    write_text(ini, files[i].first);
    expect_input_error(tool("init --config " + path(ini) + " --out " + path("x.h5")), files[i].second, files[i].first);
  }
  expect_input_error(tool("init --config " + path("none.ini") + " --out " + path("x.h5")),
                     "--config " + path("none.ini") + ": cannot open the file", "missing");
  expect_input_error(tool("init --config " + path("dir.ini") + " --out " + path("x.h5")),
                     "--config " + path("dir.ini") + ": expected an INI file", "directory");
  expect_no_output("x.h5");
  // headlab-train's keys may share the file: its [train] section and keys before any section.
  write_text("shared.ini", std::string("steps = 3\n") + kModelIni + "[train]\nlr = 0.01\n");
  const CommandResult shared = tool("init --config " + path("shared.ini") + " --out " + path("x.h5"));
  EXPECT_EQ(shared.exit_code, 0) << shared.err;
}

// ==================================================================== ModelConfig limits

ModelConfig tiny_config() {
  ModelConfig c;
  c.n_layers = 1;
  c.d_model = 16;
  c.n_heads = 2;
  c.d_head = 8;
  c.d_mlp = 32;
  c.n_ctx = 8;
  c.d_vocab = 20;
  return c;
}

std::string validate_error(const ModelConfig& c, const std::string& prefix) {
  try {
    c.validate(prefix);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfigTest, LimitsNameTheFieldAfterTheGivenPrefix) {
  EXPECT_EQ(validate_error(tiny_config(), "model."), "");
  const std::vector<std::pair<std::function<void(ModelConfig&)>, std::string>> cases = {
      {[](ModelConfig& c) { c.n_layers = ModelLimits::n_layers + 1; }, "f.n_layers: expected an integer in [1, 1024]"},
      {[](ModelConfig& c) { c.d_model = ModelLimits::d_model + 1; }, "f.d_model: expected an integer in [1, 65536]"},
      {[](ModelConfig& c) { c.n_ctx = 0; }, "f.n_ctx: expected an integer in [1, 1048576], got 0"},
      {[](ModelConfig& c) { c.d_vocab = ModelLimits::d_vocab + 1; }, "f.d_vocab: expected an integer in [2, 16777216]"},
      {[](ModelConfig& c) { c.d_head = -8; }, "f.d_head: expected an integer in [1, 65536], got -8"},
      {[](ModelConfig& c) { c.eps = std::numeric_limits<float>::infinity(); }, "f.eps: expected a finite positive"},
      {[](ModelConfig& c) { c.rotary_base = std::nanf(""); }, "f.rotary_base: expected a finite positive"},
      {[](ModelConfig& c) {
         c.d_model = 65536;
         c.d_vocab = 1 << 16;  // W_E and W_U: 2^33 parameters, the limit, plus the rest
       },
       "f.n_params: the model would have"},
  };
  for (const auto& [edit, expected] : cases) {
    ModelConfig c = tiny_config();
    edit(c);
    const std::string msg = validate_error(c, "f.");
    EXPECT_EQ(msg.rfind(expected, 0), 0u) << "expected '" << expected << "', got '" << msg << "'";
  }
  ModelConfig attn_only = tiny_config();
  attn_only.attn_only = true;
  attn_only.d_mlp = 0;  // unused without MLPs
  EXPECT_EQ(validate_error(attn_only, "f."), "");
}

// The estimate counts what Transformer::Activations allocates, so it must grow with each of them:
// linearly in the batch, quadratically in T (the attention pattern), and by 3 parameter copies
// plus backward scratch for training.
TEST(ModelConfigTest, MemoryEstimateGrowsWithBatchContextAndTraining) {
  const ModelConfig c = tiny_config();
  const double params = 4.0 * double(c.n_params());
  EXPECT_DOUBLE_EQ(c.memory_bytes(0, 0, false), params);
  const double one = c.memory_bytes(1, 8, false) - params;
  EXPECT_DOUBLE_EQ(c.memory_bytes(3, 8, false) - params, 3 * one);
  const double per_token_at_8 = one / 8, per_token_at_16 = (c.memory_bytes(1, 16, false) - params) / 16;
  // T more pattern entries per head per token per block: forward keeps [B, H, T, T].
  EXPECT_DOUBLE_EQ(per_token_at_16 - per_token_at_8, 4.0 * c.n_layers * c.n_heads * 8);
  EXPECT_GE(c.memory_bytes(1, 8, true) - c.memory_bytes(1, 8, false), 3 * params);
}

TEST(ModelConfigTest, RequireMemoryRefusesWhatTheMachineCannotHold) {
  const double usable = usable_memory_bytes();
  ASSERT_GT(usable, 0);
  EXPECT_NO_THROW(require_memory(1 << 20, "--batch-size", "a forward"));
  testing::expect_input_error([&] { require_memory(usable * 2, "--batch-size 99", "a forward of 99 sequences"); },
                              {"--batch-size 99: a forward of 99 sequences needs about ", "GiB of memory"});
}

}  // namespace
}  // namespace headlab
