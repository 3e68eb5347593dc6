-- Cross-exchange price dispersion of one symbol: for every candle period
-- quoted by at least two exchanges, the spread between the cheapest and
-- the dearest close, in price and in basis points of the mean, the
-- standard deviation, and which exchanges were cheapest and dearest.
--
-- Variables: symbol, timeframe, from, to.
--
--   psql "$DATABASE_URL" -v symbol=BTC/USDT -v from=2025-01-06 -f sql/price_dispersion.sql
\ir defaults.psql

SELECT ts,
       count(*) AS exchanges,
       min(close) AS min_close,
       max(close) AS max_close,
       max(close) - min(close) AS price_range,
       (max(close) - min(close)) / avg(close) * 10000 AS range_bps,
       stddev_pop(close) AS stddev,
       (array_agg(exchange ORDER BY close, exchange))[1] AS cheapest,
       (array_agg(exchange ORDER BY close DESC, exchange))[1] AS dearest
FROM market.candles
WHERE symbol = :'symbol'
  AND timeframe = :'timeframe'
  AND ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
GROUP BY ts
HAVING count(*) > 1
ORDER BY ts;
