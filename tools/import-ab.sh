#!/usr/bin/env bash
# import-ab.sh URL N BIN_A BIN_B FILES...: import FILES with two mdingest
# binaries in alternation, N times each, each into a freshly created and
# migrated database at URL (its name is dropped and created: use a private
# cluster), and print each run's wall time and client CPU (user + system),
# then the medians. For comparing two builds on one machine in one sitting:
#   git worktree add /tmp/before REV && (cd /tmp/before && go build -o /tmp/before.bin ./cmd/mdingest)
set -euo pipefail
url=$1 n=$2 a=$3 b=$4; shift 4
db=${url##*/}; db=${db%%\?*}
admin=${url%/*}/postgres
for _ in $(seq 1 "$n"); do
  for bin in "$a" "$b"; do
    psql "$admin" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    "$bin" migrate up --database-url "$url" >/dev/null
    /usr/bin/time -f "$bin %e %U %S" "$bin" import --database-url "$url" --exchange binance "$@" 2>&1 >/dev/null | tail -1
  done
done | awk '{print; w[$1]=w[$1]" "$2; c[$1]=c[$1]" "($3+$4)}
  function median(s,  v, k, i, j, t) { k = split(s, v, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }; return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
  END { for (k in w) printf "%s: wall median %.2f s, client CPU median %.2f core-s\n", k, median(w[k]), median(c[k]) }'
