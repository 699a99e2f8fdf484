#!/usr/bin/env bash
# Training throughput, headlab against PyTorch, in the same run: three shapes
# (toy, small, gpt2 = the GPT-2-124M shape), the same thread count, f32. Prints tokens/s and
# achieved GFLOP/s for both (FLOPs counted as llm.c counts them), the ratio, the BLAS PyTorch
# loaded and the load average around each measurement; then times headlab-train itself on the toy
# shape, to show what the training loop adds to the bare step.
#
#   scripts/bench/train_throughput.sh [--threads N] [--shapes "toy small gpt2"] [--repeats N] [--no-setup]
#
# Set-up first (scripts/setup.sh: the Debian packages, libopenblas0-openmp among them, and the
# build); --no-setup skips it and only builds the benchmark in $HEADLAB_BUILD_DIR (default build).
# The machine should be otherwise idle: each figure is the best of --repeats runs (headlab and
# PyTorch interleaved), but two threads that do not get two cores wait for each other.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

threads=2
shapes="toy small gpt2"
repeats=3
setup=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --no-setup) setup=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "train_throughput.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

build_dir="${HEADLAB_BUILD_DIR:-build}"
if [ "$setup" = 1 ]; then
  HEADLAB_SKIP_CORPUS=1 "$root/scripts/setup.sh"
else
  [ -f "$build_dir/CMakeCache.txt" ] || cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)" --target headlab-bench-train-step >/dev/null
[ "$setup" = 1 ] || cmake --build "$build_dir" -j "$(nproc)" --target headlab-train >/dev/null 2>&1 || true
# The baseline is meaningless without OpenBLAS (setup.sh installs it, but only warns when it cannot).
for p in python3-torch libopenblas0-openmp; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "train_throughput.sh: error: $p is not installed: the PyTorch baseline needs it (scripts/setup.sh installs it)" >&2
    exit 2
  fi
done
bench="$build_dir/bin/headlab-bench-train-step"
train="$build_dir/bin/headlab-train"
torch_python=/usr/bin/python3  # Debian's python3-torch; a python3 earlier on PATH may lack torch

# Timed steps per run (after warm-up), per shape: a few seconds each.
steps_for() { case "$1" in toy) echo 30 ;; small) echo 8 ;; gpt2) echo 3 ;; esac; }
load() { cut -d' ' -f1 /proc/loadavg; }
field() { sed -n "s|.* $1 \([^ ]*\).*|\1|p"; }  # the value after " name " on a line

cores=$(nproc)
export OMP_NUM_THREADS="$threads"
blas_lib=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo "?")
echo "headlab vs PyTorch, training step (forward, loss, backward, AdamW), f32, $threads threads"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $cores cores;" \
     "libblas.so.3 -> $blas_lib"
echo

rows=()
torch_blas=""
for shape in $shapes; do
  steps=$(steps_for "$shape")
  [ -n "$steps" ] || { echo "train_throughput.sh: error: unknown shape '$shape'" >&2; exit 2; }
  load_before=$(load)
  # Interleaved, so that both see the same load; the best of the runs of each.
  h="" t="" h_tps=0 t_tps=0
  for ((r = 0; r < repeats; r++)); do
    h_run=$("$bench" --shape "$shape" --threads "$threads" --steps "$steps" --warmup 2 --repeats 1 | head -1)
    t_run=$("$torch_python" "$root/scripts/bench/torch_train.py" --shape "$shape" --threads "$threads" \
              --steps "$steps" --warmup 2)
    echo "  $h_run"
    echo "  $t_run"
    v=$(echo "$h_run" | field tokens/s); if awk -v a="$v" -v b="$h_tps" 'BEGIN { exit !(a > b) }'; then h="$h_run" h_tps=$v; fi
    v=$(echo "$t_run" | field tokens/s); if awk -v a="$v" -v b="$t_tps" 'BEGIN { exit !(a > b) }'; then t="$t_run" t_tps=$v; fi
  done
  load_after=$(load)
  h_gf=$(echo "$h" | field gflops)
  t_gf=$(echo "$t" | field gflops)
  torch_blas=$(echo "$t" | field blas)
  ratio=$(awk -v a="$h_tps" -v b="$t_tps" 'BEGIN { printf "%.2f", a / b }')
  rows+=("$(printf '%-6s %8s %14.0f %9.1f %14.0f %9.1f %7sx %11s' "$shape" "$threads" "$h_tps" "$h_gf" "$t_tps" \
             "$t_gf" "$ratio" "$load_before->$load_after")")
done

echo
printf '%-6s %8s %14s %9s %14s %9s %8s %11s\n' shape threads "headlab tok/s" GFLOP/s "torch tok/s" GFLOP/s ratio load
for r in "${rows[@]}"; do echo "$r"; done
echo "PyTorch BLAS: $torch_blas (libblas.so.3 -> $blas_lib)"
case "$torch_blas $blas_lib" in
  *openblas*) ;;
  *) echo "WARNING: PyTorch is not on OpenBLAS: its figures are 20-50x too slow to compare with" ;;
esac

# The training loop around the step: headlab-train on the toy shape, from the built-in task.
if [ -x "$train" ] && [[ " $shapes " == *" toy "* ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  "$train" --data builtin:repeat --repeat-half-len 64 --model.n_layers 2 --model.d_model 128 --model.n_heads 4 \
    --model.d_head 32 --model.attn_only true --model.d_vocab 512 --batch-size 32 --steps 100 --log-every 20 \
    --threads "$threads" --out "$out/run" >/dev/null
  # tokens/s of the best 20-step window after the first step (evaluation and checkpoint writing
  # are outside the windows), as the bare step's figure is the best of its runs
  loop_tps=$(grep -v '"step":1,' "$out/run/metrics.jsonl" | sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p' |
             sort -g | tail -1)
  bench_tps=$(printf '%s\n' "${rows[@]}" | awk '$1 == "toy" { print $3 }')
  echo
  awk -v a="$loop_tps" -v b="$bench_tps" -v l="$(load)" \
    'BEGIN { printf "headlab-train, toy shape: %.0f tokens/s in the loop, %.0f in the bare step (%.0f%%), load %s\n", a, b, 100 * a / b, l }'
else
  echo
  echo "headlab-train not built (or toy not measured): training-loop overhead not measured"
fi
