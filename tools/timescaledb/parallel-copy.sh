#!/usr/bin/env bash
# Builds timescaledb-parallel-copy, TimescaleDB's own bulk loader, from its
# source tarball: the peer `make bench` measures `mdingest import` against.
#
#   tools/timescaledb/parallel-copy.sh OUT [TARBALL]
#
# TARBALL defaults to $PARALLEL_COPY_TARBALL, then
# ../shared/vendor/timescaledb-parallel-copy-0.13.0.tar.gz beside the checkout.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The vendor folder beside this checkout, or beside the one it was cloned
# from (CI clones into a temporary directory).
default_tarball() {
  local origin
  origin=$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)
  for d in "$root/../shared/vendor" ${origin:+"$origin/../shared/vendor"}; do
    if [ -f "$d/timescaledb-parallel-copy-0.13.0.tar.gz" ]; then echo "$d/timescaledb-parallel-copy-0.13.0.tar.gz"; return; fi
  done
  echo "$root/../shared/vendor/timescaledb-parallel-copy-0.13.0.tar.gz"
}
tarball=${2:-${PARALLEL_COPY_TARBALL:-$(default_tarball)}}
if [ ! -f "$tarball" ]; then
  echo "parallel-copy: no source tarball at $tarball (set PARALLEL_COPY_TARBALL)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(ls -d "$work"/timescaledb-parallel-copy-* | head -1)
mkdir -p "$(dirname "$out")"
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$src" && GOFLAGS=-buildvcs=false go build -o "$abs_out" ./cmd/timescaledb-parallel-copy)
echo "built $out"
