-- Missing candles: for every symbol of one exchange and timeframe, the
-- ranges between two stored candles that are more than one period apart.
-- missing_from / missing_to are the open times of the first and last
-- missing candle; missing counts them. `mdingest gaps` reports the same
-- ranges (and --fill fetches them).
--
-- Variables: exchange, timeframe, from, to. Gaps before the first or after
-- the last stored candle of the range are not shown.
--
--   psql "$DATABASE_URL" -v exchange=kraken -v timeframe=1m -f sql/candle_gaps.sql
\ir defaults.psql

WITH period AS (
    -- CCXT's 1M is a month; PostgreSQL reads every other timeframe
    -- (1m, 15m, 4h, 1d, 1w) as an interval, and would read 1M as a minute.
    SELECT CASE WHEN :'timeframe' = '1M' THEN INTERVAL '1 month' ELSE :'timeframe'::interval END AS step
), stored AS (
    SELECT symbol, ts, lead(ts) OVER (PARTITION BY symbol ORDER BY ts) AS next_ts
    FROM market.candles
    WHERE exchange = :'exchange'
      AND timeframe = :'timeframe'
      AND ts >= :'from'::timestamptz
      AND ts < :'to'::timestamptz
)
SELECT :'exchange' AS exchange,
       stored.symbol,
       stored.ts + period.step AS missing_from,
       stored.next_ts - period.step AS missing_to,
       round(extract(epoch FROM stored.next_ts - stored.ts) / extract(epoch FROM period.step))::bigint - 1 AS missing
FROM stored, period
WHERE stored.next_ts > stored.ts + period.step
ORDER BY stored.symbol, stored.ts;
