#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU (made for the lent H100: 16 cores, no network,
# the repository copied there, $OUT an empty folder whose contents come back), configure for
# Hopper, build, run the CUDA tests (then again under compute-sanitizer), run the GPU benchmarks,
# all inside about 8 minutes. Everything printed goes to $OUT/gpu.log as well; each phase also
# has its own log in $OUT (at most 8 files in all).
#
#   scripts/bench/gpu.sh                 run the check (on the GPU machine)
#   scripts/bench/gpu.sh --pack-deps     on a development machine (Debian 12, with apt): download
#                                        the Debian packages headlab builds against into
#                                        .cache/gpu-debs/, to take along (device run carry:
#                                        [".cache/gpu-debs"]). The GPU machine's image has CUDA,
#                                        CMake and a compiler but not oneDNN, HDF5, Boost, GTest,
#                                        or nlohmann-json, and it cannot download them.
#
# With .cache/gpu-debs present, the packages are unpacked into /tmp/headlab-deps (never into /)
# and CMake looks there first; the shared libraries the machine lacks are put on LD_LIBRARY_PATH
# (only those, so the machine's own tools keep their own libraries).
#
# GPU benchmarks: every executable scripts/bench/gpu_*.sh is run with HEADLAB_BUILD_DIR set (the
# configured build folder; each script builds the targets it needs there), in the time left, its
# output in $OUT/bench.log; none is fine.
#
# Environment: OUT (default ./gpu-out), HEADLAB_GPU_DEADLINE_S (default 470: seconds for all of it),
# HEADLAB_CUDA_ARCH (default 90), HEADLAB_BUILD_DIR (default build-gpu).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
debs_dir=.cache/gpu-debs

# ---- packing, on the development machine ----------------------------------------------------------
if [ "${1:-}" = "--pack-deps" ]; then
  set -e
  # The build's dependencies and the shared libraries they load (Debian 12 names), less what every
  # Linux with a compiler has (libc, libstdc++, libgcc, libgomp, zlib).
  packages=(
    libdnnl-dev libdnnl2 ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers
    libhdf5-dev libhdf5-103-1 libaec0 libsz2
    libcurl4 libbrotli1 libffi8 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0 libk5crypto3
    libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 libnghttp2-14 libp11-kit0 libpsl5 librtmp1 libsasl2-2
    libssh2-1 libssl3 libtasn1-6 libunistring2 libzstd1 libcom-err2 libkeyutils1
    libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
    libgtest-dev nlohmann-json3-dev
  )
  rm -rf "$debs_dir"
  mkdir -p "$debs_dir"
  # apt's sandbox user must be able to write there.
  chmod 777 "$debs_dir"
  (cd "$debs_dir" && apt-get download "${packages[@]}")
  chmod 755 "$debs_dir"
  echo "gpu.sh: $(ls "$debs_dir" | wc -l) packages, $(du -sh "$debs_dir" | cut -f1), in $debs_dir"
  exit 0
fi

# ---- the check, on the GPU machine ------------------------------------------------------------------
OUT=${OUT:-$root/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu.log") 2>&1
start=$(date +%s)
deadline=$((start + ${HEADLAB_GPU_DEADLINE_S:-470}))
arch=${HEADLAB_CUDA_ARCH:-90}
build=${HEADLAB_BUILD_DIR:-build-gpu}
jobs=$(nproc)
# Seconds left, at least 1 (timeout 0 would mean no limit at all).
left() { local s=$((deadline - $(date +%s))); echo $((s > 0 ? s : 1)); }
phase() { echo; echo "=== $* ($(( $(date +%s) - start )) s in, $(left) s left)"; }
status=0

phase "machine"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi failed"
  uname -a
  nproc
  command -v nvcc || ls -d /usr/local/cuda*/bin/nvcc 2>/dev/null || echo "no nvcc on PATH"
  nvcc --version 2>/dev/null | tail -2
  g++ --version 2>/dev/null | head -1
  cmake --version | head -1
  command -v ninja || echo "no ninja"
} 2>&1 | tee "$OUT/machine.log"

# The CUDA compiler: on PATH, or in /usr/local/cuda*.
nvcc_path=$(command -v nvcc || true)
[ -z "$nvcc_path" ] && nvcc_path=$(ls -d /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc 2>/dev/null | head -1)
# A newer CMake (4.x) refuses package files that ask for policies older than 3.5.
export CMAKE_POLICY_VERSION_MINIMUM=3.5
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DHEADLAB_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch")
[ -n "$nvcc_path" ] && cmake_args+=("-DCMAKE_CUDA_COMPILER=$nvcc_path")
# Ninja where there is one, unless an existing build folder already chose its generator.
[ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null && cmake_args+=(-G Ninja)

if ls "$debs_dir"/*.deb >/dev/null 2>&1; then
  phase "unpacking $(ls "$debs_dir"/*.deb | wc -l) Debian packages into /tmp/headlab-deps"
  deps=/tmp/headlab-deps
  rm -rf "$deps" && mkdir -p "$deps/missing-libs"
  unpack_one() {  # a .deb is an ar archive holding data.tar.*; dpkg-deb where there is one
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$1" "$2"
    else
      local tmp
      tmp=$(mktemp -d) && (cd "$tmp" && ar x "$1" && tar -xf data.tar.* -C "$2") && rm -rf "$tmp"
    fi
  }
  export -f unpack_one
  ls "$root/$debs_dir"/*.deb | xargs -P "$jobs" -I{} bash -c 'unpack_one "$1" "$2"' _ {} "$deps"
  # Only the libraries the machine cannot find go on the library path.
  known=$(ldconfig -p 2>/dev/null | awk 'NR > 1 {print $1}' | sort -u)
  for lib in "$deps"/usr/lib/x86_64-linux-gnu/*.so.* "$deps"/usr/lib/x86_64-linux-gnu/hdf5/serial/*.so.*; do
    [ -e "$lib" ] || continue
    name=$(basename "$lib")
    grep -qx "$name" <<<"$known" || ln -sf "$lib" "$deps/missing-libs/$name"
  done
  echo "libraries the machine lacks: $(ls "$deps/missing-libs" | tr '\n' ' ')"
  export LD_LIBRARY_PATH="$deps/missing-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Packages first in the search; HDF5 found by search, not by a compiler wrapper the image may hold.
  cmake_args+=("-DCMAKE_PREFIX_PATH=$deps/usr" "-DHDF5_C_COMPILER_EXECUTABLE=$deps/none/h5cc")
fi

phase "configure ($build, sm_$arch)"
# (a fresh machine has no build folder; elsewhere an existing one is reused)
if ! timeout "$(left)" cmake -S . -B "$build" "${cmake_args[@]}" 2>&1 | tee "$OUT/configure.log"; then
  echo "gpu.sh: configure failed (see configure.log)"
  exit 1
fi
grep -q "headlab: CUDA backend ON" "$OUT/configure.log" || { echo "gpu.sh: CUDA backend not enabled"; exit 1; }

phase "build (-j$jobs): headlab_cuda, then test_cuda"
# The CUDA library first, on its own, so its errors lead the log; keep going past errors to see them all.
keep_going=(-- -k 0)
grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja" "$build/CMakeCache.txt" || keep_going=(-- -k)
timeout "$(left)" cmake --build "$build" -j "$jobs" --target headlab_cuda "${keep_going[@]}" 2>&1 | tee "$OUT/build.log"
cuda_built=${PIPESTATUS[0]}
timeout "$(left)" cmake --build "$build" -j "$jobs" --target test_cuda "${keep_going[@]}" 2>&1 | tee -a "$OUT/build.log"
tests_built=${PIPESTATUS[0]}
echo "build: headlab_cuda exit $cuda_built, test_cuda exit $tests_built"
if [ "$tests_built" -ne 0 ] || [ ! -x "$build/bin/test_cuda" ]; then
  echo "gpu.sh: test_cuda did not build (see build.log)"
  exit 1
fi

phase "CUDA tests (ctest -R ^Cuda)"
(cd "$build" && timeout "$(left)" ctest -R '^Cuda' --output-on-failure --timeout 120 -j 4) 2>&1 | tee "$OUT/ctest.log"
ctest_status=${PIPESTATUS[0]}
[ "$ctest_status" -ne 0 ] && status=1
# A skipped CUDA test here means the GPU was not reached: a failure on this machine. (The one
# test that checks the error without a GPU skips where there is one.)
if grep '\*\*\*Skipped' "$OUT/ctest.log" | grep -vq WithoutGpuIsAnInputError; then
  echo "gpu.sh: CUDA tests skipped: no GPU reached"
  status=1
fi

phase "CUDA tests under compute-sanitizer (memcheck at most 150 s, then racecheck)"
if command -v compute-sanitizer >/dev/null; then
  budget=$(( $(left) - 60 ))
  [ "$budget" -gt 150 ] && budget=150
  if [ "$budget" -gt 20 ]; then
    timeout "$budget" compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
      "$build/bin/test_cuda" --gtest_filter='Cuda*' --gtest_brief=1 2>&1 | tee "$OUT/sanitizer.log"
    echo "compute-sanitizer memcheck exit ${PIPESTATUS[0]} (124: ran out of time; 3: memory errors)"
  else
    echo "no time left for it"
  fi
  # The fused attention's shared-memory tiles: racecheck for missing barriers.
  budget=$(( $(left) - 60 ))
  [ "$budget" -gt 90 ] && budget=90
  if [ "$budget" -gt 20 ]; then
    echo "--- racecheck on the fused attention, at most $budget s"
    timeout "$budget" compute-sanitizer --tool racecheck --error-exitcode 3 --print-limit 20 \
      "$build/bin/test_cuda" --gtest_filter='CudaFlashAttentionTest.*' --gtest_brief=1 2>&1 | tee -a "$OUT/sanitizer.log"
    echo "compute-sanitizer racecheck exit ${PIPESTATUS[0]} (124: ran out of time; 3: hazards)"
  fi
else
  echo "compute-sanitizer not found"
fi

phase "GPU benchmarks (scripts/bench/gpu_*.sh)"
shopt -s nullglob
benches=(scripts/bench/gpu_*.sh)
if [ ${#benches[@]} -eq 0 ]; then
  echo "none present"
fi
for bench in "${benches[@]}"; do
  [ -x "$bench" ] || { echo "$bench: not executable, skipped"; continue; }
  budget=$(( $(left) - 5 ))
  if [ "$budget" -lt 10 ]; then
    echo "$bench: no time left"
    continue
  fi
  echo "--- $bench (at most $budget s)"
  HEADLAB_BUILD_DIR="$build" timeout "$budget" "$bench" 2>&1 | tee -a "$OUT/bench.log"
  echo "$bench exit ${PIPESTATUS[0]}"
done

phase "done: ctest exit $ctest_status, overall $status"
exit $status
