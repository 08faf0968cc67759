#!/bin/bash
# Installs brasa's build and test dependencies from Debian 12 (skips apt when all are present).
set -euo pipefail
PKGS=(gcc make cmake ninja-build pkg-config libjansson-dev libseccomp-dev liburing-dev nettle-dev
      libcmocka-dev python3-pytest python3-pytest-timeout python3-yaml python3-jsonschema
      clang-format
      lld # build/brasa: hot code first (tools/text-order.txt)
      iproute2 binutils # jailer tests (ip netns), tools/size-check.sh (strip, readelf)
      clang libclang-rt-dev # libFuzzer targets (tests/fuzz)
      # The guest Linux (tools/guest): kernel source, its build tools, busybox, image tools.
      linux-source-6.1 bc bison flex libelf-dev libssl-dev xz-utils lz4 patch
      busybox-static cpio gzip e2fsprogs
      # Its SSH server and key pair; the client and curl of tests/integration/test_linux_ssh.py.
      dropbear-bin openssh-client curl)
if [ "${1:-}" = "--bench" ]; then
        # Only `make bench` needs these: the peer VMM and the chart library.
        PKGS=(qemu-system-x86 python3-matplotlib)
fi
missing=()
for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "deps: installing ${missing[*]}"
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
