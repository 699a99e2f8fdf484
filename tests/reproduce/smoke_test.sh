#!/usr/bin/env bash
# ReproduceSmokeTest: scripts/reproduce.sh --smoke end to end on the build that is there (no setup,
# no rebuild), into a temporary folder. Checks the pipeline, not the findings: every finding has its
# section in index.html, summary.json parses with 19 entries, each with a verdict, and no finding
# script failed; two findings run at once (--jobs 2) and each shared model is trained once.
# Exit 77 (skipped) without jq.
#   tests/reproduce/smoke_test.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: smoke_test.sh BUILD_DIR}" && pwd)
command -v jq >/dev/null || {
  echo "jq is not installed (scripts/setup.sh installs it): skipped"
  exit 77
}
out=$(mktemp -d "${TMPDIR:-/tmp}/headlab-reproduce-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail() {
  echo "ReproduceSmokeTest: $*" >&2
  exit 1
}
HEADLAB_REPRODUCE_SKIP_SETUP=1 HEADLAB_BUILD_DIR="$build" "$root/scripts/reproduce.sh" --smoke --jobs 2 "$out/run" ||
  fail "scripts/reproduce.sh --smoke exited with status $?"
summary="$out/run/summary.json"
page="$out/run/index.html"
[ -f "$summary" ] || fail "no summary.json"
[ -f "$page" ] || fail "no index.html"
jq -e . "$summary" >/dev/null || fail "summary.json does not parse"
[ "$(jq '.findings | length' "$summary")" = 19 ] || fail "summary.json has $(jq '.findings | length' "$summary") findings, not 19"
[ "$(jq '[.findings[].number] == [range(1; 20)]' "$summary")" = true ] || fail "the findings are not numbered 1..19 in order"
for n in $(seq 1 19); do
  grep -q "<section id=\"f$n\">" "$page" || fail "index.html has no section for finding $n"
  verdict=$(jq -r --argjson n "$n" '.findings[] | select(.number == $n) | .verdict' "$summary")
  case "$verdict" in
    reproduced | partly | "not reproduced" | "not measured") ;;
    *) fail "finding $n: verdict '$verdict': $(jq -r --argjson n "$n" '.findings[] | select(.number == $n) | .reason' "$summary")" ;;
  esac
  # Every figure a section names exists.
  while IFS= read -r fig; do
    [ -z "$fig" ] && continue
    [ -f "$out/run/$fig" ] || fail "finding $n: figure $fig is missing"
  done < <(jq -r --argjson n "$n" '.findings[] | select(.number == $n) | .dir as $d | .figures[] | "\($d)/\(.)"' "$summary")
done
# Findings that share a model waited for it instead of training it again (the lock in lib.sh).
for model in induction2L brown; do
  trained=$(cat "$out"/run/findings/*/log.txt | grep -c "^\$ headlab-train .*--out models/$model-smoke\$" || true)
  [ "$trained" = 1 ] || fail "models/$model-smoke was trained $trained times, not once"
done
# The cached models are reused: a second run of one finding trains nothing.
HEADLAB_REPRODUCE_SKIP_SETUP=1 HEADLAB_BUILD_DIR="$build" "$root/scripts/reproduce.sh" --smoke --only 1 "$out/run" >/dev/null ||
  fail "the --only rerun failed"
grep -q "reused" "$out/run/findings/01_"*/commands.txt || fail "the --only rerun trained the induction model again"
[ "$(jq '.findings | length' "$summary")" = 19 ] || fail "after --only 1, summary.json lost findings"
echo "ReproduceSmokeTest: 19 sections, summary.json parses ($(jq -r '.counts | to_entries | map("\(.value) \(.key)") | join(", ")' "$summary"))"
