#!/usr/bin/env bash
# Crash drills for a TnDsl cluster: real `tn worker` processes on this machine, one of them killed (SIGKILL) or
# frozen (SIGSTOP) while `tn contract --cluster` runs, and the client's exit code, time and value checked against
# `tn contract` without --cluster (same network, same --threads: the value must have the same float64 bits).
#
# Usage (from the repository root, after `dotnet build apps/TnDsl.Cli -c Release`):
#   bench/cluster-crash.sh [SCENARIO...] [-n RUNS] [--set L=..,D=..] [--memory-limit M] [--limit S] [--out DIR]
#
# Scenarios (default: kill stop gateway send primary all):
#   kill      kill -9 a non-primary worker; the client is given all three gateways
#   stop      kill -STOP a non-primary worker (a machine gone silent; its sockets stay open) until the run ends
#   gateway   kill -9 a non-primary worker whose gateway the client uses: the client is given only the victim's
#             gateway and one other
#   send      kill -9 a non-primary worker as soon as the client has started (while it connects and sends the job)
#   stopgw    kill -STOP the worker whose gateway the client uses (given that gateway and one other)
#   stopone   kill -STOP the worker whose gateway is the only one the client is given (with --resume RECORD): as
#             primary (the client must stop)
#   primary   kill -9 the primary, the client run with --resume RECORD: it must finish with the reference bits, or
#             stop with one line and a non-zero exit, not hang, and then the same command on fresh workers must
#             finish with the reference bits
#   all       kill -9 every worker, the client run with --resume RECORD: as primary (the client must stop)
# Each run starts three fresh workers (primary + 2, `--threads 1`), starts the client, acts at a moment that moves
# through the run from one run to the next (run 1: after the reference run's start-up time, about when the client
# connects; runs 2..RUNS: once the client reports the first, ..., ninth tenth of the chunks done; `send`: at 0.8,
# 1.0, 1.2, ... times the start-up time; stopgw, stopone, all: at the first, ..., ninth tenth), then stops every
# worker. A run passes when the client exits 0 within --limit seconds
# with the reference bits (or, for `primary` and `all`, when it does, or exits non-zero with one line on stderr and no stack
# trace and the same command with --resume on a fresh cluster then does). The note says when --json's `workers` does
# not mark the victim lost (the run ended before the cluster declared it dead).
#
# Options:
#   -n RUNS            runs per scenario (default 10; `send` and `primary` run RUNS/2 rounded up)
#   --set TEXT         the network's parameters (default L=11,D=3 of examples/grid.tn: 2,187 slices in 81 chunks)
#   --memory-limit M   the planner's limit, which sets the slice count (default 1000K)
#   --network FILE     the .tn file (default examples/grid.tn)
#   --chunk N          slices per chunk (default: tn contract's)
#   --limit S          seconds after which a client counts as hung and is killed (default 300)
#   --out DIR          where logs go (default a fresh directory under ${TMPDIR:-/tmp})
#   --port N           first of the six ports used: silos N..N+2, gateways N+100..N+102 (default 21111)
# Environment: TN, the tn command (default apps/TnDsl.Cli/bin/Release/net10.0/tn).
#
# It prints one line per run and a summary; the exit status is the number of failed runs (capped at 100).
set -u

TN=${TN:-apps/TnDsl.Cli/bin/Release/net10.0/tn}
RUNS=10
SET=L=11,D=3
MEMORY=1000K
NETWORK=examples/grid.tn
CHUNK=
LIMIT=300
OUT=
PORT=21111
SCENARIOS=()
while (($#)); do
  case $1 in
    -n) RUNS=$2; shift 2 ;;
    --set) SET=$2; shift 2 ;;
    --memory-limit) MEMORY=$2; shift 2 ;;
    --network) NETWORK=$2; shift 2 ;;
    --chunk) CHUNK=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    kill|stop|gateway|stopgw|stopone|send|primary|all) SCENARIOS+=("$1"); shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster-crash.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
((${#SCENARIOS[@]})) || SCENARIOS=(kill stop gateway send primary all)
[[ -x $TN ]] || { echo "cluster-crash.sh: no tn at $TN (dotnet build apps/TnDsl.Cli -c Release, or set TN)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cluster-crash.XXXXXX")}
mkdir -p "$OUT"
SECRET=$OUT/cluster.secret
head -c 32 /dev/urandom | base64 > "$SECRET"
SILO=("$PORT" $((PORT + 1)) $((PORT + 2)))
GATE=($((PORT + 100)) $((PORT + 101)) $((PORT + 102)))
PIDS=()
CONTRACT=(contract "$NETWORK" --set "$SET" --memory-limit "$MEMORY" --threads 1 --json)
[[ -n $CHUNK ]] && CONTRACT+=(--chunk "$CHUNK")

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# The field of a --json document: the value as a float's hex (bits), or a summary of the workers.
field() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception:
    print("-"); sys.exit()
if sys.argv[2] == "value":
    print(float(doc["value"]).hex())
elif sys.argv[2] == "seconds":
    print(f'{doc["seconds"]:.1f}')
else:
    ws = doc.get("workers") or []
    print(" ".join(f'{w["worker"].split("@")[0].split(":")[1]}:{w["chunks"]}{"L" if w["lost"] else ""}' for w in ws) or "-")
EOF
}

# Worker i (0 = primary), started and waited for until it says it is up.
start_worker() {
  local i=$1 log=$OUT/worker$1.$2.log
  "$TN" worker --cluster "127.0.0.1:${SILO[0]}" --port "${SILO[$i]}" --gateway-port "${GATE[$i]}" \
    --secret-file "$SECRET" --threads 1 > "$log" 2>&1 &
  PIDS[$i]=$!
  disown "${PIDS[$i]}"
  for _ in $(seq 600); do
    grep -q "Ctrl-C stops it" "$log" 2>/dev/null && return 0
    kill -0 "${PIDS[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "cluster-crash.sh: worker $i did not start (see $log)" >&2
  return 1
}

start_workers() { start_worker 0 "$1" && start_worker 1 "$1" && start_worker 2 "$1"; }

stop_workers() {
  local p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  PIDS=()
}
trap 'stop_workers; [[ -n ${CLIENT:-} ]] && kill "$CLIENT" 2>/dev/null' EXIT
trap 'exit 130' INT TERM

echo "cluster-crash: $NETWORK --set $SET --memory-limit $MEMORY${CHUNK:+ --chunk $CHUNK}, 3 workers (--threads 1) + client (--threads 1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT"
start=$(now)
"$TN" "${CONTRACT[@]}" > "$OUT/reference.json" 2> "$OUT/reference.err" || { echo "reference run failed: $(cat "$OUT/reference.err")" >&2; exit 2; }
REF=$(field "$OUT/reference.json" value)
REFTIME=$(since "$start")
STARTUP=$(python3 -c "print(round($REFTIME - $(field "$OUT/reference.json" seconds), 1))")
echo "reference (no --cluster): value bits $REF, $REFTIME s wall, $(python3 -c "import json; d=json.load(open('$OUT/reference.json')); print(d['slices'], 'slices in', d['chunks'], 'chunks')")"

passed=0 failed=0
printf '%-8s %3s %7s %5s %7s %-5s %-28s %s\n' scenario run kill_s exit wall_s bits workers "note"

# One run of a scenario: $1 scenario, $2 run number, $3 seconds after the client's start to act.
drill() {
  local scenario=$1 n=$2 delay=$3 tag=$1.$2 victim=1 gateways signal=-9
  local json=$OUT/$tag.json err=$OUT/$tag.err
  start_workers "$tag" || { failed=$((failed + 1)); stop_workers; return; }
  gateways="127.0.0.1:${GATE[0]},127.0.0.1:${GATE[1]},127.0.0.1:${GATE[2]}"
  case $scenario in
    gateway) gateways="127.0.0.1:${GATE[1]},127.0.0.1:${GATE[2]}" ;;
    stop) signal=-STOP ;;
    stopgw) gateways="127.0.0.1:${GATE[1]},127.0.0.1:${GATE[2]}"; signal=-STOP ;;
    stopone) gateways="127.0.0.1:${GATE[1]}"; signal=-STOP; json=$OUT/$tag.first.json; err=$OUT/$tag.first.err ;;
    primary|all) victim=0; json=$OUT/$tag.first.json; err=$OUT/$tag.first.err ;;
  esac
  local resume=()
  [[ $scenario == primary || $scenario == all || $scenario == stopone ]] && resume=(--resume "$OUT/$tag.record")
  start=$(now)
  : > "$err"
  timeout -s KILL "$LIMIT" "$TN" "${CONTRACT[@]}" "${resume[@]}" --cluster "$gateways" --secret-file "$SECRET" > "$json" 2> "$err" &
  CLIENT=$!
  # $delay: "tT", once the client reports the T-th tenth of its chunks done; else seconds after its start.
  if [[ $delay == t* ]]; then
    while kill -0 "$CLIENT" 2>/dev/null && ! awk -v t="${delay#t}" '/^tn contract: [0-9]+ of [0-9]+ chunks/ { if ($3 * 10 >= t * $5) f = 1 } END { exit !f }' "$err"; do
      sleep 0.05
    done
  else
    sleep "$delay"
  fi
  local acted="-"
  if kill -0 "$CLIENT" 2>/dev/null; then
    if [[ $scenario == all ]]; then kill -9 "${PIDS[@]}"; else kill "$signal" "${PIDS[$victim]}"; fi
    acted=$(since "$start")
  fi
  wait "$CLIENT"
  local code=$? wall
  wall=$(since "$start")
  CLIENT=
  local bits ok note workers
  bits=$(field "$json" value)
  workers=$(field "$json" workers)
  note=$(grep -v '^tn contract: [0-9]* of [0-9]* chunks' "$err" | head -c 300 | tr '\n' '|')
  if [[ $scenario == primary || $scenario == all || $scenario == stopone ]]; then
    # The client must stop (non-zero, one line, no trace), then a fresh cluster resumes from the record.
    local lines trace
    lines=$(grep -vc '^tn contract: [0-9]* of [0-9]* chunks' "$err")
    trace=$(grep -cE '^\s+at |^Unhandled' "$err")
    stop_workers
    if [[ $acted == - ]]; then
      ok=$([[ $code == 0 && $bits == "$REF" ]] && echo yes || echo no); note="finished before the kill; $note"
    elif ((code == 0)); then
      # The workers left finished the run without the primary.
      ok=$([[ $bits == "$REF" ]] && echo yes || echo no); note="finished without the primary; $note"
    elif ((code == 137 || lines != 1 || trace != 0)); then
      ok=no
    else
      local first=$code firstwall=$wall
      start_workers "$tag.resumed" || { failed=$((failed + 1)); stop_workers; return; }
      start=$(now)
      timeout -s KILL "$LIMIT" "$TN" "${CONTRACT[@]}" "${resume[@]}" --cluster "$gateways" --secret-file "$SECRET" > "$OUT/$tag.json" 2> "$OUT/$tag.err"
      code=$?
      wall="$firstwall+$(since "$start")"
      stop_workers
      bits=$(field "$OUT/$tag.json" value)
      workers=$(field "$OUT/$tag.json" workers)
      note="first exit $first: $note resumed $(python3 -c "import json; print(json.load(open('$OUT/$tag.json'))['resumed_chunks'])" 2>/dev/null) chunks"
      ok=$([[ $code == 0 && $bits == "$REF" ]] && echo yes || echo no)
    fi
  else
    stop_workers
    ok=$([[ $code == 0 && $bits == "$REF" ]] && echo yes || echo no)
    # Whether the victim is reported lost: not when the cluster had not yet declared it dead at the end of the run,
    # nor when it was killed before the client first asked the cluster (then it is not listed at all).
    if [[ $acted != - && $workers == *"${SILO[$victim]}:"* && $workers != *"${SILO[$victim]}:"*L* ]]; then
      note="victim not reported lost; $note"
    fi
  fi
  [[ $ok == yes ]] && passed=$((passed + 1)) || failed=$((failed + 1))
  printf '%-8s %3s %7s %5s %7s %-5s %-28s %s\n' "$scenario" "$n" "$acted" "$code" "$wall" \
    "$([[ $bits == "$REF" ]] && echo same || echo "${bits:0:5}")" "$workers" "$([[ $ok == yes ]] && echo ok || echo FAIL) $note"
}

for scenario in "${SCENARIOS[@]}"; do
  runs=$RUNS
  [[ $scenario == send || $scenario == primary || $scenario == all ]] && runs=$(((RUNS + 1) / 2))
  for n in $(seq "$runs"); do
    # The moment moves through the run: the client's start-up (its own time to plan, from the reference run),
    # then each tenth of the chunks in turn.
    case $scenario in
      send) delay=$(python3 -c "print(round($STARTUP * (0.6 + 0.2 * $n), 1))") ;;
      stopgw|stopone|all) delay=t$((1 + 8 * (n - 1) / (runs > 1 ? runs - 1 : 1))) ;;
      *) delay=$(python3 -c "print('$STARTUP' if $n == 1 else f't{round(1 + 8 * ($n - 2) / max(1, $runs - 2))}')") ;;
    esac
    drill "$scenario" "$n" "$delay"
  done
done
echo "cluster-crash: $passed passed, $failed failed; load $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT"
exit $((failed > 100 ? 100 : failed))
