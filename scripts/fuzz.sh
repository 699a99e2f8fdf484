#!/usr/bin/env bash
# Builds the libFuzzer programs of tests/fuzz/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer,
# coverage) and runs them, each seeded with valid files made by the commands themselves.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     run one target (or each in turn) for SECONDS (600)
#   scripts/fuzz.sh --list                     the targets
#   scripts/fuzz.sh --install                  install clang and its fuzzing runtime first (apt)
#
# Everything goes under build-fuzz/ (HEADLAB_FUZZ_BUILD_DIR): fuzz/seeds/<target>/ (made once),
# fuzz/corpus/<target>/ (what libFuzzer found and keeps between runs), fuzz/artifacts/<target>/
# (inputs that crashed, hung or tripped a sanitizer), fuzz/logs/<target>.log. Each run ends with a
# line per target: executions, coverage (edges), corpus size and artifacts. A new artifact belongs
# in tests/fuzz/regressions/<target>/ once fixed: the normal test suite feeds those to the same
# entry points (FuzzRegressionTest). Runs under nice -n 19.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build="${HEADLAB_FUZZ_BUILD_DIR:-build-fuzz}"

if [ "${1:-}" = "--install" ]; then
  scripts/setup.sh --fuzz-extras
  shift
fi
targets=()
for f in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$f" _fuzz.cpp)
  targets+=("$name")
done
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
which_target="${1:-all}"
seconds="${2:-600}"
if [ "$which_target" != all ] && [ ! -f "tests/fuzz/${which_target}_fuzz.cpp" ]; then
  echo "fuzz.sh: no target '$which_target' (scripts/fuzz.sh --list)" >&2
  exit 2
fi
[ "$which_target" = all ] || targets=("$which_target")

cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "fuzz.sh: clang is not installed; run scripts/fuzz.sh --install (or scripts/setup.sh --fuzz-extras)" >&2
  exit 2
fi

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
    -DHEADLAB_FUZZ=ON -DHEADLAB_CUDA=OFF -DHEADLAB_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
fi
build_targets=(headlab-data headlab-model headlab-train headlab-probes)
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
if ! nice -n 19 cmake --build "$build" -j "$(nproc)" --target "${build_targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  grep -E "error" "$build/fuzz-build.log" | head -20 >&2
  echo "fuzz.sh: the build failed; see $build/fuzz-build.log" >&2
  exit 1
fi
tool() {
  local t="$1"
  for p in "$build/bin/$t" "$build/${t#headlab-}/$t"; do [ -x "$p" ] && { echo "$p"; return; }; done
  echo "fuzz.sh: $t was not built" >&2
  exit 1
}
fuzzer() {
  local t="fuzz_$1"
  for p in "$build/bin/$t" "$build/tests/fuzz/$t"; do [ -x "$p" ] && { echo "$p"; return; }; done
  echo "fuzz.sh: $t was not built" >&2
  exit 1
}
data=$(tool headlab-data)
model=$(tool headlab-model)
train=$(tool headlab-train)
probes=$(tool headlab-probes)
# The tools are built with AddressSanitizer too; their leaks at exit are not what this is about.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

# Valid inputs of every kind, made by the commands (once; remove build-fuzz/fuzz/seeds to remake).
seeds="$build/fuzz/seeds"
if [ ! -f "$seeds/.done" ]; then
  rm -rf "$seeds"
  w="$build/fuzz/work"
  rm -rf "$w"
  mkdir -p "$w" "$seeds"/{checkpoint,token_dataset,tokenizer,formation_track,train_config,activation_store,safetensors,sae_file,dataset_annotations}
  "$data" task ioi --n 6 --seed 1 --out "$seeds/token_dataset/ioi.h5" --save-tokenizer "$seeds/tokenizer/ioi.json" >/dev/null
  "$data" task induction --n 4 --length 5 --seed 2 --out "$seeds/token_dataset/induction.h5" >/dev/null
  "$data" task retrieval --n 3 --pairs 3 --seed 3 --out "$seeds/token_dataset/retrieval.h5" >/dev/null
  "$data" mix --source "$seeds/token_dataset/ioi.h5" --n 3 --seq-len 24 --out "$seeds/token_dataset/mix.h5" >/dev/null
  printf 'the cat sat on the mat; caf\xc3\xa9 na\xc3\xafve \xe2\x80\x9cquoted\xe2\x80\x9d\n' >"$w/text.txt"
  "$data" tokenizer train --input "$w/text.txt" --vocab-size 262 --out "$seeds/tokenizer/bpe.json" >/dev/null
  "$data" tokenizer train --input "$w/text.txt" --kind char --out "$seeds/tokenizer/char.json" >/dev/null
  printf '[model]\nn_layers = 1\nd_model = 8\nn_heads = 2\nd_mlp = 16\nn_ctx = 24\n\n[train]\nsteps = 2\nbatch_size = 2\nlr = 1e-3\n' \
    >"$seeds/train_config/toy.ini"
  printf '\xef\xbb\xbf; from Windows\r\n[Model]\r\nattn_only = true\r\nnormalization_type = "RMS"\r\n[train]\r\nwarmup = 1 # comment\r\nschedule = cosine\r\n' \
    >"$seeds/train_config/windows.ini"
  "$train" --config "$seeds/train_config/toy.ini" --data "$seeds/token_dataset/ioi.h5" --out "$w/run" --threads 1 \
    --log-every 1 >/dev/null
  cp "$w/run/final.h5" "$seeds/checkpoint/trained.h5"
  printf '[model]\nn_layers = 1\nd_model = 8\nn_heads = 2\nd_mlp = 0\nattn_only = true\nn_ctx = 8\nd_vocab = 12\npositional_embedding_type = rotary\nnormalization_type = RMS\n' >"$w/rot.ini"
  "$model" init --config "$w/rot.ini" --seed 1 --out "$seeds/checkpoint/rotary_init.h5" >/dev/null
  "$train" --data builtin:induction --out "$w/track" --model.attn_only true --model.n_layers 1 --model.d_model 8 \
    --model.n_heads 2 --model.d_vocab 16 --model.n_ctx 16 --induction-seq-len 15 --steps 2 --batch-size 2 --threads 1 \
    --track-heads "$seeds/formation_track/track.h5" --track-every 1 >/dev/null
  "$probes" extract --checkpoint "$seeds/checkpoint/trained.h5" --data "$seeds/token_dataset/ioi.h5" \
    --hooks blocks.0.hook_resid_post,blocks.0.attn.hook_z --max-tokens 24 --threads 1 \
    --out "$seeds/activation_store/f32.h5" >/dev/null
  "$probes" extract --checkpoint "$seeds/checkpoint/trained.h5" --data "$seeds/token_dataset/ioi.h5" \
    --hooks blocks.0.hook_resid_pre --positions answer --dtype float16 --compress 4 --threads 1 \
    --out "$seeds/activation_store/f16_gzip.h5" >/dev/null
  "$model" export --checkpoint "$seeds/checkpoint/trained.h5" --safetensors "$seeds/safetensors/trained.safetensors" >/dev/null
  "$probes" sae train --checkpoint "$seeds/checkpoint/trained.h5" --store "$seeds/activation_store/f32.h5" \
    --hook blocks.0.hook_resid_post --arch topk --k 2 --expansion 2 --steps 2 --batch-size 8 --threads 1 \
    --out "$seeds/sae_file/topk.h5" >/dev/null
  "$probes" sae train --checkpoint "$seeds/checkpoint/trained.h5" --store "$seeds/activation_store/f32.h5" \
    --hook blocks.0.hook_resid_post --arch jumprelu --expansion 2 --steps 2 --batch-size 8 --threads 1 \
    --checkpoint-every 1 --out "$seeds/sae_file/jumprelu.h5" >/dev/null
  cp "$seeds"/token_dataset/{ioi,induction,retrieval}.h5 "$seeds/dataset_annotations/"
  rm -rf "$w"
  touch "$seeds/.done"
fi

summary=()
for t in "${targets[@]}"; do
  bin=$(fuzzer "$t")
  corpus="$build/fuzz/corpus/$t"
  artifacts="$build/fuzz/artifacts/$t"
  log="$build/fuzz/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  inputs=("$corpus")
  [ -d "$seeds/$t" ] && inputs+=("$seeds/$t")
  [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
  echo "fuzz.sh: $t for $seconds s (log: $log)"
  before=$(find "$artifacts" -type f | wc -l)
  # -timeout: one input may take 20 s (the HDF5 check's own bound is 2 s plus the file's size at
  # 20 MB/s); -rss_limit_mb: the process and its check child stay under 2 GiB.
  nice -n 19 "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${inputs[@]}" >"$log" 2>&1 || true
  after=$(find "$artifacts" -type f | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  summary+=("$(printf '%-16s %8s executions in %ss, coverage %s edges / %s features, corpus %s, new artifacts %s' \
    "$t" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" "$(find "$corpus" -type f | wc -l)" "$((after - before))")")
  if grep -q "ERROR: libFuzzer\|ERROR: AddressSanitizer\|runtime error:\|SUMMARY:" "$log"; then
    grep -m3 "ERROR\|runtime error\|SUMMARY" "$log" | sed 's/^/  /'
  fi
done
printf '%s\n' "${summary[@]}"
