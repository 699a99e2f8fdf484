#!/usr/bin/env bash
# Data-parallel scaling on this machine: headlab-train's tokens/s for 1 rank of 1 thread, 2 MPI ranks
# of 1 thread each (gradients summed after the backward: --allreduce mpi, and during it: overlap),
# and 1 rank of 2 threads, on the toy, small and GPT-2-124M shapes (those of train_throughput.sh;
# random tokens from a stream file, the same global batch in every configuration), with the share
# of a 2-rank step spent in the gradient sum (rank 0's allreduce_s over its step time, mean over
# the steps after the first); then the gradient sum alone (headlab-bench-allreduce) at each shape's
# size, and an estimate for 8 to 64 ranks from a model fitted to the measured sums.
#
#   scripts/bench/mpi_scaling.sh [--shapes "toy small gpt2"] [--steps N] [--no-threads] [--no-sum] [--keep DIR]
#
# --steps: timed steps per run (default per shape); --no-threads: skip 1 rank of 2 threads;
# --no-sum: skip the gradient sum alone and the estimate.
#
# Needs a build with MPI (libopenmpi-dev) in $HEADLAB_BUILD_DIR (default build) and mpirun.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shapes="toy small gpt2"
work=""
steps=""
threads_column=1
sum_alone=1
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --no-threads) threads_column=0; shift ;;
    --no-sum) sum_alone=0; shift ;;
    --keep) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "mpi_scaling.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
build="${HEADLAB_BUILD_DIR:-$root/build}"
train="$build/bin/headlab-train"
bench="$build/bin/headlab-bench-allreduce"
for p in "$train" "$bench"; do
  [ -x "$p" ] || { echo "mpi_scaling.sh: error: build $(basename "$p") first ($p)" >&2; exit 2; }
done
command -v mpirun >/dev/null || { echo "mpi_scaling.sh: error: mpirun is not installed (openmpi-bin)" >&2; exit 2; }
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
mpirun_n() { mpirun -np "$1" --oversubscribe --allow-run-as-root --bind-to none "${@:2}"; }

# name layers d_model heads d_mlp n_ctx d_vocab batch steps
shape_of() {
  case "$1" in
    toy) echo "2 128 4 0 128 512 32 30" ;;
    small) echo "4 256 8 1024 256 4096 16 8" ;;
    gpt2) echo "12 768 12 3072 256 50257 4 3" ;;
    *) echo "mpi_scaling.sh: error: unknown shape '$1'" >&2; exit 2 ;;
  esac
}
# tokens/s of a run: the best window after the first step (metrics.jsonl, --log-every 1)
best_tps() { grep -v '"step":1,' "$1" | sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p' | sort -g | tail -1; }
# percent of a step in the gradient sum: mean over the steps after the first of allreduce_s / step time
sum_share() {
  grep -v '"step":1,' "$1" | /usr/bin/python3 -c "
import json, sys
r = [json.loads(l) for l in sys.stdin if 'allreduce_s' in l]
print('%.0f' % (100 * sum(x['allreduce_s'] * x['tokens_per_s'] / $2 for x in r) / len(r)) if r else '?')"
}

echo "data-parallel scaling, $(nproc) cores, $(mpirun --version | head -1), load $(cat /proc/loadavg)"
printf '%-6s %12s %13s %13s %13s %13s %8s %8s %9s %9s\n' shape params "1r x 1t tok/s" "2r mpi tok/s" "2r ovl tok/s" \
  "1r x 2t tok/s" "2r / 1r" "ovl/mpi" "sum% mpi" "sum% ovl"
sizes=""
for s in $shapes; do
  read -r L D H M C V B N <<<"$(shape_of "$s")"
  data="$work/$s.h5"
  /usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('$data', 'w') as f:
    f.create_dataset('tokens', data=np.random.default_rng(1).integers(0, $V, 1 << 20, dtype=np.uint16))"
  model="--model.n_layers $L --model.d_model $D --model.n_heads $H --model.d_head $((D / H)) --model.d_mlp $M --model.n_ctx $C --model.d_vocab $V"
  [ "$M" = 0 ] && model="$model --model.attn_only true"
  [ -n "$steps" ] && N=$steps
  args="--data $data $model --batch-size $B --steps $((N + 1)) --log-every 1 --lr 1e-4"
  run() {  # ranks threads out [more options]
    rm -rf "$work/$3"
    if [ "$1" = 1 ]; then "$train" $args --threads "$2" --out "$work/$3" "${@:4}" >/dev/null 2>&1
    else mpirun_n "$1" "$train" $args --threads "$2" --out "$work/$3" "${@:4}" >/dev/null 2>&1; fi
    best_tps "$work/$3/metrics.jsonl"
  }
  one=$(run 1 1 one); two=$(run 2 1 two --allreduce mpi); ovl=$(run 2 1 ovl --allreduce overlap)
  threads=0
  [ "$threads_column" = 1 ] && threads=$(run 1 2 thr)
  share_mpi=$(sum_share "$work/two/metrics.jsonl" $((B * C)))
  share_ovl=$(sum_share "$work/ovl/metrics.jsonl" $((B * C)))
  params=$(grep -o '"n_params":[0-9]*' "$work/one/metrics.jsonl" | head -1 | cut -d: -f2 || true)
  [ -n "$params" ] || params=$(/usr/bin/python3 -c "
import h5py; f = h5py.File('$work/one/final.h5'); print(sum(d.size for d in f['params'].values()) if 'params' in f else '?')" 2>/dev/null || echo "?")
  printf '%-6s %12s %13.0f %13.0f %13.0f %13.0f %8.2f %8.2f %9s %9s\n' "$s" "$params" "$one" "$two" "$ovl" "$threads" \
    "$(awk -v a="$two" -v b="$one" 'BEGIN { print a / b }')" "$(awk -v a="$ovl" -v b="$two" 'BEGIN { print a / b }')" \
    "$share_mpi" "$share_ovl"
  [ "$params" != "?" ] && sizes="$sizes $params"
done

echo "load after the training runs: $(cat /proc/loadavg)"
[ "$sum_alone" = 1 ] || exit 0
echo
echo "the gradient sum alone (2 ranks, this machine's shared memory):"
mpirun_n 2 "$bench" --floats 1024 65536 1048576 $sizes --repeats 5 | tee "$work/allreduce.txt"
# Estimate: a ring allreduce moves 2 (N - 1) / N of the buffer per rank in 2 (N - 1) steps:
# t(N, bytes) = 2 (N - 1) alpha + 2 (N - 1) / N * bytes / beta. alpha and beta fitted to the two
# ranks' smallest and largest MPI_Allreduce above (for 2 ranks: t = 2 alpha + bytes / beta); a
# cluster's network has its own (print both: this machine's, and 10 GB/s + 5 us, a 100 Gb/s link).
echo
/usr/bin/python3 - "$work/allreduce.txt" $sizes <<'PY'
import re, sys
pts = [(int(m.group(1)) * 4, float(m.group(2))) for m in
       (re.search(r"allreduce mpi: 2 ranks, (\d+) floats .*: ([0-9.]+) s", l) for l in open(sys.argv[1])) if m]
(b0, t0), (b1, t1) = min(pts), max(pts)
beta = (b1 - b0) / max(t1 - t0, 1e-12)
alpha = max((t0 - b0 / beta) / 2, 1e-7)
print(f"ring allreduce model t(N, bytes) = 2(N-1) alpha + 2(N-1)/N bytes/beta; fitted here: alpha {alpha*1e6:.1f} us, beta {beta/1e9:.2f} GB/s")
for label, a, b in (("this machine's alpha/beta", alpha, beta), ("100 Gb/s link: 5 us, 10 GB/s", 5e-6, 10e9)):
    print(f"  {label}:")
    for p in [int(x) for x in sys.argv[2:]]:
        row = "    %11d params:" % p
        for n in (8, 16, 32, 64):
            t = 2 * (n - 1) * a + 2 * (n - 1) / n * p * 4 / b
            row += f"  {n} ranks {t*1e3:8.2f} ms"
        print(row)
PY
echo "(a step's time at N ranks: the compute of batch/N rows plus that sum; scaling holds while the sum is small beside the compute)"
