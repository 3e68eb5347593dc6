package exchange

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Base is the skeleton every connector embeds: its id and capabilities
// (the Connector's ID and Capabilities), its requests, the decode errors
// it returns, and the index of the exchange's markets. What differs
// between exchanges (paths, parameters, parsers) stays in the connector.
type Base struct {
	Name  string       // CCXT's id
	Caps  Capabilities // what the exchange's public API can do
	R     Requester    // the HTTP layer
	Index MarketIndex  // the markets, once loaded

	loadMu sync.Mutex // one markets load at a time
}

// ID implements Connector.
func (b *Base) ID() string { return b.Name }

// Capabilities implements Connector.
func (b *Base) Capabilities() Capabilities { return b.Caps }

// Get requests path with the query q (if any) appended. The body comes
// back as the Requester returns it: the HTTP client has checked it for
// errors the exchange reports inside a 2xx body (Spec.CheckBody).
func (b *Base) Get(ctx context.Context, endpoint, path string, q url.Values, weight int) ([]byte, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := b.R.Get(ctx, Request{Endpoint: endpoint, Path: path, Weight: weight})
	if err != nil {
		return nil, fmt.Errorf("requesting %s %s: %w", b.Name, endpoint, err)
	}
	return body, nil
}

// DecodeError is a body of endpoint that could not be read as data,
// kept whole for ops.rejected_rows.
func (b *Base) DecodeError(endpoint string, body []byte, err error) error {
	return &DecodeError{Exchange: b.Name, Endpoint: endpoint, Payload: body, Err: err}
}

// Fetch requests endpoint and parses its body; a body parse rejects is a
// *DecodeError.
func Fetch[T any](ctx context.Context, b *Base, endpoint, path string, q url.Values, weight int, parse func([]byte) (T, error)) (T, error) {
	var v T
	body, err := b.Get(ctx, endpoint, path, q, weight)
	if err != nil {
		return v, err
	}
	if v, err = parse(body); err != nil {
		return v, b.DecodeError(endpoint, body, err)
	}
	return v, nil
}

// FetchBook fetches an order book (Fetch) and readies it (FinishBook) as
// symbol's, whose id is id, cut to depth.
func FetchBook(ctx context.Context, b *Base, symbol market.Symbol, id string, depth int,
	endpoint, path string, q url.Values, weight int, parse func([]byte) (market.OrderBook, error)) (market.OrderBook, error) {
	ob, err := Fetch(ctx, b, endpoint, path, q, weight, parse)
	if err != nil {
		return market.OrderBook{}, err
	}
	return FinishBook(ob, symbol, id, depth), nil
}

// FetchCandles fetches candles (Fetch) and readies them (FinishCandles).
func FetchCandles(ctx context.Context, b *Base, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int,
	endpoint, path string, q url.Values, weight int, parse func([]byte) ([]market.Candle, error)) ([]market.Candle, error) {
	cs, err := Fetch(ctx, b, endpoint, path, q, weight, parse)
	if err != nil {
		return nil, err
	}
	return FinishCandles(cs, symbol, tf, since, limit), nil
}

// FetchTrades fetches trades (Fetch) and readies them (FinishTrades).
func FetchTrades(ctx context.Context, b *Base, symbol market.Symbol, id string, since time.Time, limit int,
	endpoint, path string, q url.Values, weight int, parse func([]byte) ([]market.Trade, error)) ([]market.Trade, error) {
	ts, err := Fetch(ctx, b, endpoint, path, q, weight, parse)
	if err != nil {
		return nil, err
	}
	return FinishTrades(ts, symbol, id, since, limit), nil
}

// LoadMarkets fetches the market list and refreshes the index with it.
func (b *Base) LoadMarkets(ctx context.Context, endpoint, path string, q url.Values, weight int, parse func([]byte) ([]market.Market, error)) ([]market.Market, error) {
	ms, err := Fetch(ctx, b, endpoint, path, q, weight, parse)
	if err != nil {
		return nil, err
	}
	b.Index.Set(ms)
	return ms, nil
}

// EnsureMarkets runs load (the connector's Markets) unless the index is
// loaded, once however many callers need it at the same time.
func (b *Base) EnsureMarkets(ctx context.Context, load func(context.Context) ([]market.Market, error)) error {
	if b.Index.Loaded() {
		return nil
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if b.Index.Loaded() {
		return nil
	}
	_, err := load(ctx)
	return err
}

// MarketID maps a unified symbol to the exchange's id: from the index once
// the markets are loaded (a symbol it does not list is ErrUnknownSymbol),
// before that derived from the symbol by the exchange's naming rule, so
// that single requests need no markets call. derive returns "" where it
// cannot name the symbol.
func (b *Base) MarketID(s market.Symbol, derive func(market.Symbol) string) (string, error) {
	id := ""
	if b.Index.Loaded() {
		if m, ok := b.Index.BySymbol(s); ok {
			id = m.ID
		}
	} else if derive != nil {
		id = derive(s)
	}
	if id == "" {
		return "", fmt.Errorf("%s %s: %w", b.Name, s, ErrUnknownSymbol)
	}
	return id, nil
}

// FinishCandles readies parsed candles (oldest first) for the pipeline:
// those opening before since are dropped, the symbol and timeframe set,
// and at most limit kept (<= 0: all), the newest when reading the latest
// (zero since), else the first.
func FinishCandles(cs []market.Candle, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) []market.Candle {
	cs = slices.DeleteFunc(cs, func(c market.Candle) bool { return c.Time.Before(since) })
	for i := range cs {
		cs[i].Symbol, cs[i].Timeframe = symbol, tf
	}
	return Keep(cs, limit, since.IsZero())
}

// FinishTrades readies parsed trades (oldest first) likewise: those before
// since dropped, the symbol set, and the exchange's id of it unless id is
// "" (the rows name it), at most limit kept as FinishCandles does.
func FinishTrades(ts []market.Trade, symbol market.Symbol, id string, since time.Time, limit int) []market.Trade {
	ts = slices.DeleteFunc(ts, func(t market.Trade) bool { return t.Time.Before(since) })
	for i := range ts {
		ts[i].Symbol = symbol
		if id != "" {
			ts[i].ExchangeSymbol = id
		}
	}
	return Keep(ts, limit, since.IsZero())
}

// FinishBook readies a parsed order book: the symbol and the exchange's id
// of it set, each side cut to depth (<= 0: whole).
func FinishBook(b market.OrderBook, symbol market.Symbol, id string, depth int) market.OrderBook {
	b.Symbol, b.ExchangeSymbol = symbol, id
	if depth > 0 {
		b.Bids, b.Asks = b.Bids[:min(depth, len(b.Bids))], b.Asks[:min(depth, len(b.Asks))]
	}
	return b
}

// Keep trims rows (oldest first) to limit (<= 0: all): the newest when
// reading the latest (tail), the first ones when paging forward from a since.
func Keep[T any](rows []T, limit int, tail bool) []T {
	if limit <= 0 || len(rows) <= limit {
		return rows
	}
	if tail {
		return rows[len(rows)-limit:]
	}
	return rows[:limit]
}

// Timeframes are an exchange's names (or parameters) for the timeframes
// it serves.
type Timeframes[V any] map[market.Timeframe]V

// Of is the exchange's value for tf; ErrUnsupported where it has none.
func (t Timeframes[V]) Of(exchange string, tf market.Timeframe) (V, error) {
	v, ok := t[tf]
	if !ok {
		return v, fmt.Errorf("%s timeframe %q: %w", exchange, tf, ErrUnsupported)
	}
	return v, nil
}

// CandleParams resolves what every OHLCV request names: the exchange's
// value for tf, then the symbol's id (as MarketID).
func CandleParams[V any](b *Base, names Timeframes[V], tf market.Timeframe, symbol market.Symbol, derive func(market.Symbol) string) (V, string, error) {
	v, err := names.Of(b.Name, tf)
	if err != nil {
		return v, "", err
	}
	id, err := b.MarketID(symbol, derive)
	return v, id, err
}

// Limit is the count a request asks for: def when the caller named none
// (n <= 0), and never more than the endpoint's most.
func Limit(n, def, most int) int {
	if n <= 0 {
		n = def
	}
	return min(n, most)
}

// SinceSeconds is since in whole seconds, for the exchanges that take a
// candle window's start so: rounded up, because a candle opening in the
// second it was cut to would be before since, dropped by FinishCandles,
// and the page one short.
func SinceSeconds(since time.Time) int64 {
	s := since.Unix()
	if since.Nanosecond() > 0 {
		s++
	}
	return s
}
