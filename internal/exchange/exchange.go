// Package exchange is the contract between the pipeline and the exchange
// connectors: what a connector offers, what it needs from the HTTP layer,
// the errors shared by all of them, and the skeleton every connector
// embeds (Base). Each exchange lives in its own sub-package and never
// imports another; internal/exchange/registry lists them.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// Connector fetches public spot market data from one exchange and returns it
// normalised. Symbols are unified (BTC/USDT); the connector maps them to the
// exchange's own ids.
type Connector interface {
	// ID is CCXT's exchange id, e.g. "binance".
	ID() string
	// Capabilities says what the exchange's public API can do.
	Capabilities() Capabilities
	// Markets lists the exchange's spot markets.
	Markets(ctx context.Context) ([]market.Market, error)
	// Tickers returns tickers for the symbols, in one request where the
	// exchange allows it. An empty list means every symbol the exchange has.
	Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error)
	// OrderBook returns the book to the given depth (0: the exchange's default).
	OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error)
	// OHLCV returns candles oldest first, starting at since (zero: the most
	// recent ones), at most limit (0: the exchange's default page).
	OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error)
	// Trades returns trades oldest first; with a non-zero since, historical
	// trades from that time where the exchange has them.
	Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error)
}

// Capabilities describes an exchange's public API.
type Capabilities struct {
	AllTickers       bool // one request returns every ticker
	HistoricalTrades bool // Trades honours since
	MaxCandles       int  // largest OHLCV page
	MaxTrades        int  // largest trades page
	MaxDepth         int  // deepest order book
	// ConsecutiveTradeIDs says trade ids are consecutive integers per
	// symbol, so the distance between two ids counts the trades between.
	ConsecutiveTradeIDs bool
}

// Request is one GET to an exchange's public REST API.
type Request struct {
	Endpoint string // stable label for metrics and ops tables, e.g. "klines"
	Path     string // path and query, appended to the base URL
	Weight   int    // cost in the exchange's rate-limit unit; 0 counts as 1
}

// Requester is what a connector needs of the HTTP layer: a GET that returns
// the body of a successful response, having dealt with rate limits, retries
// and the circuit breaker.
type Requester interface {
	Get(ctx context.Context, r Request) ([]byte, error)
}

// RateLimit is an exchange's published budget for one IP.
type RateLimit struct {
	Unit   string        // what is counted: "weight", "calls", "points"
	Limit  float64       // units allowed per Window
	Window time.Duration // the exchange's accounting window
	// Kind is how the exchange counts (ratelimit.Kind): "fixed" calendar
	// windows on its clock (the default), "sliding" windows, or a token
	// "bucket" of Burst refilled at Limit per Window.
	Kind       string
	Burst      int    // units that may be spent at once
	UsedHeader string // response header reporting units used in the window, if any
}

// Spec is what the composition root needs to build a connector's client.
type Spec struct {
	ID        string
	BaseURL   string // the exchange's real API
	RateLimit RateLimit
	// CheckBody inspects a 2xx body for errors the exchange reports inside
	// it (Kraken's "EAPI:Rate limit exceeded", KuCoin 429000, ...). It
	// returns nil for a good body.
	CheckBody func(body []byte) error
}

// Shared errors.
var (
	ErrUnknownSymbol = errors.New("unknown symbol")
	ErrUnsupported   = errors.New("not supported by this exchange")
)

// DecodeError is a response the connector could not parse. It keeps the
// payload so that it can be stored in ops.rejected_rows.
type DecodeError struct {
	Exchange string
	Endpoint string
	Payload  []byte
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decoding %s %s response: %v", e.Exchange, e.Endpoint, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// MarketIndex resolves unified symbols to exchange ids and back, from the
// exchange's market list. Safe for concurrent use.
type MarketIndex struct {
	mu       sync.RWMutex
	bySymbol map[market.Symbol]market.Market
	byID     map[string]market.Market
}

// Set replaces the index with the given markets.
func (x *MarketIndex) Set(ms []market.Market) {
	bySymbol := make(map[market.Symbol]market.Market, len(ms))
	byID := make(map[string]market.Market, len(ms))
	for _, m := range ms {
		bySymbol[m.Symbol] = m
		byID[m.ID] = m
	}
	x.mu.Lock()
	x.bySymbol, x.byID = bySymbol, byID
	x.mu.Unlock()
}

// Loaded reports whether Set has been called.
func (x *MarketIndex) Loaded() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.bySymbol != nil
}

// BySymbol finds a market by unified symbol.
func (x *MarketIndex) BySymbol(s market.Symbol) (market.Market, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m, ok := x.bySymbol[s]
	return m, ok
}

// ByID finds a market by the exchange's id.
func (x *MarketIndex) ByID(id string) (market.Market, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m, ok := x.byID[id]
	return m, ok
}
