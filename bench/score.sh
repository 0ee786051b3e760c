#!/bin/bash
# bench/score.sh: `score` on a run of about a million lines against the
# fastest reference available here, in one run, and write bench/results/score.md.
#
# No trec_eval binary is packaged for this machine (Debian has none and
# PyPI is out of reach), so the reference is bench/score_ref.py, the same
# measures restated in numpy; its output is checked against ours first.
# trec_eval itself spends ~0.7 s per million lines parsing (issue 7).
#
# Usage: bench/score.sh [--runs N]      (data: $SCORE_BENCH_DIR, default build/bench/score)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
[ "${1:-}" = --runs ] && runs=$2
py=/usr/bin/python3 # the system Python has numpy (python3-numpy)
data=${SCORE_BENCH_DIR:-build/bench/score}
out=bench/results/score.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x bin/score ] || make bin/score
if [ ! -f "$data/run" ]; then
  echo "generating $data (1000 topics x 1000 documents)" >&2
  $py bench/gen-score-run.py "$data"
fi
lines=$(wc -l <"$data/run")
measures="-m map -m P.5,10 -m ndcg_cut.10 -m recip_rank -m recall.100"

bin/score $measures "$data/qrels" "$data/run" >"$tmp/ours"
$py bench/score_ref.py "$data/qrels" "$data/run" >"$tmp/ref"
if diff -q "$tmp/ours" "$tmp/ref" >/dev/null; then agree="identical"; else agree="DIFFERENT"; fi

hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$tmp/h.json" \
  -n "score (6 measures)" "bin/score $measures $data/qrels $data/run" \
  -n "score -m all_trec" "bin/score -m all_trec $data/qrels $data/run" \
  -n "numpy reference (6 measures)" "$py bench/score_ref.py $data/qrels $data/run" >&2

$py - "$tmp/h.json" "$out" "$lines" "$agree" "$runs" "$data" <<'EOF'
import json, os, subprocess, sys, datetime
h, out, lines, agree, runs, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
res = json.load(open(h))["results"]
def cpu(r): return r["user"] + r["system"]
cpuinfo = open("/proc/cpuinfo").read()
model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[:3]
ours, ref = res[0], res[2]
rows = "\n".join(
    f"| {r['command']} | {r['mean']:.3f} ± {r['stddev'] or 0:.3f} | {cpu(r):.3f} | {lines / cpu(r) / 1e6:.1f} |"
    for r in res)
md = f"""# score benchmark

- Date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}
- Machine: {os.cpu_count()} cores, {model}; load average {' '.join(load)} when measured
  (other jobs share the machine: wall times are inflated, CPU times are the steadier figure)
- Command: `bench/score.sh --runs {runs}` (hyperfine, {runs} runs after 1 warm-up, in one run)
- Data: `bench/gen-score-run.py {data}`: {lines} run lines (1000 topics x 1000 documents,
  scores printed with 17 significant digits, 5% ties), 300000 qrels lines
- Reference: no trec_eval binary is available here (not packaged in Debian; PyPI unreachable);
  the peer is `bench/score_ref.py`, the same six measures restated in numpy. Its output is
  **{agree}** to score's. trec_eval 10 takes about 0.7 s per million lines (issue 7).

| command | wall s (mean ± sd) | CPU s (user+sys) | M lines / CPU s |
|---|---|---|---|
{rows}

Ratio, numpy reference / score (6 measures): **{ref['mean'] / ours['mean']:.1f}x** wall,
**{cpu(ref) / cpu(ours):.1f}x** CPU. Against trec_eval's ~0.7 s per million lines:
{0.7 * lines / 1e6 / cpu(ours):.1f}x (CPU time of score; trec_eval not measured here).
"""
open(out, "w").write(md)
print(md)
EOF
