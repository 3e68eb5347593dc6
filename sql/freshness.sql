-- Data freshness per stream: for every symbol with candles or tickers
-- stored in the last 7 days (not every market an exchange lists) and every
-- data type (ohlcv, ticker, orderbook, trades; the kinds of
-- ops.quality_reports' data_type), the time of the newest row and its age
-- now. latest NULL: no row of that type in those 7 days. Stalest first.
--
-- Variables: none (exchange/symbol filters can be added to the WHERE).
--
-- Cheap on large tables: on TimescaleDB the newest candle, ticker and
-- order book of each series come from SkipScans (one index probe per
-- series and chunk). Trades have no (exchange, symbol, ts) index: their
-- newest row is looked up newest-first, only for series that have trades,
-- so it costs more the longer a series' trades have been stale.
-- For candles, latest is the open time of the newest candle of any
-- timeframe.
--
--   psql "$DATABASE_URL" -f sql/freshness.sql
\ir defaults.psql

WITH candles AS MATERIALIZED (
    SELECT exchange, symbol, max(ts) AS latest
    FROM (SELECT DISTINCT ON (exchange, symbol, timeframe) exchange, symbol, ts
          FROM market.candles WHERE ts > now() - INTERVAL '7 days'
          ORDER BY exchange DESC, symbol DESC, timeframe DESC, ts DESC) AS newest
    GROUP BY 1, 2
), tickers AS MATERIALIZED (
    SELECT DISTINCT ON (exchange, symbol) exchange, symbol, ts AS latest
    FROM market.tickers WHERE ts > now() - INTERVAL '7 days'
    ORDER BY exchange DESC, symbol DESC, ts DESC
), books AS MATERIALIZED (
    SELECT DISTINCT ON (exchange, symbol) exchange, symbol, ts AS latest
    FROM market.order_books WHERE ts > now() - INTERVAL '7 days'
    ORDER BY exchange DESC, symbol DESC, ts DESC
), traded AS MATERIALIZED (
    SELECT DISTINCT exchange, symbol FROM market.trades WHERE ts > now() - INTERVAL '7 days'
), series AS (
    SELECT exchange, symbol FROM candles UNION SELECT exchange, symbol FROM tickers
)
SELECT s.exchange, s.symbol, t.data_type, t.latest,
       now() - t.latest AS age,
       extract(epoch FROM now() - t.latest) AS age_seconds
FROM series AS s
CROSS JOIN LATERAL (
    SELECT 'ohlcv' AS data_type, (SELECT latest FROM candles x WHERE x.exchange = s.exchange AND x.symbol = s.symbol) AS latest
    UNION ALL
    SELECT 'ticker', (SELECT latest FROM tickers x WHERE x.exchange = s.exchange AND x.symbol = s.symbol)
    UNION ALL
    SELECT 'orderbook', (SELECT latest FROM books x WHERE x.exchange = s.exchange AND x.symbol = s.symbol)
    UNION ALL
    SELECT 'trades', CASE WHEN EXISTS (SELECT FROM traded x WHERE x.exchange = s.exchange AND x.symbol = s.symbol)
        THEN (SELECT ts FROM market.trades c WHERE c.exchange = s.exchange AND c.symbol = s.symbol AND c.ts > now() - INTERVAL '7 days'
              ORDER BY ts DESC LIMIT 1) END
) AS t
ORDER BY t.latest ASC NULLS FIRST, s.exchange, s.symbol, t.data_type;
