// Bytes that are not printable ASCII, fed to every parser a command has: each command's one error
// line shows them as \xNN (and \n, \r, \t), never raw, and stays one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/h5_file.h"
#include "model/checkpoint.h"
#include "tests/command_runner.h"
#include "tests/temp_dir.h"

namespace headlab {
namespace {

using testing::TempDir;

std::string binary(const std::string& tool) {
  for (const std::string& p : {std::string(HEADLAB_BINARY_DIR) + "/bin/headlab-" + tool,
                               std::string(HEADLAB_BINARY_DIR) + "/" + tool + "/headlab-" + tool})
    if (std::filesystem::exists(p)) return p;
  return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Runs `tool args` (the arguments are quoted for the shell by the caller) and checks the refusal.
void expect_escaped(const std::string& tool, const std::string& args, const std::string& escaped) {
  const std::string bin = binary(tool);
  ASSERT_FALSE(bin.empty()) << "headlab-" << tool << " is not built";
  const testing::CommandResult r = testing::run_command_line(bin + " " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
  EXPECT_EQ(r.err_lines(), 1) << r.err;
  for (char c : r.err) {
    const unsigned char u = static_cast<unsigned char>(c);
    EXPECT_TRUE((u >= 0x20 && u < 0x7f) || c == '\n') << "raw byte 0x" << std::hex << int(u) << " in: " << r.err;
  }
  EXPECT_NE(r.err.find(escaped), std::string::npos) << "expected " << escaped << " in: " << r.err;
}

class EscapedBytesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"data", "model", "train", "circuits"})
      if (binary(tool).empty()) GTEST_SKIP() << "headlab-" << tool << " is not built";
  }
  TempDir tmp_;
};

TEST_F(EscapedBytesTest, IniConfigLines) {
  const std::string ini = tmp_.path("bad.ini");
  write_bytes(ini, "[train]\nstepsel \xbd 32\n");
  expect_escaped("train", "--config " + ini + " --data builtin:repeat --out " + tmp_.path("run"), "'stepsel \\xbd 32'");
  write_bytes(ini, "[model]\nd_model = 1\xbd\x1b\n");
  expect_escaped("model", "init --config " + ini + " --out " + tmp_.path("x.h5"), "1\\xbd\\x1b");
}

TEST_F(EscapedBytesTest, TokenizerJson) {
  const std::string json = tmp_.path("tok.json");
  write_bytes(json, "{\"kind\": \"w\xc3\xa9rd\xff\", \"tokens\": []}");
  expect_escaped("data", "tokenizer encode --tokenizer " + json + " --text hello", "\\x");
  // nlohmann's own excerpt names a control byte as <U+0001>: printable already.
  write_bytes(json, std::string("{\"kind\"\x01: 1}"));
  expect_escaped("data", "tokenizer encode --tokenizer " + json + " --text hello", "<U+0001>");
}

TEST_F(EscapedBytesTest, Hdf5StringAttributes) {
  // A token dataset whose kind is neither word, and a checkpoint whose act_fn is unknown.
  const std::string ds = tmp_.path("ds.h5");
  {
    h5::AtomicFile out(ds);
    h5::set_format(out.file(), "headlab.tokens", 1);
    out.file().set_attr("kind",
                        "str\xbd\x01"
                        "eam");
    out.file().set_attr("d_vocab", int64_t(10));
    out.commit();
  }
  expect_escaped("train", "--data " + ds + " --out " + tmp_.path("run2"), "'str\\xbd\\x01eam'");
  const std::string ck = tmp_.path("ck.h5");
  {
    h5::AtomicFile out(ck);
    h5::Group config = out.file().create_group("config");
    h5::set_format(config, kCheckpointFormat, kCheckpointVersion);
    config.set_attr("n_layers", int64_t(1));
    config.set_attr("d_model", int64_t(8));
    config.set_attr("n_heads", int64_t(2));
    config.set_attr("d_head", int64_t(4));
    config.set_attr("d_mlp", int64_t(16));
    config.set_attr("n_ctx", int64_t(8));
    config.set_attr("d_vocab", int64_t(8));
    config.set_attr("act_fn",
                    "gel\xff"
                    "u\t");
    out.commit();
  }
  expect_escaped("model", "info " + ck, "gel\\xffu\\t");
}

TEST_F(EscapedBytesTest, CommandLineArgumentsAndPaths) {
  expect_escaped("circuits", "heads --checkpoint '" + tmp_.path("mi\xc3\xa9ssing.h5") + "' --out-dir " + tmp_.path("o"),
                 "mi\\xc3\\xa9ssing.h5");
  expect_escaped("model", "info '" + tmp_.path("no\x7f.h5") + "'", "no\\x7f.h5");
  expect_escaped("data", "task ioi --n 4 --seed 1 --out " + tmp_.path("x.h5") + " '--st\xbd'", "--st\\xbd");
}

}  // namespace
}  // namespace headlab
