#!/bin/bash
# Quick start: install dependencies, build brasa and the guest Linux, boot it to a shell on the
# serial console.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
# The demo boots the default kernel flavour only: no need to wait for the second one.
BRASA_GUEST_FLAVOURS=default tools/guest/build.sh
join() { grep -v '^#' "$1" | tr '\n' ' '; }
args="$(join tools/guest/cmdline)"
if [ -d /sys/module/kvm_pvm ]; then
        args="$args$(join tools/guest/cmdline-pvm)"
        echo "demo: this host's /dev/kvm is kvm_pvm (no VMX/SVM): it emulates the guest kernel's code"
        echo "demo: one instruction at a time (~0.7 us each), so Linux takes 30-60 seconds to reach"
        echo "demo: its shell here (user space then runs at native speed). With VMX/SVM it takes about"
        echo "demo: a second. tools/guest/cmdline-pvm explains the extra kernel arguments."
fi
interactive=0
if [ -t 0 ]; then
        interactive=1
        args="${args}brasa.shell"
fi
cfg=$(mktemp /tmp/brasa-demo.XXXXXX.json)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PWD/build/guest/vmlinux",
    "initrd_path": "$PWD/build/guest/initramfs.cpio",
    "boot_args": "$args"
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 }
}
JSON
kver=$(sed -n 's/^# Linux\/x86_64 \([^ ]*\) Kernel Configuration$/\1/p' build/guest/config)
echo "demo: booting Linux $kver (build/guest/vmlinux + initramfs.cpio, 2 vCPUs, 256 MiB) with"
echo "demo:   build/brasa --no-api --config-file $cfg"
if [ $interactive -eq 1 ]; then
        echo "demo: a busybox shell comes up on the serial console; 'exit' or 'reboot' ends the VM"
        set +e
        build/brasa --no-api --config-file "$cfg"
else
        echo "demo: stdin is not a terminal: the guest prints what it sees and reboots"
        set +e
        build/brasa --no-api --config-file "$cfg" </dev/null
fi
rc=$?
set -e
echo "demo: brasa exited with code $rc (0 = the guest rebooted through the i8042)"
exit $rc
