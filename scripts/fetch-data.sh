#!/usr/bin/env bash
# Fills data/ (git-ignored) with the data sets the chapters use:
#
#   scripts/fetch-data.sh                      all of them: mandrill fashion-mnist mnist
#   scripts/fetch-data.sh fashion-mnist        only some
#
# For each data set it copies the files from the first place that has them — $DRIFT_DATA,
# the team's local mirror ../shared/data, the system folders (Debian's dataset-fashion-mnist
# installs /usr/share/datasets/fashion-mnist) — and otherwise downloads them from the public
# sources named in the data README (curl or wget). Every file is checked against its known
# SHA-256 (of the .gz file, or of its decompressed bytes, since repackaged .gz headers differ).
# The tests never need this script: they find ../shared/data themselves or skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/data"

# ---- what each data set is --------------------------------------------------------------------
files_of() {
  case "$1" in
    mandrill) echo "baboon.jpg" ;;
    fashion-mnist | mnist)
      echo "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz" ;;
    *) return 1 ;;
  esac
}

# Public sources, tried in order (a file's URL is the prefix + its name).
sources_of() {
  case "$1" in
    mandrill) echo "https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/" ;;
    fashion-mnist)
      echo "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/" \
           "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" ;;
    mnist)
      echo "https://ossci-datasets.s3.amazonaws.com/mnist/" \
           "https://storage.googleapis.com/cvdf-datasets/mnist/" \
           "http://yann.lecun.com/exdb/mnist/" ;;
  esac
}

# Local places that may already hold a data set's files (folders).
local_sources_of() {
  local name=$1
  [[ -n "${DRIFT_DATA:-}" ]] && echo "$DRIFT_DATA/$name"
  echo "$root/../shared/data/$name"
  echo "/usr/share/datasets/$name"
  echo "/usr/local/share/datasets/$name"
  [[ "$name" == mandrill ]] && echo "/usr/share/doc/opencv-doc/examples/data" \
                                    "/usr/share/opencv4/samples/data"
  return 0
}

# Known SHA-256 sums: of the file as distributed, and for .gz files of the decompressed bytes.
known_sums() {
  cat <<'EOF'
1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f  mandrill/baboon.jpg
346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073  fashion-mnist/t10k-images-idx3-ubyte.gz
67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5  fashion-mnist/t10k-labels-idx1-ubyte.gz
3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84  fashion-mnist/train-images-idx3-ubyte.gz
a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845  fashion-mnist/train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  mnist/t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  mnist/t10k-labels-idx1-ubyte.gz
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  mnist/train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  mnist/train-labels-idx1-ubyte.gz
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  fashion-mnist/t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  fashion-mnist/t10k-labels-idx1-ubyte
c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  fashion-mnist/train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  fashion-mnist/train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  mnist/t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  mnist/t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  mnist/train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  mnist/train-labels-idx1-ubyte
EOF
  # The mirror's own list, when there is one, has the last word for the files it names.
  local mirror_sums="$root/../shared/data/SHA256SUMS"
  [[ -f "$mirror_sums" ]] && cat "$mirror_sums"
  return 0
}

# verify FILE NAME/FILENAME: 0 when the file's sum (or, for .gz, its content's) is known-good.
verify() {
  local file=$1 key=$2 expected actual
  command -v sha256sum >/dev/null || { echo "fetch-data: sha256sum not found; cannot verify $file" >&2; return 1; }
  expected=$(known_sums | awk -v k="$key" '$2 == k { print $1 }' | tail -n 1)
  actual=$(sha256sum "$file" | cut -d' ' -f1)
  [[ -n "$expected" && "$actual" == "$expected" ]] && return 0
  if [[ "$key" == *.gz ]]; then
    expected=$(known_sums | awk -v k="${key%.gz}" '$2 == k { print $1 }' | tail -n 1)
    actual=$(gzip -dc "$file" 2>/dev/null | sha256sum | cut -d' ' -f1)
    [[ -n "$expected" && "$actual" == "$expected" ]] && return 0
  fi
  return 1
}

download() {  # URL DEST
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 15 --retry 1 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q --timeout=15 -O "$2" "$1"
  else
    echo "fetch-data: neither curl nor wget is installed" >&2
    return 1
  fi
}

fetch() {
  local name=$1 files dir file src url ok
  files=$(files_of "$name") || { echo "fetch-data: unknown data set '$name' (mandrill, fashion-mnist, mnist)" >&2; return 1; }
  dir="$target/$name"
  mkdir -p "$dir"
  for file in $files; do
    if [[ -f "$dir/$file" ]] && verify "$dir/$file" "$name/$file"; then
      echo "fetch-data: $name/$file already in data/ (checked)"
      continue
    fi
    ok=""
    for src in $(local_sources_of "$name"); do
      [[ -f "$src/$file" ]] || continue
      if verify "$src/$file" "$name/$file"; then
        cp "$src/$file" "$dir/$file.part" && chmod u+w "$dir/$file.part" && mv "$dir/$file.part" "$dir/$file"
        echo "fetch-data: $name/$file copied from $src"
        ok=1
        break
      fi
      echo "fetch-data: $src/$file does not match its SHA-256; not using it" >&2
    done
    if [[ -z "$ok" ]]; then
      for url in $(sources_of "$name"); do
        echo "fetch-data: downloading $url$file"
        if download "$url$file" "$dir/$file.part" && verify "$dir/$file.part" "$name/$file"; then
          mv "$dir/$file.part" "$dir/$file"
          ok=1
          break
        fi
        rm -f "$dir/$file.part"
      done
    fi
    if [[ -z "$ok" ]]; then
      echo "fetch-data: could not get $name/$file: not in \$DRIFT_DATA, ../shared/data or the system" \
           "folders, and no download succeeded (offline?)." >&2
      [[ "$name" == fashion-mnist ]] && echo "fetch-data: on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist" >&2
      return 1
    fi
  done
}

names=("$@")
[[ ${#names[@]} -eq 0 ]] && names=(mandrill fashion-mnist mnist)
status=0
for name in "${names[@]}"; do
  fetch "$name" || status=1
done
if [[ $status -eq 0 ]]; then
  echo "fetch-data: done; the chapters find the data in $target"
fi
exit $status
