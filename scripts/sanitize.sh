#!/usr/bin/env bash
# scripts/sanitize.sh — `make sanitize`: the whole test suite built with g++,
# AddressSanitizer and UBSan (any undefined behaviour stops the test) in build-sanitize/, CPU
# only, then run through CTest. Prints the wall time of the build and of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${SANITIZE_BUILD_DIR:-$root/build-sanitize}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

"$root/scripts/install-deps.sh"
start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWITH_CUDA=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" ${CMAKE_FLAGS:-}
cmake --build "$build" -j "$jobs"
built=$(date +%s)
# allocator_may_return_null: an allocation too large to make returns null, as it does without
# ASan, so test_tensor can check that it becomes a clear Error rather than a crash.
status=0
(cd "$build" &&
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  ctest --output-on-failure --timeout 3600) || status=$?
done=$(date +%s)
echo "sanitize: build $((built - start)) s, tests $((done - built)) s (g++, ASan + UBSan, $build)"
exit $status
