// One fuzz target per parser, each in its own tests/fuzz/<name>_fuzz.cpp:
//
//   #include "tests/fuzz/fuzz_target.h"
//   HEADLAB_FUZZ_TARGET(checkpoint) {
//     const std::string path = headlab::fuzz::input_file(data, size, ".h5");
//     headlab::read_checkpoint(path);
//   }
//
// The body gets `data` and `size` (the input's bytes). An InputError is the parser refusing the
// input, which is fine; any other exception, a crash or a sanitizer report is a bug.
//
// The same file builds two ways:
//  - with HEADLAB_FUZZ_MAIN (scripts/fuzz.sh: clang, -fsanitize=fuzzer,address,undefined) as the
//    libFuzzer program fuzz_<name>;
//  - in the normal test suite (test_fuzz), where FuzzRegressionTest feeds it every file under
//    tests/fuzz/regressions/<name>/ (inputs that once crashed it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/errors.h"

namespace headlab::fuzz {

using Entry = void (*)(const uint8_t* data, size_t size);

// Every target linked into this program, by name.
inline std::map<std::string, Entry>& targets() {
  static std::map<std::string, Entry> all;
  return all;
}
struct Registration {
  Registration(const char* name, Entry entry) { targets()[name] = entry; }
};

// The input as a file (one per process, rewritten for each input) in /dev/shm when there is one:
// the parsers under test read paths, as the commands do.
std::string input_file(const uint8_t* data, size_t size, const std::string& suffix);
// Runs `entry` on the input, with an InputError counted as a refusal; false when refused.
bool run_entry(Entry entry, const uint8_t* data, size_t size);
// Small bounds for the HDF5 open check, so that a hostile file costs a fuzzer seconds, not minutes.
void use_fuzzing_limits();

}  // namespace headlab::fuzz

#define HEADLAB_FUZZ_BODY_(name) headlab_fuzz_body_##name

#ifdef HEADLAB_FUZZ_MAIN
#define HEADLAB_FUZZ_ENTRY_(name)                                           \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                      \
    headlab::fuzz::use_fuzzing_limits();                                    \
    return 0;                                                               \
  }                                                                         \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    headlab::fuzz::run_entry(HEADLAB_FUZZ_BODY_(name), data, size);         \
    return 0;                                                               \
  }
#else
#define HEADLAB_FUZZ_ENTRY_(name) \
  static const headlab::fuzz::Registration headlab_fuzz_registration_##name(#name, HEADLAB_FUZZ_BODY_(name));
#endif

#define HEADLAB_FUZZ_TARGET(name)                                         \
  static void HEADLAB_FUZZ_BODY_(name)(const uint8_t* data, size_t size); \
  HEADLAB_FUZZ_ENTRY_(name)                                               \
  static void HEADLAB_FUZZ_BODY_(name)([[maybe_unused]] const uint8_t* data, [[maybe_unused]] size_t size)
