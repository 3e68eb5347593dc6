-- Log returns of one stream's closes, ln(close / previous close), with the
-- running sum (the log of close / first close).
--
-- Variables: exchange, symbol, timeframe, from, to.
--
-- A missing candle makes the next return span two periods: check
-- sql/candle_gaps.sql first. Realised volatility of the range:
--   SELECT stddev_samp(log_return) * sqrt(<periods per year>) FROM (<this query>) r;
--
--   psql "$DATABASE_URL" -v exchange=kraken -v timeframe=1m -f sql/log_returns.sql
\ir defaults.psql

SELECT ts,
       close,
       ln(close / lag(close) OVER w) AS log_return,
       ln(close / first_value(close) OVER w) AS cumulative_log_return
FROM market.candles
WHERE exchange = :'exchange'
  AND symbol = :'symbol'
  AND timeframe = :'timeframe'
  AND ts >= :'from'::timestamptz
  AND ts < :'to'::timestamptz
  AND close > 0
WINDOW w AS (ORDER BY ts)
ORDER BY ts;
