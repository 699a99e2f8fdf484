#!/usr/bin/env bash
# What headlab-probes costs, each against a peer in the same run:
#  1. extraction: tokens/s of headlab-probes extract against headlab-model run alone (the forward
#     with the same hooks cached, written to HDF5), on the same random model and the same tokens;
#  2. probe training: multinomial logistic regression with L2 on 200k x 256 float32 features, 12
#     classes, headlab's L-BFGS (oneDNN products) against scikit-learn's LogisticRegression (lbfgs),
#     same data, same lambda (C = 1 / (lambda n)) and the same stopping point (max |gradient| of the
#     mean objective <= 1e-5; scikit-learn's tol is that times n: it stops on the summed objective).
#
#   scripts/bench/probes.sh            the default shapes
# Environment: HEADLAB_BUILD_DIR (default build), HEADLAB_THREADS (default 2), PROBES_N (200000),
# PROBES_D (256), PROBES_CLASSES (12), PROBES_SEQS (512 sequences of 128 tokens for extraction).
# Wall-clock on a possibly shared machine: run it when the machine is quiet.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HEADLAB_BUILD_DIR:-$root/build}
threads=${HEADLAB_THREADS:-2}
n=${PROBES_N:-200000}
d=${PROBES_D:-256}
classes=${PROBES_CLASSES:-12}
seqs=${PROBES_SEQS:-512}
python=/usr/bin/python3

cmake --build "$build" -j2 --target headlab-probes headlab-model headlab-bench-probe-fit >/dev/null
find_tool() { for p in "$build/bin/$1" "$build/$2/$1"; do [ -x "$p" ] && { echo "$p"; return; }; done; echo "no $1 in $build" >&2; exit 1; }
model=$(find_tool headlab-model model)
probes=$(find_tool headlab-probes tools/headlab-probes)
fit=$(find_tool headlab-bench-probe-fit scripts/bench)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads

echo "== 1. extraction: $seqs sequences of 128 tokens, 4 layers, d_model 256, hooks resid_post of every layer + hook_z of layer 2"
"$model" init --model.n_layers 4 --model.d_model 256 --model.n_heads 8 --model.d_mlp 1024 --model.n_ctx 128 \
  --model.d_vocab 4096 --seed 1 --out "$tmp/m.h5" >/dev/null
"$python" - "$tmp" "$seqs" <<'PY'
import sys, h5py, numpy as np
tmp, seqs = sys.argv[1], int(sys.argv[2])
tokens = np.random.default_rng(0).integers(0, 4096, size=(seqs, 128)).astype(np.int32)
with h5py.File(tmp + "/run_tokens.h5", "w") as f:
    f["tokens"] = tokens
with h5py.File(tmp + "/data.h5", "w") as f:
    f.attrs["format"] = "headlab.tokens"; f.attrs["format_version"] = 1
    f.attrs["kind"] = "sequences"; f.attrs["d_vocab"] = 4096; f.attrs["source"] = "random"
    f["tokens"] = tokens.astype(np.uint16)
PY
hooks=blocks.0.hook_resid_post,blocks.1.hook_resid_post,blocks.2.hook_resid_post,blocks.3.hook_resid_post,blocks.2.attn.hook_z
tokens=$((seqs * 128))
t0=$(date +%s.%N)
"$model" run --checkpoint "$tmp/m.h5" --tokens "$tmp/run_tokens.h5" --hooks "$hooks" --batch-size 16 \
  --threads "$threads" --out "$tmp/run.h5" >/dev/null
t1=$(date +%s.%N)
"$probes" extract --checkpoint "$tmp/m.h5" --data "$tmp/data.h5" --hooks "$hooks" --batch-size 16 \
  --threads "$threads" --out "$tmp/store.h5" 2>/dev/null >/dev/null
t2=$(date +%s.%N)
"$probes" extract --checkpoint "$tmp/m.h5" --data "$tmp/data.h5" --hooks "$hooks" --batch-size 16 \
  --threads "$threads" --dtype bfloat16 --out "$tmp/store16.h5" 2>/dev/null >/dev/null
t3=$(date +%s.%N)
awk -v n="$tokens" -v a="$t0" -v b="$t1" -v c="$t2" -v e="$t3" 'BEGIN {
  printf "headlab-model run (logits + cache)     %7.2f s  %9.0f tokens/s\n", b - a, n / (b - a);
  printf "headlab-probes extract (float32)       %7.2f s  %9.0f tokens/s  %.2fx run\n", c - b, n / (c - b), (b - a) / (c - b);
  printf "headlab-probes extract (bfloat16)      %7.2f s  %9.0f tokens/s  %.2fx run\n", e - c, n / (e - c), (b - a) / (e - c) }'
ls -l "$tmp/run.h5" "$tmp/store.h5" "$tmp/store16.h5" | awk '{ printf "  %-10s %8.1f MiB\n", $NF, $5 / 1048576 }' | sed "s|$tmp/||"

echo
echo "== 2. probe training: $n x $d float32, $classes classes, lambda 1e-4, $threads threads"
"$fit" --n "$n" --d "$d" --classes "$classes" --l2 1e-4 --tol 1e-5 --threads "$threads" --write-data "$tmp/fit.h5" | tee "$tmp/ours.txt"
"$python" "$root/scripts/bench/probes_sklearn.py" "$tmp/fit.h5" 1e-5 | tee "$tmp/theirs.txt"
awk 'FNR == 1 { t[FILENAME] = $3 } END { for (f in t) if (f ~ /ours/) o = t[f]; else s = t[f]; printf "scikit-learn / headlab time: %.2fx\n", s / o }' "$tmp/ours.txt" "$tmp/theirs.txt"
