// A tokenizer JSON file (word list, characters, BPE), then a round trip through it: what
// --tokenizer and a checkpoint's /tokenizer go through.
#include <string>

#include "data/tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(tokenizer) {
  const std::string path = headlab::fuzz::input_file(data, size, ".json");
  const std::unique_ptr<headlab::Tokenizer> t = headlab::load_tokenizer(path);
  // Text made of the input's last bytes: the encoder meets whatever the JSON did not describe.
  const std::string text(reinterpret_cast<const char*>(data) + (size > 32 ? size - 32 : 0), size > 32 ? 32 : size);
  try {
    const std::vector<int32_t> ids = t->encode(text);
    t->decode(ids);
  } catch (const headlab::InputError&) {
  }
  for (int32_t id = 0; id < t->vocab_size() && id < 64; ++id) t->token_bytes(id);
  headlab::tokenizer_from_json(t->to_json(), "round trip");
}
