package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/tables"
)

// One checked road: rows that reach the warehouse by another way than the
// scheduled jobs (fetch --store, backfill, gaps --fill, the daemon's gap
// fill) go through the same checks and records as the jobs' own: the
// quality checker, rejected rows to ops.rejected_rows, reports to
// ops.quality_reports, the pipeline's metrics, and the sink.

// Checked is what the checks made of a batch.
type Checked struct {
	Accepted int // handed on to be stored
	Rejected int // kept in ops.rejected_rows
}

// Ingest* run a batch fetched outside the jobs, started at started, down
// the jobs' road: checked with the live freshness bounds, cached, stored
// through the sink.

// IngestMarkets stores a market list as RefreshMarkets does (a market list
// has no checks).
func (p *Pipeline) IngestMarkets(ctx context.Context, started time.Time, rows []market.Market) error {
	if err := p.opts.Sink.Put(ctx, started, tables.Symbols.Rows(rows)); err != nil {
		return fmt.Errorf("storing markets: %w", err)
	}
	p.m.accepted.WithLabelValues(p.exchange, string(market.TypeMarkets)).Add(float64(len(rows)))
	return nil
}

// IngestTickers checks and stores tickers; one without a time gets the
// time it is handed over, as in the job.
func (p *Pipeline) IngestTickers(ctx context.Context, started time.Time, rows []market.Ticker) (Checked, error) {
	for i := range rows {
		stampReceived(&rows[i].Time, p.now())
	}
	b := p.tickerBatch()
	b.started, b.rows = started, rows
	return checked(ctx, p, b)
}

// IngestOrderBooks checks and stores order books; one without a time gets
// the time it is handed over, as in the job.
func (p *Pipeline) IngestOrderBooks(ctx context.Context, started time.Time, rows []market.OrderBook) (Checked, error) {
	for i := range rows {
		stampReceived(&rows[i].Time, p.now())
	}
	b := p.bookBatch()
	b.started, b.rows = started, rows
	return checked(ctx, p, b)
}

// IngestCandles checks and stores candles; their Closed flags are the
// caller's.
func (p *Pipeline) IngestCandles(ctx context.Context, started time.Time, rows []market.Candle) (Checked, error) {
	b := p.candleBatch()
	b.started, b.rows = started, rows
	return checked(ctx, p, b)
}

// IngestTrades checks and stores trades.
func (p *Pipeline) IngestTrades(ctx context.Context, started time.Time, rows []market.Trade) (Checked, error) {
	b := p.tradeBatch()
	b.started, b.rows = started, rows
	return checked(ctx, p, b)
}

// History* run a page of history (backfill, gap fill) down the same road,
// with two differences: no freshness bound (history is old by design) and
// no cache (it holds the latest values); the accepted rows go to put, so
// that a backfill stores them synchronously and learns what the store did
// before it moves its cursor.

// HistoryCandles checks a page of candles and stores what passes with put.
func (p *Pipeline) HistoryCandles(ctx context.Context, started time.Time, rows []market.Candle,
	put func(context.Context, []market.Candle) error) (Checked, error) {
	b := p.candleBatch()
	b.started, b.rows, b.history, b.cache = started, rows, true, nil
	b.put = func(ctx context.Context, _ time.Time, rows []market.Candle) error { return put(ctx, rows) }
	return checked(ctx, p, b)
}

// HistoryTrades checks a page of trades and stores what passes with put.
func (p *Pipeline) HistoryTrades(ctx context.Context, started time.Time, rows []market.Trade,
	put func(context.Context, []market.Trade) error) (Checked, error) {
	b := p.tradeBatch()
	b.started, b.rows, b.history = started, rows, true
	b.put = func(ctx context.Context, _ time.Time, rows []market.Trade) error { return put(ctx, rows) }
	return checked(ctx, p, b)
}

func checked[T any](ctx context.Context, p *Pipeline, b batch[T]) (Checked, error) {
	n, err := process(ctx, p, b)
	return Checked{Accepted: int(n), Rejected: len(b.rows) - int(n)}, err
}

// The batch descriptors the jobs and these share.

func (p *Pipeline) tickerBatch() batch[market.Ticker] {
	return batch[market.Ticker]{
		dataType: market.TypeTicker,
		check:    p.opts.Checker.CheckTickers, put: putTo(p.opts.Sink, tables.Tickers),
		cache: cacheFn(p.opts.Cache, Cache.SetTickers),
		row:   func(t market.Ticker) (string, any) { return string(t.Symbol), t },
	}
}

func (p *Pipeline) bookBatch() batch[market.OrderBook] {
	return batch[market.OrderBook]{
		dataType: market.TypeOrderBook,
		check:    p.opts.Checker.CheckOrderBooks, put: putTo(p.opts.Sink, tables.OrderBooks),
		cache: cacheFn(p.opts.Cache, Cache.SetOrderBooks),
		row:   func(b market.OrderBook) (string, any) { return string(b.Symbol), b },
	}
}

func (p *Pipeline) tradeBatch() batch[market.Trade] {
	return batch[market.Trade]{
		dataType: market.TypeTrades,
		check:    p.opts.Checker.CheckTrades, put: putTo(p.opts.Sink, tables.Trades),
		row: func(t market.Trade) (string, any) { return string(t.Symbol), t },
	}
}
