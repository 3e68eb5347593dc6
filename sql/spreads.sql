-- Bid/ask spread of one symbol over time, per exchange and source: the
-- order book's best levels (source 'order_book') and the ticker's bid/ask
-- (source 'ticker'). spread_bps is the spread in basis points of the mid.
--
-- Variables: symbol, bucket, from, to.
--
--   psql "$DATABASE_URL" -v symbol=BTC/USDT -v bucket='5 minutes' -f sql/spreads.sql
\ir defaults.psql

WITH quotes AS (
    SELECT 'order_book' AS source, exchange, ts, best_bid AS bid, best_ask AS ask
    FROM market.order_books
    WHERE symbol = :'symbol'
      AND ts >= :'from'::timestamptz
      AND ts < :'to'::timestamptz
    UNION ALL
    SELECT 'ticker', exchange, ts, bid, ask
    FROM market.tickers
    WHERE symbol = :'symbol'
      AND ts >= :'from'::timestamptz
      AND ts < :'to'::timestamptz
)
SELECT date_bin(:'bucket'::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       source,
       count(*) AS snapshots,
       avg(ask - bid) AS avg_spread,
       max(ask - bid) AS max_spread,
       avg((ask - bid) / ((ask + bid) / 2)) * 10000 AS avg_spread_bps,
       count(*) FILTER (WHERE ask <= bid) AS crossed
FROM quotes
WHERE bid > 0 AND ask > 0
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
