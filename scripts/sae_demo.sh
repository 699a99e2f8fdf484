#!/usr/bin/env bash
# Attention-output SAEs on the induction model: the 2-layer attention-only model of the demo
# (trained here when DIR/model/final.h5 is missing), its layer-1 hook_z (4 heads x 16, concatenated),
# one SAE per architecture, SAELens' metrics for each, feature pages for the TopK SAE and its induction
# features (scripts/sae_induction_features.py).
#
#   scripts/sae_demo.sh [DIR]        (default sae-out/; HEADLAB_SAE_STEPS, HEADLAB_THREADS)
#
# Writes DIR/metrics.md (the table), DIR/<arch>.h5, DIR/<arch>.json and DIR/features/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-sae-out}
steps=${HEADLAB_SAE_STEPS:-2000}
threads=${HEADLAB_THREADS:-2}
bin="${HEADLAB_BUILD_DIR:-$root/build}"
probes="$bin/bin/headlab-probes"
train="$bin/bin/headlab-train"
[ -x "$train" ] || train="$bin/bin/headlab-train"
mkdir -p "$out"
log() { echo "\$ $*" | sed "s|$root/||g; s|$bin/[a-z]*/||g"; "$@"; }

if [ ! -f "$out/model/final.h5" ]; then
  log "$train" --data builtin:induction --out "$out/model" --model.attn_only true --model.d_model 64 \
    --model.n_heads 4 --model.d_head 16 --model.d_vocab 128 --steps 6000 --batch-size 32 --lr 1e-3 \
    --weight-decay 0 --threads 1 --log-every 1000
fi
# Rows like the training task's (BOS, fresh tokens, copies of earlier spans), 64 tokens each.
[ -f "$out/train_rows.h5" ] || /usr/bin/python3 "$root/scripts/induction_rows.py" "$out/train_rows.h5" 20000 64 128 1
[ -f "$out/eval_rows.h5" ] || /usr/bin/python3 "$root/scripts/induction_rows.py" "$out/eval_rows.h5" 512 64 128 2

model="$out/model/final.h5"
hook=blocks.1.attn.hook_z
common=(--checkpoint "$model" --data "$out/train_rows.h5" --hook "$hook" --expansion 16 --steps "$steps"
        --batch-size 4096 --lr 1e-3 --lr-warmup 100 --lr-decay $((steps / 5)) --dead-window 500
        --log-every $((steps / 4)) --threads "$threads")
declare -A extra=(
  [topk]="--arch topk --k 16"
  [batchtopk]="--arch batchtopk --k 16"
  [relu]="--arch relu --l1 ${HEADLAB_SAE_L1:-5} --l1-warmup $((steps / 10))"
  [jumprelu]="--arch jumprelu --l0 ${HEADLAB_SAE_L0:-0.2} --init-threshold 0.2 --bandwidth 0.1"
)
for arch in ${HEADLAB_SAE_ARCHS:-topk batchtopk relu jumprelu}; do
  # shellcheck disable=SC2086
  log "$probes" sae train "${common[@]}" ${extra[$arch]} --out "$out/$arch.h5"
  log "$probes" sae eval --sae "$out/$arch.h5" --checkpoint "$model" --data "$out/eval_rows.h5" --sequences 512 \
    --threads "$threads" --json "$out/$arch.json"
done
log "$probes" sae features --sae "$out/topk.h5" --checkpoint "$model" --data "$out/eval_rows.h5" --sequences 512 \
  --features 0 --threads "$threads" --out-dir "$out/features"
# The induction heads by their scores, and the SAE's induction features (finding 17's family) on them.
log "$bin/bin/headlab-circuits" heads --checkpoint "$model" --out-dir "$out/heads" --threads "$threads"
log /usr/bin/python3 "$root/scripts/sae_induction_features.py" "$out/features/features.json" "$out/heads/heads.json" 4 \
  --json "$out/induction_features.json"

{
  echo "| architecture | L0 | explained variance | CE loss score | KL score | dead (of 1024, over $((512 * 64)) tokens) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for arch in ${HEADLAB_SAE_ARCHS:-topk batchtopk relu jumprelu}; do
    /usr/bin/python3 - "$out/$arch.json" "$arch" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {m['l0']:.1f} | {m['explained_variance']:.3f} | {m['ce_loss_score']:.3f} | "
      f"{m['kl_div_score']:.3f} | {m['dead_features']} ({100 * m['dead_fraction']:.1f}%) |")
PY
  done
} > "$out/metrics.md"
cat "$out/metrics.md"
