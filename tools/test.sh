#!/bin/bash
# Runs the whole test suite: build, unit tests (ctest), integration tests (pytest with real guests).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
echo "== unit tests (ctest)"
(cd build && ctest --output-on-failure)
echo "== integration tests (pytest)"
/usr/bin/python3 -m pytest -p no:cacheprovider tests/integration -v
