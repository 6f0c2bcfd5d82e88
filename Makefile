# Thin wrappers; the real work is in scripts/ and CMake.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan control-plane run test test-unit test-integration test-cluster bench bench-instructions bench-operator clean

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

# Starts PostgreSQL, Redis and the engine on :8080; Ctrl-C stops all of it.
run: build
	scripts/run-local.sh

# Every test: unit, integration (real PostgreSQL/Redis), cluster (real control
# plane), and the unit tests again under ASan+UBSan.
test: build build-asan control-plane
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_DIR) --output-on-failure -L unit

test-unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L unit

test-integration: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L integration

test-cluster: build control-plane
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L cluster

bench: build
	scripts/bench.sh

bench-instructions: build
	scripts/bench-instructions.sh

# 1000 PricingEngines on the real control plane: time to reconcile, RSS,
# writes, CR edit -> HPA latency; ratio to one client applying the same objects.
bench-operator: build control-plane
	scripts/bench-operator.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
