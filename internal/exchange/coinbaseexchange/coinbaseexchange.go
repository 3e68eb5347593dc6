// Package coinbaseexchange is the Coinbase Exchange (formerly Coinbase Pro)
// spot connector, CCXT id "coinbaseexchange".
package coinbaseexchange

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/exchange/wire"
	"github.com/mdingest/mdingest/internal/market"
)

// ID is CCXT's id for Coinbase Exchange.
const ID = "coinbaseexchange"

// BaseURL is Coinbase Exchange's public REST API.
const BaseURL = "https://api.exchange.coinbase.com"

// Page sizes from Coinbase Exchange's docs.
const (
	maxCandles = 300
	maxTrades  = 1000
	// Level 2 is the whole aggregated book; depth only trims it.
	maxDepth = 1 << 20
)

// errMessage is an error Coinbase reported in a 2xx body.
var errMessage = errors.New("coinbase message")

// Spec describes Coinbase Exchange: public endpoints are throttled by IP at
// 10 requests per second, up to 15 in bursts (a lazy-fill token bucket),
// https://docs.cdp.coinbase.com/exchange/rest-api/rate-limits.
func Spec() exchange.Spec {
	return exchange.Spec{
		ID:      ID,
		BaseURL: BaseURL,
		RateLimit: exchange.RateLimit{
			Unit:   "calls",
			Limit:  10,
			Window: time.Second,
			Kind:   "bucket",
			Burst:  15,
		},
		CheckBody: CheckBody,
	}
}

// CheckBody reports {"message": "..."} error objects. Coinbase sends them
// with 4xx/5xx statuses; one arriving with a 2xx (a proxy, a maintenance
// page) is still an error, never data.
func CheckBody(body []byte) error {
	var r struct {
		Message *string `json:"message"`
	}
	if wire.Decode(body, &r) != nil || r.Message == nil {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", errMessage, *r.Message, exchange.ErrBodyError)
}

// Connector is the Coinbase Exchange connector.
type Connector struct {
	exchange.Base
	now func() time.Time // anchors the 4h window built from 1h candles
}

// New returns a connector sending its requests through r. Coinbase
// Exchange's public API has no all-tickers endpoint and pages trades by id
// only.
func New(r exchange.Requester) *Connector {
	return &Connector{now: time.Now, Base: exchange.Base{Name: ID, R: r, Caps: exchange.Capabilities{
		AllTickers: false, HistoricalTrades: false,
		MaxCandles: maxCandles, MaxTrades: maxTrades, MaxDepth: maxDepth,
		ConsecutiveTradeIDs: true,
	}}}
}

var _ exchange.Connector = (*Connector)(nil)

// Markets lists Coinbase's products and refreshes the symbol index.
func (c *Connector) Markets(ctx context.Context) ([]market.Market, error) {
	return c.LoadMarkets(ctx, "markets", "/products", nil, 1, parseMarkets)
}

// productPath is the path of one product's endpoint.
func productPath(id, endpoint string) string {
	return "/products/" + url.PathEscape(id) + "/" + endpoint
}

// Tickers fetches /products/{id}/ticker for each symbol, one request each
// (Coinbase has no all-tickers endpoint); no symbols means every online
// product. The first failure ends the batch.
func (c *Connector) Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error) {
	type want struct {
		sym market.Symbol
		id  string
	}
	var wants []want
	if len(symbols) == 0 {
		ms, err := c.Markets(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing coinbaseexchange products for tickers: %w", err)
		}
		for _, m := range ms {
			if m.Active {
				wants = append(wants, want{m.Symbol, m.ID})
			}
		}
	}
	for _, s := range symbols {
		id, err := c.MarketID(s, deriveID)
		if err != nil {
			return nil, err
		}
		wants = append(wants, want{s, id})
	}
	out := make([]market.Ticker, 0, len(wants))
	for _, w := range wants {
		t, err := exchange.Fetch(ctx, &c.Base, "ticker", productPath(w.id, "ticker"), nil, 1, parseTicker)
		if err != nil {
			return nil, err
		}
		t.Symbol, t.ExchangeSymbol = w.sym, w.id
		out = append(out, t)
	}
	return out, nil
}

// OrderBook fetches /products/{id}/book?level=2 and trims it to depth.
func (c *Connector) OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return market.OrderBook{}, err
	}
	return exchange.FetchBook(ctx, &c.Base, symbol, id, depth,
		"orderbook", productPath(id, "book"), url.Values{"level": {"2"}}, 1,
		func(body []byte) (market.OrderBook, error) { return parseOrderBook(body, depth) })
}

// granularity is the candle length in seconds Coinbase accepts. It has no
// 4h candles: those are built from 1h ones.
var granularity = exchange.Timeframes[int]{
	market.TF1m: 60, market.TF5m: 300, market.TF15m: 900, market.TF1h: 3600, market.TF1d: 86400,
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// OHLCV fetches /products/{id}/candles. With since, the window is CCXT's,
// start = since, end = since + (limit-1) bars (at most 300), with since
// moved up to a bucket boundary.
func (c *Connector) OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return nil, err
	}
	if tf == market.TF4h {
		return c.ohlcv4h(ctx, symbol, id, since, limit)
	}
	g, err := granularity.Of(ID, tf)
	if err != nil {
		return nil, err
	}
	limit = exchange.PageSize(limit, maxCandles)
	var start, end time.Time
	if !since.IsZero() {
		// From a since inside a bucket, CCXT's window (start = since) holds
		// only limit-1 buckets opening at or after since, however Coinbase
		// rounds start; so it starts at the first bucket boundary instead.
		start = since.UTC().Truncate(tf.Duration())
		if start.Before(since) {
			start = start.Add(tf.Duration())
		}
		end = start.Add(time.Duration(limit-1) * tf.Duration())
	}
	cs, err := c.candles(ctx, id, g, start, end)
	if err != nil {
		return nil, err
	}
	return exchange.FinishCandles(cs, symbol, tf, since, limit), nil
}

func (c *Connector) candles(ctx context.Context, id string, g int, start, end time.Time) ([]market.Candle, error) {
	q := url.Values{"granularity": {strconv.Itoa(g)}}
	if !start.IsZero() {
		q.Set("start", start.UTC().Format(isoMillis))
		q.Set("end", end.UTC().Format(isoMillis))
	}
	return exchange.Fetch(ctx, &c.Base, "ohlcv", productPath(id, "candles"), q, 1, parseCandles)
}

// ohlcv4h aggregates 1h candles into 4h ones on UTC boundaries (00, 04,
// ... 20h), at most 75 per call (300 hours).
func (c *Connector) ohlcv4h(ctx context.Context, symbol market.Symbol, id string, since time.Time, limit int) ([]market.Candle, error) {
	const per = 4
	maxN := maxCandles / per
	limit = exchange.PageSize(limit, maxN)
	span := market.TF4h.Duration()
	var from time.Time
	if since.IsZero() {
		from = c.now().UTC().Truncate(span).Add(-time.Duration(limit-1) * span)
	} else {
		from = since.UTC().Truncate(span)
		if from.Before(since) {
			from = from.Add(span)
		}
	}
	hourly, err := c.candles(ctx, id, granularity[market.TF1h], from, from.Add(time.Duration(limit)*span-time.Hour))
	if err != nil {
		return nil, err
	}
	return exchange.FinishCandles(aggregate(hourly, market.TF4h, from), symbol, market.TF4h, since, limit), nil
}

// Trades fetches /products/{id}/trades (recent only; since filters them).
func (c *Connector) Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error) {
	var q url.Values
	if limit > 0 {
		q = url.Values{"limit": {strconv.Itoa(min(limit, maxTrades))}}
	}
	id, ts, err := c.trades(ctx, symbol, q)
	if err != nil {
		return nil, err
	}
	return exchange.FinishTrades(ts, symbol, id, since, limit), nil
}

// trades fetches a page of a product's trades.
func (c *Connector) trades(ctx context.Context, symbol market.Symbol, q url.Values) (string, []market.Trade, error) {
	id, err := c.MarketID(symbol, deriveID)
	if err != nil {
		return "", nil, err
	}
	ts, err := exchange.Fetch(ctx, &c.Base, "trades", productPath(id, "trades"), q, 1, parseTrades)
	return id, ts, err
}
