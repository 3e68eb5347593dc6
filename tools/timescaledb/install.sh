#!/usr/bin/env bash
# Builds and installs TimescaleDB from a source tarball into the local
# PostgreSQL, so tests and benchmarks run on the real extension.
#
#   tools/timescaledb/install.sh [TARBALL]
#
# TARBALL defaults to $TIMESCALEDB_TARBALL, then ../shared/vendor/timescaledb-2.28.3.tar.gz
# beside the checkout. Nothing is built when that version is already installed.
# Needs root for apt-get (postgresql-server-dev-XX, cmake) and for the install.
set -euo pipefail

version=${TIMESCALEDB_VERSION:-2.28.3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The vendor folder beside this checkout, or beside the one it was cloned
# from (CI clones into a temporary directory).
default_tarball() {
  local origin
  origin=$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)
  for d in "$root/../shared/vendor" ${origin:+"$origin/../shared/vendor"}; do
    if [ -f "$d/timescaledb-$version.tar.gz" ]; then echo "$d/timescaledb-$version.tar.gz"; return; fi
  done
  echo "$root/../shared/vendor/timescaledb-$version.tar.gz"
}
tarball=${1:-${TIMESCALEDB_TARBALL:-$(default_tarball)}}

pg_config=${PG_CONFIG:-}
if [ -z "$pg_config" ]; then
  # Debian's /usr/bin/pg_config may describe another major than the server;
  # prefer the newest installed server's own.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_config" ]; then pg_config="$d/pg_config"; break; fi
  done
fi
[ -n "$pg_config" ] || pg_config=$(command -v pg_config || true)

installed() {
  [ -n "$pg_config" ] && [ -f "$("$pg_config" --pkglibdir)/timescaledb-$version.so" ] \
    && [ -f "$("$pg_config" --sharedir)/extension/timescaledb--$version.sql" ]
}

if installed; then
  echo "timescaledb $version already installed in $("$pg_config" --pkglibdir)"
  exit 0
fi

if [ ! -f "$tarball" ]; then
  cat >&2 <<MSG
timescaledb: $version is not installed and no source tarball was found at
  $tarball
Install TimescaleDB $version for PostgreSQL 15 from Timescale's packages
(https://docs.timescale.com/self-hosted/latest/install/), or pass a source
tarball: tools/timescaledb/install.sh path/to/timescaledb-$version.tar.gz
MSG
  exit 1
fi

major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$major" ] || { echo "timescaledb: no PostgreSQL server found under /usr/lib/postgresql" >&2; exit 1; }

need=()
[ -x "/usr/lib/postgresql/$major/bin/pg_config" ] && [ -d "/usr/include/postgresql/$major/server" ] \
  || need+=("postgresql-server-dev-$major")
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  echo "timescaledb: installing ${need[*]} (this can restart the PostgreSQL on 5432)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
[ -x "$pg_config" ] || pg_config=$(command -v pg_config)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(ls -d "$work"/timescaledb-* | head -1)
echo "timescaledb: building $version from $tarball (about 2.5 minutes on 2 cores)"
(
  cd "$src"
  ./bootstrap -DPG_CONFIG="$pg_config" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release -DSEND_TELEMETRY_DEFAULT=OFF >/dev/null
  make -C build -j"$(nproc)" >/dev/null
  make -C build install >/dev/null
)
installed || { echo "timescaledb: build finished but $version is not in $("$pg_config" --pkglibdir)" >&2; exit 1; }
echo "timescaledb $version installed in $("$pg_config" --pkglibdir)"
