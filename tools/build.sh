#!/bin/bash
# Configures and builds brasa, its unit tests and the test guests into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBRASA_TESTS=ON >/dev/null
ninja -C build
