#!/usr/bin/env bash
# scripts/fuzz.sh — `make fuzz`: builds the libFuzzer harnesses of tests/fuzz/ with clang,
# AddressSanitizer and UBSan in build-fuzz/, and runs each for FUZZ_SECONDS.
#
#   scripts/fuzz.sh                       every harness, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh      longer
#   FUZZ_ONLY=json scripts/fuzz.sh        one harness (a folder name of tests/fuzz/corpus/)
#
# Each harness starts from a scratch copy of its committed seed corpus
# (build-fuzz/corpus/<harness>/; the committed one never grows) and prints its executions,
# coverage (cov: edges, ft: features) and findings. A finding (crash, sanitizer report,
# timeout over 10 s, more than 2048 MB, an exception other than drift::Error) leaves the input
# that caused it in build-fuzz/findings/<harness>/ (emptied at the start of that harness's
# run) and the log in build-fuzz/logs/<harness>.log; replay one with
#   build-fuzz/tests/fuzz_<harness> build-fuzz/findings/<harness>/crash-...
# The script exits non-zero when any harness found something.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
only=${FUZZ_ONLY:-}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# The longest input each harness is given (-max_len): enough for the small files its format
# needs, short enough that the fuzzer stays fast.
declare -A max_len=([safetensors]=16384 [json]=8192 [idx]=65536 [image]=65536 [mnist]=32768
                    [gif]=20000)

"$root/scripts/install-deps.sh" fuzz
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWITH_CUDA=OFF -DDRIFT_FUZZ=ON ${CMAKE_FLAGS:-} >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target drift_fuzzers

harnesses=()
for dir in "$root"/tests/fuzz/corpus/*/; do
  name=$(basename "$dir")
  [[ -z "$only" || "$name" == "$only" ]] && harnesses+=("$name")
done
if [[ ${#harnesses[@]} -eq 0 ]]; then
  echo "fuzz: no harness named '$only' (the folders of tests/fuzz/corpus/ name them)"
  exit 2
fi

export OMP_NUM_THREADS=1  # one fuzzer, one thread: the parsers are sequential anyway
total_findings=0
printf '%-12s %10s %8s %8s %9s  %s\n' harness executions cov ft findings "where"
for name in "${harnesses[@]}"; do
  work="$build/corpus/$name" findings="$build/findings/$name" log="$build/logs/$name.log"
  rm -rf "$work" "$findings"
  mkdir -p "$work" "$findings" "$build/logs"
  cp "$root/tests/fuzz/corpus/$name/"* "$work/"
  status=0
  "$build/tests/fuzz_$name" "$work" -max_total_time="$seconds" -max_len="${max_len[$name]:-4096}" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$findings/" \
    >"$log" 2>&1 || status=$?
  # libFuzzer's status lines: "#12345  NEW    cov: 456 ft: 789 corp: ..."; the last one counts.
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -oE '^stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [[ -n "$execs" ]] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  found=$(find "$findings" -type f | wc -l)
  if [[ $status -ne 0 && $found -eq 0 ]]; then found=1; fi  # it stopped without leaving a file
  total_findings=$((total_findings + found))
  where="-"
  [[ $found -gt 0 ]] && where="$findings/ ($log)"
  printf '%-12s %10s %8s %8s %9s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$found" "$where"
done

if [[ $total_findings -gt 0 ]]; then
  echo "fuzz: $total_findings finding(s); each input is kept under $build/findings/"
  exit 1
fi
echo "fuzz: no findings in ${#harnesses[@]} harness(es), ${seconds} s each"
