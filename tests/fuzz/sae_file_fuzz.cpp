// An SAE file (headlab-probes sae train writes it; sae eval, sae features and sae train --resume read
// it): the weights and attributes, then the training state a checkpoint carries.
#include "probes/sae_file.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(sae_file) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  try {
    headlab::read_sae_file(path);
  } catch (const headlab::InputError&) {
  }
  headlab::read_sae_train_state(path);
}
