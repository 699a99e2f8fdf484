#!/usr/bin/env bash
# Reproduces the findings of the attention-head survey (Zheng et al. 2024) end to end: trains the
# models each finding needs (seeded, cached in OUT/models), runs the analyses with headlab's own
# commands and writes OUT/index.html (one section per finding: claim, paper and its number, ours,
# verdict and reason, figures, the commands) and OUT/summary.json.
#
#   scripts/reproduce.sh [--smoke | --quick] [--only N,NAME,...] [--threads N] [--jobs N] [OUT]
#                        (default OUT: reproduce-out; --jobs: findings run at once, default 1)
#
# Sizes: --smoke (CI: seconds per finding, checks the pipeline, not the findings), --quick (all 19
# findings in under 20 minutes on 2 cores), default full (under 3 hours). The finding scripts are
# scripts/reproduce/findings/NN_slug.sh (see scripts/reproduce/lib.sh and docs/reproduce.md).
# Environment: HEADLAB_REPRODUCE_SKIP_SETUP=1 uses the existing build (no scripts/setup.sh, no
# build step; the smoke test does this), HEADLAB_BUILD_DIR (default build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "reproduce: error: $*" >&2
  exit 2
}

size=full
only=""
threads=1
jobs=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) size=smoke ;;
    --quick) size=quick ;;
    --full) size=full ;;
    --only)
      [ $# -ge 2 ] || die "--only: needs a list (numbers or names, comma-separated)"
      only=$2
      shift
      ;;
    --only=*) only=${1#--only=} ;;
    --threads)
      [ $# -ge 2 ] || die "--threads: needs a number"
      threads=$2
      shift
      ;;
    --jobs)
      [ $# -ge 2 ] || die "--jobs: needs a number"
      jobs=$2
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "$1: unknown option (see scripts/reproduce.sh --help)" ;;
    *)
      [ -z "$out" ] || die "$1: only one output folder (already $out)"
      out=$1
      ;;
  esac
  shift
done
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads: a positive whole number, got '$threads'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs: a positive whole number, got '$jobs'"
command -v jq >/dev/null || die "jq: not installed (scripts/setup.sh installs it)"
out=$(realpath -m "${out:-reproduce-out}")

# The findings, in the issue's order: number, slug (used when no script exists yet), title, the
# nominal seconds of a smoke, quick and full run (for the ETA), the claim and the paper.
findings=(
  "1|induction_phase_change|Induction heads form in a phase change|3|70|400|The induction score's steepest rise, the drop of the loss on repeated tokens and the drop of the in-context-learning score happen at the same step of training.|Olsson et al. 2022, In-context learning and induction heads"
  "2|one_layer|One attention layer is not enough|3|50|250|A 1-layer attention-only model forms no induction head, and its loss on the repeated half of a random sequence stays high.|Olsson et al. 2022; Elhage et al. 2021, A mathematical framework for transformer circuits"
  "3|k_composition|Previous-token -> induction via K-composition|3|20|60|The (previous-token, induction) head pair has the highest K-composition score; mean-ablating the previous-token head removes the induction score, ablating random heads does not.|Elhage et al. 2021; Singh et al. 2024"
  "4|induction_copying|Induction heads copy|2|10|20|The induction heads' OV circuits copy: copying score (positive eigenvalues) near +1.|Elhage et al. 2021"
  "5|induction_ablation_icl|Ablating induction heads removes in-context learning|3|20|60|Ablating the induction heads removes the in-context-learning score; ablating as many random heads does not.|Olsson et al. 2022"
  "6|statistical_induction|Statistical induction heads|3|60|600|On Markov chains with Dirichlet-sampled transitions the model goes uniform -> in-context unigram -> in-context bigram.|Edelman et al. 2024, The evolution of statistical induction heads"
  "7|associative_memory|Associative-memory induction|3|60|600|Global bigrams are learned before the induction head.|Bietti et al. 2023, Birth of a transformer: a memory viewpoint"
  "8|incontext_classification|Abrupt in-context classification|3|60|600|In-context accuracy on novel classes rises abruptly with the induction head and depends on burstiness.|Reddy 2024, The mechanistic basis of data dependence and abrupt learning in an in-context classification task"
  "9|iteration_heads|Iteration heads|3|60|600|On parity with chain of thought a layer-2 head attends from each output step to its input position; CoT beats no-CoT.|Cabannes et al. 2024, Iteration head"
  "10|brown_heads|Previous-token and duplicate-token heads on Brown|5|120|900|A language model trained on natural text (Brown) has early-layer previous-token and duplicate-token heads.|Olsson et al. 2022; Wang et al. 2022"
  "11|retrieval_heads|Retrieval heads|3|60|400|Few heads have a high retrieval score on a key-value task; masking the top-k drops accuracy to near chance, masking k random heads does not.|Wu et al. 2024, Retrieval head mechanistically explains long-context factuality"
  "12|ioi_circuit|The IOI circuit|3|90|900|A model trained with IOI data has an IOI circuit (duplicate, S-inhibition, name movers); EAP-IG finds a faithful circuit, and ACDC agrees.|Wang et al. 2022, Interpretability in the wild"
  "13|copy_suppression|Copy suppression|3|40|300|A late head with negative copying score and negative DLA on tokens seen earlier; ablating it increases repetition.|McDougall et al. 2023, Copy suppression"
  "14|successor_heads|Successor heads|3|60|600|On the successor task, heads whose OV maps an item to its successor.|Gould et al. 2023, Successor heads"
  "15|pos_probes|Part of speech is linearly decodable mid-network|5|90|900|Part of speech is linearly decodable from the middle of the network (probes with control-task selectivity), and some heads carry it.|Hewitt & Liang 2019; survey: probing"
  "16|truthfulness_heads|Truthfulness-like heads|3|60|600|Per-head probes separate true from false answers in a few heads; shifting along their directions changes accuracy.|Li et al. 2023, Inference-time intervention"
  "17|attention_sae|Attention-output SAE on the induction model|3|60|600|An attention-output SAE on the induction model has low L0, a high CE loss score, few dead latents, and a family of induction features that load on the induction heads.|Kissane et al. 2024, Interpreting attention layer outputs with sparse autoencoders"
  "18|attention_sinks|First-token (attention-sink) heads|3|20|60|Some heads park their attention on the first token (BOS) when they have nothing to do; removing that attention costs loss.|Xiao et al. 2023 (attention sinks); ARENA's first-token detector"
  "19|circuit_formation|Circuit formation over training|3|60|300|EAP-IG on the induction run's checkpoints shows the circuit's edges appear at the phase change.|Olsson et al. 2022; Hanna et al. 2024 (EAP-IG)"
)

# --only: numbers (3, 03) or names (k_composition, 03_k_composition).
selected() {
  local number=$1 slug=$2 item
  [ -z "$only" ] && return 0
  IFS=, read -ra items <<<"$only"
  for item in "${items[@]}"; do
    item=${item// /}
    [ -z "$item" ] && continue
    if [[ $item =~ ^[0-9]+$ ]] && [ $((10#$item)) -eq "$number" ]; then return 0; fi
    [ "$item" = "$slug" ] && return 0
    [ "$item" = "$(printf '%02d' "$number")_$slug" ] && return 0
  done
  return 1
}
if [ -n "$only" ]; then
  IFS=, read -ra wanted <<<"$only"
  for item in "${wanted[@]}"; do
    found=0
    for entry in "${findings[@]}"; do
      IFS='|' read -r number slug _ <<<"$entry"
      only_save=$only
      only=$item
      selected "$number" "$slug" && found=1
      only=$only_save
    done
    [ "$found" = 1 ] || die "--only: '$item' is no finding (1-19 or a name such as k_composition)"
  done
fi

# Setup and build as scripts/demo.sh does, unless told to use the build that is there.
build=${HEADLAB_BUILD_DIR:-build}
[[ $build = /* ]] || build="$root/$build"
if [ "${HEADLAB_REPRODUCE_SKIP_SETUP:-0}" != 1 ]; then
  "$root/scripts/setup.sh"
fi
for tool in data train model circuits probes; do
  [ -x "$build/bin/headlab-$tool" ] || die "$build/bin/headlab-$tool: missing (build first: scripts/setup.sh)"
done

mkdir -p "$out/findings" "$out/models"
start=$(date +%s)
echo "reproduce: $size run into $out ($(nproc) cores, $jobs finding(s) at once, $threads thread(s) per command)"

# The script of finding NUMBER, or nothing.
script_of() {
  local matches=("$root"/scripts/reproduce/findings/"$(printf '%02d' "$1")"_*.sh)
  [ -f "${matches[0]}" ] && echo "${matches[0]}"
}
nominal() {
  case "$size" in
    smoke) echo "$1" ;;
    quick) echo "$2" ;;
    *) echo "$3" ;;
  esac
}
fmt_time() {
  local s=$1
  if [ "$s" -ge 3600 ]; then
    printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
  elif [ "$s" -ge 60 ]; then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

# A result.json the driver writes itself: a failed or a missing finding.
driver_result() {
  local dir=$1 id=$2 number=$3 title=$4 claim=$5 paper=$6 verdict=$7 reason=$8 seconds=$9
  jq -n --arg id "$id" --argjson number "$number" --arg title "$title" --arg claim "$claim" --arg paper "$paper" \
    --arg verdict "$verdict" --arg reason "$reason" --arg size "$size" --argjson seconds "$seconds" \
    '{id: $id, number: $number, title: $title, claim: $claim, paper: $paper, paper_number: "", ours: "",
      metrics: {}, verdict: $verdict, reason: $reason, figures: [], size: $size, seconds: $seconds}' \
    >"$dir/result.json"
}

# What is left to run, for the ETA.
total_nominal=0
for entry in "${findings[@]}"; do
  IFS='|' read -r number slug title s q f claim paper <<<"$entry"
  selected "$number" "$slug" && [ -n "$(script_of "$number")" ] && total_nominal=$((total_nominal + $(nominal "$s" "$q" "$f")))
done
done_nominal=0
n_selected=0
for entry in "${findings[@]}"; do
  IFS='|' read -r number slug _ <<<"$entry"
  selected "$number" "$slug" && n_selected=$((n_selected + 1))
done

# run_finding NUMBER SLUG TITLE CLAIM PAPER LABEL SCRIPT ID: runs one finding's script into its
# folder and leaves a result.json there (the driver's own when the script failed).
run_finding() {
  local number=$1 slug=$2 title=$3 claim=$4 paper=$5 label=$6 script=$7 id=$8
  local dir="$out/findings/$id" t0 status=0 seconds why tail_text
  t0=$(date +%s)
  HL_BIN="$build/bin" HL_OUT="$dir" HL_MODELS="$out/models" HL_SIZE="$size" HL_THREADS="$threads" \
    HL_ROOT="$root" bash "$script" >"$dir/driver.log" 2>&1 || status=$?
  seconds=$(($(date +%s) - t0))
  if [ "$status" -ne 0 ] || ! jq -e '.verdict and .id' "$dir/result.json" >/dev/null 2>&1; then
    why="exit status $status"
    [ "$status" -eq 0 ] && why="no valid result.json"
    tail_text=$(tail -n 20 "$dir/driver.log" "$dir/log.txt" 2>/dev/null | tail -n 30)
    driver_result "$dir" "$id" "$number" "$title" "$claim" "$paper" "failed" \
      "the script failed ($why); the end of its logs:
$tail_text" "$seconds"
  fi
  echo "$seconds" >"$dir/.seconds"
}

# A finding's end: its verdict, time and the ETA (from the nominal seconds of what is done).
report_finding() {
  local label=$1 id=$2 nominal_seconds=$3 dir="$out/findings/$2" verdict seconds elapsed eta=""
  verdict=$(jq -r .verdict "$dir/result.json")
  seconds=$(cat "$dir/.seconds")
  rm -f "$dir/.seconds"
  done_nominal=$((done_nominal + nominal_seconds))
  elapsed=$(($(date +%s) - start))
  if [ "$done_nominal" -gt 0 ] && [ "$total_nominal" -gt "$done_nominal" ]; then
    eta=", about $(fmt_time $((elapsed * (total_nominal - done_nominal) / done_nominal))) left"
  fi
  echo "reproduce: $label: $verdict ($(fmt_time "$seconds")); $(fmt_time "$elapsed") elapsed$eta"
}

# With --jobs N, up to N findings run at once (each with --threads threads); the models they share
# are trained once under a lock (lib.sh). Each finding runs in its own process group (set -m) so that
# stopping the driver (Ctrl-C, kill) stops the findings it started and their commands.
declare -A running_label=() running_id=() running_nominal=()
stop_findings() {
  local p
  for p in "${!running_id[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
}
trap stop_findings EXIT
trap 'stop_findings; trap - EXIT; exit 130' INT
trap 'stop_findings; trap - EXIT; exit 143' TERM
set -m
wait_one() {
  local pid=""
  wait -n -p pid "${!running_id[@]}" || true
  [ -n "$pid" ] || return 0
  report_finding "${running_label[$pid]}" "${running_id[$pid]}" "${running_nominal[$pid]}"
  unset "running_label[$pid]" "running_id[$pid]" "running_nominal[$pid]"
}

index=0
for entry in "${findings[@]}"; do
  IFS='|' read -r number slug title s q f claim paper <<<"$entry"
  selected "$number" "$slug" || continue
  index=$((index + 1))
  script=$(script_of "$number" || true)
  if [ -n "$script" ]; then
    id=$(basename "$script" .sh)
  else
    id=$(printf '%02d_%s' "$number" "$slug")
  fi
  dir="$out/findings/$id"
  # Sections of another slug for the same number (a renamed script) would show twice.
  for old in "$out"/findings/"$(printf '%02d' "$number")"_*; do
    [ -e "$old" ] && [ "$old" != "$dir" ] && rm -rf "$old"
  done
  rm -rf "$dir"
  mkdir -p "$dir"
  label=$(printf '[%2d/%d] %s' "$index" "$n_selected" "$id")
  if [ -z "$script" ]; then
    driver_result "$dir" "$id" "$number" "$title" "$claim" "$paper" "not measured" \
      "not yet measured: scripts/reproduce/findings/${id}.sh does not exist yet" 0
    echo "reproduce: $label: not yet measured (no script)"
    continue
  fi
  while [ "${#running_id[@]}" -ge "$jobs" ]; do wait_one; done
  echo "reproduce: $label ..."
  run_finding "$number" "$slug" "$title" "$claim" "$paper" "$label" "$script" "$id" &
  running_label[$!]=$label
  running_id[$!]=$id
  running_nominal[$!]=$(nominal "$s" "$q" "$f")
done
while [ "${#running_id[@]}" -gt 0 ]; do wait_one; done
set +m
trap - EXIT INT TERM

# summary.json: every finding, this run's or an earlier run's into the same OUT (--only), or a
# placeholder, in the issue's order.
entries=()
for entry in "${findings[@]}"; do
  IFS='|' read -r number slug title s q f claim paper <<<"$entry"
  matches=("$out"/findings/"$(printf '%02d' "$number")"_*/result.json)
  if [ -f "${matches[0]}" ]; then
    dir=$(dirname "${matches[0]}")
    status=measured
    case "$(jq -r .verdict "${matches[0]}")" in
      failed) status=failed ;;
      "not measured") [ -n "$(script_of "$number")" ] || status=missing ;;
    esac
    commands=$( [ -f "$dir/commands.txt" ] && cat "$dir/commands.txt" || true)
    entries+=("$(jq -c --arg status "$status" --arg commands "$commands" --arg dir "findings/$(basename "$dir")" \
      '. + {status: $status, dir: $dir, commands: ($commands | split("\n") | map(select(length > 0)))}' "${matches[0]}")")
  else
    id=$(printf '%02d_%s' "$number" "$slug")
    entries+=("$(jq -nc --arg id "$id" --argjson number "$number" --arg title "$title" --arg claim "$claim" \
      --arg paper "$paper" --arg size "$size" \
      '{id: $id, number: $number, title: $title, claim: $claim, paper: $paper, paper_number: "", ours: "",
        metrics: {}, verdict: "not measured", reason: "not run into this folder yet (--only)", figures: [],
        size: $size, seconds: 0, status: "missing", dir: "", commands: []}')")
  fi
done
total=$(($(date +%s) - start))
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '%s\n' "${entries[@]}" | jq -s --arg size "$size" --arg generated "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --argjson seconds "$total" --argjson cores "$(nproc)" --argjson threads "$threads" --argjson jobs "$jobs" --arg commit "$commit" \
  --arg only "$only" \
  '{format: "headlab.reproduce", format_version: 1, generated: $generated, size: $size, only: $only,
    seconds: $seconds, findings_seconds: (map(.seconds) | add), cores: $cores, threads: $threads, jobs: $jobs,
    commit: $commit,
    counts: (group_by(.verdict) | map({key: .[0].verdict, value: length}) | from_entries),
    findings: .}' >"$out/.summary.json.tmp"
mv "$out/.summary.json.tmp" "$out/summary.json"

jq -r -f "$root/scripts/reproduce/page.jq" "$out/summary.json" >"$out/.index.html.tmp"
mv "$out/.index.html.tmp" "$out/index.html"
# The summary table in Markdown (for a README or an issue).
jq -r '"| # | finding | paper | ours | verdict |", "| --- | --- | --- | --- | --- |",
       (.findings[] | "| \(.number) | \(.title) | \(if .paper_number == "" then .paper else .paper_number end | gsub("\\|"; "/")) | \(if .ours == "" then "—" else .ours end | gsub("\\|"; "/")) | \(.verdict) |"),
       "", "\(.size) run, \(.generated), \(.seconds) s on \(.cores) cores, \(.jobs // 1) finding(s) at once (headlab \(.commit))\(if .only != "" then "; this run --only \(.only): the findings took \(.findings_seconds) s in the runs that measured them" else "" end)"' \
  "$out/summary.json" >"$out/.summary.md.tmp"
mv "$out/.summary.md.tmp" "$out/summary.md"
echo "reproduce: $(jq -r '.counts | to_entries | map("\(.value) \(.key)") | join(", ")' "$out/summary.json") in $(fmt_time "$total")"
echo "reproduce: wrote $out/index.html, $out/summary.json and $out/summary.md"
