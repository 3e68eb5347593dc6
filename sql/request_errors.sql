-- Exchange request health per bucket and exchange, from ops.request_metrics
-- (one row per HTTP attempt): attempts, failed attempts (outcome retry or
-- error), rate-limited attempts (HTTP 429 or error_category rate_limited),
-- their shares in percent, and latency percentiles in milliseconds.
--
-- Variables: bucket, from, to.
--
--   psql "$DATABASE_URL" -v bucket='15 minutes' -f sql/request_errors.sql
\ir defaults.psql

SELECT date_bin(:'bucket'::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       count(*) AS attempts,
       count(*) FILTER (WHERE outcome <> 'ok') AS failed,
       count(*) FILTER (WHERE http_status = 429 OR error_category = 'rate_limited') AS rate_limited,
       count(*) FILTER (WHERE http_status >= 500) AS server_errors,
       round(100.0 * count(*) FILTER (WHERE outcome <> 'ok') / count(*), 2) AS failed_pct,
       round(100.0 * count(*) FILTER (WHERE http_status = 429 OR error_category = 'rate_limited') / count(*), 2) AS rate_limited_pct,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms,
       max(latency_ms) AS max_ms
FROM ops.request_metrics
WHERE ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1, 2
ORDER BY 1, 2;
