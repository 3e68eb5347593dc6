-- What backfills asked each exchange and what came back, from
-- ops.backfill_coverage: per stream, the requested windows, how many came
-- back empty (the exchange had nothing there, which is not a gap of ours),
-- the rows received and the span actually covered.
--
-- Variables: exchange, from, to (on the asked windows).
--
--   psql "$DATABASE_URL" -v exchange=binance -f sql/backfill_coverage.sql
\ir defaults.psql

SELECT exchange,
       symbol,
       kind,
       timeframe,
       count(*) AS requests,
       count(*) FILTER (WHERE rows = 0) AS empty_requests,
       sum(rows) AS rows,
       min(asked_from) AS asked_from,
       max(asked_to) AS asked_to,
       min(first_ts) AS covered_from,
       max(last_ts) AS covered_to,
       max(requested_at) AS last_requested
FROM ops.backfill_coverage
WHERE exchange = :'exchange'
  AND asked_to > :'from'::timestamptz
  AND asked_from < :'to'::timestamptz
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;
