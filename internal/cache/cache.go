// Package cache keeps the latest market values where readers find them
// fast: Redis, an in-process LRU, or Redis with the LRU standing in while
// Redis is unreachable (Fallback).
//
// Keys are SPEC's `{prefix}:{kind}:{exchange}:{symbol}` with prefix
// "mdingest" and kind ticker, orderbook or ohlcv. Ticker and order-book
// values are the CCXT-shaped JSON of the market types. The ohlcv value holds
// the latest candle of every timeframe, keyed by timeframe:
//
//	{"1m": {"ohlcv": [1709294400000, 42000.1, 42010, 41990, 42005.5, 12.5], "closed": false, "expires": 1709294520000}, "1h": {...}}
//
// Each timeframe has its own TTL (cache.ttl.ohlcv.<tf>), so each entry
// carries its expiry in unix ms; readers skip expired entries and the key
// itself lives as long as its longest-lived entry. A candle older than the
// one cached for its timeframe does not replace it (a backfill does not
// hide the live candle).
//
// Every value written is also published, for downstream consumers, on the
// channel `{prefix}:{kind}` (kinds ticker, orderbook, ohlcv, and quality and
// error for the pipeline's quality reports and failed fetches) as an
// envelope:
//
//	{"kind": "ticker", "exchange": "binance", "symbol": "BTC/USDT", "key": "mdingest:ticker:binance:BTC/USDT", "value": {...}}
//
// An ohlcv message carries one candle: {"timeframe": "1m", "ohlcv": [...], "closed": true}.
// Without Redis nothing is published: the in-process cache has no
// subscribers.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdingest/mdingest/internal/market"
)

// Errors of the cache.
var (
	ErrInvalidConfig    = errors.New("invalid cache configuration")
	ErrMissingKey       = errors.New("exchange or symbol missing")
	ErrUnknownTimeframe = errors.New("timeframe without a TTL")
	ErrCorrupt          = errors.New("undecodable cached value")
	ErrUnknownKind      = errors.New("not a cached kind (ticker, orderbook, ohlcv)")
	ErrNoTTL            = errors.New("value without a positive TTL")
	ErrContention       = errors.New("key changed by other writers on every attempt")
	// ErrNotPublished is a backend's answer to Publish when nobody can
	// subscribe (the in-process cache); not a failure.
	ErrNotPublished = errors.New("no subscribers without redis")
)

// DefaultPrefix starts every key.
const DefaultPrefix = "mdingest"

// Entry is one value to store, and optionally to publish.
type Entry struct {
	Key   string
	Value []byte
	TTL   time.Duration
	// Publish, when its Channel is set, is sent to subscribers in the same
	// round trip as the write.
	Publish Message
}

// UpdateFunc computes a key's new value from its current one (found false:
// none, or expired). It may be called more than once when a concurrent
// writer got there first, so it must not have side effects.
type UpdateFunc func(old []byte, found bool) (value []byte, ttl time.Duration, err error)

// Backend stores bytes under keys with TTLs. Redis, Memory and Fallback
// implement it.
type Backend interface {
	// Name is "redis" or "memory": where values are served from now.
	Name() string
	// Set stores entries, in one round trip where the backend can.
	Set(ctx context.Context, entries []Entry) error
	// Get returns a key's unexpired value.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Update replaces a key's value atomically with fn's result.
	Update(ctx context.Context, key string, fn UpdateFunc) error
	// Publish sends messages to channels' subscribers, in one round trip
	// where the backend can; a backend without subscribers drops them.
	Publish(ctx context.Context, msgs []Message) error
}

// Message is one published value.
type Message struct {
	Channel string
	Payload []byte
}

// Kinds published besides the cached ones.
const (
	KindQuality = "quality"
	KindError   = "error"
)

// envelope is a published message: what, where from, and the value.
type envelope struct {
	Kind     string `json:"kind"`
	Exchange string `json:"exchange"`
	Symbol   string `json:"symbol,omitempty"`
	Key      string `json:"key,omitempty"`
	Value    any    `json:"value"`
}

// Options configure a Cache.
type Options struct {
	// Prefix starts every key; DefaultPrefix when empty. Tests use their own.
	Prefix string
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock for ohlcv entry expiry; time.Now when nil.
	Now func() time.Time
}

// Cache writes and reads market values in a Backend. It is safe for
// concurrent use.
type Cache struct {
	b      Backend
	cfg    Config
	prefix string
	now    func() time.Time
	m      *cacheMetrics
}

type cacheMetrics struct {
	hits, misses, errors, published *prometheus.CounterVec
}

// New returns a Cache over b.
func New(b Backend, cfg Config, opts Options) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{b: b, cfg: cfg, prefix: opts.Prefix, now: opts.Now}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.m = &cacheMetrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_hits_total", Help: "Cache reads that found a value, by kind.",
		}, []string{"kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_misses_total", Help: "Cache reads that found no value, by kind.",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_errors_total", Help: "Cache operations that failed, by operation (get, set, publish).",
		}, []string{"op"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_published_total", Help: "Values published to downstream consumers, by kind.",
		}, []string{"kind"}),
	}
	// Every series exists from the start, so dashboards and alerts see
	// zeros rather than nothing (the daemon itself only writes).
	for _, kind := range []string{string(market.TypeTicker), string(market.TypeOrderBook), string(market.TypeOHLCV)} {
		c.m.hits.WithLabelValues(kind)
		c.m.misses.WithLabelValues(kind)
		c.m.published.WithLabelValues(kind)
	}
	c.m.published.WithLabelValues(KindQuality)
	c.m.published.WithLabelValues(KindError)
	for _, op := range []string{"get", "set", "publish"} {
		c.m.errors.WithLabelValues(op)
	}
	if err := register(opts.Registerer, c.m.hits, c.m.misses, c.m.errors, c.m.published); err != nil {
		return nil, err
	}
	return c, nil
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("registering cache metrics: %w", err)
		}
	}
	return nil
}

// Backend names where values are served from now: "redis" or "memory".
func (c *Cache) Backend() string { return c.b.Name() }

// Key returns the key of a kind, exchange and symbol.
func (c *Cache) Key(kind market.DataType, exchange string, symbol market.Symbol) string {
	return c.prefix + ":" + string(kind) + ":" + exchange + ":" + string(symbol)
}

func (c *Cache) key(kind market.DataType, exchange string, symbol market.Symbol) (string, error) {
	if exchange == "" || symbol == "" {
		return "", fmt.Errorf("%w: %s %q %q", ErrMissingKey, kind, exchange, symbol)
	}
	return c.Key(kind, exchange, symbol), nil
}

// SetTicker caches t for cache.ttl.ticker.
func (c *Cache) SetTicker(ctx context.Context, t market.Ticker) error {
	return c.SetTickers(ctx, []market.Ticker{t})
}

// SetTickers caches tickers in one round trip.
func (c *Cache) SetTickers(ctx context.Context, ts []market.Ticker) error {
	entries := make([]Entry, 0, len(ts))
	for _, t := range ts {
		e, err := c.entry(market.TypeTicker, t.Exchange, t.Symbol, t, c.cfg.Ticker)
		if err != nil {
			return c.fail("set", err)
		}
		entries = append(entries, e)
	}
	return c.set(ctx, market.TypeTicker, entries)
}

// SetOrderBook caches b for cache.ttl.orderbook.
func (c *Cache) SetOrderBook(ctx context.Context, b market.OrderBook) error {
	return c.SetOrderBooks(ctx, []market.OrderBook{b})
}

// SetOrderBooks caches books in one round trip.
func (c *Cache) SetOrderBooks(ctx context.Context, bs []market.OrderBook) error {
	entries := make([]Entry, 0, len(bs))
	for _, b := range bs {
		e, err := c.entry(market.TypeOrderBook, b.Exchange, b.Symbol, b, c.cfg.OrderBook)
		if err != nil {
			return c.fail("set", err)
		}
		entries = append(entries, e)
	}
	return c.set(ctx, market.TypeOrderBook, entries)
}

func (c *Cache) message(kind, exchange, symbol, key string, v any) (Message, error) {
	b, err := json.Marshal(envelope{Kind: kind, Exchange: exchange, Symbol: symbol, Key: key, Value: v})
	if err != nil {
		return Message{}, fmt.Errorf("encoding %s message: %w", kind, err)
	}
	return Message{Channel: c.Channel(kind), Payload: b}, nil
}

func (c *Cache) publish(ctx context.Context, kind string, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := c.b.Publish(ctx, msgs); err != nil {
		if errors.Is(err, ErrNotPublished) {
			return nil
		}
		return c.fail("publish", fmt.Errorf("publishing %d %s values: %w", len(msgs), kind, err))
	}
	c.m.published.WithLabelValues(kind).Add(float64(len(msgs)))
	return nil
}

// Channel is the channel a kind's values are published on.
func (c *Cache) Channel(kind string) string { return c.prefix + ":" + kind }

// Notify publishes an event that is not cached (KindQuality: a batch's
// quality report; KindError: a failed fetch) for downstream consumers.
func (c *Cache) Notify(ctx context.Context, kind, exchange, symbol string, value any) error {
	m, err := c.message(kind, exchange, symbol, "", value)
	if err != nil {
		return c.fail("publish", err)
	}
	return c.publish(ctx, kind, []Message{m})
}

// entry is v cached under its key and published with the cached JSON as
// the envelope's value.
func (c *Cache) entry(kind market.DataType, exchange string, symbol market.Symbol, v any, ttl time.Duration) (Entry, error) {
	key, err := c.key(kind, exchange, symbol)
	if err != nil {
		return Entry{}, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Entry{}, fmt.Errorf("encoding %s: %w", key, err)
	}
	m, err := c.message(string(kind), exchange, string(symbol), key, json.RawMessage(b))
	if err != nil {
		return Entry{}, err
	}
	return Entry{Key: key, Value: b, TTL: ttl, Publish: m}, nil
}

func (c *Cache) set(ctx context.Context, kind market.DataType, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := c.b.Set(ctx, entries); err != nil {
		return c.fail("set", fmt.Errorf("caching %d values: %w", len(entries), err))
	}
	if c.b.Name() == "redis" { // the in-process cache publishes nothing
		c.m.published.WithLabelValues(string(kind)).Add(float64(len(entries)))
	}
	return nil
}

func (c *Cache) fail(op string, err error) error {
	c.m.errors.WithLabelValues(op).Inc()
	return err
}

// SetCandle caches k as the latest candle of its timeframe, unless a later
// one is cached.
func (c *Cache) SetCandle(ctx context.Context, k market.Candle) error {
	return c.SetCandles(ctx, []market.Candle{k})
}

// SetCandles caches the latest candle of each exchange, symbol and
// timeframe in the batch: one update per exchange and symbol.
func (c *Cache) SetCandles(ctx context.Context, ks []market.Candle) error {
	type pair struct {
		exchange string
		symbol   market.Symbol
	}
	latest := make(map[pair][]market.Candle) // one per timeframe
	var order []pair
	for _, k := range ks {
		if _, ok := c.cfg.OHLCV[k.Timeframe]; !ok {
			return c.fail("set", fmt.Errorf("%w: %q", ErrUnknownTimeframe, k.Timeframe))
		}
		if _, err := c.key(market.TypeOHLCV, k.Exchange, k.Symbol); err != nil {
			return c.fail("set", err)
		}
		p := pair{k.Exchange, k.Symbol}
		cs, seen := latest[p]
		if !seen {
			order = append(order, p)
		}
		i := slices.IndexFunc(cs, func(o market.Candle) bool { return o.Timeframe == k.Timeframe })
		switch {
		case i < 0:
			latest[p] = append(cs, k)
		case !k.Time.Before(cs[i].Time):
			cs[i] = k
		}
	}
	for _, p := range order {
		key := c.Key(market.TypeOHLCV, p.exchange, p.symbol)
		cs := latest[p]
		err := c.b.Update(ctx, key, func(old []byte, found bool) ([]byte, time.Duration, error) {
			return c.mergeCandles(old, found, cs)
		})
		if err != nil {
			return c.fail("set", fmt.Errorf("caching candles of %s: %w", key, err))
		}
	}
	msgs := make([]Message, 0, len(ks))
	for _, k := range ks {
		m, err := c.message(string(market.TypeOHLCV), k.Exchange, string(k.Symbol), c.Key(market.TypeOHLCV, k.Exchange, k.Symbol),
			publishedCandle{Timeframe: k.Timeframe, Candle: ccxtCandle{k}, Closed: k.Closed})
		if err != nil {
			return c.fail("publish", err)
		}
		msgs = append(msgs, m)
	}
	return c.publish(ctx, string(market.TypeOHLCV), msgs)
}

// publishedCandle is one candle as an ohlcv message's value.
type publishedCandle struct {
	Timeframe market.Timeframe `json:"timeframe"`
	Candle    ccxtCandle       `json:"ohlcv"`
	Closed    bool             `json:"closed"`
}

// ohlcvEntry is one timeframe's latest candle in an ohlcv value.
type ohlcvEntry struct {
	Candle  ccxtCandle `json:"ohlcv"`
	Closed  bool       `json:"closed"`
	Expires int64      `json:"expires"` // unix ms
}

type ohlcvValue map[market.Timeframe]ohlcvEntry

// live drops expired entries.
func (v ohlcvValue) live(now time.Time) {
	for tf, e := range v {
		if e.Expires <= now.UnixMilli() {
			delete(v, tf)
		}
	}
}

func (c *Cache) mergeCandles(old []byte, found bool, cs []market.Candle) ([]byte, time.Duration, error) {
	now := c.now()
	v := ohlcvValue{}
	if found {
		if err := json.Unmarshal(old, &v); err != nil {
			v = ohlcvValue{} // unreadable: replace it rather than fail for ever
		}
		v.live(now)
	}
	for _, k := range cs {
		if e, ok := v[k.Timeframe]; ok && e.Candle.Time.After(k.Time) {
			continue
		}
		v[k.Timeframe] = ohlcvEntry{
			Candle:  ccxtCandle{k},
			Closed:  k.Closed,
			Expires: now.Add(c.cfg.OHLCV[k.Timeframe]).UnixMilli(),
		}
	}
	var last int64
	for _, e := range v {
		last = max(last, e.Expires)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding candles: %w", err)
	}
	return b, time.UnixMilli(last).Sub(now), nil
}

// get reads a key and counts the hit or miss.
func (c *Cache) get(ctx context.Context, kind market.DataType, exchange string, symbol market.Symbol) ([]byte, bool, error) {
	key, err := c.key(kind, exchange, symbol)
	if err != nil {
		return nil, false, c.fail("get", err)
	}
	b, ok, err := c.b.Get(ctx, key)
	if err != nil {
		return nil, false, c.fail("get", fmt.Errorf("reading %s: %w", key, err))
	}
	return b, ok, nil
}

func (c *Cache) count(kind market.DataType, hit bool) {
	if hit {
		c.m.hits.WithLabelValues(string(kind)).Inc()
	} else {
		c.m.misses.WithLabelValues(string(kind)).Inc()
	}
}

// GetJSON returns the cached JSON of a kind (ticker, orderbook, ohlcv),
// exchange and symbol; for ohlcv without expired timeframes.
func (c *Cache) GetJSON(ctx context.Context, kind market.DataType, exchange string, symbol market.Symbol) ([]byte, bool, error) {
	switch kind {
	case market.TypeTicker, market.TypeOrderBook, market.TypeOHLCV:
	default:
		return nil, false, c.fail("get", fmt.Errorf("%w: %q", ErrUnknownKind, kind))
	}
	b, ok, err := c.get(ctx, kind, exchange, symbol)
	if err != nil || !ok {
		c.countIf(err, kind)
		return nil, false, err
	}
	if kind != market.TypeOHLCV {
		c.count(kind, true)
		return b, true, nil
	}
	v, err := c.decodeOHLCV(b, exchange, symbol)
	if err != nil {
		return nil, false, c.fail("get", err)
	}
	c.count(kind, len(v) > 0)
	if len(v) == 0 {
		return nil, false, nil
	}
	b, err = json.Marshal(v)
	if err != nil {
		return nil, false, c.fail("get", fmt.Errorf("encoding candles: %w", err))
	}
	return b, true, nil
}

// GetTicker returns the cached ticker.
func (c *Cache) GetTicker(ctx context.Context, exchange string, symbol market.Symbol) (market.Ticker, bool, error) {
	return getRow(ctx, c, market.TypeTicker, exchange, symbol, decodeTicker)
}

// GetOrderBook returns the cached order book.
func (c *Cache) GetOrderBook(ctx context.Context, exchange string, symbol market.Symbol) (market.OrderBook, bool, error) {
	return getRow(ctx, c, market.TypeOrderBook, exchange, symbol, decodeOrderBook)
}

// getRow reads and decodes the one row a key of kind holds, counting the
// hit or miss.
func getRow[T any](ctx context.Context, c *Cache, kind market.DataType, exchange string, symbol market.Symbol,
	decode func([]byte, string) (T, error)) (T, bool, error) {
	var zero T
	b, ok, err := c.get(ctx, kind, exchange, symbol)
	if err != nil || !ok {
		c.countIf(err, kind)
		return zero, false, err
	}
	v, err := decode(b, exchange)
	if err != nil {
		return zero, false, c.fail("get", err)
	}
	c.count(kind, true)
	return v, true, nil
}

// GetCandle returns the latest cached candle of a timeframe.
func (c *Cache) GetCandle(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe) (market.Candle, bool, error) {
	b, ok, err := c.get(ctx, market.TypeOHLCV, exchange, symbol)
	if err != nil || !ok {
		c.countIf(err, market.TypeOHLCV)
		return market.Candle{}, false, err
	}
	v, err := c.decodeOHLCV(b, exchange, symbol)
	if err != nil {
		return market.Candle{}, false, c.fail("get", err)
	}
	e, ok := v[tf]
	c.count(market.TypeOHLCV, ok)
	if !ok {
		return market.Candle{}, false, nil
	}
	k := e.Candle.Candle
	k.Exchange, k.Symbol, k.Timeframe, k.Closed = exchange, symbol, tf, e.Closed
	return k, true, nil
}

// countIf counts a miss unless the read failed (failures count as errors).
func (c *Cache) countIf(err error, kind market.DataType) {
	if err == nil {
		c.count(kind, false)
	}
}

func (c *Cache) decodeOHLCV(b []byte, exchange string, symbol market.Symbol) (ohlcvValue, error) {
	var v ohlcvValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: ohlcv of %s %s: %w", ErrCorrupt, exchange, symbol, err)
	}
	v.live(c.now())
	return v, nil
}
