-- Data freshness per stream: for every symbol in market.symbols and every
-- data type (ohlcv, ticker, orderbook, trades; the data_type names of
-- ops.quality_reports), the time of the newest row and its age now.
-- A stream never ingested shows latest NULL; the stalest come first.
--
-- Variables: none (exchange/symbol filters can be added to the WHERE).
--
-- Each lookup is an index-ordered LIMIT 1, so the query stays cheap on
-- large tables. For candles, latest is the open time of the newest candle
-- of any timeframe.
--
--   psql "$DATABASE_URL" -f sql/freshness.sql
\ir defaults.psql

SELECT s.exchange,
       s.symbol,
       t.data_type,
       t.latest,
       now() - t.latest AS age,
       extract(epoch FROM now() - t.latest) AS age_seconds
FROM market.symbols AS s
CROSS JOIN LATERAL (
    SELECT 'ohlcv' AS data_type,
           (SELECT ts FROM market.candles c
            WHERE c.exchange = s.exchange AND c.symbol = s.symbol ORDER BY ts DESC LIMIT 1) AS latest
    UNION ALL
    SELECT 'ticker',
           (SELECT ts FROM market.tickers c
            WHERE c.exchange = s.exchange AND c.symbol = s.symbol ORDER BY ts DESC LIMIT 1)
    UNION ALL
    SELECT 'orderbook',
           (SELECT ts FROM market.order_books c
            WHERE c.exchange = s.exchange AND c.symbol = s.symbol ORDER BY ts DESC LIMIT 1)
    UNION ALL
    SELECT 'trades',
           (SELECT ts FROM market.trades c
            WHERE c.exchange = s.exchange AND c.symbol = s.symbol ORDER BY ts DESC LIMIT 1)
) AS t
WHERE s.active
ORDER BY t.latest ASC NULLS FIRST, s.exchange, s.symbol, t.data_type;
