// Package ingest is one job run of the daemon's pipeline for one exchange:
// fetch → check → cache → store. It speaks to the connector, the quality
// checker, the cache and the writer through the small interfaces below, so
// each can be faked and none of them knows the others.
//
// For every batch: the checker splits accepted from rejected rows; its
// reports go to ops.quality_reports, rejected rows (whole, as JSON) to
// ops.rejected_rows with source "validation"; accepted rows go to the cache
// (latest values) and the sink. A response the connector could not decode
// becomes a rejected row with source "decode" and its raw payload, and the
// job fails.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/quality"
	"github.com/mdingest/mdingest/internal/tables"
)

// Fetcher is what a job needs of an exchange.Connector.
type Fetcher interface {
	ID() string
	Capabilities() exchange.Capabilities
	Markets(ctx context.Context) ([]market.Market, error)
	Tickers(ctx context.Context, symbols []market.Symbol) ([]market.Ticker, error)
	OrderBook(ctx context.Context, symbol market.Symbol, depth int) (market.OrderBook, error)
	OHLCV(ctx context.Context, symbol market.Symbol, tf market.Timeframe, since time.Time, limit int) ([]market.Candle, error)
	Trades(ctx context.Context, symbol market.Symbol, since time.Time, limit int) ([]market.Trade, error)
}

// Checker validates batches (*quality.Checker).
type Checker interface {
	CheckTickers(batch []market.Ticker, now time.Time, maxAge time.Duration) quality.Result[market.Ticker]
	CheckOrderBooks(batch []market.OrderBook, now time.Time, maxAge time.Duration) quality.Result[market.OrderBook]
	CheckCandles(batch []market.Candle, now time.Time, maxAge time.Duration) quality.Result[market.Candle]
	CheckTrades(batch []market.Trade, now time.Time, maxAge time.Duration) quality.Result[market.Trade]
}

// Cache keeps the latest values (*cache.Cache).
type Cache interface {
	SetTickers(ctx context.Context, ts []market.Ticker) error
	SetOrderBooks(ctx context.Context, bs []market.OrderBook) error
	SetCandles(ctx context.Context, ks []market.Candle) error
}

// Sink takes accepted rows and reports, and rejected rows (*writer.Writer,
// or writer.Synchronous for the commands). rows is one table's batch
// (tables.Candles.Rows(candles), ...); started is when the fetch began,
// for the end-to-end latency metric.
type Sink interface {
	Put(ctx context.Context, started time.Time, rows tables.Rows) error
}

// putTo is sink's Put for rows of table t.
func putTo[T any](sink Sink, t *tables.Table[T]) func(context.Context, time.Time, []T) error {
	return func(ctx context.Context, started time.Time, rows []T) error {
		return sink.Put(ctx, started, t.Rows(rows))
	}
}

// Notifier tells downstream consumers about what is not cached: a batch's
// quality report (kind "quality") and a failed fetch ("error"). The cache's
// Redis pub/sub implements it (*cache.Cache).
type Notifier interface {
	Notify(ctx context.Context, kind, exchange, symbol string, value any) error
}

// Kinds of notification.
const (
	NotifyQuality = "quality"
	NotifyError   = "error"
)

// Rejected-row sources this package writes.
const (
	SourceValidation = "validation"
	SourceDecode     = "decode"
)

// Errors.
var (
	ErrInvalid = errors.New("invalid ingest options")
	ErrDecode  = errors.New("undecodable exchange response")
)

// Options configure the Pipeline of one exchange.
type Options struct {
	Fetcher Fetcher
	Checker Checker
	Cache   Cache    // nil: nothing is cached
	Notify  Notifier // nil: quality reports and failures are not published
	Sink    Sink
	Rejects Sink // for rejected rows
	// Symbols are the configured symbols; after a markets refresh, those
	// the exchange does not list as active are left out.
	Symbols []market.Symbol
	// CriticalSymbols get order books; default: the first symbol.
	CriticalSymbols []market.Symbol
	Timeframes      []market.Timeframe // default: 1m
	Depth           int                // order-book depth; 0: the exchange's default
	CandleLimit     int                // latest candles fetched for a series with nothing stored; default 3
	TradeLimit      int                // trades per request of the trade capture; 0: the exchange's largest
	// Candles holds the stored series' cursors and records their holes
	// (*store.Store); nil: cursors live in memory only.
	Candles CandleStore
	// CandleCatchup is how far back a run pages from a series' cursor;
	// older missing candles are left to the gap fill. Default
	// DefaultCandleCatchup.
	CandleCatchup time.Duration
	// MaxAge is the freshness bound passed to the checker per data type
	// (quality.Config.MaxAge).
	MaxAge  map[market.DataType]time.Duration
	Metrics *Metrics // shared by the exchanges' pipelines; nil: unregistered
	Logger  *slog.Logger
	Now     func() time.Time
}

// Pipeline runs the jobs of one exchange. Its job methods have the
// scheduler's func(ctx) (rows int64, err error) shape; rows counts the
// accepted rows handed to the sink.
type Pipeline struct {
	opts     Options
	exchange string
	logger   *slog.Logger
	m        *Metrics
	now      func() time.Time
	symbols  atomic.Pointer[[]market.Symbol]
	markets  atomic.Pointer[[]market.Market]
	// candlePage is the largest OHLCV page the exchange serves.
	candlePage int
	cursors    candleCursors
}

// New checks opts and returns a Pipeline.
func New(opts Options) (*Pipeline, error) {
	switch {
	case opts.Fetcher == nil || opts.Checker == nil || opts.Sink == nil || opts.Rejects == nil:
		return nil, fmt.Errorf("%w: fetcher, checker, sink and reject sink are required", ErrInvalid)
	case opts.Depth < 0 || opts.CandleLimit < 0 || opts.TradeLimit < 0 || opts.CandleCatchup < 0:
		return nil, fmt.Errorf("%w: negative depth, limit or catch-up", ErrInvalid)
	}
	if opts.CandleCatchup == 0 {
		opts.CandleCatchup = DefaultCandleCatchup
	}
	if len(opts.Timeframes) == 0 {
		opts.Timeframes = []market.Timeframe{market.TF1m}
	}
	if len(opts.CriticalSymbols) == 0 && len(opts.Symbols) > 0 {
		opts.CriticalSymbols = opts.Symbols[:1]
	}
	if opts.CandleLimit == 0 {
		opts.CandleLimit = 3
	}
	caps := opts.Fetcher.Capabilities()
	if caps.MaxCandles > 0 {
		opts.CandleLimit = min(opts.CandleLimit, caps.MaxCandles)
	}
	if caps.MaxTrades > 0 && opts.TradeLimit > 0 {
		opts.TradeLimit = min(opts.TradeLimit, caps.MaxTrades)
	}
	if caps.MaxDepth > 0 && opts.Depth > 0 {
		opts.Depth = min(opts.Depth, caps.MaxDepth)
	}
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{opts: opts, exchange: opts.Fetcher.ID(), m: opts.Metrics, now: opts.Now, candlePage: caps.MaxCandles}
	if p.candlePage <= 0 {
		p.candlePage = defaultCandlePage
	}
	p.logger = logger.With("component", "ingest", "exchange", p.exchange)
	syms := slices.Clone(opts.Symbols)
	p.symbols.Store(&syms)
	return p, nil
}

// Symbols returns the symbols the jobs fetch: the configured ones, less
// those the last markets refresh did not find active.
func (p *Pipeline) Symbols() []market.Symbol { return slices.Clone(*p.symbols.Load()) }

// Markets returns the market list of the last refresh (nil before one).
func (p *Pipeline) Markets() []market.Market {
	if ms := p.markets.Load(); ms != nil {
		return slices.Clone(*ms)
	}
	return nil
}

// RefreshMarkets fetches the exchange's markets, stores them in
// market.symbols and keeps the list of configured symbols that are active.
func (p *Pipeline) RefreshMarkets(ctx context.Context) (int64, error) {
	started := p.now()
	ms, err := p.opts.Fetcher.Markets(ctx)
	if err != nil {
		return 0, p.fetchFailed(ctx, market.TypeMarkets, "", started, err)
	}
	p.m.fetched.WithLabelValues(p.exchange, string(market.TypeMarkets)).Add(float64(len(ms)))
	for i := range ms {
		if ms[i].Exchange == "" {
			ms[i].Exchange = p.exchange
		}
	}
	active := make(map[market.Symbol]bool, len(ms))
	for _, m := range ms {
		if m.Active {
			active[m.Symbol] = true
		}
	}
	var keep, missing []market.Symbol
	for _, s := range p.opts.Symbols {
		if active[s] {
			keep = append(keep, s)
		} else {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		p.logger.Warn("configured symbols not listed as active by the exchange; skipping them", "symbols", missing)
	}
	p.symbols.Store(&keep)
	p.markets.Store(&ms)
	if err := p.opts.Sink.Put(ctx, started, tables.Symbols.Rows(ms)); err != nil {
		return 0, fmt.Errorf("storing markets: %w", err)
	}
	p.m.accepted.WithLabelValues(p.exchange, string(market.TypeMarkets)).Add(float64(len(ms)))
	return int64(len(ms)), nil
}

// Tickers fetches the tickers of all symbols, in one request where the
// exchange allows it.
func (p *Pipeline) Tickers(ctx context.Context) (int64, error) {
	syms := p.Symbols()
	if len(syms) == 0 {
		return 0, nil
	}
	started := p.now()
	ts, err := p.opts.Fetcher.Tickers(ctx, syms)
	if err != nil {
		return 0, p.fetchFailed(ctx, market.TypeTicker, "", started, err)
	}
	received := p.now()
	for i := range ts {
		stampReceived(&ts[i].Time, received)
	}
	b := p.tickerBatch()
	b.started, b.rows = started, ts
	return process(ctx, p, b)
}

// stampReceived gives a snapshot the exchange sent without a time (Binance
// books, Kraken tickers) the time we received it: snapshots are keyed by
// time, and that is when the values were observed.
func stampReceived(t *time.Time, received time.Time) {
	if t.IsZero() {
		*t = received.UTC()
	}
}

// OrderBooks fetches the book of each critical symbol.
func (p *Pipeline) OrderBooks(ctx context.Context) (int64, error) {
	var syms []market.Symbol
	active := p.Symbols()
	for _, s := range p.opts.CriticalSymbols {
		if slices.Contains(active, s) {
			syms = append(syms, s)
		}
	}
	return perKey(ctx, p, market.TypeOrderBook, syms, symbolOf, p.bookBatch(), func(ctx context.Context, s market.Symbol, _ time.Time) ([]market.OrderBook, error) {
		b, err := p.opts.Fetcher.OrderBook(ctx, s, p.opts.Depth)
		if err != nil {
			return nil, err
		}
		stampReceived(&b.Time, p.now())
		return []market.OrderBook{b}, nil
	})
}

// Trades are not a job of the Pipeline: a TradeCapture (trades.go) keeps
// every trade, polling each symbol on its own clock.

// batch describes how one data type goes through the pipeline.
type batch[T any] struct {
	dataType market.DataType
	started  time.Time
	rows     []T
	check    func([]T, time.Time, time.Duration) quality.Result[T]
	cache    func(context.Context, []T) error // nil: not cached
	put      func(context.Context, time.Time, []T) error
	row      func(T) (symbol string, payload any) // for rejected rows
	history  bool                                 // old by design: no freshness bound
}

func cacheFn[T any](c Cache, set func(Cache, context.Context, []T) error) func(context.Context, []T) error {
	if c == nil {
		return nil
	}
	return func(ctx context.Context, rows []T) error { return set(c, ctx, rows) }
}

func symbolOf(s market.Symbol) string { return string(s) }

// perKey fetches each key (a symbol, or a symbol and timeframe) in turn,
// goes on past failures, and processes what each fetch brought as its own
// batch, so memory holds one response at a time and each batch's latency
// counts from its own request. The job fails if any fetch failed.
func perKey[K, T any](ctx context.Context, p *Pipeline, dt market.DataType, keys []K, symbol func(K) string, b batch[T],
	fetch func(context.Context, K, time.Time) ([]T, error)) (int64, error) {
	b.dataType = dt
	var errs []error
	var total int64
	for _, k := range keys {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		started := p.now()
		rows, err := fetch(ctx, k, started)
		if err != nil {
			errs = append(errs, p.fetchFailed(ctx, dt, symbol(k), started, err))
			continue
		}
		b.started, b.rows = started, rows
		n, err := process(ctx, p, b)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// process checks a batch and hands its parts on. Cache failures are logged
// (the store is the record; the cache only serves the latest values).
func process[T any](ctx context.Context, p *Pipeline, b batch[T]) (int64, error) {
	if len(b.rows) == 0 {
		return 0, nil
	}
	dt := string(b.dataType)
	p.m.fetched.WithLabelValues(p.exchange, dt).Add(float64(len(b.rows)))
	now := p.now()
	maxAge := p.opts.MaxAge[b.dataType]
	if b.history {
		maxAge = 0
	}
	res := b.check(b.rows, now, maxAge)

	var errs []error
	if len(res.Accepted) > 0 {
		if b.cache != nil {
			if err := b.cache(ctx, res.Accepted); err != nil {
				p.logger.Warn("caching failed", "type", dt, "rows", len(res.Accepted), "err", err)
			}
		}
		if err := b.put(ctx, b.started, res.Accepted); err != nil {
			errs = append(errs, fmt.Errorf("storing %s: %w", dt, err))
		} else {
			p.m.accepted.WithLabelValues(p.exchange, dt).Add(float64(len(res.Accepted)))
		}
	}
	if len(res.Rejected) > 0 {
		rows := make([]ops.RejectedRow, 0, len(res.Rejected))
		for _, r := range res.Rejected {
			sym, v := b.row(r.Row)
			payload, err := json.Marshal(v)
			if err != nil {
				payload = fmt.Appendf(nil, "%+v", r.Row) // kept whole all the same
			}
			rows = append(rows, ops.RejectedRow{Time: now, Exchange: p.exchange, Symbol: sym, DataType: dt,
				Source: SourceValidation, Code: r.Check, Reason: r.Reason, Payload: payload})
		}
		p.m.rejected.WithLabelValues(p.exchange, dt, SourceValidation).Add(float64(len(rows)))
		if err := p.opts.Rejects.Put(ctx, b.started, tables.RejectedRows.Rows(rows)); err != nil {
			errs = append(errs, fmt.Errorf("storing rejected %s: %w", dt, err))
		}
	}
	if len(res.Reports) > 0 {
		reports := make([]ops.QualityReport, 0, len(res.Reports))
		for _, r := range res.Reports {
			reports = append(reports, QualityRow(now, r))
			p.notify(ctx, NotifyQuality, string(r.Symbol), r)
			if !r.Passed {
				p.logger.Warn("batch below quality thresholds", "symbol", r.Symbol, "type", r.DataType,
					"timeframe", r.Timeframe, "score", r.Score, "rejected", r.Rejected)
			}
		}
		if err := p.opts.Sink.Put(ctx, b.started, tables.QualityReports.Rows(reports)); err != nil {
			errs = append(errs, fmt.Errorf("storing quality reports: %w", err))
		}
	}
	return int64(len(res.Accepted)), errors.Join(errs...)
}

// QualityRow is a report as a row of ops.quality_reports. The table has
// no timeframe column, so a candle report's timeframe is recorded in the
// data type ("ohlcv:1m") rather than lost.
func QualityRow(now time.Time, r quality.Report) ops.QualityReport {
	issues, err := json.Marshal(r.Issues)
	if err != nil || r.Issues == nil {
		issues = []byte("[]")
	}
	dt := string(r.DataType)
	if r.Timeframe != "" {
		dt += ":" + string(r.Timeframe)
	}
	return ops.QualityReport{
		Time: now, Exchange: r.Exchange, Symbol: string(r.Symbol), DataType: dt,
		RowsTotal: r.Rows, RowsRejected: r.Rejected,
		Completeness: r.Completeness, Accuracy: r.Accuracy, Consistency: r.Consistency,
		Timeliness: r.Timeliness, Validity: r.Validity, Uniqueness: r.Uniqueness,
		Score: r.Score, Passed: r.Passed, Issues: issues,
	}
}

// notify publishes an event; like the cache, it is best effort.
func (p *Pipeline) notify(ctx context.Context, kind, symbol string, v any) {
	if p.opts.Notify == nil {
		return
	}
	if err := p.opts.Notify.Notify(ctx, kind, p.exchange, symbol, v); err != nil {
		p.logger.Warn("publishing failed", "kind", kind, "err", err)
	}
}

// fetchError is a failed fetch as published.
type fetchError struct {
	DataType market.DataType `json:"data_type"`
	Error    string          `json:"error"`
	Decode   bool            `json:"decode"` // the response came but could not be parsed
}

// fetchFailed counts a failed fetch; an undecodable response is kept as a
// rejected row with its raw payload.
func (p *Pipeline) fetchFailed(ctx context.Context, dt market.DataType, symbol string, started time.Time, err error) error {
	p.m.fetchErrors.WithLabelValues(p.exchange, string(dt)).Inc()
	var decode *exchange.DecodeError
	p.notify(ctx, NotifyError, symbol, fetchError{DataType: dt, Error: err.Error(), Decode: errors.As(err, &decode)})
	var de *exchange.DecodeError
	if !errors.As(err, &de) {
		if symbol != "" {
			return fmt.Errorf("fetching %s %s: %w", dt, symbol, err)
		}
		return fmt.Errorf("fetching %s: %w", dt, err)
	}
	p.m.decodeErrors.WithLabelValues(p.exchange, string(dt)).Inc()
	p.m.rejected.WithLabelValues(p.exchange, string(dt), SourceDecode).Inc()
	row := ops.RejectedRow{Time: p.now(), Exchange: p.exchange, Symbol: symbol, DataType: string(dt),
		Source: SourceDecode, Code: ops.CodeDecode, Reason: de.Error(), Payload: de.Payload}
	err = fmt.Errorf("%w: %s %s: %w", ErrDecode, dt, symbol, err)
	if perr := p.opts.Rejects.Put(ctx, started, tables.RejectedRows.Rows([]ops.RejectedRow{row})); perr != nil {
		return errors.Join(err, fmt.Errorf("storing the undecodable response: %w", perr))
	}
	return err
}
