-- Reusable views and one function over the warehouse, for Grafana panels,
-- notebooks and ad-hoc psql. They run unchanged on PostgreSQL and on
-- TimescaleDB and only read the tables of the migrations. Re-running this
-- file replaces them (CREATE OR REPLACE), so it is safe to apply again:
--
--   psql "$DATABASE_URL" -f sql/views.sql
--
-- They are candidates for a migration; until then apply them by hand.

-- market.resample_candles(exchange, symbol, bucket, from, to [, timeframe])
-- resamples stored candles (1m by default) into buckets of any interval
-- without months, aligned as TimescaleDB's time_bucket aligns them
-- (origin Monday 2000-01-03), e.g.
--   SELECT * FROM market.resample_candles('binance', 'BTC/USDT', '4 hours', now() - interval '7 days', now());
CREATE OR REPLACE FUNCTION market.resample_candles(
    p_exchange text, p_symbol text, p_bucket interval,
    p_from timestamptz, p_to timestamptz, p_timeframe text DEFAULT '1m')
RETURNS TABLE (bucket timestamptz, open numeric, high numeric, low numeric, close numeric, volume numeric, candles bigint)
LANGUAGE sql STABLE AS $$
    SELECT date_bin(p_bucket, c.ts, TIMESTAMPTZ '2000-01-03 00:00:00+00'),
           (array_agg(c.open ORDER BY c.ts))[1], max(c.high), min(c.low),
           (array_agg(c.close ORDER BY c.ts DESC))[1], sum(c.volume), count(*)
    FROM market.candles c
    WHERE c.exchange = p_exchange AND c.symbol = p_symbol AND c.timeframe = p_timeframe
      AND c.ts >= p_from AND c.ts < p_to
    GROUP BY 1
    ORDER BY 1
$$;

-- market.top_of_book: every order book snapshot's best levels with mid,
-- spread, spread in basis points and the size imbalance at the top
-- ((bid size - ask size) / (bid size + ask size), -1..1).
CREATE OR REPLACE VIEW market.top_of_book AS
SELECT exchange, symbol, ts,
       best_bid, best_bid_amount, best_ask, best_ask_amount,
       (best_bid + best_ask) / 2 AS mid,
       best_ask - best_bid AS spread,
       (best_ask - best_bid) / nullif((best_bid + best_ask) / 2, 0) * 10000 AS spread_bps,
       (best_bid_amount - best_ask_amount) / nullif(best_bid_amount + best_ask_amount, 0) AS imbalance
FROM market.order_books
WHERE best_bid IS NOT NULL AND best_ask IS NOT NULL;

-- market.latest_quotes: per known symbol, the newest order book top and the
-- newest ticker (index-ordered lookups, cheap on large tables).
CREATE OR REPLACE VIEW market.latest_quotes AS
SELECT s.exchange, s.symbol,
       b.ts AS book_ts, b.best_bid, b.best_ask,
       b.best_ask - b.best_bid AS book_spread,
       t.ts AS ticker_ts, t.bid, t.ask, t.last
FROM market.symbols s
LEFT JOIN LATERAL (
    SELECT ts, best_bid, best_ask FROM market.order_books o
    WHERE o.exchange = s.exchange AND o.symbol = s.symbol ORDER BY ts DESC LIMIT 1
) b ON true
LEFT JOIN LATERAL (
    SELECT ts, bid, ask, last FROM market.tickers k
    WHERE k.exchange = s.exchange AND k.symbol = s.symbol ORDER BY ts DESC LIMIT 1
) t ON true
WHERE b.ts IS NOT NULL OR t.ts IS NOT NULL;

-- market.candle_returns: log return of every candle against the previous
-- candle of the same stream. Filter on exchange, symbol and timeframe
-- (they are pushed below the window); a filter on ts is applied after it.
CREATE OR REPLACE VIEW market.candle_returns AS
SELECT exchange, symbol, timeframe, ts, close,
       ln(close / lag(close) OVER (PARTITION BY exchange, symbol, timeframe ORDER BY ts)) AS log_return
FROM market.candles
WHERE close > 0;

-- ops.data_freshness: per symbol with candles or tickers stored in the
-- last 7 days and data type, the newest row and its age (see
-- sql/freshness.sql).
CREATE OR REPLACE VIEW ops.data_freshness AS
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
       now() - t.latest AS age
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
) AS t;

-- ops.request_stats_hourly: exchange request health per hour (see
-- sql/request_errors.sql).
CREATE OR REPLACE VIEW ops.request_stats_hourly AS
SELECT date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       count(*) AS attempts,
       count(*) FILTER (WHERE outcome <> 'ok') AS failed,
       count(*) FILTER (WHERE http_status = 429 OR error_category = 'rate_limited') AS rate_limited,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
FROM ops.request_metrics
GROUP BY 1, 2;

-- ops.backfill_status: ops.backfill_progress with the cursor's progress in
-- percent.
CREATE OR REPLACE VIEW ops.backfill_status AS
SELECT exchange, symbol, kind, timeframe, range_from, range_to, cursor_ts, done, rows, requests, updated_at,
       CASE WHEN done THEN 100
            ELSE round((100 * extract(epoch FROM cursor_ts - range_from)
                        / nullif(extract(epoch FROM range_to - range_from), 0))::numeric, 2)
       END AS pct
FROM ops.backfill_progress;
