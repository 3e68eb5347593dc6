// Package replay is the handler behind cmd/exchange-replay: an HTTP server
// that answers at eight exchanges' real public REST paths, under
// /<exchange>/<path>, with bodies in the exact recorded shape of each
// exchange (field names, strings versus numbers, units, ordering).
//
// What is recorded and what is made up: tickers, order books and the other
// single responses keep the shapes of responses recorded from the real APIs
// (see testdata/replay/README.md), with the symbol substituted and the times
// moved to now. Their prices, candles and trades for an arbitrary time
// range, deeper book levels, and every generated symbol (--scale) are
// DERIVED: computed deterministically from a price path seeded by symbol
// and time, at the symbol's own level, which every exchange follows within
// a few basis points; tickers and books are moved onto it, and a candle's
// low and high hold every trade of its span. That data is for tests and
// offline demos only; it is not market data, and every response says so
// with the header X-Replay-Synthetic: 1.
//
// Besides the data, the handler reproduces what clients must cope with:
// each exchange's paging rules, limits, error shapes and rate limits (in the
// exchange's own unit and kind of window, on the server's clock sent as the
// Date header, or a scaled-down Budget for tests and load runs; with Strict,
// Binance's 418 ban for ignoring a 429), and injected faults (latency, 429 with Retry-After, 418, 5xx,
// hangs, truncated or malformed JSON) set by flags, by the Handler's
// methods or through the admin API under /_admin/.
package replay
