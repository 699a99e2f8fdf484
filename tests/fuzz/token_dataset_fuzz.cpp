// A token dataset (streams and sequences, with labels, answers and masks) and the tokenizer it
// names, as headlab-train --data and headlab-circuits --data read them.
#include "data/token_dataset.h"
#include "data/tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(token_dataset) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  const headlab::TokenDataset ds = headlab::read_token_dataset(path);
  if (!ds.tokenizer_json.empty()) headlab::tokenizer_from_json(ds.tokenizer_json, path + ": attribute tokenizer");
}
