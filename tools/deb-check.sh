#!/bin/bash
# Builds the .deb in a configured build directory (cpack) and checks it without a chroot:
# unpacked with dpkg -x into a temporary root, its brasa and brasa-jailer must run and its man
# pages be there (ctest's package.deb). The full check on a clean Debian 12 (apt install
# ./brasa_*.deb in a debootstrap chroot) is described in docs/development.md.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$build"
rm -f brasa_*.deb
cpack -G DEB >/dev/null
debs=(brasa_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || { echo "deb-check: cpack made no .deb" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "${debs[0]}" "$root"
version=$("$root/usr/bin/brasa" --version | head -1)
[[ $version == "Firecracker v1.16.1" ]] || { echo "deb-check: brasa --version: $version" >&2; exit 1; }
"$root/usr/bin/brasa-jailer" --version | grep -q '^brasa-jailer v' ||
        { echo "deb-check: brasa-jailer --version failed" >&2; exit 1; }
"$root/usr/bin/brasa-uffd-handler" --help | grep -q '^    brasa-uffd-handler - ' ||
        { echo "deb-check: brasa-uffd-handler --help failed" >&2; exit 1; }
"$root/usr/bin/brasa-snapshot-editor" --version | grep -q '^brasa-snapshot-editor v' ||
        { echo "deb-check: brasa-snapshot-editor --version failed" >&2; exit 1; }
for f in usr/share/man/man1/brasa.1 usr/share/man/man1/brasa-jailer.1 \
        usr/share/man/man1/brasa-snapshot-editor.1 \
        usr/share/doc/brasa/README.md usr/share/doc/brasa/pvm-hosts.md; do
        [[ -f $root/$f ]] || { echo "deb-check: $f is missing from ${debs[0]}" >&2; exit 1; }
done
dpkg-deb -f "${debs[0]}" Package Version Architecture Depends
echo "deb-check: ${debs[0]} ok"
