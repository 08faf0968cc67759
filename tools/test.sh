#!/bin/bash
# Runs the whole test suite: format check, build, unit tests (ctest) and integration tests
# (pytest booting the test guests and the guest Linux from tools/guest), then the same tests
# again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/format-check.sh
tools/layers.sh
/usr/bin/python3 tools/funcstats.py --max 60
tools/build.sh
echo "== static binaries and their size budget"
tools/size-check.sh build
echo "== guest Linux (tools/guest: built once, then reused from its cache)"
tools/guest/build.sh
echo "== unit tests (ctest)"
(cd build && ctest --output-on-failure)
echo "== integration tests (pytest)"
/usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -v
echo "== ASan + UBSan build"
cmake -S . -B build-asan -G Ninja -DSANITIZE=ON >/dev/null
ninja -C build-asan
(cd build-asan && ctest --output-on-failure)
echo "== fuzzing, bounded (libFuzzer + ASan + UBSan, clang)"
CC=clang cmake -S . -B build-fuzz -G Ninja -DFUZZ=ON >/dev/null
# 30 s a target keeps the suite within its time as targets are added; set more for a long run.
fuzz_seconds=${BRASA_FUZZ_SECONDS:-30}
# fuzz TARGET SEEDER...: builds TARGET, runs SEEDER... DIR to fill a fresh corpus DIR, then
# fuzzes for fuzz_seconds from there (libFuzzer adds what it finds to that directory).
fuzz() {
        local target=$1 corpus
        shift
        ninja -C build-fuzz "$target"
        corpus=$(mktemp -d)
        "$@" "$corpus"
        (cd "$corpus" && "$OLDPWD/build-fuzz/tests/fuzz/$target" -max_total_time="$fuzz_seconds" \
                -seed=1 -print_final_stats=1 "$corpus")
        rm -rf "$corpus"
}
copy_into() { cp "$@"; } # copy_into FILE... DIR
fuzz fuzz_virtq_blk /usr/bin/python3 tests/fuzz/virtq_blk_seeds.py # block requests
fuzz fuzz_net /usr/bin/python3 tests/fuzz/net_seeds.py             # net TX/RX frame placement
fuzz fuzz_virtq_rng /usr/bin/python3 tests/fuzz/virtq_rng_seeds.py # virtio-rng requests
fuzz fuzz_virtq_balloon /usr/bin/python3 tests/fuzz/virtq_balloon_seeds.py # balloon queues
fuzz fuzz_virtq_vsock /usr/bin/python3 tests/fuzz/virtq_vsock_seeds.py # vsock packets
fuzz fuzz_virtq_pmem /usr/bin/python3 tests/fuzz/virtq_pmem_seeds.py # pmem flush requests
fuzz fuzz_virtq_mem /usr/bin/python3 tests/fuzz/virtq_mem_seeds.py   # virtio-mem requests and slots
fuzz fuzz_pci /usr/bin/python3 tests/fuzz/pci_seeds.py             # PCI config, BAR and MSI-X access
fuzz fuzz_snapshot /usr/bin/python3 tests/fuzz/snapshot_seeds.py # snapshot state file parser
fuzz fuzz_pit /usr/bin/python3 tests/fuzz/pit_seeds.py             # PIT ports, clock jumps, states
fuzz fuzz_http copy_into tests/fuzz/http_corpus/*                  # HTTP parser, router, handlers
fuzz fuzz_mmds_stack /usr/bin/python3 tests/fuzz/mmds_stack_seeds.py # the MMDS network stack
fuzz fuzz_mmds_http copy_into tests/fuzz/mmds_corpus/*            # MMDS guest requests, V1/V2 answers
# The kernel and initrd loaders, from the test guests in every format brasa boots.
fuzz fuzz_loader copy_into build/guest-tests/pvh.elf build/guest-tests/linux64.elf \
        build/guest-tests/linux64.bzImage build/guest-tests/initrd.img
echo "== integration tests under ASan + UBSan"
# Of the real-Linux boots (minutes on kvm_pvm), only the first one runs again under ASan.
BRASA_BUILD_DIR=build-asan /usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -q \
        -k "not test_linux_ or pvh-1cpu-256M"
