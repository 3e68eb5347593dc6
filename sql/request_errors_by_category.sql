-- Failed exchange requests broken down by exchange, endpoint, HTTP status
-- (NULL: no response, e.g. a network error or timeout) and error category
-- (rate_limited, banned, server, client, network, timeout, decode,
-- circuit_open, canceled), most frequent first.
--
-- Variables: from, to.
--
--   psql "$DATABASE_URL" -v from=2025-01-06 -f sql/request_errors_by_category.sql
\ir defaults.psql

SELECT exchange,
       endpoint,
       http_status,
       error_category,
       count(*) AS attempts,
       count(*) FILTER (WHERE outcome = 'error') AS gave_up,
       max(attempt) AS max_attempt,
       min(ts) AS first_seen,
       max(ts) AS last_seen
FROM ops.request_metrics
WHERE outcome <> 'ok'
  AND ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1, 2, 3, 4
ORDER BY attempts DESC, exchange, endpoint, http_status, error_category;
