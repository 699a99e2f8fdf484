#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
#   scripts/test.sh [ctest arguments]
#   HEADLAB_SANITIZE=1 scripts/test.sh    the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#                                         in its own build folder build-sanitize (CUDA off): any
#                                         memory error or undefined behaviour fails the test it is in
#   HEADLAB_SANITIZE=thread scripts/test.sh [-R REGEX]
#                                         under ThreadSanitizer, in build-tsan (clang-14 and libomp,
#                                         installed on demand; CUDA off): a data race fails the test.
#                                         OpenMP is seen through libomp's Archer tool; oneDNN's own
#                                         threads (GCC's libgomp, not instrumented) are not checked
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${HEADLAB_SANITIZE:-0}" = "1" ]; then
  export HEADLAB_BUILD_DIR="${HEADLAB_BUILD_DIR:-build-sanitize}"
  export HEADLAB_CMAKE_ARGS="${HEADLAB_CMAKE_ARGS:-} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEADLAB_SANITIZE=ON -DHEADLAB_CUDA=OFF"
  # Leaks at exit are left to the libraries' owners (HDF5 and oneDNN keep caches for the process);
  # a report of undefined behaviour stops the program, so the test fails.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
if [ "${HEADLAB_SANITIZE:-0}" = "thread" ]; then
  scripts/setup.sh --fuzz-extras
  export HEADLAB_BUILD_DIR="${HEADLAB_BUILD_DIR:-build-tsan}"
  export HEADLAB_CMAKE_ARGS="${HEADLAB_CMAKE_ARGS:-} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEADLAB_TSAN=ON -DHEADLAB_CUDA=OFF -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14"
  export OMP_TOOL_LIBRARIES="${OMP_TOOL_LIBRARIES:-/usr/lib/llvm-14/lib/libarcher.so}"
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1}"
fi
scripts/setup.sh
build_dir="${HEADLAB_BUILD_DIR:-build}"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"
