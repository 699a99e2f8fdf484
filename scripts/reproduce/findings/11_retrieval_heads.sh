#!/usr/bin/env bash
# Finding 11: retrieval heads (Wu et al. 2024). A model trained on the key-value retrieval task; each
# head's retrieval score (Wu et al.'s copy-paste rate) on held-out rows; then the probability of the
# right value with the top-k heads masked (their outputs taken from the corrupted run, in which
# another key is asked for), against k random heads.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 11_retrieval_heads 11 "Retrieval heads"
CLAIM="Few heads retrieve: on a key-value task only a small share of heads has a high retrieval score (they copy the needle's value from where they attend), and masking those top-k heads drops accuracy to near chance, while masking k random heads does not."
PAPER="Wu et al. 2024, Retrieval head mechanistically explains long-context factuality"
PAPER_NUMBER="retrieval heads (score > 0.1) are < 5% of heads; masking the top 20 makes the model fail the needle test, masking 20 random heads barely changes it"

pairs=$(hl_pick 3 5 8)
data="$HL_MODELS/retrieval-data-$HL_SIZE"
mkdir -p "$data"
hl_note "the key-value retrieval task: train rows, held-out rows"
hl_run data task retrieval --pairs "$pairs" --n "$(hl_pick 200 20000 40000)" --seed 1 --out "$data/train.h5"
hl_run data task retrieval --pairs "$pairs" --n "$(hl_pick 16 128 256)" --seed 2 --out "$HL_OUT/eval.h5"
steps=$(hl_pick 20 1500 4000)
# The model reads whole rows (n_ctx = row length, not the trainer's default of one less): the head
# report's retrieval score runs each row as it is.
row_len=$(hl_h5 "$data/train.h5" tokens | jq '.[0] | length')
hl_train retrieval --data "$data/train.h5" --model.n_ctx "$row_len" --model.n_layers 2 --model.d_model "$(hl_pick 32 64 128)" \
  --model.n_heads 4 --model.d_mlp "$(hl_pick 64 256 512)" --steps "$steps" --batch-size 32 --lr 3e-3 --seed 0 \
  --log-every $((steps / 4)) --threads "$HL_THREADS"
model="$(hl_model retrieval)/final.h5"
hl_run circuits heads --checkpoint "$model" --retrieval-data "$HL_OUT/eval.h5" --out-dir "$HL_OUT/heads" \
  --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
n_heads=$(hl_json "$h" '.n_layers * .n_heads')
n_above=$(hl_json "$h" '[.scores.retrieval.values[][] | select(. > 0.1)] | length')
# k: the heads above 0.1, at least one and at most a quarter of the model.
k=$n_above
[ "$k" -lt 1 ] && k=1
[ "$k" -gt $((n_heads / 4)) ] && k=$((n_heads / 4))
top=$(jq -r --argjson k "$k" '[range(0; .n_layers) as $l | range(0; .n_heads) as $i
        | {h: "L\($l)H\($i)", v: .scores.retrieval.values[$l][$i]}] | sort_by(-.v) | .[0:$k] | map(.h) | join(",")' "$h")
best=$(hl_json "$h" '[.scores.retrieval.values[][]] | max')
# Every edge of the graph (from an EAP run's JSON); a masked head's outgoing edges are left out of the
# circuit, so evaluate gives it its output from the corrupted run (another key asked for).
hl_run circuits eap --checkpoint "$model" --data "$HL_OUT/eval.h5" --metric prob --out "$HL_OUT/eap" \
  --threads "$HL_THREADS"
masked_p() {  # masked_p HEADS NAME: p(right value) with HEADS masked
  jq --arg heads ",$1," '{edges: [.edges[] | .name as $n | ($n | split("->")[0]) as $src
                            | select(($heads | contains("," + $src + ",")) | not) | $n]}' "$HL_OUT/eap.json" \
    >"$HL_OUT/keep_$2.json"
  hl_run circuits evaluate --checkpoint "$model" --data "$HL_OUT/eval.h5" --metric prob \
    --circuit "$HL_OUT/keep_$2.json" --out "$HL_OUT/masked_$2" --threads "$HL_THREADS" >&2
  hl_json "$HL_OUT/masked_$2.json" .settings.circuit_metric
}
p_top=$(masked_p "$top" top)
p_clean=$(hl_json "$HL_OUT/masked_top.json" .settings.clean_metric)
mapfile -t sets < <(hl_random_head_sets 11 "$k" "$top" "$h")
p_random=()
for draw in 1 2 3; do
  set_text=${sets[$((draw - 1))]}
  p_random+=("$(masked_p "$set_text" "random$draw")")
done
p_random_mean=$(printf '%s\n' "${p_random[@]}" | jq -s 'add / length')
chance=$(hl_calc "1 / $pairs")
hl_metric retrieval_scores "$(jq -c .scores.retrieval.values "$h")"
hl_metric heads_above_0_1 "$n_above"
hl_metric n_heads "$n_heads"
hl_metric masked_top "$(jq -n --arg s "$top" '$s | split(",")')"
hl_metric p_clean "$p_clean"
hl_metric p_top_masked "$p_top"
hl_metric p_random_masked "$(printf '%s\n' "${p_random[@]}" | jq -s .)"
hl_metric random_sets "$(printf '%s\n' "${sets[@]}" | jq -R . | jq -s .)"
hl_metric chance "$chance"
OURS="$n_above of $n_heads heads score > 0.1 (best $(hl_fmt "$best" 2)); p(right value) $(hl_fmt "$p_clean" 3) -> $(hl_fmt "$p_top" 3) with the top $k ($top) masked, $(hl_fmt "$p_random_mean" 3) with $k random heads (mean of 3); chance 1/$pairs = $(hl_fmt "$chance" 3)"
few=0
[ "$n_above" -ge 1 ] && [ "$n_above" -le $((n_heads / 4)) ] && few=1
drop=0
hl_true "$p_clean > 2 * $chance && $p_top <= 2 * $chance && $p_random_mean >= 0.8 * $p_clean" && drop=1
if [ "$few" = 1 ] && [ "$drop" = 1 ]; then
  VERDICT=reproduced
  REASON="criteria: between 1 head and a quarter of the heads score > 0.1 ($n_above of $n_heads; Wu et al.: < 5% of an LLM's heads), the model solves the task (p(right value) $(hl_fmt "$p_clean" 3) > twice chance), masking them takes p(right value) to at most twice chance ($(hl_fmt "$p_top" 3) <= 2 x $(hl_fmt "$chance" 3)) and masking as many random heads keeps at least 80% of it ($(hl_fmt "$p_random_mean" 3) vs $(hl_fmt "$p_clean" 3)). Masking = the head's output taken from the run asked for another key."
elif [ "$few" = 1 ] || [ "$drop" = 1 ]; then
  VERDICT=partly
  REASON="one of two criteria: few retrieval heads (1 to a quarter of $n_heads above 0.1): $n_above; masking the top $k takes p(right value) near chance (<= $(hl_fmt "$(hl_calc "2 * $chance")" 3)) while random heads keep >= 80%: $(hl_fmt "$p_top" 3) vs random $(hl_fmt "$p_random_mean" 3) (clean $(hl_fmt "$p_clean" 3))."
else
  VERDICT="not reproduced"
  REASON="neither criterion: $n_above of $n_heads heads above 0.1; p(right value) $(hl_fmt "$p_clean" 3) -> $(hl_fmt "$p_top" 3) (top $k masked), $(hl_fmt "$p_random_mean" 3) (random)."
fi
hl_figure "$HL_OUT/heads/heads_retrieval.svg"
hl_finish
