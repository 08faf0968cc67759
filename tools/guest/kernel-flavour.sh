#!/bin/bash
# Builds a flavour of the guest kernel: kernel.sh run on kernel.config with the options of a
# flavour fragment (kernel-FLAVOUR.config) replacing the lines of kernel.config that name them.
# Usage: kernel-flavour.sh FRAGMENT DEST   (DEST as for kernel.sh)
#
# kernel.sh reads kernel.config and patches/ from its own directory, so the flavour gets a
# directory of its own (next to DEST, removed afterwards) holding the merged fragment and links
# to kernel.sh and patches/: kernel.sh itself stays as it is, and with it the default
# flavour's cache key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fragment=$1
dest=$2

[ -f "$fragment" ] || { echo "guest: $fragment is missing" >&2; exit 1; }
flavour=$(mktemp -d "$(dirname "$dest")/.kernel-build.flavour.XXXXXX")
trap 'rm -rf "$flavour"' EXIT

# The options the fragment sets or unsets; each base line that names one of them goes.
names=$(sed -nE 's/^(# )?(CONFIG_[A-Za-z0-9_]+)[= ].*/\2/p' "$fragment" | sort -u)
{
        echo "# kernel.config less the options of $(basename "$fragment"), then that fragment"
        grep -vwF -f <(echo "$names") "$here/kernel.config"
        cat "$fragment"
} >"$flavour/kernel.config"
ln -s "$here/kernel.sh" "$flavour/kernel.sh"
ln -s "$here/patches" "$flavour/patches"
"$flavour/kernel.sh" "$dest"
