#!/usr/bin/env bash
# Training from a dataset larger than the process holds: writes a plain h5py token file of --gib GiB
# (random ids, uint16, chunked; the file a Python user writes), then runs headlab-train on the toy
# shape, prints its peak resident memory and fails if that is above --limit-mib MiB (the dataset is
# --gib * 1024 / --limit-mib times the limit). Resident memory, not `ulimit -v`: a CUDA build maps
# gigabytes of address space it never touches. Also the toy shape's tokens/s reading a 64M-token
# stream from disk against the same stream in memory, in the same run.
#
#   scripts/bench/disk_data.sh [--gib G] [--limit-mib M] [--steps N] [--threads N] [--keep DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
gib=2.5
limit_mib=600
steps=30
threads=2
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gib) gib="$2"; shift 2 ;;
    --limit-mib) limit_mib="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --keep) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "disk_data.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
train="${HEADLAB_BUILD_DIR:-$root/build}/bin/headlab-train"
[ -x "$train" ] || { echo "disk_data.sh: error: build headlab-train first ($train)" >&2; exit 2; }
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
big="$work/big.h5"
/usr/bin/python3 - "$big" "$gib" <<'PY'
import sys, h5py, numpy as np
path, gib = sys.argv[1], float(sys.argv[2])
n = int(gib * 2**30 / 2)  # uint16 tokens
block = 1 << 26
rng = np.random.default_rng(1)
with h5py.File(path, "w") as f:
    d = f.create_dataset("tokens", (n,), dtype=np.uint16, chunks=(1 << 16,))
    for i in range(0, n, block):
        k = min(block, n - i)
        d[i:i + k] = rng.integers(0, 512, k, dtype=np.uint16)
PY
echo "dataset: $big, $(du -BM "$big" | cut -f1) on disk, $(/usr/bin/python3 -c "import h5py; print(h5py.File('$big')['tokens'].shape[0])") tokens (plain /tokens, uint16)"
model="--model.n_layers 2 --model.d_model 128 --model.n_heads 4 --model.d_head 32 --model.attn_only true --model.d_vocab 512 --model.n_ctx 128"
echo "\$ headlab-train --data big.h5 $model --batch-size 32 --steps $steps --threads $threads --out run"
/usr/bin/python3 - "$limit_mib" "$train" --data "$big" $model --batch-size 32 --steps "$steps" --log-every 10 \
  --threads "$threads" --out "$work/run" <<'PY' 2>&1 | sed "s|$work/||g"
import resource, subprocess, sys, time
limit_mib, cmd = int(sys.argv[1]), sys.argv[2:]
start = time.time()
rc = subprocess.run(cmd).returncode
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"peak resident memory {peak_kib} KiB ({peak_kib / 1024:.0f} MiB, limit {limit_mib} MiB), {time.time() - start:.1f} s")
if rc != 0:
    sys.exit(f"disk_data.sh: error: headlab-train exited with status {rc}")
if peak_kib > limit_mib * 1024:
    sys.exit(f"disk_data.sh: error: headlab-train held {peak_kib >> 10} MiB, above the {limit_mib} MiB limit")
PY

# Throughput: the same 64M-token stream, in memory and from disk.
mid="$work/mid.h5"
/usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('$mid', 'w') as f:
    f.create_dataset('tokens', data=np.random.default_rng(2).integers(0, 512, 1 << 26, dtype=np.uint16), chunks=(1 << 16,))"
tps_memory=0
tps_disk=0
for mode in memory disk memory disk; do
  rm -rf "$work/tp"
  "$train" --data "$mid" --read-data "$mode" $model --batch-size 32 --steps 100 --log-every 20 --threads "$threads" \
    --out "$work/tp" >/dev/null 2>&1
  best=$(grep -v '"step":1,' "$work/tp/metrics.jsonl" | sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p' | sort -g | tail -1)
  echo "toy shape, 64M-token stream, --read-data $mode: $best tokens/s (best 20-step window), load $(cut -d' ' -f1 /proc/loadavg)"
  if [ "$mode" = memory ]; then
    tps_memory=$(awk -v a="$best" -v b="$tps_memory" 'BEGIN { print (a > b ? a : b) }')
  else
    tps_disk=$(awk -v a="$best" -v b="$tps_disk" 'BEGIN { print (a > b ? a : b) }')
  fi
done
awk -v d="$tps_disk" -v m="$tps_memory" 'BEGIN { printf "disk / memory: %.2f (best of two runs each)\n", d / m }'
