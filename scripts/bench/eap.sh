#!/usr/bin/env bash
# The cost of circuit search: EAP, EAP-IG and ACDC as multiples of one forward+backward on the same
# batch (targets: EAP <= 3x, EAP-IG with K steps <= (K+2)x), the process's peak memory, and the same
# EAP-IG in PyTorch float32 on the same model and batch (scripts/bench/eap_torch.py; Debian's
# python3-torch) with the ratio of the two times (target: headlab >= 2x faster on 2 threads).
#
#   scripts/bench/eap.sh                     a 2-layer model with ACDC, then the 4-layer one beside PyTorch
#   scripts/bench/eap.sh --n-layers 4 ...    one shape of your own (headlab-bench-eap --help)
#
# Environment: HEADLAB_BUILD_DIR (default build-bench), HEADLAB_THREADS (default 2).
# Timings are wall-clock, the fastest of 3 runs each: run it when the machine is quiet.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HEADLAB_BUILD_DIR:-$root/build-bench}
threads=${HEADLAB_THREADS:-2}

# A build folder that exists keeps its own settings (tests and all); a new one is made without tests.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHEADLAB_CUDA=OFF -DHEADLAB_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target headlab-bench-eap >/dev/null
bench="$build/bin/headlab-bench-eap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$#" -gt 0 ]; then
  "$bench" --threads "$threads" --out-dir "$work" "$@"
else
  echo "== 2 layers x 4 heads, d_model 64, with ACDC =="
  "$bench" --threads "$threads" --n-layers 2 --d-model 64 --n-heads 4 --d-mlp 256 --d-vocab 256 --batch 16 \
    --seq-len 16 --acdc true --acdc-threshold 1e-4
  echo
  echo "== 4 layers x 8 heads, d_model 128, beside PyTorch =="
  "$bench" --threads "$threads" --n-layers 4 --d-model 128 --n-heads 8 --d-mlp 512 --d-vocab 512 --batch 16 \
    --seq-len 32 --acdc true --acdc-threshold 1e-4 --out-dir "$work"
fi
if /usr/bin/python3 -c "import torch, h5py" 2>/dev/null; then
  /usr/bin/python3 "$root/scripts/bench/eap_torch.py" "$work" --threads "$threads"
else
  echo "PyTorch peer skipped: /usr/bin/python3 lacks torch or h5py (Debian: python3-torch python3-h5py)"
fi
