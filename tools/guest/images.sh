#!/bin/bash
# Builds the guest's user space from Debian's busybox-static, tools/guest/init and our vsock and
# metadata tools (tools/guest/vsockt.c and mmdsc.c, built static with the host's gcc and glibc):
# an initramfs (initramfs.cpio.gz and the same archive uncompressed, initramfs.cpio) and an ext4
# root file system image (rootfs.ext4) into DEST. The ext4 root also holds Debian's dropbear SSH
# server with its libraries, a host key, and the public half of a client key pair made here
# (id_ed25519 and id_ed25519.pub in DEST). Needs no root (cpio -R 0:0, mke2fs -d, and debugfs
# for the owners that dropbear checks; init runs as root in the guest whoever owns the files).
# Usage: images.sh DEST   (DEST must not exist; it appears only when the build succeeded)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1
busybox=/bin/busybox

[ -e "$dest" ] && { echo "guest: $dest already exists" >&2; exit 1; }
[ -x "$busybox" ] || { echo "guest: $busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
dropbear=/usr/sbin/dropbear
for tool in "$dropbear" /usr/bin/dropbearkey /usr/bin/ssh-keygen /usr/sbin/debugfs; do
        [ -x "$tool" ] || { echo "guest: $tool is missing (run tools/deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d "$(dirname "$dest")/.images-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The initramfs holds busybox, /bin/sh and init as /init: Debian's busybox runs its applets from
# the shell without symlinks, and on kvm_pvm the kernel spends ~10 ms per file unpacking it.
# The ext4 root adds a symlink per applet (they cost nothing at boot there), init as /sbin/init.
tree=$work/tree
mkdir -p "$tree"/{bin,sbin,dev,proc,sys,tmp,root,etc,mnt}
cp "$busybox" "$tree/bin/busybox"
ln -s busybox "$tree/bin/sh"
install -m 0755 "$here/init" "$tree/init"
# The guest has no socat: vsockt listens and echoes, or connects and checks an echo.
gcc -static -O2 -s -Wall -Wextra -Werror -o "$tree/bin/vsockt" "$here/vsockt.c"
# ...nor a client that sends the metadata service's custom headers: mmdsc.
gcc -static -O2 -s -Wall -Wextra -Werror -o "$tree/bin/mmdsc" "$here/mmdsc.c"
echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
echo "root:x:0:" >"$tree/etc/group"
echo "brasa" >"$tree/etc/hostname"
# init mounts everything with one `mount -a`; only the initramfs needs devtmpfs there.
printf '%s\n' "proc /proc proc defaults 0 0" "sysfs /sys sysfs defaults 0 0" >"$work/fstab.rootfs"
cp "$work/fstab.rootfs" "$tree/etc/fstab"
echo "devtmpfs /dev devtmpfs defaults 0 0" >>"$tree/etc/fstab"
chmod 1777 "$tree/tmp"
# The SSH server of the ext4 root, as in Firecracker's CI images: Debian's dropbear (with the
# shared libraries it links, and the loader), a host key and root's authorized key, all made now
# because generating a host key at boot takes seconds of emulated kernel work on kvm_pvm. The
# client key pair goes next to the images (build.sh copies it into the build tree).
add_ssh() {
        local rtree=$1 out=$2 lib
        install -D -m 0755 "$dropbear" "$rtree/usr/sbin/dropbear"
        for lib in $(ldd "$dropbear" | grep -o '/[^ ]*'); do
                install -D -m 0755 "$(readlink -f "$lib")" "$rtree$lib"
        done
        echo /bin/sh >"$rtree/etc/shells"
        mkdir -m 0700 "$rtree/etc/dropbear" "$rtree/root/.ssh"
        dropbearkey -t ed25519 -f "$rtree/etc/dropbear/dropbear_ed25519_host_key" >/dev/null 2>&1
        ssh-keygen -q -t ed25519 -N '' -C brasa-guest -f "$out/id_ed25519"
        install -m 0600 "$out/id_ed25519.pub" "$rtree/root/.ssh/authorized_keys"
}

# Fixed times make the images depend only on their inputs.
stamp() { find "$1" -exec touch -h -d @1767225600 {} +; }
stamp "$tree"

mkdir "$work/out"
(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
        >"$work/out/initramfs.cpio"
gzip -9 -n -c "$work/out/initramfs.cpio" >"$work/out/initramfs.cpio.gz"

rtree=$work/rootfs
cp -a "$tree" "$rtree"
rm "$rtree/init"
install -m 0755 "$here/init" "$rtree/sbin/init"
cp "$work/fstab.rootfs" "$rtree/etc/fstab"
for applet in $("$busybox" --list); do
        [ -e "$rtree/bin/$applet" ] || ln -s busybox "$rtree/bin/$applet"
done
add_ssh "$rtree" "$work/out"
stamp "$rtree"
# A 32 MiB ext4 image filled from that tree.
truncate -s 32M "$work/out/rootfs.ext4"
E2FSPROGS_FAKE_TIME=1767225600 mkfs.ext4 -q -F -L brasa-root -U 62726173-6100-4000-8000-000000000001 \
        -E root_owner=0:0,hash_seed=62726173-6100-4000-8000-000000000002 \
        -d "$rtree" "$work/out/rootfs.ext4"
# mke2fs -d copies the builder's uid; dropbear refuses keys that root does not own.
for p in /root /root/.ssh /root/.ssh/authorized_keys /etc/dropbear \
        /etc/dropbear/dropbear_ed25519_host_key; do
        printf 'set_inode_field %s uid 0\nset_inode_field %s gid 0\n' "$p" "$p"
done >"$work/owners"
E2FSPROGS_FAKE_TIME=1767225600 debugfs -w -f "$work/owners" "$work/out/rootfs.ext4" >/dev/null 2>&1
mv "$work/out" "$dest"
echo "guest: images: initramfs $(stat -c %s "$dest/initramfs.cpio.gz") bytes gzipped," \
        "rootfs.ext4 $(stat -c %s "$dest/rootfs.ext4") bytes"
