#!/usr/bin/env bash
# import-vs-psql.sh URL N BIN CSV FILES...: load the same rows N times each
# way, in alternation, each into a freshly created and migrated database at
# URL (its name is dropped and created: use a private cluster on this
# machine): `psql \copy` of CSV (market.candles' columns, as
# BenchmarkLoad1M writes it) and `BIN import` of the kline FILES. Prints
# each run's wall time and the server's CPU for it (the postmaster's
# reaped-children time, as the benchmark reads it; PGDATA must name the
# cluster's data directory), then each pair's ratios.
set -euo pipefail
url=$1 n=$2 bin=$3 csv=$4; shift 4
: "${PGDATA:?set PGDATA to the data directory of the cluster}"
db=${url##*/}; db=${db%%\?*}
admin=${url%/*}/postgres
cols="exchange,symbol,timeframe,ts,open,high,low,close,volume,closed"
ticks=$(getconf CLK_TCK)
reaped() { awk '{print $16 + $17}' "/proc/$(head -1 "$PGDATA/postmaster.pid")/stat"; }
run() {
  psql "$admin" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  "$bin" migrate up --database-url "$url" >/dev/null 2>&1
  psql "$url" -q -c CHECKPOINT
  local before start end
  before=$(reaped); start=$(date +%s.%N)
  if [ "$1" = psql ]; then
    psql "$url" -q -v ON_ERROR_STOP=1 -c "\\copy market.candles ($cols) FROM '$csv' CSV"
  else
    "$bin" import --database-url "$url" --exchange binance "${@:2}" >/dev/null 2>&1
  fi
  end=$(date +%s.%N)
  sleep 1 # the backends exit and are reaped
  echo "$1 $(echo "$end - $start" | bc) $(echo "scale=2; ($(reaped) - $before) / $ticks" | bc)"
}
for _ in $(seq 1 "$n"); do
  run psql
  run import "$@"
done | awk '{print $1 " wall " $2 " s, server " $3 " core-s"; w[$1] = $2; c[$1] = $3
  if ($1 == "import") printf "  pair: d/a %.2f, server CPU psql/import %.2f\n", w["psql"] / w["import"], c["psql"] / c["import"] }'
