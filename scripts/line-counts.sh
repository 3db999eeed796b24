#!/usr/bin/env bash
# Lines of F# and C# source per project (tracked files; build outputs left out), as the README's layout quotes them.
# Usage: scripts/line-counts.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for project in $(git ls-files '*.fsproj' '*.csproj' | xargs -n1 dirname | sort); do
    lines=$(git ls-files -- "$project" | grep -E '\.(fs|cs)$' | xargs -r cat | wc -l)
    printf '%-34s %7d\n' "$project" "$lines"
done
