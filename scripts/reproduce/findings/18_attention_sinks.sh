#!/usr/bin/env bash
# Finding 18: first-token (attention-sink) heads. ARENA's first-token score of every head of the
# 2-layer induction model, and the probe's loss when the sink heads' attention to position 0 is
# removed (renormalised over the other keys), against as many random heads.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 18_attention_sinks 18 "First-token (attention-sink) heads"
CLAIM="Some heads park most of their attention on the first token (BOS) when they have nothing to attend to (an attention sink); the model relies on it: taking that attention away, so the head must attend elsewhere, costs loss."
PAPER="ARENA's first-token detector (mean attention to position 0 > 0.8); Xiao et al. 2023 (attention sinks); survey: no separate stage"
PAPER_NUMBER="first-token heads: mean attention to BOS > 0.8; removing the sink degrades the model (Xiao et al.: perplexity explodes when the initial tokens leave the window)"

hl_induction_model 2
model="$HL_IND/final.h5"
hl_run circuits heads --checkpoint "$model" --out-dir "$HL_OUT/heads" --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
# Sink heads: first-token score > 0.8; without one, the two heads that park most on BOS.
sinks=$(hl_json "$h" '[range(0; .n_layers) as $l | range(0; .n_heads) as $i
          | {head: "L\($l)H\($i)", v: .scores.first_token.values[$l][$i]}] | map(select(.v > 0.8)) | map(.head) | join(",")')
n_above=$(tr ',' '\n' <<<"$sinks" | grep -c . || true)
if [ -z "$sinks" ]; then
  sinks=$(hl_json "$h" '[range(0; .n_layers) as $l | range(0; .n_heads) as $i
            | {head: "L\($l)H\($i)", v: .scores.first_token.values[$l][$i]}] | sort_by(-.v) | .[0:2] | map(.head) | join(",")')
fi
best=$(hl_json "$h" '[.scores.first_token.values[][]] | max')
loss=$(hl_json "$h" .probe.loss_all)
k=$(tr ',' '\n' <<<"$sinks" | wc -l)
hl_note "remove the attention to position 0 of the sink heads ($sinks), then of as many random other heads"
hl_run circuits heads --checkpoint "$model" --ablate "$sinks" --ablation first_token --out-dir "$HL_OUT/no_sink" \
  --threads "$HL_THREADS"
loss_sink=$(hl_json "$HL_OUT/no_sink/heads.json" .probe.loss_all)
mapfile -t sets < <(hl_random_head_sets 18 "$k" "$sinks" "$h")
losses=()
for draw in 1 2 3; do
  set_text=${sets[$((draw - 1))]}
  hl_run circuits heads --checkpoint "$model" --ablate "$set_text" --ablation first_token \
    --out-dir "$HL_OUT/no_sink_random$draw" --threads "$HL_THREADS"
  losses+=("$(hl_json "$HL_OUT/no_sink_random$draw/heads.json" .probe.loss_all)")
done
loss_random=$(printf '%s\n' "${losses[@]}" | jq -s 'add / length')
d_sink=$(hl_calc "$loss_sink - $loss")
d_random=$(hl_calc "$loss_random - $loss")
hl_metric first_token_scores "$(jq -c .scores.first_token.values "$h")"
hl_metric sink_heads "$(jq -n --arg s "$sinks" '$s | split(",")')"
hl_metric heads_above_0_8 "$n_above"
hl_metric loss "$loss"
hl_metric loss_without_sink "$loss_sink"
hl_metric loss_without_random_sinks "$(printf '%s\n' "${losses[@]}" | jq -s .)"
OURS="$n_above head(s) with first-token score > 0.8 (best $(hl_fmt "$best" 2)); removing the BOS attention of $sinks raises the probe loss $(hl_fmt "$loss" 3) -> $(hl_fmt "$loss_sink" 3) ($(hl_sfmt "$d_sink" 3)); of $k random other heads: $(hl_sfmt "$d_random" 3) (mean of 3 draws)"
if [ "$n_above" -gt 0 ] && hl_true "$d_sink > 0.05 && $d_sink > 2 * $d_random"; then
  VERDICT=reproduced
  REASON="criteria: at least one head parks > 0.8 of its attention on BOS ($n_above), and removing that attention costs loss ($(hl_sfmt "$d_sink" 3) > 0.05) and more than twice what the same removal on random heads costs ($(hl_sfmt "$d_random" 3))."
elif [ "$n_above" -gt 0 ] || hl_true "$d_sink > 0.05 && $d_sink > 2 * $d_random"; then
  VERDICT=partly
  REASON="one of two criteria holds: a head with first-token score > 0.8: $([ "$n_above" -gt 0 ] && echo "yes ($n_above)" || echo "no (best $(hl_fmt "$best" 2))"); removing the sink costs > 0.05 and > 2x random heads: $(hl_sfmt "$d_sink" 3) vs $(hl_sfmt "$d_random" 3)."
else
  VERDICT="not reproduced"
  REASON="no head parks > 0.8 on BOS (best $(hl_fmt "$best" 2)) and removing the BOS attention of the strongest two costs $(hl_sfmt "$d_sink" 3) (random heads $(hl_sfmt "$d_random" 3))."
fi
hl_figure "$HL_OUT/heads/heads_first_token.svg"
hl_finish
