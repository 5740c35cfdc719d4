# Everyday targets; CMakeLists.txt is the real build.
#
#   make            Release build (CUDA backend too when nvcc is found)
#   make test       install missing deps, build, run every test (doctest via CTest)
#   make deps       install missing Debian packages (or print the apt-get line)
#   make data       fill data/ with the data sets (copies ../shared/data, or downloads)
#   make demo       install missing deps, build, run chapters 1 -> 4 into out/ (about 5 min)
#   make bench      drift_bench next to PyTorch on this machine (bench/run.sh; BENCHMARKS.md)
#   make flagship   the 10-minute Fashion-MNIST run next to PyTorch's (scripts/flagship.sh, ~30 min)
#   make sanitize   every test built with g++ -fsanitize=address,undefined in build-sanitize
#                   (CPU only; scripts/sanitize.sh)
#   make fuzz       builds the libFuzzer harnesses of tests/fuzz/ with clang in build-fuzz and
#                   runs each for FUZZ_SECONDS (default 60; FUZZ_ONLY=json: one; scripts/fuzz.sh)
#   make clean      remove the build directory
#
# Variables: BUILD_DIR (default build), CMAKE_FLAGS (e.g. -DWITH_CUDA=OFF), JOBS,
# BENCH_FLAGS (e.g. "--threads 1 --only sgemm"), FUZZ_SECONDS, FUZZ_ONLY.

BUILD_DIR ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_ONLY ?=

.PHONY: all build configure deps data test demo bench flagship sanitize fuzz clean

all: build

deps:
	@scripts/install-deps.sh

data:
	@scripts/fetch-data.sh

configure:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD_DIR) && ctest --output-on-failure --verbose --timeout 900

# Chapters 1, 2 and 3 at their defaults (the tutorial's values), outputs in out/<chapter>/;
# chapter 3 samples with chapter 2's weights. See scripts/demo.sh.
demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD_DIR)

bench:
	@BUILD_DIR=$(BUILD_DIR) JOBS=$(JOBS) CMAKE_FLAGS="$(CMAKE_FLAGS)" bench/run.sh $(BENCH_FLAGS)

# The project's flagship: chapter 4's best 10-minute recipe, then the tutorial's PyTorch recipe
# for the same 10 minutes, both scored by the same FID code. See scripts/flagship.sh.
flagship: build
	@scripts/flagship.sh $(BUILD_DIR)

sanitize:
	@JOBS=$(JOBS) CMAKE_FLAGS="$(CMAKE_FLAGS)" scripts/sanitize.sh

fuzz:
	@JOBS=$(JOBS) CMAKE_FLAGS="$(CMAKE_FLAGS)" FUZZ_SECONDS="$(FUZZ_SECONDS)" \
	  FUZZ_ONLY="$(FUZZ_ONLY)" scripts/fuzz.sh

clean:
	rm -rf $(BUILD_DIR)
