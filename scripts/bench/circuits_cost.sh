#!/usr/bin/env bash
# The cost of the circuits methods: each sweep's time as a multiple of one forward
# on the same batch, and the memory of a full cache. Builds bench_circuits_cost (from
# scripts/bench/circuits_cost.cpp) and runs it on random GPT-2-style models of a few shapes.
#
#   scripts/bench/circuits_cost.sh                 the default shapes
#   scripts/bench/circuits_cost.sh --n-layers 2 --d-model 64 --seq-len 16 ...
#                                                  one shape of your own (see --help)
#
# Environment: HEADLAB_BUILD_DIR (default build-bench), HEADLAB_THREADS (default 1: on a shared machine one thread gives steady CPU times).
# Timings are wall-clock on a possibly shared machine: run it when the machine is quiet.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${HEADLAB_BUILD_DIR:-$root/build-bench}
threads=${HEADLAB_THREADS:-1}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHEADLAB_CUDA=OFF -DHEADLAB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_circuits_cost >/dev/null
bench="$build/bin/bench_circuits_cost"

if [ "$#" -gt 0 ]; then
  exec "$bench" --threads "$threads" "$@"
fi
# A toy attention-only model (the induction setting) and a small GPT-2-style one.
"$bench" --threads "$threads" --n-layers 2 --d-model 64 --n-heads 4 --attn-only true --d-vocab 256 --batch 16 --seq-len 32
echo
"$bench" --threads "$threads" --n-layers 4 --d-model 128 --n-heads 4 --d-mlp 512 --d-vocab 512 --batch 8 --seq-len 24
