# Convenience targets; the build itself is CMake + Ninja (tools/build.sh).
.PHONY: all build test demo bench format

all: build

build:
	tools/build.sh

test:
	tools/test.sh

demo:
	tools/demo.sh

# brasa vs QEMU microvm, and kvmtool with LKVM=path/to/lkvm (root: the device-cost runs
# create and delete their own tap); writes docs/benchmarks.md (bench section) and
# docs/benchmarks.png.
bench:
	tools/deps.sh
	tools/deps.sh --bench
	tools/build.sh
	/usr/bin/python3 bench/bench.py $(if $(LKVM),--lkvm $(LKVM))

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i
