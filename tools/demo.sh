#!/bin/bash
# Quick start: install dependencies, build everything, boot a demo microVM on the serial console.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
cfg=$(mktemp /tmp/brasa-demo.XXXXXX.json)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PWD/build/guest-tests/pvh.elf",
    "initrd_path": "$PWD/build/guest-tests/initrd.img",
    "boot_args": "console=ttyS0 reboot=k brasa.boottimer"
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 }
}
JSON
echo "demo: booting the PVH test guest (2 vCPUs, 256 MiB) with build/brasa --no-api --config-file $cfg"
set +e
build/brasa --no-api --boot-timer --config-file "$cfg" </dev/null
rc=$?
set -e
echo "demo: brasa exited with code $rc (0 = the guest reset the machine through the i8042)"
exit $rc
