#!/usr/bin/env bash
# Finding 1: induction heads form in a phase change (Olsson et al. 2022). The 2-layer attention-only
# induction model's tracked head scores: the step where the best head's induction score rises
# fastest, the step where the loss on the repeated half of the probe drops fastest and the step where
# the in-context-learning score drops fastest.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 01_induction_phase_change 1 "Induction heads form in a phase change"
CLAIM="In a 2-layer attention-only model the induction heads form abruptly, and at the same moment the loss on repeated tokens and the in-context-learning score (loss late in the context minus loss early) drop: one phase change."
PAPER="Olsson et al. 2022, In-context learning and induction heads"
PAPER_NUMBER="the induction score's rise, the in-context-learning score's drop and the loss bump coincide (2.5-5B tokens in their models); induction score > 0.4 afterwards (ARENA's threshold)"

hl_induction_model 2
hl_run circuits formation --track "$HL_IND/track.h5" --out-dir "$HL_OUT/formation"
f="$HL_OUT/formation/formation.json"
rise=$(hl_json "$f" .analysis.formation_step)
drop=$(hl_json "$f" .analysis.loss_drop_step)
icl=$(hl_json "$f" .analysis.icl_drop_step)
final=$(hl_json "$f" .analysis.final_induction)
best=$(hl_json "$f" .analysis.best_head)
every=$(hl_json "$f" '.curves.steps[1] - .curves.steps[0]')
last=$(hl_json "$f" '.curves.steps[-1]')
first_loss=$(hl_json "$f" '.curves.loss_first_half[-1]')
rep_loss=$(hl_json "$f" '.curves.loss_repeated_half[-1]')
gap_loss=$(( rise > drop ? rise - drop : drop - rise ))
gap_icl=$(( rise > icl ? rise - icl : icl - rise ))
for k in rise drop icl every last gap_loss gap_icl; do hl_metric "${k}_step" "${!k}"; done
hl_metric final_induction_score "$final"
hl_metric final_loss_first_half "$first_loss"
hl_metric final_loss_repeated_half "$rep_loss"
OURS="score rise at step $rise, repeated-half loss drop at $drop, ICL drop at $icl (points every $every steps); final $best induction score $(hl_fmt "$final" 2); repeated-half loss $(hl_fmt "$rep_loss" 2) vs first half $(hl_fmt "$first_loss" 2)"
# Same step: within two tracking points (the steepest change of noisy curves may land one point off).
tol=$((2 * every))
if hl_true "$final > 0.4" && [ "$gap_loss" -le "$tol" ] && [ "$gap_icl" -le "$tol" ]; then
  VERDICT=reproduced
  REASON="an induction head forms ($best, induction score $(hl_fmt "$final" 2) > 0.4) and the three steepest changes lie within $tol steps (two tracking points) of each other: rise $rise, loss drop $drop, ICL drop $icl."
elif hl_true "$final > 0.4"; then
  VERDICT=partly
  REASON="an induction head forms ($best, $(hl_fmt "$final" 2) > 0.4) but the steepest changes are more than $tol steps apart: rise $rise, loss drop $drop, ICL drop $icl."
else
  VERDICT="not reproduced"
  REASON="no head's induction score passes 0.4 in $last steps (best $best $(hl_fmt "$final" 2)); the model did not reach the phase change."
fi
hl_figure "$HL_OUT/formation/formation.svg"
hl_finish
