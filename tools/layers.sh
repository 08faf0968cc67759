#!/bin/bash
# Fails on any #include "..." in src/ that points up the layer table below: each folder may
# include only itself and the layers under it. Tests are exempt; src/main.c is the top.
set -euo pipefail
cd "$(dirname "$0")/.."

# What each layer may include besides itself. An entry with a '/' allows that one header.
declare -A allowed=(
        [core]=""
        [json]="core"
        [arch]="core"
        [devices]="core arch/x86_64/layout.h"
        [model]="core json arch"
        [netstack]="core"
        [mmds]="core model"
        [vmm]="core arch devices model seccomp mmds netstack"
        [api]="core json model vmm seccomp mmds"
        [seccomp]="core"
)

# May a file of layer $1 include "$2"?
may_include() {
        local from=$1 inc=$2 to=${2%%/*} ok
        [[ $inc != */* || $to == "$from" ]] && return 0 # same folder, or same layer
        for ok in ${allowed[$from]}; do
                [[ $ok == "$to" || $ok == "$inc" ]] && return 0
        done
        return 1
}

files=0 bad=0
while IFS= read -r f; do
        rel=${f#src/}
        layer=${rel%%/*}
        files=$((files + 1))
        [[ $rel == main.c ]] && continue # the top: anything goes
        if [[ -z ${allowed[$layer]+set} ]]; then
                echo "$f: folder $layer is not in the layer table"
                bad=$((bad + 1))
                continue
        fi
        while IFS= read -r inc; do
                if ! may_include "$layer" "$inc"; then
                        echo "$f: includes $inc (layer $layer may not include layer ${inc%%/*})"
                        bad=$((bad + 1))
                fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'src/*.c' 'src/*.h')

if [[ $bad -ne 0 ]]; then
        echo "layers: $bad upward includes"
        exit 1
fi
echo "layers: $files files checked, 0 upward includes"
