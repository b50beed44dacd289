#!/usr/bin/env bash
# Prints the last `cargo bench -p pycharter-benches` results as markdown tables: one row per
# benchmark with its median time per operation and the throughput that median implies
# (every benchmark measures one operation per iteration), grouped by criterion group.
#
#   cargo bench -p pycharter-benches && benches/report.sh
#
# Reads ${CARGO_TARGET_DIR:-<workspace>/target}/criterion/**/new/{benchmark,estimates}.json.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v jq >/dev/null || { echo "error: jq is needed (apt-get install -y jq)" >&2; exit 2; }
dir="${CARGO_TARGET_DIR:-target}/criterion"
[ -d "$dir" ] || { echo "error: no criterion results in $dir; run cargo bench -p pycharter-benches" >&2; exit 2; }

printf 'Machine: %s cores, %s memory, load average %s; %s\n\n' \
    "$(nproc)" "$(free -h | awk '/^Mem:/ {print $2}')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u '+%Y-%m-%d %H:%M UTC')"

find "$dir" -path '*/new/benchmark.json' -print0 | sort -z | while IFS= read -r -d '' bench; do
    estimates="${bench%benchmark.json}estimates.json"
    jq -r --slurpfile e "$estimates" \
        '[.group_id, (.group_id as $g | .full_id | ltrimstr($g + "/")), ($e[0].median.point_estimate)] | @tsv' \
        "$bench"
done | sort -t$'\t' -k1,1 -k2,2V | awk -F'\t' '
    function human(ns) {
        if (ns < 1000) return sprintf("%.0f ns", ns)
        if (ns < 1e6) return sprintf("%.1f µs", ns / 1e3)
        if (ns < 1e9) return sprintf("%.2f ms", ns / 1e6)
        return sprintf("%.2f s", ns / 1e9)
    }
    function rate(ns) {
        per = 1e9 / ns
        if (per >= 1e6) return sprintf("%.2f M/s", per / 1e6)
        if (per >= 1e3) return sprintf("%.1f k/s", per / 1e3)
        return sprintf("%.0f /s", per)
    }
    $1 != group {
        if (group != "") print ""
        group = $1
        printf "### %s\n\n| operation | median | throughput |\n|---|---:|---:|\n", group
    }
    { printf "| %s | %s | %s |\n", $2, human($3), rate($3) }
'
