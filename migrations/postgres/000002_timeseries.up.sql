-- Plain PostgreSQL: the same names as the TimescaleDB path, as ordinary
-- views (always current, computed on read). date_bin with a UTC origin
-- buckets exactly as time_bucket does.
CREATE VIEW market.candles_1h AS
SELECT exchange, symbol, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close, sum(volume) AS volume, count(*) AS candles
FROM market.candles
WHERE timeframe = '1m'
GROUP BY 1, 2, 3;

CREATE VIEW market.candles_1d AS
SELECT exchange, symbol, date_bin(INTERVAL '1 day', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close, sum(volume) AS volume, count(*) AS candles
FROM market.candles
WHERE timeframe = '1m'
GROUP BY 1, 2, 3;
