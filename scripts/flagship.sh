#!/usr/bin/env bash
# The 10-minute run and its comparison, in one sitting (`make flagship` runs it):
#   1. drift: chapter 4's best 10-minute recipe on Fashion-MNIST (the recipe below), which
#      then samples the 8x8 grid and 1000 samples with DDIM and scores them with the FID;
#   2. PyTorch: the tutorial's own recipe (bench/torch_fashion_10min.py) trained for the same
#      10 minutes on the same cores, its 1000 DDIM samples scored by the same FID code
#      (04_mnist --score), so the two numbers differ only by recipe and framework.
# The two runs take the machine one after the other (never at once: the timings would lie).
#
#   scripts/flagship.sh [BUILD_DIR]     outputs in out/flagship/{drift,torch,torch_scored}
#   MINUTES=3 scripts/flagship.sh       a shorter budget for both
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
cd "$root"
minutes="${MINUTES:-10}"
chapter="$build/chapters/04_mnist"
[[ -x "$chapter" ]] || { echo "flagship: $chapter is missing: build first (make build)" >&2; exit 1; }
scripts/install-deps.sh bench  # Debian's PyTorch with OpenBLAS (the fair comparison)
unset OPENBLAS_CORETYPE

# The recipe: chapter 4's model family and training aids (see chapters/04_mnist/README.md).
RECIPE=(--model E --groups 1 --batch 64 --ema 0.998 --warmup 100 --lr 2e-3)

echo "==== drift: ${RECIPE[*]}, $minutes minutes ========================================"
"$chapter" --dataset fashion-mnist "${RECIPE[@]}" --minutes "$minutes" --sampler ddim \
  --out out/flagship/drift
echo
echo "==== PyTorch: the tutorial's recipe, $minutes minutes ================================"
/usr/bin/python3 bench/torch_fashion_10min.py --minutes "$minutes" --out out/flagship/torch
"$chapter" --dataset fashion-mnist --score out/flagship/torch/samples.safetensors \
  --out out/flagship/torch_scored
echo
echo "drift:   $(grep -m1 'FID' out/flagship/drift/fid.txt)"
echo "PyTorch: $(grep -m1 'FID' out/flagship/torch_scored/fid.txt)"
