// A safetensors file (headlab-model import --hf reads model.safetensors): the header checked on open,
// then every array small enough to read converted to float32.
#include "model/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

HEADLAB_FUZZ_TARGET(safetensors) {
  const std::string path = headlab::fuzz::input_file(data, size, ".safetensors");
  const headlab::SafetensorsFile file(path);
  for (const headlab::SafetensorsTensor& t : file.tensors()) {
    file.find(t.name);
    // The caller sizes what it reads: GPT-2's largest array is 38.6 M values, a fuzzed header may claim more.
    if (t.numel() <= (int64_t(1) << 20)) file.read_f32(t);
  }
}
