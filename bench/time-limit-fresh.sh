#!/bin/bash
# How close `tn plan --time-limit` ends to its limit in fresh processes: the search time each plan reports
# (`Optimizer: NAME (search X ms)`), for each optimizer and limit below, RUNS fresh processes of each build, the
# builds alternating; prints the medians and every run as markdown rows, with the core count and the load before and
# after. Threads: the default (every core). The network: examples/grid.tn --set L=7 (the 7x7 lattice with bonds of 2)
# unless given after the builds (a file and its options, e.g. `examples/peps.tn --set Lx=6,Ly=6` or
# `bench/networks/3-regular-60.json`). CASES (optional, space-separated `OPTIMIZER|MS|EXTRA OPTIONS`, the options
# with `+` for spaces) replaces the cases below. Sessions 25-26; see bench/results/planner.md ("Time limits kept").
#
# usage: bench/time-limit-fresh.sh RUNS TN_BEFORE TN_NOW [NETWORK OPTIONS...]
#   e.g. bench/time-limit-fresh.sh 5 /tmp/main-bin/tn apps/TnDsl.Cli/bin/Release/net10.0/tn
#        CASES="auto|20| auto|50|" bench/time-limit-fresh.sh 5 /tmp/main-bin/tn apps/TnDsl.Cli/bin/Release/net10.0/tn bench/networks/3-regular-60.json
set -euo pipefail
runs=$1; before=$2; now=$3; shift 3
root="$(cd "$(dirname "$0")/.." && pwd)"
if (($# > 0)); then network=("$@"); network[0]="$(realpath "$1")"; else network=("$root/examples/grid.tn" --set L=7); fi
[[ "${network[0]}" == *.tn ]] && network+=(--no-scaling)
default="optimal|20| optimal|50| optimal|100| auto|20| auto|50| auto|100| hyper|20| hyper|50| hyper|100|
         random-greedy|20| random-greedy|50| random-greedy|100| optimal|100|--memory-limit+64 auto|100|--memory-limit+64"
read -r -a cases <<< "$(echo ${CASES:-$default})"
declare -A res
search() { "$1" plan "${network[@]}" --optimizer "$2" --time-limit "$3" ${4//+/ } 2>/dev/null | sed -n 's/.*(search \([0-9.]*\) ms).*/\1/p'; }
echo "network: ${network[*]#$root/}; $(nproc) cores, default threads; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < runs; i++)); do
  for c in "${cases[@]}"; do
    IFS='|' read -r opt lim extra <<< "$c"
    res["$c|before"]+=" $(search "$before" "$opt" "$lim" "$extra")"
    res["$c|now"]+=" $(search "$now" "$opt" "$lim" "$extra")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "| optimizer | limit ms | before: median (÷ limit), runs | now: median (÷ limit), runs |"
echo "|---|---:|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r opt lim extra <<< "$c"
  b=$(median "${res["$c|before"]}"); n=$(median "${res["$c|now"]}")
  printf "| %s%s | %s | %.1f (%.2f),%s | %.1f (%.2f),%s |\n" "$opt" "${extra:+ ${extra//+/ }}" "$lim" "$b" "$(awk -v a="$b" -v b="$lim" 'BEGIN {print a / b}')" \
    "$(sed 's/ \([0-9]*\)\.[0-9]*/ \1/g' <<< "${res["$c|before"]}")" "$n" "$(awk -v a="$n" -v b="$lim" 'BEGIN {print a / b}')" "$(sed 's/ \([0-9]*\)\.[0-9]*/ \1/g' <<< "${res["$c|now"]}")"
done
