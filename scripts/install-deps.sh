#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the project needs, if any are missing.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh bench    also what `make bench` needs (PyTorch, OpenBLAS)
#   scripts/install-deps.sh fuzz     also what `make fuzz` needs (clang and libFuzzer)
# As root it runs apt-get; otherwise it prints the exact command to run.
set -euo pipefail

packages=(cmake make g++ doctest-dev libstb-dev)
if [[ "${1:-}" == "bench" ]]; then
  # PyTorch is the reference we time against; without OpenBLAS Debian's torch falls back
  # to a slow reference BLAS and the comparison would flatter us.
  packages+=(python3-torch libopenblas0-pthread)
fi
if [[ "${1:-}" == "fuzz" ]]; then
  # libclang_rt.fuzzer (libFuzzer) and the sanitizer runtimes for clang are in libclang-rt-dev
  # (on Debian bookworm it pulls in libclang-rt-14-dev, matching clang 14).
  packages+=(clang libclang-rt-dev)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: not a Debian/Ubuntu system; make sure these are installed: ${packages[*]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all present (${packages[*]})"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: missing packages: ${missing[*]}"
  echo "deps: run:  sudo apt-get install -y ${missing[*]}"
  exit 1
fi
