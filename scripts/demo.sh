#!/usr/bin/env bash
# The project's main job: chapters 1 -> 2 -> 3 with their own defaults (the tutorial's
# values), then chapter 4 on a short budget, every output under out/. Chapter 3 samples with
# the weights chapter 2 trained (out/02_reverse_training/toy_model.safetensors); chapter 4
# trains the tutorial's model (C) on MNIST for 2 minutes, draws 64 digits and scores them.
# `make demo` installs, builds and runs this.
#
#   scripts/demo.sh [BUILD_DIR]        (default build)
#
# 3 min 52 s on 2 CPU cores after the build (`time scripts/demo.sh`, 2026-12-03): chapter 1
# 6 s, chapter 2 26 s, chapter 3 25 s, chapter 4 176 s (2 min training, the 64-digit grid,
# the FID classifier's one-time training, 500 samples scored).
# Pass extra flags through the environment to shorten or lengthen a run, e.g.
#   CHAPTER2_FLAGS="--iterations 200" CHAPTER4_FLAGS="--minutes 10 --model E" scripts/demo.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
cd "$root"

for chapter in 01_forward_process 02_reverse_training 03_sampling 04_mnist; do
  if [[ ! -x "$build/chapters/$chapter" ]]; then
    echo "demo: $build/chapters/$chapter is missing: build first (make build)" >&2
    exit 1
  fi
done

# The mandrill, into data/ when it is not found elsewhere (copied from a mirror or downloaded).
scripts/fetch-data.sh mandrill mnist

timings=()
run_chapter() {
  local chapter=$1
  shift
  echo
  echo "==== $chapter $* ===================================================================="
  local start=$SECONDS
  "$build/chapters/$chapter" --out "out/$chapter" "$@"
  timings+=("$chapter: $((SECONDS - start)) s")
}

# shellcheck disable=SC2086  # the extra flags are meant to be split into words
run_chapter 01_forward_process ${CHAPTER1_FLAGS:-}
# shellcheck disable=SC2086
run_chapter 02_reverse_training ${CHAPTER2_FLAGS:-}
# shellcheck disable=SC2086
run_chapter 03_sampling ${CHAPTER3_FLAGS:-}
# shellcheck disable=SC2086
run_chapter 04_mnist --model C --minutes 2 --fid-samples 500 ${CHAPTER4_FLAGS:-}

echo
echo "==== demo done ===================================================================="
for line in "${timings[@]}"; do echo "  $line"; done
echo "Outputs:"
for chapter in 01_forward_process 02_reverse_training 03_sampling 04_mnist; do
  echo "  out/$chapter/"
  (cd "out/$chapter" && ls -1 | sed 's/^/      /')
done
echo "Open out/index.html in a browser: each chapter's page shows its figures with captions."
