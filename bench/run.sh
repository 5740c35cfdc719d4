#!/usr/bin/env bash
# bench/run.sh — the whole comparison in one command (`make bench` runs it):
# dependencies, Release build of drift_bench, the PyTorch reference, drift_bench next to it.
#
#   bench/run.sh                          every row, all cores, 9 repetitions
#   bench/run.sh --threads 1 --reps 5     other thread count / repetitions
#   bench/run.sh --only sgemm             only rows whose name contains "sgemm" (comma: several)
#
# Environment: BUILD_DIR (default build), JOBS (build jobs, default 2), CMAKE_FLAGS,
# KEEP_OPENBLAS_CORETYPE=1 (see below).
# Results: $BUILD_DIR/bench/torch_reference.json, $BUILD_DIR/bench/results.txt (the table and
# one JSON line per row).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc 2>/dev/null || echo 1)
reps=9
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-2}"

scripts/install-deps.sh bench
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${CMAKE_FLAGS:-} > /dev/null
# (MAKEFLAGS/MAKELEVEL cleared: under `make bench` the inner make would announce every directory.)
MAKEFLAGS= MAKELEVEL= cmake --build "$build_dir" -j "$jobs" --target drift_bench

# OpenBLAS picks its kernels for the CPU it runs on; OPENBLAS_CORETYPE overrides that choice.
# Forcing an older core (e.g. Haswell: AVX2 only) on an AVX-512 machine halves OpenBLAS's
# speed and would flatter drift, so by default we let OpenBLAS choose and say so.
if [[ -n "${OPENBLAS_CORETYPE:-}" && "${KEEP_OPENBLAS_CORETYPE:-0}" != 1 ]]; then
  echo "bench: note: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE was set in the environment; unsetting it" \
       "so OpenBLAS uses its best kernels for this CPU (KEEP_OPENBLAS_CORETYPE=1 keeps it)."
  unset OPENBLAS_CORETYPE
fi

cpuinfo_field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true; }
model="$(cpuinfo_field 'model name') (family $(cpuinfo_field 'cpu family'), model $(cpuinfo_field 'model'))"
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
simd=""
for isa in avx512f avx2 fma; do [[ " $flags " == *" $isa "* ]] && simd+="${isa} "; done
memory=$(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GB"}' || true)
echo
echo "machine: ${model:-unknown CPU}, $(nproc) logical CPUs, ${memory:-? GB} memory, SIMD: ${simd:-none}"
echo "threads used: $threads (drift and PyTorch/OpenBLAS), repetitions: $reps"
echo "load before the run:$(uptime | sed 's/.*load average/ load average/')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo

mkdir -p "$build_dir/bench"
reference="$build_dir/bench/torch_reference.json"
echo "== PyTorch reference"
/usr/bin/python3 bench/torch_reference.py --threads "$threads" --reps "$reps" --only "$only" \
  --out "$reference"
echo
echo "== drift vs PyTorch"
"$build_dir/bench/drift_bench" --threads "$threads" --reps "$reps" --only "$only" \
  --torch "$reference" | tee "$build_dir/bench/results.txt"
echo "load after the run:$(uptime | sed 's/.*load average/ load average/')"
