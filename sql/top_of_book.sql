-- The latest top of book of one symbol on every exchange: best bid/ask
-- from the newest order book snapshot and bid/ask from the newest ticker,
-- side by side, with spreads in price and in basis points of the mid.
--
-- Variables: symbol, from, to (the snapshots considered; the default range
-- is all of them).
--
-- depth columns sum the amounts of every stored level (the arrays hold the
-- whole book as fetched, best first).
--
--   psql "$DATABASE_URL" -v symbol=ETH/USDT -f sql/top_of_book.sql
\ir defaults.psql

WITH book AS (
    SELECT DISTINCT ON (exchange)
           exchange, ts, best_bid, best_bid_amount, best_ask, best_ask_amount,
           (SELECT sum(a) FROM unnest(bid_amounts) AS a) AS bid_depth,
           (SELECT sum(a) FROM unnest(ask_amounts) AS a) AS ask_depth
    FROM market.order_books
    WHERE symbol = :'symbol'
      AND ts >= :'from'::timestamptz
      AND ts < :'to'::timestamptz
    ORDER BY exchange, ts DESC
), tick AS (
    SELECT DISTINCT ON (exchange) exchange, ts, bid, ask, last
    FROM market.tickers
    WHERE symbol = :'symbol'
      AND ts >= :'from'::timestamptz
      AND ts < :'to'::timestamptz
    ORDER BY exchange, ts DESC
)
SELECT exchange,
       book.ts AS book_ts,
       book.best_bid,
       book.best_bid_amount,
       book.best_ask,
       book.best_ask_amount,
       book.best_ask - book.best_bid AS book_spread,
       (book.best_ask - book.best_bid) / nullif((book.best_ask + book.best_bid) / 2, 0) * 10000 AS book_spread_bps,
       book.bid_depth,
       book.ask_depth,
       tick.ts AS ticker_ts,
       tick.bid,
       tick.ask,
       tick.ask - tick.bid AS ticker_spread,
       tick.last
FROM book
FULL JOIN tick USING (exchange)
ORDER BY exchange;
