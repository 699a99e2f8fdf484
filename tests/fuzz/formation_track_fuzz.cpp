// An analysis file: the head-formation history (headlab-train --track-heads, read back by
// headlab-circuits formation and on resume).
#include "circuits/formation_track.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(formation_track) {
  const std::string path = headlab::fuzz::input_file(data, size, ".h5");
  headlab::read_formation_track(path);
}
