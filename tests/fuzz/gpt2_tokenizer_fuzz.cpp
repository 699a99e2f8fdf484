// GPT-2's tokenizer files (headlab-data tokenizer import --gpt2 DIR, headlab-model import --hf DIR):
// the input is encoder.json and vocab.bpe together, split at the first line "#headlab-fuzz-split";
// then a little text through the imported encoder and back.
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "data/gpt2_tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(gpt2_tokenizer) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::string_view split = "\n#headlab-fuzz-split\n";
  const size_t at = all.find(split);
  const std::string_view encoder = all.substr(0, at), merges = at == all.npos ? "" : all.substr(at + split.size());
  // One folder per process, removed when the process ends (libFuzzer and the test suite both exit).
  struct ScratchFolder {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("headlab_fuzz_gpt2_" + std::to_string(::getpid()));
    ScratchFolder() { std::filesystem::create_directories(path); }
    ~ScratchFolder() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const ScratchFolder scratch;
  const std::filesystem::path& dir = scratch.path;
  std::ofstream(dir / "encoder.json", std::ios::binary).write(encoder.data(), std::streamsize(encoder.size()));
  std::ofstream(dir / "vocab.bpe", std::ios::binary).write(merges.data(), std::streamsize(merges.size()));
  const headlab::Gpt2Tokenizer t = headlab::import_gpt2_tokenizer(dir.string());
  const std::string text(all.substr(all.size() > 24 ? all.size() - 24 : 0));
  t.decode(t.encode(text));
  headlab::tokenizer_from_json(t.to_json(), "round trip");
}
