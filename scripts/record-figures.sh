#!/usr/bin/env bash
# Records the benchmark figures the README and docs/ quote, from the real commands, into bench/results/*.md, then copies
# each file's summary where it is quoted (scripts/readme-results.py; a test fails when a copy and its file differ).
#   scripts/record-figures.sh [backend|threads|cuts|all]        (default: all; several minutes on a busy 2-core machine)
# Each file states the command, the date, the commit, the core count and the load average it was measured under.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what="${1:-all}"
results=bench/results
mkdir -p "$results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

stamp() {
  echo "Recorded $(date -u '+%Y-%m-%d %H:%M') UTC at commit $(git rev-parse --short HEAD), $(nproc) cores," \
       "load average $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) when it started."
}

if [[ $what == backend || $what == all ]]; then
  dotnet build bench/TnDsl.TorchBench -c Release -v q -nologo >/dev/null
  header="$(stamp)"
  out="$(dotnet run -c Release --no-build --project bench/TnDsl.TorchBench -- backend --threads 1)"
  {
    echo "# Backend benchmark"
    echo
    echo "Command: \`dotnet run -c Release --project bench/TnDsl.TorchBench -- backend --threads 1\` (1 thread)."
    echo "$header"
    echo
    echo "<!-- summary -->"
    # The lines that compare: ratios against the hand-written loop, against one torch.einsum, and against the planner.
    grep -E 'ratio|faster|x the|×|peak' <<<"$out" | sed -E 's/^ +//; s/^/    /'
    echo "<!-- /summary -->"
    echo
    echo "Full output:"
    echo
    echo '```text'
    echo "$out"
    echo '```'
  } >"$results/backend.md"
  echo "wrote $results/backend.md"
fi

if [[ $what == threads || $what == all ]]; then
  dotnet build apps/TnDsl.Cli -c Release -v q -nologo >/dev/null
  tn="$PWD/apps/TnDsl.Cli/bin/Release/net10.0/tn"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  header="$(stamp)"
  run() { # label, env..., -- tn args...
    local label="$1"; shift
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local line
    line="$(env "${envs[@]}" "$tn" run examples/mera-classifier.tn --repeat 20 "$@" | grep -E '^  forward' | sed -E 's/^ +forward +//')"
    echo "    tn run examples/mera-classifier.tn $label: $line"
  }
  loop() { # label, env..., -- threads
    local label="$1"; shift
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local out="$work/born-$RANDOM"
    env "${envs[@]}" "$tn" train born-machine --dmax 10 --loops 1 --threads "$1" --out "$out" >/dev/null
    echo "    tn train born-machine --dmax 10 --loops 1 $label: $(tail -1 "$out/history.csv" | cut -d, -f6) s for loop 1"
  }
  lines=()
  for round in 1 2; do
    lines+=("$(run "(default: 1 thread, passive)" OMP_WAIT_POLICY= -- )")
    lines+=("$(run "--threads 2 (passive, tn's default policy)" OMP_WAIT_POLICY= -- --threads 2)")
    lines+=("$(run "--threads 2 with OMP_WAIT_POLICY=ACTIVE (libtorch's default)" OMP_WAIT_POLICY=ACTIVE -- --threads 2)")
  done
  lines+=("$(loop "--threads 1" OMP_WAIT_POLICY= -- 1)")
  lines+=("$(loop "--threads 2 (passive)" OMP_WAIT_POLICY= -- 2)")
  lines+=("$(loop "--threads 2 with OMP_WAIT_POLICY=ACTIVE" OMP_WAIT_POLICY=ACTIVE -- 2)")
  {
    echo "# Threads: the default that cannot collapse"
    echo
    echo "Commands: \`tn run examples/mera-classifier.tn --repeat 20\` (forward per batch of 100, median of 20; two"
    echo "rounds) and \`tn train born-machine --dmax 10 --loops 1\` (the 1000 MNIST sample images), each at the thread"
    echo "count and OpenMP wait policy shown; an empty OMP_WAIT_POLICY lets tn set PASSIVE."
    echo "$header"
    echo
    echo "<!-- summary -->"
    printf '%s\n' "${lines[@]}"
    echo "<!-- /summary -->"
  } >"$results/threads.md"
  echo "wrote $results/threads.md"
fi

if [[ $what == cuts || $what == all ]]; then
  dotnet build apps/TnDsl.Cli -c Release -v q -nologo >/dev/null
  dotnet build bench/TnDsl.Bench -c Release -v q -nologo >/dev/null
  tn="$PWD/apps/TnDsl.Cli/bin/Release/net10.0/tn"
  cwork="$(mktemp -d)"
  trap 'rm -rf "${work:-}" "$cwork"' EXIT
  sed '/^ *cut /d' examples/mps.tn >"$cwork/mps-nocut.tn"
  header="$(stamp)"
  timed() { # label, tn args...: CPU seconds (user + sys), wall and peak memory of one tn process
    local label="$1"; shift
    /usr/bin/time -f "%U %S %e %M" -o "$cwork/time" "$tn" "$@" >/dev/null 2>&1
    read -r user sys wall kb <"$cwork/time"
    echo "    $label: $user s user + $sys s sys CPU, $wall s wall, $((kb / 1024)) MB peak"
  }
  lines=()
  for n in 2000 20000 60000; do
    lines+=("$(timed "tn cuts examples/mps.tn --set n=$n --profile" cuts examples/mps.tn --set n=$n --profile)")
  done
  lines+=("$(timed "tn check examples/mps.tn --set n=60000 (its half cut declared)" check examples/mps.tn --set n=60000)")
  lines+=("$(timed "the same without its cut" check "$cwork/mps-nocut.tn" --set n=60000)")
  out="$(DOTNET_gcServer=0 dotnet bench/TnDsl.Bench/bin/Release/net10.0/TnDsl.Bench.dll cuts-scaling)"
  {
    echo "# Min-cut bounds at scale"
    echo
    echo "Commands: \`/usr/bin/time tn cuts examples/mps.tn --set n=N --profile\` and \`tn check examples/mps.tn --set n=60000\`"
    echo "(with and without its \`cut half\`; each one process, one thread), then"
    echo "\`dotnet run -c Release --project bench/TnDsl.Bench -- cuts-scaling\` (in process, one thread): the profile (every"
    echo "contiguous split solved as one nested family) against one exact flow per split on the whole graph, the method"
    echo "it replaced, timed on 100 evenly spaced splits of the same run and scaled to all n - 1."
    echo "$header"
    echo
    echo "<!-- summary -->"
    printf '%s\n' "${lines[@]}"
    grep -E '^MPS|profile: nested' <<<"$out" | sed -E 's/^ +//; s/^/    /'
    echo "<!-- /summary -->"
    echo
    echo "Full output of the benchmark:"
    echo
    echo '```text'
    echo "$out"
    echo '```'
  } >"$results/cuts.md"
  echo "wrote $results/cuts.md"
fi

python3 scripts/readme-results.py
