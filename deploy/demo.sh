#!/usr/bin/env bash
# make demo: exchange-replay plus the daemon, offline. Stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
db_url=${1:?usage: deploy/demo.sh DATABASE_URL}
bin/exchange-replay --listen 127.0.0.1:8700 &
replay=$!
trap 'kill $replay 2>/dev/null; wait $replay 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null http://127.0.0.1:8700/_admin/routes 2>/dev/null && break
  sleep 0.1
done
echo "exchange-replay on 127.0.0.1:8700; the daemon writes to $db_url"
echo "try: psql '$db_url' -c 'SELECT exchange, count(*) FROM market.tickers GROUP BY 1'"
echo "     bin/mdingest status --config deploy/demo.yaml; bin/mdingest quality --config deploy/demo.yaml --since 1h"
DATABASE_URL="$db_url" bin/mdingest run --config deploy/demo.yaml
