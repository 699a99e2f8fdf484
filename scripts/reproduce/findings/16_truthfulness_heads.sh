#!/usr/bin/env bash
# Finding 16: truthfulness-like heads (Li et al. 2023, inference-time intervention). A model with MLPs
# trained on the facts task (a synthetic knowledge base as statements, questions about half the people);
# on held-out questions each row's prompt is followed once by its true answer and once by a wrong one
# (headlab-probes extract --positions statements), a linear probe of true vs false is trained on every
# head's hook_z (linear --per-head), and the top-K heads are shifted along their probe directions while
# the questions are scored (intervene), against shifting K random heads.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 16_truthfulness_heads 16 "Truthfulness-like heads"
CLAIM="Per-head linear probes separate true from false statements well in a few heads only, and shifting those heads' activations along their probe directions at inference time changes how often the model gives the true answer; shifting random heads does not."
PAPER="Li et al. 2023, Inference-time intervention: eliciting truthful answers from a language model"
PAPER_NUMBER="LLaMA-7B: probe accuracy peaks at 83.3% in a few middle-layer heads while most are near chance; ITI on the top 48 heads raises TruthfulQA true*informative from 30.5% to 43.5% (Alpaca: 32.5% -> 65.1%); random-direction shifts do much less"

layers=$(hl_pick 2 3 4)
steps=$(hl_pick 30 2000 5000)
rows=$(hl_pick 200 20000 40000)
test_rows=$(hl_pick 20 400 1000)
topk=$(hl_pick 2 4 8)
data="$HL_MODELS/facts_data-$HL_SIZE"
mkdir -p "$data"
hl_note "the facts task: statements about 100 people + questions about half of them (train); questions about the other half (test)"
[ -f "$data/train.h5" ] || hl_run data task facts --split train --n "$rows" --seed 1 --out "$data/train.h5"
[ -f "$data/probe.h5" ] || hl_run data task facts --split test --n "$test_rows" --seed 2 --out "$data/probe.h5"
[ -f "$data/test.h5" ] || hl_run data task facts --split test --n "$test_rows" --seed 3 --out "$data/test.h5"
hl_train facts --data "$data/train.h5" --model.n_layers "$layers" --model.d_model 64 --model.n_heads 4 --model.d_head 16 \
  --model.d_mlp 256 --model.n_ctx 16 --steps "$steps" --batch-size 32 --lr 3e-3 --seed 0 --log-every $((steps / 4)) \
  --threads "$HL_THREADS"
ckpt="$(hl_model facts)/final.h5"
hooks=$(for ((l = 0; l < layers; l++)); do printf 'blocks.%d.attn.hook_z,' "$l"; done)
hooks=${hooks%,}
hl_note "true and false statements (each probe row with its true and its wrong answer), every head's hook_z"
hl_run probes extract --checkpoint "$ckpt" --data "$data/probe.h5" --positions statements --hooks "$hooks" \
  --out "$HL_OUT/statements.h5" --threads "$HL_THREADS"
hl_run probes linear --store "$HL_OUT/statements.h5" --label truth --per-head --out "$HL_OUT/probes" --threads "$HL_THREADS"
hl_note "ITI on the top-$topk heads by probe validation accuracy, against $topk random heads, on other questions"
hl_run probes intervene --checkpoint "$ckpt" --data "$data/test.h5" --probes "$HL_OUT/probes/probes.h5" --top-k "$topk" \
  --alphas 0,1,2,5,10 --random-heads --out "$HL_OUT/iti" --threads "$HL_THREADS"
hl_run circuits task-eval --checkpoint "$ckpt" --data "$data/test.h5" --out-dir "$HL_OUT/accuracy" --threads "$HL_THREADS"

# Per-head test accuracies, and the intervention's effect.
all_scores=$(hl_h5 "$HL_OUT/probes/probes.h5" table/test_score)
probe_heads=$(hl_h5 "$HL_OUT/probes/probes.h5" table/head)
scores=$(jq -nc --argjson s "$all_scores" --argjson h "$probe_heads" '[range(0; $s | length) | select($h[.] >= 0) | $s[.]]')
n_heads=$(jq length <<<"$scores")
best=$(jq 'max' <<<"$scores")
median=$(jq 'sort | .[length / 2 | floor]' <<<"$scores")
high=$(jq '[.[] | select(. >= 0.8)] | length' <<<"$scores")
alphas=$(hl_h5 "$HL_OUT/iti.h5" alphas)
metric=$(hl_h5 "$HL_OUT/iti.h5" metric)
share=$(hl_h5 "$HL_OUT/iti.h5" true_share)
random=$(hl_h5 "$HL_OUT/iti.h5" random_metric)
gain=$(jq -n --argjson m "$metric" '($m | max) - $m[0]')
random_gain=$(jq -n --argjson m "$random" '($m | max) - $m[0]')
share0=$(jq '.[0]' <<<"$share")
share_best=$(jq 'max' <<<"$share")
answer_acc=$(hl_json "$HL_OUT/accuracy/task_eval.json" '.answer_accuracy[0]')
hl_metric head_probe_test_accuracy "$scores"
hl_metric best_head_accuracy "$best"
hl_metric median_head_accuracy "$median"
hl_metric heads_above_0_8 "$high"
hl_metric alphas "$alphas"
hl_metric iti_logit_diff "$metric"
hl_metric iti_true_share "$share"
hl_metric random_heads_logit_diff "$random"
hl_metric answer_accuracy_unshifted "$answer_acc"
OURS="per-head truth probes: best $(hl_fmt "$best"), median $(hl_fmt "$median"), $high of $n_heads heads >= 0.8; ITI on the top $topk: logit diff +$(hl_fmt "$gain" 2) at the best alpha (random heads +$(hl_fmt "$random_gain" 2)), true answer wins $(hl_fmt "$share0") -> up to $(hl_fmt "$share_best") (unshifted answer accuracy $(hl_fmt "$answer_acc"))"

few=$(awk "BEGIN { print ($high >= 1 && $high <= $n_heads / 4) ? 1 : 0 }")
if [ "$few" = 1 ] && hl_true "$gain > 0 && $gain > 2 * $random_gain && $share_best > $share0"; then
  VERDICT=reproduced
  REASON="criterion: at least one and at most a quarter of the heads have a truth-probe test accuracy >= 0.8, and shifting the top-$topk heads raises the logit difference of true over wrong answers more than twice as much as shifting $topk random heads, with more rows answered truly. Seen: $high of $n_heads heads, gain $(hl_fmt "$gain" 2) vs random $(hl_fmt "$random_gain" 2), true share $(hl_fmt "$share0") -> $(hl_fmt "$share_best")."
elif hl_true "$best >= 0.8 || ($gain > 0.1 && $gain > 2 * $random_gain)"; then
  VERDICT=partly
  REASON="some of the paper's picture: best head probe accuracy $(hl_fmt "$best") ($high of $n_heads heads >= 0.8, median $(hl_fmt "$median")), ITI gain $(hl_fmt "$gain" 2) vs random $(hl_fmt "$random_gain" 2); the criterion asks for a few heads (1 to a quarter) >= 0.8 and an ITI gain > 2x random with more true answers."
else
  VERDICT="not reproduced"
  REASON="no head's truth probe reaches 0.8 (best $(hl_fmt "$best"), median $(hl_fmt "$median")) and ITI on the top heads does not beat random heads (gain $(hl_fmt "$gain" 2) vs $(hl_fmt "$random_gain" 2))."
fi
hl_figure "$HL_OUT/probes/heads.svg" head_probes.svg
hl_figure "$HL_OUT/iti.svg" iti.svg
hl_finish
