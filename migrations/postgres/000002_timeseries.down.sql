DROP VIEW IF EXISTS market.candles_1d;
DROP VIEW IF EXISTS market.candles_1h;
