// A task dataset's annotations (headlab-circuits heads --task and the task metrics read them): the
// per-row answer, wrong answer and position arrays beside the tokens.
#include "data/dataset_annotations.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(dataset_annotations) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  headlab::read_dataset_annotations(path);
}
