// A checkpoint as headlab-model, -train and -circuits read it: config, params, training state and
// tokenizer (read_checkpoint), then the tokenizer it carries.
#include "data/tokenizer.h"
#include "model/checkpoint.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(checkpoint) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  const headlab::Checkpoint ck = headlab::read_checkpoint(path);
  if (!ck.tokenizer_json.empty()) headlab::tokenizer_from_json(ck.tokenizer_json, path + ": /tokenizer");
  headlab::require_finite_params(ck, path);
}
