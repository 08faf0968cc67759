#!/bin/bash
# Fails when any C source differs from .clang-format's output.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
        if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
                echo "format: $f needs clang-format -i"
                bad=1
        fi
done < <(git ls-files '*.c' '*.h')
[ "$bad" -eq 0 ] && echo "format: clean"
exit "$bad"
