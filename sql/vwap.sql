-- Volume-weighted average price of one symbol's trades, per exchange and
-- bucket: sum(price * amount) / sum(amount).
--
-- Variables: symbol, bucket, from, to (every exchange is shown, so venues
-- can be compared side by side).
--
-- A candle-based approximation when trades are not collected:
--   sum((high + low + close) / 3 * volume) / sum(volume) over market.candles.
--
--   psql "$DATABASE_URL" -v symbol=BTC/USDT -v bucket='15 minutes' -f sql/vwap.sql
\ir defaults.psql

SELECT date_bin(:'bucket'::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       sum(price * amount) / nullif(sum(amount), 0) AS vwap,
       sum(amount) AS volume,
       sum(price * amount) AS notional,
       count(*) AS trades,
       count(*) FILTER (WHERE side = 'buy') AS buys,
       count(*) FILTER (WHERE side = 'sell') AS sells
FROM market.trades
WHERE symbol = :'symbol'
  AND ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY 1, 2
ORDER BY 1, 2;
