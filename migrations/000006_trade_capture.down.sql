DROP TABLE IF EXISTS ops.trade_holes;
DROP INDEX IF EXISTS market.trades_latest;
