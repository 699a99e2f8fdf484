# OUT/index.html from OUT/summary.json (jq -r -f page.jq summary.json). Every text goes through @html.
def esc: tostring | @html;
def verdict_class: {"reproduced": "ok", "partly": "part", "not reproduced": "no", "not measured": "none",
                    "failed": "fail"}[.] // "none";
def badge: "<span class=\"v \(verdict_class)\">\(esc)</span>";
def anchor: "f\(.number)";
def duration: if . >= 60 then "\(. / 60 | floor) min \(. % 60) s" else "\(.) s" end;

"<!DOCTYPE html>
<html lang=\"en\"><head><meta charset=\"utf-8\">
<title>headlab: the attention-head survey's findings, reproduced</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72em; margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.v { padding: 0.1em 0.5em; border-radius: 0.6em; font-weight: 600; white-space: nowrap; }
.ok { background: #c8ecc8; } .part { background: #f6e7b0; } .no { background: #f4c4c4; }
.none { background: #e4e4e4; } .fail { background: #e7b5e7; }
section { border-top: 2px solid #ddd; margin-top: 2em; padding-top: 0.5em; }
dt { font-weight: 600; margin-top: 0.5em; } dd { margin-left: 1.5em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.meta { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>The attention-head survey's findings, reproduced with headlab</h1>
<p class=\"meta\">Zheng et al. 2024, <i>Attention heads of large language models: a survey</i>: each finding below
is measured on small transformers trained from scratch here. Size <b>\(.size | esc)</b>, generated \(.generated | esc)
in \(.seconds | duration) on \(.cores) cores (\(.jobs // 1) finding(s) at once, \(.threads) thread(s) per command), headlab \(.commit | esc)\(
if .only != "" then "; this run: --only \(.only | esc); the findings on this page took \(.findings_seconds | duration) in the runs that measured them" else "" end).
Verdicts: \(.counts | to_entries | map("\(.value) \(.key | esc)") | join(", ")).
The commands run from this folder with headlab's <code>build/bin</code> on <code>PATH</code>;
<code>summary.json</code> holds everything on this page.</p>
<table><tr><th>#</th><th>finding</th><th>paper's number</th><th>ours</th><th>verdict</th><th>time</th></tr>
\(.findings | map("<tr><td>\(.number)</td><td><a href=\"#\(anchor)\">\(.title | esc)</a></td><td>\(if .paper_number != "" then .paper_number else .paper end | esc)</td><td>\(if .ours != "" then .ours else "—" end | esc)</td><td>\(.verdict | badge)</td><td>\(.seconds | duration)</td></tr>") | join("\n"))
</table>
\(.findings | map(
"<section id=\"\(anchor)\">
<h2>\(.number). \(.title | esc) \(.verdict | badge)</h2>
<dl>
<dt>Claim</dt><dd>\(.claim | esc)</dd>
<dt>Paper</dt><dd>\(.paper | esc)\(if .paper_number != "" then ": \(.paper_number | esc)" else "" end)</dd>
<dt>Ours</dt><dd>\(if .ours != "" then .ours | esc else "—" end)</dd>
<dt>Verdict</dt><dd>\(.verdict | badge) \(if (.reason | test("\n")) then "<pre>\(.reason | esc)</pre>" else .reason | esc end)</dd>
</dl>
\(.dir as $dir | .figures | map("<figure><img src=\"\($dir)/\(.)\" alt=\"\(. | esc)\"><figcaption>\(. | esc)</figcaption></figure>") | join("\n"))
\(if (.commands | length) > 0 then "<details open><summary>Commands (from this folder)</summary><pre>\(.commands | join("\n") | esc)</pre></details>" else "" end)
\(if .dir != "" and .status != "missing" then "<p class=\"meta\">\(.size | esc) size, \(.seconds | duration); output and log: <a href=\"\(.dir)/log.txt\">\(.dir | esc)/log.txt</a>; numbers: <a href=\"\(.dir)/result.json\">result.json</a></p>" else "" end)
</section>") | join("\n"))
</body></html>"
