# Convenience targets; the build itself is CMake + Ninja (tools/build.sh).
.PHONY: all build binaries install deb test demo bench format

all: build

build:
	tools/build.sh

# Only what gets installed (brasa, brasa-jailer, brasa-uffd-handler, brasa-snapshot-editor), in
# build-bin/: no cmocka, no test guests.
binaries:
	cmake -S . -B build-bin -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBRASA_TESTS=OFF
	ninja -C build-bin

PREFIX ?= /usr/local
install: binaries
	cmake --install build-bin --prefix $(PREFIX)

# build-bin/brasa_<version>_<arch>.deb (apt install ./build-bin/brasa_*.deb).
deb: binaries
	cd build-bin && cpack -G DEB

test:
	tools/test.sh

demo:
	tools/demo.sh

# brasa vs QEMU microvm (NO_QEMU=1 leaves it out), and kvmtool with LKVM=path/to/lkvm (root: the device-cost runs
# create and delete their own tap); writes docs/benchmarks.md (bench section) and
# docs/benchmarks.png.
bench:
	tools/deps.sh
	tools/deps.sh --bench
	tools/build.sh
	/usr/bin/python3 bench/bench.py $(if $(LKVM),--lkvm $(LKVM)) $(if $(NO_QEMU),--no-qemu)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i
