#!/bin/bash
# Prints the stripped size of each binary in tools/size-budget.conf and fails when one is over
# its budget or is not static (no ELF interpreter, no shared-library dependencies).
# Usage: tools/size-check.sh [BUILD_DIR]   (default: build; SIZE_BUDGET=FILE overrides the budget)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
budget=${SIZE_BUDGET:-tools/size-budget.conf}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
bad=0
while read -r name limit; do
        case "$name" in '' | '#'*) continue ;; esac
        bin="$build/$name"
        if [ ! -f "$bin" ]; then
                echo "size: $bin is missing"
                bad=1
                continue
        fi
        if readelf -lW "$bin" | grep -q INTERP || readelf -dW "$bin" | grep -q NEEDED; then
                echo "size: $name is not a static binary"
                bad=1
        fi
        strip -o "$tmp" "$bin"
        size=$(stat -c %s "$tmp")
        pct=$((size * 100 / limit))
        if [ "$size" -gt "$limit" ]; then
                echo "size: $name is $size bytes stripped, over its budget of $limit ($pct%)"
                bad=1
        else
                echo "size: $name $size bytes stripped (budget $limit, $pct%)"
        fi
done <"$budget"
exit "$bad"
