-- Hypertables stay hypertables (TimescaleDB cannot turn them back); their
-- policies and the aggregates go. Migration 1's down drops the tables.
DROP MATERIALIZED VIEW IF EXISTS market.candles_1d;
DROP MATERIALIZED VIEW IF EXISTS market.candles_1h;
SELECT remove_retention_policy(t, if_exists => true)
FROM unnest(ARRAY['market.tickers', 'market.order_books', 'ops.request_metrics']::regclass[]) AS t;
SELECT remove_compression_policy(t, if_exists => true)
FROM unnest(ARRAY['market.candles', 'market.tickers', 'market.order_books', 'market.trades', 'ops.request_metrics']::regclass[]) AS t;
