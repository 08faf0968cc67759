#!/bin/bash
# Builds the guest kernel (vmlinux with the PVH note, bzImage, .config) from Debian's
# linux-source-6.1, the patches in patches/ and the kernel.config fragment into DEST.
# Usage: kernel.sh DEST   (DEST must not exist; it appears only when the build succeeded)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1
jobs=${BRASA_GUEST_JOBS:-$(nproc)}
src_tar=/usr/src/linux-source-6.1.tar.xz

[ -e "$dest" ] && { echo "guest: $dest already exists" >&2; exit 1; }
[ -f "$src_tar" ] || { echo "guest: $src_tar is missing (apt-get install linux-source-6.1)" >&2; exit 1; }
work=$(mktemp -d "$(dirname "$dest")/.kernel-build.XXXXXX")
progress_pid=
cleanup() {
        [ -n "$progress_pid" ] && kill "$progress_pid" 2>/dev/null
        rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
echo "guest: kernel: unpacking $src_tar"
tar -xf "$src_tar" -C "$work"
ksrc=$work/linux-source-6.1
for p in "$here"/patches/*.patch; do
        echo "guest: kernel: applying $(basename "$p")"
        patch -d "$ksrc" -p1 --forward --quiet <"$p"
done

kmake() {
        make -C "$ksrc" ARCH=x86_64 KBUILD_BUILD_USER=brasa KBUILD_BUILD_HOST=brasa \
                KBUILD_BUILD_TIMESTAMP="2026-01-01" "$@"
}
kmake -s KCONFIG_ALLCONFIG="$here/kernel.config" allnoconfig

# Every line of the fragment must have survived Kconfig's dependency resolution.
bad=0
while read -r line; do
        case "$line" in
        CONFIG_*)
                grep -qxF "$line" "$ksrc/.config" || { echo "guest: kernel.config: '$line' not in .config" >&2; bad=1; } ;;
        "# CONFIG_"*" is not set")
                name=${line#\# }
                name=${name%% *}
                ! grep -q "^$name=" "$ksrc/.config" || { echo "guest: kernel.config: $name is set" >&2; bad=1; } ;;
        esac
done <"$here/kernel.config"
[ $bad -eq 0 ] || exit 1

# The compile prints thousands of lines: log them and report progress every 20 s instead.
log=$work/build.log
echo "guest: kernel: compiling with make -j$jobs (several minutes; log: $log)"
(
        while sleep 20; do
                n=$(grep -c '^  CC ' "$log" 2>/dev/null || true)
                echo "guest: kernel: $((SECONDS - start)) s, ${n:-0} files compiled, last: $(tail -n 1 "$log" 2>/dev/null | tr -s ' ')"
        done
) &
progress_pid=$!
if ! kmake -j"$jobs" vmlinux bzImage >"$log" 2>&1; then
        echo "guest: kernel: build failed; last lines of the log:" >&2
        tail -n 40 "$log" >&2
        exit 1
fi
kill "$progress_pid" 2>/dev/null || true
progress_pid=

# brasa boots the vmlinux through PVH only when it carries XEN_ELFNOTE_PHYS32_ENTRY.
readelf -nW "$ksrc/vmlinux" | grep -Eq '^ *Xen .*(\(0x00000012\)|PHYS32_ENTRY)' ||
        { echo "guest: kernel: vmlinux has no PVH note" >&2; exit 1; }

mkdir "$work/out"
cp "$ksrc/vmlinux" "$work/out/vmlinux"
cp "$ksrc/arch/x86/boot/bzImage" "$work/out/bzImage"
cp "$ksrc/.config" "$work/out/config"
mv "$work/out" "$dest"
echo "guest: kernel: done in $((SECONDS - start)) s"
