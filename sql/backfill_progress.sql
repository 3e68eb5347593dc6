-- Backfill progress from ops.backfill_progress: one row per requested range
-- and kind, with how far the resumable cursor got in percent, rows and
-- requests so far, and when it last moved. Unfinished ranges come first.
--
-- Variables: exchange.
--
--   psql "$DATABASE_URL" -v exchange=kraken -f sql/backfill_progress.sql
\ir defaults.psql

SELECT exchange,
       symbol,
       kind,
       timeframe,
       range_from,
       range_to,
       cursor_ts,
       done,
       CASE WHEN done THEN 100
            ELSE round((100 * extract(epoch FROM cursor_ts - range_from)
                        / nullif(extract(epoch FROM range_to - range_from), 0))::numeric, 2)
       END AS pct,
       rows,
       requests,
       updated_at,
       now() - updated_at AS idle_for
FROM ops.backfill_progress
WHERE exchange = :'exchange'
ORDER BY done, symbol, kind, timeframe, range_from;
