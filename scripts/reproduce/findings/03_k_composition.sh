#!/usr/bin/env bash
# Finding 3: previous-token -> induction via K-composition (Elhage et al. 2021). On the 2-layer
# induction model: which head pair has the highest K-composition score, and what the best layer-1
# induction score becomes when the previous-token heads are mean-ablated, against as many random heads.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 03_k_composition 3 "Previous-token -> induction via K-composition"
CLAIM="The induction head finds the token after an earlier copy through its keys, which read a layer-0 previous-token head (K-composition): that pair has the highest K-composition score, and mean-ablating the previous-token head removes the induction score, while ablating random heads does not."
PAPER="Elhage et al. 2021, A mathematical framework for transformer circuits; Singh et al. 2024"
PAPER_NUMBER="the (previous-token, induction) pair has the largest K-composition; ablating the previous-token head collapses the induction score (qualitative)"

hl_induction_model 2
model="$HL_IND/final.h5"
hl_run circuits heads --checkpoint "$model" --out-dir "$HL_OUT/heads" --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
# Previous-token heads: layer-0 heads the report names so (prev-token > 0.4); without one, the best.
prev=$(hl_json "$h" '[.roles[] | select(.role == "previous-token head" and .layer == 0) | .head] | join(",")')
if [ -z "$prev" ]; then
  prev=$(hl_json "$h" '.scores.previous_token.values[0] | to_entries | max_by(.value) | "L0H\(.key)"')
fi
best_stripe() { hl_json "$1" '.scores.induction_stripe.values[-1] | max'; }
clean=$(best_stripe "$h")
# The strongest K-composition pair (earlier head -> later head).
top=$(hl_json "$h" '[.composition.k as $k | range(0; .n_layers) as $a | range(0; .n_heads) as $i
        | range(0; .n_layers) as $b | range(0; .n_heads) as $j | select($b > $a)
        | {pair: "L\($a)H\($i)->L\($b)H\($j)", from: "L\($a)H\($i)", to_layer: $b, to: $j, value: $k[$a][$i][$b][$j]}]
        | max_by(.value)')
top_pair=$(jq -r .pair <<<"$top")
top_from=$(jq -r .from <<<"$top")
top_to=$(jq -r '"L\(.to_layer)H\(.to)"' <<<"$top")
top_value=$(jq -r .value <<<"$top")
to_is_induction=$(jq -r --arg x "$top_to" '[.roles[] | select(.role == "induction head" and .head == $x)] | length' "$h")
from_is_prev=0
[[ ",$prev," == *",$top_from,"* ]] && from_is_prev=1

hl_note "mean-ablate the previous-token heads ($prev), then as many random other heads, and score again"
hl_run circuits heads --checkpoint "$model" --ablate "$prev" --ablation mean --out-dir "$HL_OUT/ablate_prev" \
  --threads "$HL_THREADS"
ablated=$(best_stripe "$HL_OUT/ablate_prev/heads.json")
k=$(tr ',' '\n' <<<"$prev" | wc -l)
mapfile -t random_sets < <(hl_random_head_sets 15 "$k" "$prev" "$h")
random_values=()
for draw in 1 2 3; do
  set_text=${random_sets[$((draw - 1))]}
  hl_run circuits heads --checkpoint "$model" --ablate "$set_text" --ablation mean \
    --out-dir "$HL_OUT/ablate_random$draw" --threads "$HL_THREADS"
  random_values+=("$(best_stripe "$HL_OUT/ablate_random$draw/heads.json")")
done
random_mean=$(printf '%s\n' "${random_values[@]}" | jq -s 'add / length')
hl_metric previous_token_heads "$(jq -n --arg s "$prev" '$s | split(",")')"
hl_metric top_k_composition_pair "\"$top_pair\""
hl_metric top_k_composition "$top_value"
hl_metric induction_score "$clean"
hl_metric induction_score_prev_ablated "$ablated"
hl_metric induction_score_random_ablated "$(printf '%s\n' "${random_values[@]}" | jq -s .)"
hl_metric random_sets "$(printf '%s\n' "${random_sets[@]}" | jq -R . | jq -s .)"
OURS="top K-composition pair $top_pair ($(hl_fmt "$top_value" 3)); best induction score $(hl_fmt "$clean" 2) -> $(hl_fmt "$ablated" 2) with $prev mean-ablated, $(hl_fmt "$random_mean" 2) (mean of 3 draws) with as many random heads"
pair_ok=0
[ "$from_is_prev" = 1 ] && [ "$to_is_induction" -gt 0 ] && pair_ok=1
collapse=0
hl_true "$ablated < 0.5 * $clean && $random_mean > 0.8 * $clean" && collapse=1
if hl_true "$clean <= 0.4"; then
  VERDICT="not reproduced"
  REASON="the model has no induction head (best induction score $(hl_fmt "$clean" 2) <= 0.4), so there is no circuit to test."
elif [ "$pair_ok" = 1 ] && [ "$collapse" = 1 ]; then
  VERDICT=reproduced
  REASON="criteria: the top K-composition pair goes from a previous-token head to an induction head ($top_pair), and mean-ablating the previous-token heads takes the best induction score below half its value ($(hl_fmt "$clean" 2) -> $(hl_fmt "$ablated" 2)) while random heads keep it above 80% ($(hl_fmt "$random_mean" 2))."
elif [ "$pair_ok" = 1 ] || [ "$collapse" = 1 ]; then
  VERDICT=partly
  REASON="one of two criteria holds: top K-composition pair previous-token -> induction: $([ "$pair_ok" = 1 ] && echo yes || echo "no ($top_pair)"); ablation collapses the induction score (< 50%) and random heads do not (> 80%): $([ "$collapse" = 1 ] && echo yes || echo "no ($(hl_fmt "$clean" 2) -> $(hl_fmt "$ablated" 2), random $(hl_fmt "$random_mean" 2))")."
else
  VERDICT="not reproduced"
  REASON="neither criterion holds: top K-composition pair $top_pair; induction score $(hl_fmt "$clean" 2) -> $(hl_fmt "$ablated" 2) with the previous-token heads ablated, $(hl_fmt "$random_mean" 2) with random heads."
fi
hl_figure "$HL_OUT/heads/composition_k.svg"
hl_figure "$HL_OUT/ablate_prev/heads_induction_stripe.svg" ablated_prev_induction_stripe.svg
hl_finish
