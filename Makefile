# Thin wrappers; the real work is in scripts/ and CMake.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan control-plane node images run test test-unit test-integration test-cluster test-e2e bench bench-instructions bench-operator faults fuzz clean

all: build

deps:
	@scripts/install-deps.sh
	@scripts/static-deps/build.sh >/dev/null

$(BUILD_DIR)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPRICING_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)

control-plane: deps
	scripts/control-plane/build.sh >/dev/null

# The one-node cluster's other components (containerd, CNI plugins, CoreDNS,
# metrics-server, ...), from upstream sources, cached per version.
node: control-plane
	scripts/node/build.sh >/dev/null

# pricing-engine:e2e and pricing-operator:e2e from the Dockerfiles, with a
# daemonless builder on base images made from Debian packages; cached.
images: deps
	scripts/images/build.sh >/dev/null

# Starts PostgreSQL, Redis and the engine on :8080; Ctrl-C stops all of it.
run: build
	scripts/run-local.sh

# Every test: unit, integration (real PostgreSQL/Redis), cluster (real control
# plane), e2e (a real one-node cluster running the images), and the unit tests
# again under ASan+UBSan.
test: build build-asan control-plane node images
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -L unit

test-unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L unit

test-integration: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L integration

test-cluster: build control-plane
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L cluster

test-e2e: build control-plane node images
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L e2e

bench: build
	scripts/bench.sh

# The fault matrix under load (kill -9, PostgreSQL and Redis restarted or away,
# the spool's disk full, slow clients and floods) with long windows; a table
# per fault. Root: the spool's disk is a loop-mounted image. `make test` runs
# it with short windows (faults.matrix).
faults: build
	scripts/faults.sh

# libFuzzer targets (tests/fuzz): a clang build in build-fuzz, then each target
# from its committed corpus for FUZZ_SECONDS (15) after replaying every
# regression input. `make test` runs the same (fuzz.targets).
fuzz: deps
	tests/fuzz/run.sh

bench-instructions: build
	scripts/bench-instructions.sh

# 1000 PricingEngines on the real control plane: time to reconcile, RSS,
# writes, CR edit -> HPA latency; ratio to one client applying the same objects.
bench-operator: build control-plane
	scripts/bench-operator.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz
