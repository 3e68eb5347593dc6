-- TimescaleDB: hypertables, compression, retention and continuous
-- aggregates. The ages here are defaults; `mdingest migrate up` re-applies
-- the ones set under store.retention and store.compress_after.
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Chunk intervals sized so a chunk of each table's hot indexes fits in
-- memory: candles are few rows per minute, books and tickers many.
SELECT create_hypertable('market.candles', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('market.tickers', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('market.order_books', 'ts', chunk_time_interval => INTERVAL '6 hours', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('market.trades', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('ops.request_metrics', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('ops.quality_reports', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('ops.rejected_rows', 'ts', chunk_time_interval => INTERVAL '7 days', if_not_exists => true, migrate_data => true);
SELECT create_hypertable('ops.job_runs', 'started_at', chunk_time_interval => INTERVAL '7 days', if_not_exists => true, migrate_data => true);

ALTER TABLE market.candles SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol, timeframe', timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE market.tickers SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol', timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE market.order_books SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol', timescaledb.compress_orderby = 'ts DESC');
ALTER TABLE market.trades SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol', timescaledb.compress_orderby = 'ts DESC, trade_id');
ALTER TABLE ops.request_metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange', timescaledb.compress_orderby = 'ts DESC');

SELECT add_compression_policy('market.candles', INTERVAL '30 days', if_not_exists => true);
SELECT add_compression_policy('market.tickers', INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('market.order_books', INTERVAL '2 days', if_not_exists => true);
SELECT add_compression_policy('market.trades', INTERVAL '7 days', if_not_exists => true);
SELECT add_compression_policy('ops.request_metrics', INTERVAL '7 days', if_not_exists => true);

-- Candles and trades are kept forever by default; high-rate snapshots and
-- request logs are not.
SELECT add_retention_policy('market.tickers', INTERVAL '90 days', if_not_exists => true);
SELECT add_retention_policy('market.order_books', INTERVAL '30 days', if_not_exists => true);
SELECT add_retention_policy('ops.request_metrics', INTERVAL '30 days', if_not_exists => true);

-- Continuous aggregates from 1m candles. Created WITH NO DATA (a refresh
-- cannot run inside the migration's transaction) and real-time, so recent
-- buckets read the same as the plain-PostgreSQL views.
CREATE MATERIALIZED VIEW market.candles_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT exchange, symbol, time_bucket(INTERVAL '1 hour', ts) AS bucket,
       first(open, ts) AS open, max(high) AS high, min(low) AS low,
       last(close, ts) AS close, sum(volume) AS volume, count(*) AS candles
FROM market.candles
WHERE timeframe = '1m'
GROUP BY exchange, symbol, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

CREATE MATERIALIZED VIEW market.candles_1d WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT exchange, symbol, time_bucket(INTERVAL '1 day', ts) AS bucket,
       first(open, ts) AS open, max(high) AS high, min(low) AS low,
       last(close, ts) AS close, sum(volume) AS volume, count(*) AS candles
FROM market.candles
WHERE timeframe = '1m'
GROUP BY exchange, symbol, time_bucket(INTERVAL '1 day', ts)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('market.candles_1h', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('market.candles_1d', start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
