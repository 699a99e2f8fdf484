#!/usr/bin/env bash
# The IOI circuit of docs/headlab-circuits.md, end to end: a 4-layer model (8 heads a layer, MLPs)
# trained on IOI rows mixed half and half with induction rows over the same word vocabulary, then
# EAP-IG's 5% circuit with its faithfulness, the MIB curves of EAP, EAP-IG and ACDC, ACDC's kept
# edges as the truth for EAP-IG's ROC AUC, and the circuit's heads in IOI classes.
#
#   scripts/ioi_circuit.sh [OUT_DIR]        (default ioi_circuit/; about 10 minutes on one core)
#
# Environment: HEADLAB_BIN (default build/bin), HEADLAB_THREADS (default 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${HEADLAB_BIN:-$root/build/bin}
threads=${HEADLAB_THREADS:-1}
out=${1:-ioi_circuit}
mkdir -p "$out"
cd "$out"

# IOI rows and induction rows (BOS, 9 tokens, the 9 again) over IOI's own word tokenizer, mixed.
"$bin/headlab-data" task ioi --n 20000 --seed 1 --out ioi_train.h5 --save-tokenizer ioi_tokenizer.json
"$bin/headlab-data" task induction --tokenizer ioi_tokenizer.json --length 9 --n 20000 --seed 3 --out ind_train.h5
"$bin/headlab-data" mix --source ioi_train.h5:0.5 --source ind_train.h5:0.5 --n 40000 --seq-len 20 --seed 4 \
  --out mix_train.h5
"$bin/headlab-data" task ioi --n 128 --seed 2 --out ioi_eval.h5
"$bin/headlab-train" --data mix_train.h5 --out run --model.n_layers 4 --model.d_model 64 --model.n_heads 8 \
  --model.d_head 8 --model.d_mlp 256 --steps 3000 --batch-size 32 --lr 3e-3 --log-every 500 --threads "$threads"

common="--checkpoint run/final.h5 --data ioi_eval.h5 --threads $threads"
"$bin/headlab-circuits" eap $common --out eap_ig --ig --top-percent 5 --mib --ioi-classes
"$bin/headlab-circuits" eap $common --out eap --top-percent 5 --mib
"$bin/headlab-circuits" acdc $common --out acdc --threshold 0.02
"$bin/headlab-circuits" evaluate $common --out compare --scores eap.h5 --scores eap_ig.h5 --scores acdc.h5 --mib \
  --top-percent 5 --roc-truth acdc.json
