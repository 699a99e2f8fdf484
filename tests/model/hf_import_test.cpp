// GPT-2 import from a Hugging Face folder: a random 2-layer GPT-2 written in HF's layout by a Python
// script, imported by headlab-model import, run by headlab-model run, its logits against a float64
// GPT-2 forward computed by the script straight from the HF arrays; the TL-named export checked against
// the HF arrays by the script; and safetensors headers that lie, refused with one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "model/hf_gpt2.h"
#include "model/safetensors.h"
#include "tests/command_runner.h"
#include "tests/python_reference.h"
#include "tests/temp_dir.h"

using namespace headlab;
using namespace headlab::testing;

namespace {

const std::string kTool = HEADLAB_BINARY_DIR "/bin/headlab-model";
const std::string kScript = HEADLAB_SOURCE_DIR "/tests/model/hf_gpt2_reference.py";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}
std::string with_header(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(uint64_t(header.size()) >> (8 * i));
  return s + header + data;
}

}  // namespace

TEST(ModelHfImportTest, LogitsMatchFloat64Gpt2FromTheSameFiles) {
  if (!python_reference_missing().empty()) GTEST_SKIP() << python_reference_missing();
  TempDir dir;
  const std::string d = dir.path("");
  CommandResult r = run_command_line(std::string(kReferencePython) + " " + kScript + " write " + d);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_command_line(kTool + " import --hf " + d + "/hf --out " + d + "/gpt2.h5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("n_layers 2, d_model 32, n_heads 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("h.0.attn.bias"), std::string::npos) << r.out;  // the mask buffers are named as unused
  r = run_command_line(kTool + " run --checkpoint " + d + "/gpt2.h5 --tokens " + d + "/tokens.h5 --out " + d +
                       "/logits.h5 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<float> got = h5::File::open(d + "/logits.h5").read<float>("logits", {3, 16, 61});
  const std::vector<double> want = h5::File::open(d + "/reference.h5").read<double>("logits", {3, 16, 61});
  double max_err = 0, max_abs = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_err = std::max(max_err, std::abs(double(got[i]) - want[i]));
    max_abs = std::max(max_abs, std::abs(want[i]));
  }
  EXPECT_GT(max_abs, 1.0);  // logits with real spread, so the check has teeth
  EXPECT_LT(max_err, 2e-4 * max_abs) << "max |headlab - float64 GPT-2| = " << max_err;

  const Checkpoint ck = read_checkpoint(d + "/gpt2.h5");
  EXPECT_TRUE(ck.config.tie_embeddings);
  EXPECT_EQ(ck.config.d_mlp, 128);
  r = run_command_line(kTool + " export --checkpoint " + d + "/gpt2.h5 --safetensors " + d + "/tl.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_command_line(std::string(kReferencePython) + " " + kScript + " check-export " + d + " " + d +
                       "/tl.safetensors");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(ModelHfImportTest, SafetensorsRoundTripAndLyingHeaders) {
  TempDir dir;
  const std::string path = dir.path("a.safetensors");
  write_safetensors(path, {{"x", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"y", {1}, {-7}}});
  {
    const SafetensorsFile f(path);
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.read_f32(*f.find("x")), (std::vector<float>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(f.read_f32(*f.find("y")), (std::vector<float>{-7}));
  }
  const std::string data(28, '\0');
  const std::vector<std::pair<std::string, std::string>> lies = {
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,2400]}}", "outside"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[200,3],\"data_offsets\":[0,24]}}", "byte count"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,24]}}", "byte count"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", "outside"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
       "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}}",
       "overlap"},
      {"{\"x\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape"},
      {"[1,2]", "not a JSON object"},
      {"{\"x\":", "not valid JSON"}};
  for (const auto& [header, why] : lies) {
    write_bytes(path, with_header(header, data));
    expect_input_error([&] { SafetensorsFile f(path); }, {path, why});
  }
  // A header length past the end of the file, and a file shorter than the length field.
  std::string bytes = with_header("{}", data);
  bytes[3] = 1;
  write_bytes(path, bytes);
  expect_input_error([&] { SafetensorsFile f(path); }, {"runs past the end"});
  write_bytes(path, "abc");
  expect_input_error([&] { SafetensorsFile f(path); }, {"shorter than"});
}

TEST(ModelHfImportTest, FuzzedHeadersNeverCrash) {
  TempDir dir;
  const std::string path = dir.path("f.safetensors");
  write_safetensors(path, {{"wte.weight", {5, 4}, std::vector<float>(20, 0.5f)}, {"b", {4}, {1, 2, 3, 4}}});
  const std::string good = read_bytes(path);
  std::mt19937_64 rng(21);
  int refused = 0;
  for (int trial = 0; trial < 600; ++trial) {
    std::string bytes = good;
    const int n_flips = 1 + int(rng() % 4);
    for (int k = 0; k < n_flips; ++k) {
      // Mostly inside the length field and the JSON header, where the sizes and offsets are.
      const size_t at = rng() % 3 ? rng() % std::min<size_t>(bytes.size(), 8 + 160) : rng() % bytes.size();
      bytes[at] = rng() % 2 ? char(rng()) : "0123456789,[]{}\""[rng() % 16];
    }
    if (rng() % 10 == 0) bytes.resize(rng() % bytes.size());
    write_bytes(path, bytes);
    try {
      const SafetensorsFile f(path);
      for (const auto& t : f.tensors()) {
        if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F64") {
          EXPECT_EQ(int64_t(f.read_f32(t).size()), t.numel());
        }
      }
    } catch (const InputError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 150);
}

TEST(ModelHfImportTest, OtherFamiliesAndBadFoldersAreOneLineErrors) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("llama"));
  write_bytes(dir.path("llama/config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 64}");
  write_bytes(dir.path("llama/model.safetensors"), with_header("{}", ""));
  CommandResult r = run_command_line(kTool + " import --hf " + dir.path("llama") + " --out " + dir.path("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_NE(r.err.find("headlab-model: error: "), std::string::npos);
  EXPECT_NE(r.err.find("model_type is 'llama'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path("x.h5")));

  std::filesystem::create_directories(dir.path("gpt2"));
  write_bytes(dir.path("gpt2/config.json"),
              "{\"model_type\": \"gpt2\", \"n_layer\": 1, \"n_embd\": 8, \"n_head\": 2, \"n_positions\": 4, "
              "\"vocab_size\": 5}");
  write_bytes(dir.path("gpt2/model.safetensors"),
              with_header("{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[5,8],\"data_offsets\":[0,160000]}}", ""));
  r = run_command_line(kTool + " import --hf " + dir.path("gpt2") + " --out " + dir.path("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  EXPECT_NE(r.err.find("outside"), std::string::npos) << r.err;
  write_safetensors(dir.path("gpt2/model.safetensors"), {{"wte.weight", {5, 8}, std::vector<float>(40, 0.f)}});
  r = run_command_line(kTool + " import --hf " + dir.path("gpt2") + " --out " + dir.path("x.h5"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("has no tensor 'wpe.weight'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path("x.h5")));
}

TEST(ModelHfImportTest, ShardedFolderImportsBitwiseAsTheSingleFile) {
  if (!python_reference_missing().empty()) GTEST_SKIP() << python_reference_missing();
  TempDir dir;
  const std::string d = dir.path("");
  CommandResult r = run_command_line(std::string(kReferencePython) + " " + kScript + " write " + d);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_command_line(std::string(kReferencePython) + " " + kScript + " write-sharded " + d);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(std::filesystem::exists(d + "/hf_sharded/model.safetensors"));
  ASSERT_TRUE(std::filesystem::exists(d + "/hf_sharded/model-00003-of-00003.safetensors"));
  r = run_command_line(kTool + " import --hf " + d + "/hf --out " + d + "/single.h5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string single_out = r.out;
  r = run_command_line(kTool + " import --hf " + d + "/hf_sharded --out " + d + "/sharded.h5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("from 31 F32 tensors in 3 shards"), std::string::npos) << r.out;
  // The same tensors named as unused, in the same order (the shards keep the single file's order).
  EXPECT_EQ(r.out.substr(r.out.find("not used")), single_out.substr(single_out.find("not used")));

  const Checkpoint a = read_checkpoint(d + "/single.h5"), b = read_checkpoint(d + "/sharded.h5");
  ASSERT_EQ(a.params.size(), b.params.size());
  EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)), 0);
  for (const std::string which : {"single", "sharded"}) {
    r = run_command_line(kTool + " run --checkpoint " + d + "/" + which + ".h5 --tokens " + d + "/tokens.h5 --out " +
                         d + "/logits_" + which + ".h5 --threads 1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::vector<float> la = h5::File::open(d + "/logits_single.h5").read<float>("logits", {3, 16, 61});
  const std::vector<float> lb = h5::File::open(d + "/logits_sharded.h5").read<float>("logits", {3, 16, 61});
  ASSERT_EQ(la.size(), lb.size());
  EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0) << "logits differ";
  // And the sharded import is still GPT-2: against the float64 forward of the same arrays.
  const std::vector<double> want = h5::File::open(d + "/reference.h5").read<double>("logits", {3, 16, 61});
  double max_err = 0, max_abs = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_err = std::max(max_err, std::abs(double(lb[i]) - want[i]));
    max_abs = std::max(max_abs, std::abs(want[i]));
  }
  EXPECT_LT(max_err, 2e-4 * max_abs);
}

namespace {

// A 1-layer GPT-2 (n_embd 8, 2 heads, n_positions 4, vocab 5) in HF's names, cut into two shards
// with their index, as transformers writes them.
struct ShardedTinyGpt2 {
  std::string dir;
  std::vector<SafetensorsArray> first, second;
  nlohmann::json index;

  explicit ShardedTinyGpt2(const std::string& d) : dir(d) {
    std::filesystem::create_directories(dir);
    write_bytes(dir + "/config.json",
                "{\"model_type\": \"gpt2\", \"n_layer\": 1, \"n_embd\": 8, \"n_head\": 2, \"n_positions\": 4, "
                "\"vocab_size\": 5}");
    auto a = [](const std::string& name, std::vector<int64_t> shape) {
      int64_t n = 1;
      for (int64_t s : shape) n *= s;
      std::vector<float> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[size_t(i)] = 0.01f * float(i % 17) - 0.05f;
      return SafetensorsArray{"transformer." + name, shape, v};
    };
    first = {a("wte.weight", {5, 8}),
             a("wpe.weight", {4, 8}),
             a("h.0.ln_1.weight", {8}),
             a("h.0.ln_1.bias", {8}),
             a("h.0.attn.c_attn.weight", {8, 24}),
             a("h.0.attn.c_attn.bias", {24})};
    second = {a("h.0.attn.c_proj.weight", {8, 8}),
              a("h.0.attn.c_proj.bias", {8}),
              a("h.0.ln_2.weight", {8}),
              a("h.0.ln_2.bias", {8}),
              a("h.0.mlp.c_fc.weight", {8, 32}),
              a("h.0.mlp.c_fc.bias", {32}),
              a("h.0.mlp.c_proj.weight", {32, 8}),
              a("h.0.mlp.c_proj.bias", {8}),
              a("ln_f.weight", {8}),
              a("ln_f.bias", {8})};
    index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    for (const auto& t : first) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
    for (const auto& t : second) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  }
  void write() const {
    write_safetensors(dir + "/model-00001-of-00002.safetensors", first);
    write_safetensors(dir + "/model-00002-of-00002.safetensors", second);
    write_bytes(dir + "/model.safetensors.index.json", index.dump(2));
  }
};

}  // namespace

TEST(ModelHfImportTest, BadShardedFoldersAreOneLineErrors) {
  TempDir dir;
  const std::string out = dir.path("x.h5");
  {
    ShardedTinyGpt2 good(dir.path("good"));
    good.write();
    const CommandResult r = run_command_line(kTool + " import --hf " + good.dir + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("in 2 shards"), std::string::npos) << r.out;
    std::filesystem::remove(out);
  }
  // Each case: a change to the good folder, and what the one error line must say.
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
  const std::string wm = "weight_map";
  struct Case {
    std::string name;
    std::function<void(ShardedTinyGpt2&)> change;
    std::function<void(const ShardedTinyGpt2&)> after_write;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"missing_shard",
       [&](ShardedTinyGpt2& f) { f.index[wm]["transformer.ln_f.bias"] = "model-00003-of-00003.safetensors"; },
       nullptr,
       {"model.safetensors.index.json", "names shard 'model-00003-of-00003.safetensors'", "missing"}},
      {"tensor_missing_from_index",
       [&](ShardedTinyGpt2& f) { f.index[wm].erase("transformer.h.0.ln_2.bias"); },
       nullptr,
       {"holds tensor 'transformer.h.0.ln_2.bias', which the weight_map does not list"}},
      {"tensor_missing_everywhere",
       [&](ShardedTinyGpt2& f) {
         f.index[wm].erase("transformer.ln_f.bias");
         f.second.pop_back();
       },
       nullptr,
       {"model.safetensors.index.json", "has no tensor 'transformer.ln_f.bias'"}},
      {"tensor_missing_from_its_shard",
       [&](ShardedTinyGpt2& f) { f.second.pop_back(); },
       nullptr,
       {"places tensor 'transformer.ln_f.bias' in shard '" + s2 + "', which does not hold it"}},
      {"tensor_in_the_other_shard",
       [&](ShardedTinyGpt2& f) { f.index[wm]["transformer.wpe.weight"] = s2; },
       nullptr,
       {"places tensor 'transformer.wpe.weight' in shard '" + s2 + "'; it is in shard '" + s1 + "'"}},
      {"duplicate_across_shards",
       [&](ShardedTinyGpt2& f) { f.second.push_back(f.first[1]); },
       nullptr,
       {"tensor 'transformer.wpe.weight' is in two shards"}},
      {"shard_escaping_the_folder",
       [&](ShardedTinyGpt2& f) { f.index[wm]["transformer.ln_f.bias"] = "../" + s2; },
       // The escaping name exists, so only the name check can refuse it.
       [&](const ShardedTinyGpt2& f) {
         std::filesystem::copy_file(f.dir + "/" + s2, f.dir + "/../" + s2,
                                    std::filesystem::copy_options::overwrite_existing);
       },
       {"names shard '../" + s2 + "': a shard must be a file name in the index's own folder"}},
      {"absolute_shard",
       [&](ShardedTinyGpt2& f) { f.index[wm]["transformer.ln_f.bias"] = "/etc/hostname"; },
       nullptr,
       {"a shard must be a file name"}},
      {"shard_not_a_string",
       [&](ShardedTinyGpt2& f) { f.index[wm]["transformer.ln_f.bias"] = 3; },
       nullptr,
       {"weight_map entry 'transformer.ln_f.bias' is 3"}},
      {"no_weight_map", [&](ShardedTinyGpt2& f) { f.index.erase(wm); }, nullptr, {"has no \"weight_map\" object"}},
      {"index_not_json",
       nullptr,
       [&](const ShardedTinyGpt2& f) { write_bytes(f.dir + "/model.safetensors.index.json", "{\"weight_map\": {"); },
       {"model.safetensors.index.json: not valid JSON"}},
      {"shard_header_lies",
       nullptr,
       [&](const ShardedTinyGpt2& f) {
         std::string bytes = read_bytes(f.dir + "/" + s2);
         bytes[5] = 1;  // header length past the end of the file
         write_bytes(f.dir + "/" + s2, bytes);
       },
       {"shard refused", s2, "runs past the end"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ShardedTinyGpt2 f(dir.path(c.name));
    if (c.change) c.change(f);
    f.write();
    if (c.after_write) c.after_write(f);
    const CommandResult r = run_command_line(kTool + " import --hf " + f.dir + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(r.err_lines(), 1) << r.err;
    EXPECT_EQ(r.err.rfind("headlab-model: error: ", 0), 0u) << r.err;
    for (const std::string& e : c.expect)
      EXPECT_NE(r.err.find(e), std::string::npos) << "want '" << e << "' in " << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}
