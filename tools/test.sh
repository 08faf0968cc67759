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
ninja -C build-fuzz fuzz_virtq_blk
corpus=$(mktemp -d)
/usr/bin/python3 tests/fuzz/virtq_blk_seeds.py "$corpus"
build-fuzz/tests/fuzz/fuzz_virtq_blk -max_total_time=30 -seed=1 -print_final_stats=1 "$corpus"
rm -rf "$corpus"
# virtio-net TX and RX frame placement, from generated seeds.
ninja -C build-fuzz fuzz_net
corpus=$(mktemp -d)
/usr/bin/python3 tests/fuzz/net_seeds.py "$corpus"
build-fuzz/tests/fuzz/fuzz_net -max_total_time=30 -seed=1 -print_final_stats=1 "$corpus"
rm -rf "$corpus"
# virtio-rng requests, from generated seeds.
ninja -C build-fuzz fuzz_virtq_rng
corpus=$(mktemp -d)
/usr/bin/python3 tests/fuzz/virtq_rng_seeds.py "$corpus"
build-fuzz/tests/fuzz/fuzz_virtq_rng -max_total_time=30 -seed=1 -print_final_stats=1 "$corpus"
rm -rf "$corpus"
# virtio-vsock TX and RX packets over the Unix-socket backend, from generated seeds.
ninja -C build-fuzz fuzz_virtq_vsock
corpus=$(mktemp -d)
/usr/bin/python3 tests/fuzz/virtq_vsock_seeds.py "$corpus"
build-fuzz/tests/fuzz/fuzz_virtq_vsock -max_total_time=30 -seed=1 -print_final_stats=1 "$corpus"
rm -rf "$corpus"
# The API's HTTP parser + router + handlers, from the committed seed corpus (copied: libFuzzer
# adds what it finds to the first corpus directory).
ninja -C build-fuzz fuzz_http
corpus=$(mktemp -d)
cp tests/fuzz/http_corpus/* "$corpus"
(cd "$corpus" && "$OLDPWD/build-fuzz/tests/fuzz/fuzz_http" -max_total_time=30 -seed=1 \
        -print_final_stats=1 "$corpus")
rm -rf "$corpus"
echo "== integration tests under ASan + UBSan"
# Of the real-Linux boots (minutes on kvm_pvm), only the first one runs again under ASan.
BRASA_BUILD_DIR=build-asan /usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -q \
        -k "not test_linux_ or pvh-1cpu-256M"
