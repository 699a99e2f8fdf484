// A sharded safetensors folder (headlab-model import --hf DIR without model.safetensors): the input is
// model.safetensors.index.json and two shards, model-00001-of-00002.safetensors and
// model-00002-of-00002.safetensors, split at the lines "#headlab-fuzz-split"; the index and the shards
// checked against each other, then every small tensor read through the set.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(safetensors_index) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view split = "\n#headlab-fuzz-split\n";
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    const size_t at = i < 2 ? rest.find(split) : rest.npos;
    parts[i] = rest.substr(0, at);
    rest = at == rest.npos ? std::string_view() : rest.substr(at + split.size());
  }
  // One folder per process, removed when the process ends (libFuzzer and the test suite both exit).
  struct ScratchFolder {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("headlab_fuzz_shards_" + std::to_string(::getpid())) / "model";
    ScratchFolder() { std::filesystem::create_directories(path); }
    ~ScratchFolder() {
      std::error_code ignored;
      std::filesystem::remove_all(path.parent_path(), ignored);
    }
  };
  static const ScratchFolder scratch;
  const std::filesystem::path& dir = scratch.path;
  const char* names[3] = {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors"};
  for (int i = 0; i < 3; ++i)
    std::ofstream(dir / names[i], std::ios::binary | std::ios::trunc)
        .write(parts[i].data(), std::streamsize(parts[i].size()));
  const headlab::SafetensorsSet set = headlab::SafetensorsSet::open_index((dir / names[0]).string());
  for (const headlab::SafetensorsSet::Entry& e : set.entries()) {
    if (set.find(e.tensor->name).tensor != e.tensor) throw headlab::InternalError("find disagrees with entries");
    // The caller sizes what it reads: GPT-2's largest array is 38.6 M values, a fuzzed header may claim more.
    if (e.tensor->numel() <= (int64_t(1) << 20)) e.file->read_f32(*e.tensor);
  }
}
