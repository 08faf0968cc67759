#!/bin/bash
# Quick start: install dependencies, build brasa and the guest Linux, boot it as Firecracker's
# getting-started guide does (ext4 root, a tap, guest_mac 06:00:AC:10:00:02, plain Firecracker
# boot_args) and log in over SSH: `ssh root@172.16.0.2 uname -a`, then a shell over SSH when
# stdin is a terminal, then `reboot`. The tap lives in a network namespace the demo makes and
# deletes, so the host's own network is never touched.
# tools/demo.sh --console boots the initramfs to a busybox shell on the serial console instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
# The demo boots the default kernel flavour only: no need to wait for the second one.
BRASA_GUEST_FLAVOURS=default tools/guest/build.sh
join() { grep -v '^#' "$1" | tr '\n' ' '; }
if [ -d /sys/module/kvm_pvm ]; then
        echo "demo: this host's /dev/kvm is kvm_pvm (no VMX/SVM): it emulates the guest kernel's code"
        echo "demo: one instruction at a time (~0.7 us each), so Linux takes 30-60 seconds to reach"
        echo "demo: user space here (which then runs at native speed). With VMX/SVM it takes about"
        echo "demo: a second. brasa appends the kernel arguments it needs (tools/guest/cmdline-pvm)."
fi
interactive=0
[ -t 0 ] && interactive=1
kver=$(sed -n 's/^# Linux\/x86_64 \([^ ]*\) Kernel Configuration$/\1/p' build/guest/config)
tmp=$(mktemp -d /tmp/brasa-demo.XXXXXX)
ns=
brasa_pid=
cleanup() {
        if [ -n "$brasa_pid" ]; then kill "$brasa_pid" 2>/dev/null || true; fi
        if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
        rm -rf "$tmp"
}
trap cleanup EXIT

# The serial-console demo: the initramfs, a busybox shell when stdin is a terminal.
console_demo() {
        local args rc
        args="$(join tools/guest/cmdline)"
        [ $interactive -eq 1 ] && args="${args}brasa.shell"
        cat >"$tmp/vm.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PWD/build/guest/vmlinux",
    "initrd_path": "$PWD/build/guest/initramfs.cpio",
    "boot_args": "$args"
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 }
}
JSON
        echo "demo: booting Linux $kver (build/guest/vmlinux + initramfs.cpio, 2 vCPUs, 256 MiB) with"
        echo "demo:   build/brasa --no-api --config-file $tmp/vm.json"
        set +e
        if [ $interactive -eq 1 ]; then
                echo "demo: a busybox shell comes up on the serial console; 'exit' or 'reboot' ends the VM"
                build/brasa --no-api --config-file "$tmp/vm.json"
        else
                echo "demo: stdin is not a terminal: the guest prints what it sees and reboots"
                build/brasa --no-api --config-file "$tmp/vm.json" </dev/null
        fi
        rc=$?
        set -e
        echo "demo: brasa exited with code $rc (0 = the guest rebooted through the i8042)"
        exit $rc
}

if [ "${1:-}" = "--console" ]; then
        console_demo
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "demo: a tap needs root: booting to the serial console instead (run as root for SSH)"
        console_demo
fi

ns=brasa-demo-$$
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" tuntap add dev tap0 mode tap
ip -n "$ns" addr add 172.16.0.1/30 dev tap0
ip -n "$ns" link set dev tap0 up
# The image in build/guest/ is the cache's own copy: the guest writes to a copy of it.
cp build/guest/rootfs.ext4 "$tmp/rootfs.ext4"
cat >"$tmp/vm.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PWD/build/guest/vmlinux",
    "boot_args": "console=ttyS0 reboot=k panic=1"
  },
  "drives": [{ "drive_id": "rootfs", "path_on_host": "$tmp/rootfs.ext4",
               "is_root_device": true, "is_read_only": false }],
  "network-interfaces": [{ "iface_id": "net1", "guest_mac": "06:00:AC:10:00:02",
                           "host_dev_name": "tap0" }]
}
JSON
echo "demo: network namespace $ns: tap0 at 172.16.0.1/30; the guest takes 172.16.0.2 from its MAC"
echo "demo: booting Linux $kver (build/guest/vmlinux + rootfs.ext4 on virtio-block; 1 vCPU, 128 MiB):"
echo "demo:   ip netns exec $ns build/brasa --no-api --config-file $tmp/vm.json"
ip netns exec "$ns" build/brasa --no-api --config-file "$tmp/vm.json" </dev/null >"$tmp/console" 2>&1 &
brasa_pid=$!
ssh_guest() {
        ip netns exec "$ns" ssh -F /dev/null -i build/guest/id_ed25519 -o StrictHostKeyChecking=no \
                -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=60 "$@"
}
echo "demo: waiting for the guest's SSH server (its console: $tmp/console)"
# Each try waits up to a minute for dropbear's greeting: on a busy kvm_pvm host its first
# answer takes seconds, and short tries would only pile connections up in the guest.
up=0
deadline=$((SECONDS + 600))
while [ $SECONDS -lt $deadline ]; do
        if grep -q "^BRASA ssh" "$tmp/console" &&
                ssh_guest -o BatchMode=yes root@172.16.0.2 true 2>/dev/null; then
                up=1
                break
        fi
        if ! kill -0 "$brasa_pid" 2>/dev/null; then
                cat "$tmp/console"
                echo "demo: brasa exited before the guest answered SSH"
                exit 1
        fi
        sleep 1
done
if [ $up -eq 0 ]; then
        cat "$tmp/console"
        echo "demo: the guest did not answer SSH within 600 s"
        exit 1
fi
echo "demo: \$ ssh -i build/guest/id_ed25519 root@172.16.0.2 uname -a"
ssh_guest -o BatchMode=yes root@172.16.0.2 uname -a
if [ $interactive -eq 1 ]; then
        echo "demo: a shell over SSH on the guest; 'exit' leaves it, then the demo reboots the guest"
        ssh_guest root@172.16.0.2 || true
fi
echo "demo: \$ ssh -i build/guest/id_ed25519 root@172.16.0.2 reboot"
ssh_guest -o BatchMode=yes root@172.16.0.2 reboot || true
set +e
wait "$brasa_pid"
rc=$?
set -e
brasa_pid=
echo "demo: brasa exited with code $rc (0 = the guest rebooted through the i8042)"
exit $rc
