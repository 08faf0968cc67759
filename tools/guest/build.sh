#!/bin/bash
# Builds (or reuses from the cache) the guest Linux: kernel, busybox initramfs, ext4 rootfs,
# all from Debian packages, and exposes them in build/guest/ (or $BRASA_GUEST_OUT).
#
# The cache lives outside the build tree, in $BRASA_GUEST_CACHE (default /var/cache/brasa-guest,
# or ~/.cache/brasa-guest when that is not writable). Each artifact set sits in a directory named
# by a hash of its inputs (package versions, compiler, scripts, config fragment, patches), so a
# change to any input rebuilds it and an unchanged tree reuses it.
#
# Two kernel flavours: the default one (kernel.config: MP table, virtio-mmio devices from the
# command line, no ACPI or PCI) and "acpi" (kernel-acpi.config on top: ACPI, PCI, virtio-mmio
# from the DSDT). $BRASA_GUEST_FLAVOURS picks which to build (default: "default acpi").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${BRASA_GUEST_OUT:-$root/build/guest}

cache=${BRASA_GUEST_CACHE:-/var/cache/brasa-guest}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
        cache=${XDG_CACHE_HOME:-$HOME/.cache}/brasa-guest
        mkdir -p "$cache"
fi

pkgver() { dpkg-query -W -f='${Package} ${Version}\n' "$@"; }

# Prints a short hash of everything that determines an artifact set.
key() {
        local kind=$1
        shift
        {
                echo "$kind"
                for f in "$@"; do
                        echo "== $(basename "$f")"
                        cat "$f"
                done
        } | sha256sum | cut -c1-16
}

kernel_key=$(key kernel "$here/kernel.sh" "$here/kernel.config" "$here"/patches/*.patch \
        <(pkgver linux-source-6.1 gcc binutils) <(gcc --version | head -n 1))
images_key=$(key images "$here/images.sh" "$here/init" "$here/vsockt.c" "$here/mmdsc.c" \
        <(pkgver busybox-static e2fsprogs cpio gzip libc6-dev gcc) <(gcc --version | head -n 1) \
        <(pkgver dropbear-bin libtomcrypt1 libtommath1 libgmp10 zlib1g libcrypt1 libc6 openssh-client))
acpi_key=$(key kernel-acpi "$here/kernel.sh" "$here/kernel-flavour.sh" "$here/kernel.config" \
        "$here/kernel-acpi.config" "$here"/patches/*.patch \
        <(pkgver linux-source-6.1 gcc binutils) <(gcc --version | head -n 1))
kdir=$cache/kernel-$kernel_key
adir=$cache/kernel-acpi-$acpi_key
flavours=${BRASA_GUEST_FLAVOURS:-default acpi}
want() { [[ " $flavours " == *" $1 "* ]]; }
idir=$cache/images-$images_key

# flock serialises concurrent runs (two test sessions) on the same cache entry.
exec 9>"$cache/.lock"
flock 9
# Work trees of builds that were killed (a kernel tree is ~1.5 GiB); nobody else builds now.
rm -rf "$cache"/.kernel-build.* "$cache"/.images-build.*
if ! want default; then
        :
elif [ -d "$kdir" ]; then
        echo "guest: kernel: cached in $kdir"
else
        "$here/kernel.sh" "$kdir"
fi
if ! want acpi; then
        :
elif [ -d "$adir" ]; then
        echo "guest: kernel (acpi): cached in $adir"
else
        echo "guest: kernel (acpi): building the second flavour"
        "$here/kernel-flavour.sh" "$here/kernel-acpi.config" "$adir"
fi
if [ -d "$idir" ]; then
        echo "guest: images: cached in $idir"
else
        "$here/images.sh" "$idir"
fi
flock -u 9

mkdir -p "$out"
links=("$idir"/initramfs.cpio.gz "$idir"/initramfs.cpio "$idir"/rootfs.ext4)
want default && links+=("$kdir"/vmlinux "$kdir"/bzImage "$kdir"/config)
for f in "${links[@]}"; do
        ln -sfn "$f" "$out/$(basename "$f")"
done
# The acpi flavour's files carry the flavour in their names: vmlinux-acpi, bzImage-acpi, ...
if want acpi; then
        for f in "$adir"/vmlinux "$adir"/bzImage "$adir"/config; do
                ln -sfn "$f" "$out/$(basename "$f")-acpi"
        done
fi
# ssh wants the private key to be the user's own, not a link into a cache someone else may own.
install -m 0600 "$idir/id_ed25519" "$out/id_ed25519"
install -m 0644 "$idir/id_ed25519.pub" "$out/id_ed25519.pub"
echo "guest: artifacts in $out: $(cd "$out" && echo *)"
