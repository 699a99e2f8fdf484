#!/usr/bin/env bash
# Finding 6: statistical induction heads (Edelman et al. 2024). A 2-layer attention-only model trained
# on Markov chains whose transition rows are Dirichlet draws, one chain per row; every log-spaced
# checkpoint scored by headlab-circuits task-eval --strategies: KL(strategy || model) for the uniform,
# in-context unigram and in-context bigram predictors. The claim is an order of phases: the strategy
# the model is closest to goes uniform -> unigram -> bigram.
source "$HL_ROOT/scripts/reproduce/lib.sh"
hl_begin 06_statistical_induction 6 "Statistical induction heads"
CLAIM="Trained on Markov chains drawn from a Dirichlet prior (each sequence its own chain), a transformer first predicts uniformly, then by in-context unigram statistics (a plateau), then switches abruptly to in-context bigram statistics, the Bayes-optimal solution, through a statistical induction head."
PAPER="Edelman et al. 2024, The evolution of statistical induction heads: in-context learning Markov chains"
PAPER_NUMBER="three phases in order: uniform -> in-context unigram (plateau) -> in-context bigram (KL to the Bayes-optimal bigram predictor near 0); 2-layer attention-only model, 3 states, Dirichlet(1) rows"

length=$(hl_pick 24 64 100)
rows=$(hl_pick 400 20000 60000)
steps=$(hl_pick 30 1500 6000)
batch=$(hl_pick 8 32 32)
test_rows=$(hl_pick 20 200 500)
d_model=$(hl_pick 16 32 64)
data="$HL_MODELS/markov-$HL_SIZE"
mkdir -p "$data"
hl_note "Markov chains: 3 states, Dirichlet(1) transition rows, $length states per row; a held-out test set"
[ -f "$data/train.h5" ] || hl_run data task markov --n "$rows" --seed 1 --length "$length" --states 3 --alpha 1 --out "$data/train.h5"
[ -f "$data/test.h5" ] || hl_run data task markov --n "$test_rows" --seed 2 --length "$length" --states 3 --alpha 1 --out "$data/test.h5"
hl_note "a 2-layer attention-only model, log-spaced checkpoints"
hl_train markov2L --data "$data/train.h5" --model.n_layers 2 --model.attn_only true --model.d_model "$d_model" \
  --model.n_heads 2 --steps "$steps" --batch-size "$batch" --lr 3e-3 --weight-decay 0 --seed 0 \
  --threads "$HL_THREADS" --log-every $((steps / 4)) --checkpoint-schedule log
run=$(hl_model markov2L)
hl_note "KL(strategy || model) at every checkpoint"
hl_run circuits task-eval --checkpoints "$run" --data "$data/test.h5" --strategies --roles state \
  --out-dir "$HL_OUT/eval" --threads "$HL_THREADS"
f="$HL_OUT/eval/task_eval.json"

# The closest strategy at each checkpoint (0 uniform, 1 unigram, 2 bigram) and the steps where each
# phase is first entered.
phases=$(jq -c '[range(0; .steps | length) as $i | [.strategies.uniform[$i], .strategies.unigram[$i], .strategies.bigram[$i]]
  | to_entries | min_by(.value) | .key]' "$f")
steps_json=$(jq -c '.steps' "$f")
order_ok=$(jq -n --argjson p "$phases" '[range(1; $p | length) as $i | $p[$i] >= $p[$i - 1]] | all')
first_unigram=$(jq -n --argjson p "$phases" --argjson s "$steps_json" '[range(0; $p | length) | select($p[.] == 1)] | if length > 0 then $s[.[0]] else null end')
first_bigram=$(jq -n --argjson p "$phases" --argjson s "$steps_json" '[range(0; $p | length) | select($p[.] == 2)] | if length > 0 then $s[.[0]] else null end')
start_phase=$(jq -n --argjson p "$phases" '$p[0]')
end_phase=$(jq -n --argjson p "$phases" '$p[-1]')
kl_bigram_end=$(hl_json "$f" '.strategies.bigram[-1]')
kl_unigram_end=$(hl_json "$f" '.strategies.unigram[-1]')
kl_uniform_end=$(hl_json "$f" '.strategies.uniform[-1]')
kl_true_end=$(hl_json "$f" '.strategies.true[-1]')
min_unigram=$(hl_json "$f" '.strategies.unigram | min')
hl_metric closest_strategy_by_checkpoint "$phases"
hl_metric steps "$steps_json"
hl_metric first_step_closest_to_unigram "$first_unigram"
hl_metric first_step_closest_to_bigram "$first_bigram"
hl_metric final_kl_uniform "$kl_uniform_end"
hl_metric final_kl_unigram "$kl_unigram_end"
hl_metric final_kl_bigram "$kl_bigram_end"
hl_metric final_kl_true "$kl_true_end"
hl_metric min_kl_unigram "$min_unigram"
OURS="closest strategy: in-context unigram from step $first_unigram, in-context bigram from step $first_bigram (of $steps); final KL to bigram $(hl_fmt "$kl_bigram_end"), to unigram $(hl_fmt "$kl_unigram_end"), to uniform $(hl_fmt "$kl_uniform_end")"

if [ "$order_ok" = true ] && [ "$start_phase" = 0 ] && [ "$end_phase" = 2 ] && [ "$first_unigram" != null ] &&
  hl_true "$kl_bigram_end < 0.05"; then
  VERDICT=reproduced
  REASON="criterion: the strategy with the smallest KL(strategy || model) goes uniform -> unigram -> bigram without going back, and the final KL to the in-context bigram (Bayes-optimal) is < 0.05. Seen: unigram closest from step $first_unigram, bigram from step $first_bigram, final KL to bigram $(hl_fmt "$kl_bigram_end") (to unigram $(hl_fmt "$kl_unigram_end"))."
elif [ "$end_phase" = 2 ]; then
  VERDICT=partly
  REASON="the model ends closest to the in-context bigram (final KL $(hl_fmt "$kl_bigram_end")), but the phases are not the paper's clean order (closest strategy by checkpoint: $phases; 0 uniform, 1 unigram, 2 bigram; criterion: monotone order with a unigram phase and final KL < 0.05)."
else
  VERDICT="not reproduced"
  REASON="the model does not end closest to the in-context bigram predictor (closest strategy by checkpoint: $phases; final KL to bigram $(hl_fmt "$kl_bigram_end"), unigram $(hl_fmt "$kl_unigram_end"), uniform $(hl_fmt "$kl_uniform_end"))."
fi
hl_figure "$HL_OUT/eval/task_eval.svg" kl_over_training.svg
hl_finish
