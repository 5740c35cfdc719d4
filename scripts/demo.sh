#!/usr/bin/env bash
# The project's main job: chapters 1 -> 2 -> 3 with their own defaults (the tutorial's
# values), every output under out/. Chapter 3 samples with the weights chapter 2 trained
# (out/02_reverse_training/toy_model.safetensors). `make demo` installs, builds and runs this.
#
#   scripts/demo.sh [BUILD_DIR]        (default build)
#
# About 2 minutes on 2 CPU cores after the build (1 min 47 s and 2 min 0 s in two runs on
# 2026-12-02, `time scripts/demo.sh`): chapter 2 trains 1000 iterations on the 512x512 mandrill (26 s),
# chapter 3 (c) trains a small U-Net for 1500 iterations (64 s). Pass extra
# flags through the environment to shorten a run, e.g.
#   CHAPTER2_FLAGS="--iterations 200" CHAPTER3_FLAGS="--c-iterations 300" scripts/demo.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
cd "$root"

for chapter in 01_forward_process 02_reverse_training 03_sampling; do
  if [[ ! -x "$build/chapters/$chapter" ]]; then
    echo "demo: $build/chapters/$chapter is missing: build first (make build)" >&2
    exit 1
  fi
done

# The mandrill, into data/ when it is not found elsewhere (copied from a mirror or downloaded).
scripts/fetch-data.sh mandrill

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

echo
echo "==== demo done ===================================================================="
for line in "${timings[@]}"; do echo "  $line"; done
echo "Outputs:"
for chapter in 01_forward_process 02_reverse_training 03_sampling; do
  echo "  out/$chapter/"
  (cd "out/$chapter" && ls -1 | sed 's/^/      /')
done
echo "Open out/index.html in a browser: each chapter's page shows its figures with captions."
