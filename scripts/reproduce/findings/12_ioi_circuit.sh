#!/usr/bin/env bash
# Finding 12: the IOI circuit (Wang et al. 2022) in a model trained with IOI data, the flow of
# scripts/ioi_circuit.sh: a model with MLPs trained on IOI rows mixed half and half with induction rows
# over IOI's word vocabulary; its logit difference; activation patching of the residual stream by role
# (IO, S1, S2, END: the templates differ in length, so roles sit at different indices); EAP-IG's circuit
# and its faithfulness; its heads sorted into Wang et al.'s classes by path patching, attention at the
# role positions and head scores; ACDC's kept edges as the truth for EAP-IG's ranking (ROC AUC).
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 12_ioi_circuit 12 "The IOI circuit"
CLAIM="A model that does indirect object identification implements it with a circuit of duplicate-token/induction heads, S-inhibition heads and name movers (plus negative movers); a small circuit reproduces most of the model's logit difference."
PAPER="Wang et al. 2022, Interpretability in the wild: a circuit for indirect object identification in GPT-2 small"
PAPER_NUMBER="GPT-2 small: logit difference 3.56; the hand-found circuit (26 heads) has faithfulness 87%; classes: duplicate token, induction, S-inhibition, name movers, negative name movers, backup movers. ACDC recovers the IOI circuit with ROC AUC 0.868 (Conmy et al. 2023)"

layers=$(hl_pick 2 4 4)
heads=$(hl_pick 4 8 8)
rows=$(hl_pick 200 20000 20000)
steps=$(hl_pick 30 3000 6000)
eval_rows=$(hl_pick 16 128 128)
data="$HL_MODELS/ioi-$HL_SIZE"
mkdir -p "$data"
hl_note "IOI rows and induction rows (BOS, 9 tokens, the 9 again) over IOI's word tokenizer, mixed half and half"
if [ ! -f "$data/mix_train.h5" ]; then
  hl_run data task ioi --n "$rows" --seed 1 --out "$data/ioi_train.h5" --save-tokenizer "$data/ioi_tokenizer.json"
  hl_run data task induction --tokenizer "$data/ioi_tokenizer.json" --length 9 --n "$rows" --seed 3 --out "$data/ind_train.h5"
  hl_run data mix --source "$data/ioi_train.h5:0.5" --source "$data/ind_train.h5:0.5" --n $((2 * rows)) --seq-len 20 \
    --seed 4 --out "$data/mix_train.h5"
fi
[ -f "$data/ioi_eval.h5" ] || hl_run data task ioi --n "$eval_rows" --seed 2 --out "$data/ioi_eval.h5"
hl_train ioi_mix --data "$data/mix_train.h5" --model.n_layers "$layers" --model.d_model 64 --model.n_heads "$heads" \
  --model.d_head 8 --model.d_mlp 256 --steps "$steps" --batch-size 32 --lr 3e-3 --seed 0 --log-every $((steps / 4)) \
  --threads "$HL_THREADS"
ckpt="$(hl_model ioi_mix)/final.h5"
common=(--checkpoint "$ckpt" --data "$data/ioi_eval.h5" --threads "$HL_THREADS")

hl_note "the logit difference, logit(IO) - logit(S), layer by layer"
hl_run circuits logit-lens "${common[@]}" --out-dir "$HL_OUT/logit_lens"
logit_diff=$(hl_h5 "$HL_OUT/logit_lens/logit_lens.h5" mean_logit_diff | jq '.[-1]')
hl_note "activation patching of the residual stream and the heads' outputs by role (IO, S1, S2, END), as Wang et al. plot it"
hl_run circuits patch "${common[@]}" --positions role --sweeps resid_pre,z_pos --out-dir "$HL_OUT/patch_by_role"
hl_note "EAP-IG's circuit (5% of the edges), its faithfulness, the MIB curve, and its heads' IOI classes"
hl_run circuits eap "${common[@]}" --out "$HL_OUT/eap_ig" --ig --top-percent 5 --mib --ioi-classes
hl_note "ACDC, and EAP-IG's scores ranked against ACDC's kept edges"
hl_run circuits acdc "${common[@]}" --out "$HL_OUT/acdc" --threshold 0.02
acdc_edges=$(hl_json "$HL_OUT/acdc.json" '.n_edges_in_graph')
auc=null
if [ "$acdc_edges" -gt 0 ] && [ "$acdc_edges" -lt "$(hl_json "$HL_OUT/acdc.json" '.edges | length')" ]; then
  hl_run circuits evaluate "${common[@]}" --out "$HL_OUT/compare" --scores "$HL_OUT/eap_ig.h5" --top-percent 5 \
    --roc-truth "$HL_OUT/acdc.json"
  auc=$(hl_json "$HL_OUT/compare.json" '.settings.roc_auc_signed[0]')
fi
f="$HL_OUT/eap_ig.json"
faith=$(hl_json "$f" '.settings.faithfulness')
cpr=$(hl_json "$f" '.settings.cpr')
classes=$(jq -c '[.settings.ioi_classes[] | select(.class != "other") | {head, class}]' "$f")
count_of() { jq --arg c "$1" '[.settings.ioi_classes[] | select(.class | test($c))] | length' "$f"; }
n_movers=$(count_of "^name mover")
n_sinh=$(count_of "^S-inhibition")
n_dup=$(count_of "induction|duplicate")
n_neg=$(count_of "negative")
n_supp=$(count_of "S-suppression")
hl_metric logit_diff "$logit_diff"
hl_metric faithfulness_5pct "$faith"
hl_metric cpr "$cpr"
hl_metric acdc_edges "$acdc_edges"
hl_metric roc_auc_eap_ig_vs_acdc "$auc"
hl_metric ioi_classes "$classes"
hl_metric n_name_movers "$n_movers"
hl_metric n_s_inhibition "$n_sinh"
hl_metric n_induction_or_duplicate "$n_dup"
hl_metric n_negative_movers "$n_neg"
hl_metric n_s_suppression "$n_supp"
OURS="logit difference $(hl_fmt "$logit_diff" 2); EAP-IG 5% circuit faithfulness $(hl_fmt "$faith") (CPR $(hl_fmt "$cpr")); heads: $n_movers name movers, $n_sinh S-inhibition, $n_dup induction/duplicate, $n_neg negative movers, $n_supp S-suppression; ROC AUC of EAP-IG against ACDC's $acdc_edges edges $( [ "$auc" = null ] && echo n/a || hl_fmt "$auc")"

if hl_true "$faith >= 0.8" && [ "$n_movers" -gt 0 ] && [ "$n_sinh" -gt 0 ] && [ "$n_dup" -gt 0 ]; then
  VERDICT=reproduced
  REASON="criterion: a 5%-of-edges circuit with faithfulness >= 0.8 (Wang et al.'s hand-found circuit: 0.87) whose heads include name movers, S-inhibition heads and induction/duplicate-token heads. Seen: faithfulness $(hl_fmt "$faith"), $n_movers / $n_sinh / $n_dup heads of those classes."
elif hl_true "$faith >= 0.8"; then
  VERDICT=partly
  REASON="EAP-IG finds a faithful circuit (faithfulness $(hl_fmt "$faith") at 5% of the edges, Wang et al.: 0.87), but not every class of Wang et al.'s circuit: $n_movers name movers, $n_sinh S-inhibition, $n_dup induction/duplicate-token heads (a small model trained on IOI may solve it with other heads, e.g. S-suppression: $n_supp)."
else
  VERDICT="not reproduced"
  REASON="criterion: faithfulness >= 0.8 at 5% of the edges with name movers, S-inhibition and induction/duplicate heads; seen faithfulness $(hl_fmt "$faith"), classes $n_movers / $n_sinh / $n_dup."
fi
hl_figure "$HL_OUT/patch_by_role/patch.svg" patch_by_role.svg
hl_figure "$HL_OUT/eap_ig.svg" eap_ig_circuit.svg
hl_figure "$HL_OUT/logit_lens/logit_lens.svg" logit_lens.svg
hl_finish
