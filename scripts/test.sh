#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
#   scripts/test.sh [ctest arguments]
#   HEADLAB_SANITIZE=1 scripts/test.sh    the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#                                         in its own build folder build-sanitize (CUDA off): any
#                                         memory error or undefined behaviour fails the test it is in
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
scripts/setup.sh
build_dir="${HEADLAB_BUILD_DIR:-build}"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"
