#!/bin/bash
# Runs the whole test suite: format check, build, unit tests (ctest) and integration tests
# (pytest booting the test guests), then the same tests again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/format-check.sh
tools/build.sh
echo "== unit tests (ctest)"
(cd build && ctest --output-on-failure)
echo "== integration tests (pytest)"
/usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -v
echo "== ASan + UBSan build"
cmake -S . -B build-asan -G Ninja -DSANITIZE=ON >/dev/null
ninja -C build-asan
(cd build-asan && ctest --output-on-failure)
BRASA_BUILD_DIR=build-asan /usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -q
