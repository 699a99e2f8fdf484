#!/usr/bin/env bash
# SAE training throughput, headlab against PyTorch in the same run: d_in 256, 16x expansion
# (4096 latents), batch 4096 tokens, f32, the same thread count. Each architecture's full step:
# encode, activation, decode, loss, backward, gradient clipping, Adam. Prints tokens/s for both
# and the ratio; each figure the best of --repeats runs (headlab and PyTorch interleaved).
#
#   scripts/bench/sae.sh [--threads N] [--archs "topk batchtopk relu jumprelu"] [--k K] [--steps N] [--repeats N]
#
# Needs the build (scripts/setup.sh) and Debian's python3-torch with libopenblas0-openmp.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
threads=2
archs="topk batchtopk relu jumprelu"
k=32
steps=5
repeats=2
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --archs) archs="$2"; shift 2 ;;
    --k) k="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "sae.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
build_dir="${HEADLAB_BUILD_DIR:-build}"
[ -f "$build_dir/CMakeCache.txt" ] || cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target headlab-bench-sae >/dev/null
bench="$build_dir/bin/headlab-bench-sae"
export OMP_NUM_THREADS="$threads"
field() { sed -n "s|.* $1 \([^ ]*\).*|\1|p"; }
best() { sort -g | tail -1; }
echo "SAE training step, headlab vs PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), d_in 256, 4096 latents, batch 4096, k $k, $threads threads, f32"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-10s %14s %14s %8s\n" arch "headlab tok/s" "torch tok/s" ratio
for arch in $archs; do
  h=""; t=""
  for r in $(seq "$repeats"); do
    h="$h $("$bench" --arch "$arch" --d-in 256 --expansion 16 --batch 4096 --k "$k" --steps "$steps" --threads "$threads" | field tokens/s)"
    t="$t $(/usr/bin/python3 scripts/bench/sae_torch.py "$arch" 256 16 4096 "$k" "$steps" "$threads" | field tokens/s)"
  done
  hb=$(echo $h | tr ' ' '\n' | best); tb=$(echo $t | tr ' ' '\n' | best)
  printf "%-10s %14s %14s %7.2fx\n" "$arch" "$hb" "$tb" "$(echo "$hb / $tb" | bc -l)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
