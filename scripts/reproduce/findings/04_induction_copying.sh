#!/usr/bin/env bash
# Finding 4: induction heads copy. The copying score (Elhage et al. 2021: sum of the OV circuit's
# eigenvalues over the sum of their absolute values) of the heads the head report names induction heads.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 04_induction_copying 4 "Induction heads copy"
CLAIM="An induction head's OV circuit copies the token it attends to: the eigenvalues of W_U W_O W_V W_E are mostly positive, a copying score near +1."
PAPER="Elhage et al. 2021, A mathematical framework for transformer circuits"
PAPER_NUMBER="copying score ≈ +1 for induction heads (most heads of their 1-layer models copy: 10 of 12)"

hl_induction_model 2
hl_run circuits heads --checkpoint "$HL_IND/final.h5" --out-dir "$HL_OUT/heads" --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
# Induction heads: the report's role (induction-stripe > 0.4).
ind=$(hl_json "$h" '[.roles[] | select(.role == "induction head") | .head] | join(" ")')
n_ind=$(hl_json "$h" '[.roles[] | select(.role == "induction head")] | length')
if [ "$n_ind" -gt 0 ]; then
  copy_values=$(hl_json "$h" '. as $d | [.roles[] | select(.role == "induction head") | $d.scores.copying.values[.layer][.head_index]]')
  mean=$(jq -n --argjson v "$copy_values" '$v | add / length')
  min=$(jq -n --argjson v "$copy_values" '$v | min')
else
  copy_values='[]'
  mean=0
  min=0
fi
others=$(hl_json "$h" '. as $d | [range(0; .n_layers) as $l | range(0; .n_heads) as $i
          | select(([$d.roles[] | select(.role == "induction head" and .layer == $l and .head_index == $i)] | length) == 0)
          | $d.scores.copying.values[$l][$i]] | if length > 0 then add / length else null end')
hl_metric induction_heads "$(jq -n --arg s "$ind" '$s | split(" ") | map(select(length > 0))')"
hl_metric copying_scores "$copy_values"
hl_metric mean_copying "$mean"
hl_metric min_copying "$min"
hl_metric other_heads_mean_copying "${others:-null}"
OURS="$n_ind induction heads ($ind): copying score mean $(hl_fmt "$mean" 3), lowest $(hl_fmt "$min" 3)"
if [ "$n_ind" -eq 0 ]; then
  VERDICT="not reproduced"
  REASON="the model has no induction head (no induction-stripe score above 0.4), so there is nothing to test."
elif hl_true "$min > 0.7"; then
  VERDICT=reproduced
  REASON="criterion: every induction head's copying score > 0.7 (near +1); lowest $(hl_fmt "$min" 3), mean $(hl_fmt "$mean" 3)."
elif hl_true "$mean > 0.5"; then
  VERDICT=partly
  REASON="the induction heads copy on average (mean $(hl_fmt "$mean" 3) > 0.5) but not every one is above 0.7 (lowest $(hl_fmt "$min" 3))."
else
  VERDICT="not reproduced"
  REASON="the induction heads' mean copying score is $(hl_fmt "$mean" 3), not near +1 (criterion: every one > 0.7)."
fi
hl_figure "$HL_OUT/heads/heads_copying.svg"
hl_figure "$HL_OUT/heads/heads_induction_stripe.svg"
hl_finish
