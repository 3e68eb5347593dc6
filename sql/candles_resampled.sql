-- Candles of one stream resampled to any interval.
--
-- Variables: exchange, symbol, timeframe (the stored candles to start from,
-- normally 1m), bucket (the new interval, e.g. '15 minutes', '4 hours',
-- '1 day', '1 week'), from, to.
--
-- date_bin exists on PostgreSQL 14+ and works on TimescaleDB hypertables,
-- so one query serves both backends. The origin 2000-01-03 (a Monday) is
-- TimescaleDB time_bucket's default, so buckets line up with the
-- market.candles_1h / candles_1d aggregates and weeks start on Monday.
-- date_bin cannot bin into months or years.
--
-- open is the first 1m open and close the last 1m close of the bucket;
-- candles counts the source candles, so a bucket with gaps shows fewer
-- than bucket / timeframe.
--
--   psql "$DATABASE_URL" -v symbol=ETH/USDT -v bucket='4 hours' -f sql/candles_resampled.sql
\ir defaults.psql

SELECT date_bin(:'bucket'::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       (array_agg(open ORDER BY ts))[1] AS open,
       max(high) AS high,
       min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume) AS volume,
       count(*) AS candles
FROM market.candles
WHERE exchange = :'exchange'
  AND symbol = :'symbol'
  AND timeframe = :'timeframe'
  AND ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1
ORDER BY 1;
