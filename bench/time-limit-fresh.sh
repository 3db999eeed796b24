#!/bin/bash
# How close `tn plan --time-limit` ends to its limit in fresh processes: the search time each plan reports
# (`Optimizer: NAME (search X ms)`), on the 7x7 lattice with bonds of 2 (examples/grid.tn --set L=7), for each
# optimizer and limit below, RUNS fresh processes of each build, the builds alternating; prints the medians and
# every run as markdown rows. Threads: the default (every core). Session 25 (s25-plan); see bench/results/planner.md.
#
# usage: bench/time-limit-fresh.sh RUNS TN_BEFORE TN_NOW
#   e.g. bench/time-limit-fresh.sh 5 /tmp/main-bin/tn apps/TnDsl.Cli/bin/Release/net10.0/tn
set -euo pipefail
runs=$1; before=$2; now=$3
grid="$(cd "$(dirname "$0")/.." && pwd)/examples/grid.tn"
cases=("optimal|20|" "optimal|50|" "optimal|100|" "auto|20|" "auto|50|" "auto|100|"
       "optimal|100|--memory-limit 64" "auto|100|--memory-limit 64" "hyper|100|" "random-greedy|100|")
declare -A res
search() { "$1" plan "$grid" --set L=7 --no-scaling --optimizer "$2" --time-limit "$3" $4 2>/dev/null | sed -n 's/.*(search \([0-9.]*\) ms).*/\1/p'; }
for ((i = 0; i < runs; i++)); do
  for c in "${cases[@]}"; do
    IFS='|' read -r opt lim extra <<< "$c"
    res["$c|before"]+=" $(search "$before" "$opt" "$lim" "$extra")"
    res["$c|now"]+=" $(search "$now" "$opt" "$lim" "$extra")"
  done
done
median() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "| optimizer | limit ms | before: median (÷ limit), runs | now: median (÷ limit), runs |"
echo "|---|---:|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r opt lim extra <<< "$c"
  b=$(median "${res["$c|before"]}"); n=$(median "${res["$c|now"]}")
  printf "| %s%s | %s | %.1f (%.2f),%s | %.1f (%.2f),%s |\n" "$opt" "${extra:+ $extra}" "$lim" "$b" "$(awk -v a="$b" -v b="$lim" 'BEGIN {print a / b}')" \
    "$(sed 's/ \([0-9]*\)\.[0-9]*/ \1/g' <<< "${res["$c|before"]}")" "$n" "$(awk -v a="$n" -v b="$lim" 'BEGIN {print a / b}')" "$(sed 's/ \([0-9]*\)\.[0-9]*/ \1/g' <<< "${res["$c|now"]}")"
done
