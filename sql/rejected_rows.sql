-- Why rows were rejected: ops.rejected_rows grouped by exchange, data type,
-- check code (a stable name: ohlc_relation, future_time, outlier, decode,
-- db_refused, conflict, ...) and where the rejection happened (source:
-- validation, decode, database, import), with the latest example's reason
-- and payload. The reasons themselves embed the values, so they are the
-- detail, not the grouping.
--
-- Variables: from, to.
--
--   psql "$DATABASE_URL" -v from=2025-01-06 -f sql/rejected_rows.sql
\ir defaults.psql

SELECT exchange,
       data_type,
       code,
       source,
       count(*) AS rows,
       count(DISTINCT symbol) AS symbols,
       min(ts) AS first_seen,
       max(ts) AS last_seen,
       (array_agg(reason ORDER BY ts DESC))[1] AS latest_reason,
       (array_agg(payload ORDER BY ts DESC))[1] AS latest_payload
FROM ops.rejected_rows
WHERE ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1, 2, 3, 4
ORDER BY rows DESC, exchange, data_type, code, source;
