package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/tables"
)

// Candle capture keeps every series whole: each run of the candle job
// fetches, per symbol and timeframe, from the series' cursor (the first
// period not yet stored closed) up to the running period, a page at a time
// where more than one page is missing. A candle stored open is thus fetched
// again on the next run, until it is stored closed with its final values;
// a restart continues from what the database holds; periods the exchange
// skipped while answering for later ones are recorded as holes (coverage
// without rows), which `mdingest gaps` lists as "no data at exchange".

// CandleStore is what the candle job reads and records of the stored
// series (*store.Store).
type CandleStore interface {
	CandleCursor(ctx context.Context, exchange string, symbol market.Symbol, tf market.Timeframe, from, to time.Time) (ops.CandleCursor, error)
	Coverage(ctx context.Context, exchange string, symbol market.Symbol, kind market.DataType, tf market.Timeframe, cov []ops.Coverage) error
}

// DefaultCandleCatchup is how far back a run pages from its cursor.
const DefaultCandleCatchup = 24 * time.Hour

// defaultCandlePage is the page size for an exchange that states no maximum.
const defaultCandlePage = 500

type seriesKey struct {
	symbol market.Symbol
	tf     market.Timeframe
}

// candleCursors is this process's own record of each series' cursor: ahead
// of the database while the writer still holds rows, and all there is while
// the database is away.
type candleCursors struct {
	mu   sync.Mutex
	next map[seriesKey]time.Time
}

func (c *candleCursors) get(k seriesKey) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.next[k]
	return t, ok
}

func (c *candleCursors) set(k seriesKey, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = map[seriesKey]time.Time{}
	}
	c.next[k] = t
}

// Candles fetches each symbol's candles of each timeframe from its cursor
// forward. Candles whose period had not ended when their request began are
// marked open: the store replaces them when a later run brings their final
// values. It goes on past a failed series; the job fails if any failed.
func (p *Pipeline) Candles(ctx context.Context) (int64, error) {
	var errs []error
	var total int64
	for _, s := range p.Symbols() {
		for _, tf := range p.opts.Timeframes {
			if ctx.Err() != nil {
				return total, errors.Join(append(errs, ctx.Err())...)
			}
			n, err := p.candleSeries(ctx, seriesKey{s, tf})
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return total, errors.Join(errs...)
}

// candleSeries runs one series: from the cursor to the running period.
func (p *Pipeline) candleSeries(ctx context.Context, k seriesKey) (int64, error) {
	d := k.tf.Duration()
	current := p.now().Truncate(d)
	floor := current.Add(-p.opts.CandleCatchup).Truncate(d)
	next, known := p.candleStart(ctx, k, floor, current)
	if known && next.Before(floor) {
		p.logger.Info("candle cursor older than the catch-up window: the gap fill fetches the rest",
			"symbol", k.symbol, "timeframe", k.tf, "cursor", next, "from", floor)
		next = floor
	}
	b := p.candleBatch()
	var total int64
	for {
		// A known series is asked from its last candle stored closed:
		// exchanges differ on whether since is inclusive, and one repeated
		// candle costs less than a missed one. An unknown one gets the
		// latest few.
		var since time.Time
		limit := p.opts.CandleLimit
		if known {
			since = next.Add(-d)
			limit = min(p.candlePage, int(current.Sub(since)/d)+1)
		}
		started := p.now()
		got, err := p.opts.Fetcher.OHLCV(ctx, k.symbol, k.tf, since, limit)
		if err != nil {
			return total, p.fetchFailed(ctx, market.TypeOHLCV, string(k.symbol), started, fmt.Errorf("%s: %w", k.tf, err))
		}
		a := readCandles(got, since, next, limit, started, d)
		if len(a.holes) > 0 {
			p.recordHoles(ctx, k, a.holes)
		}
		// A page another follows is old by construction (a catch-up):
		// only the page reaching the running period is judged on
		// freshness.
		b.started, b.rows, b.history = started, a.rows, a.more
		n, err := process(ctx, p, b)
		total += n
		if err != nil {
			return total, err // the cursor stays: the next run asks again
		}
		if a.next.IsZero() {
			return total, nil // nothing yet to continue from
		}
		p.cursors.set(k, a.next)
		if !a.more || (known && !a.next.After(next)) {
			return total, nil
		}
		next, known = a.next, true
	}
}

// candleStart is where a series' fetch begins: the first period not yet
// stored closed. The database says it after a restart, and for runs another
// instance made; this process's own record is ahead of it while the writer
// holds rows, and all there is while the database is away. On this
// process's first run of the series, candles that were stored open and
// left so (by a stop) are fetched again, from the oldest one within the
// catch-up window. known is false for a series with nothing stored.
func (p *Pipeline) candleStart(ctx context.Context, k seriesKey, floor, current time.Time) (next time.Time, known bool) {
	mem, inMem := p.cursors.get(k)
	if p.opts.Candles == nil {
		return mem, inMem
	}
	c, err := p.opts.Candles.CandleCursor(ctx, p.exchange, k.symbol, k.tf, floor, current)
	if err != nil {
		p.logger.Warn("reading the candle cursor failed: going on from this process's own",
			"symbol", k.symbol, "timeframe", k.tf, "err", err)
		return mem, inMem
	}
	var db time.Time
	if !c.LastClosed.IsZero() {
		db = c.LastClosed.Add(k.tf.Duration())
	}
	if !inMem && !c.FirstOpen.IsZero() && (db.IsZero() || c.FirstOpen.Before(db)) {
		db = c.FirstOpen
	}
	switch {
	case db.IsZero():
		return mem, inMem
	case !inMem || db.After(mem):
		return db, true
	}
	return mem, true
}

// recordHoles keeps the periods the exchange has nothing for, so that gaps
// tells them from misses and gap filling does not ask again. It is best
// effort: an unrecorded hole shows as missing, and the gap fill asks for it
// and records the answer.
func (p *Pipeline) recordHoles(ctx context.Context, k seriesKey, holes []ops.Coverage) {
	missing := 0
	for _, h := range holes {
		missing += int(h.AskedTo.Sub(h.AskedFrom) / k.tf.Duration())
	}
	p.logger.Info("the exchange has no candles for some periods: recorded as holes",
		"symbol", k.symbol, "timeframe", k.tf, "periods", missing, "from", holes[0].AskedFrom)
	if p.opts.Candles == nil {
		return
	}
	if err := p.opts.Candles.Coverage(ctx, p.exchange, k.symbol, market.TypeOHLCV, k.tf, holes); err != nil {
		p.logger.Warn("recording candle holes failed", "symbol", k.symbol, "timeframe", k.tf, "err", err)
	}
}

func (p *Pipeline) candleBatch() batch[market.Candle] {
	return batch[market.Candle]{
		dataType: market.TypeOHLCV,
		check:    p.opts.Checker.CheckCandles, put: putTo(p.opts.Sink, tables.Candles),
		cache: cacheFn(p.opts.Cache, Cache.SetCandles),
		row:   candleRow,
	}
}

func candleRow(k market.Candle) (string, any) {
	return string(k.Symbol), map[string]any{"timeframe": k.Timeframe, "closed": k.Closed, "ohlcv": k}
}

// candleAnswer is one OHLCV answer read against a series' cursor.
type candleAnswer struct {
	rows  []market.Candle // in time order, one per period, Closed as of the request
	next  time.Time       // the cursor after it; zero: still unknown
	holes []ops.Coverage  // periods the exchange has nothing for (Rows 0)
	more  bool            // a full page ending before the running period: ask again
}

// readCandles reads the answer to OHLCV(since, limit), asked at asked, of
// timeframe tf, for
// a series whose cursor is next (zero: unknown, since zero asked for the
// latest candles):
//   - rows are sorted, with one candle per period (the exchange's last word
//     where it repeats one), each Closed if its period had ended at asked;
//   - the cursor moves past every closed candle from it on, and stops at
//     an open one, which the next run fetches again;
//   - periods from the cursor that the answer skipped while it sent later
//     ones are holes: the exchange has nothing there (or no longer serves
//     it). The running and the latest ended periods are never holes unless
//     a later candle came: an exchange may not have them yet;
//   - an empty answer for a window that had wholly ended is a hole, and the
//     cursor moves past the window.
func readCandles(got []market.Candle, since, next time.Time, limit int, asked time.Time, tf time.Duration) candleAnswer {
	slices.SortStableFunc(got, func(a, b market.Candle) int { return a.Time.Compare(b.Time) })
	var a candleAnswer
	for _, c := range got {
		if n := len(a.rows); n > 0 && a.rows[n-1].Time.Equal(c.Time) {
			a.rows = a.rows[:n-1]
		}
		c.Closed = c.ClosedAt(asked)
		a.rows = append(a.rows, c)
	}
	if next.IsZero() {
		if len(a.rows) == 0 {
			return a
		}
		next = a.rows[0].Time
	}
	a.next = next
	if len(a.rows) == 0 {
		if since.IsZero() || limit <= 0 {
			return a
		}
		// Only a window of ended periods (a catch-up page) says anything.
		if end := since.Add(time.Duration(limit) * tf); !end.After(asked) && end.After(next) {
			a.holes = []ops.Coverage{{AskedFrom: next, AskedTo: end}}
			a.next, a.more = end, true
		}
		return a
	}
	at := next
	for _, c := range a.rows {
		if c.Time.Before(at) {
			continue // the repeated candle before the cursor
		}
		if c.Time.After(at) {
			a.holes = append(a.holes, ops.Coverage{AskedFrom: at, AskedTo: c.Time})
		}
		if !c.Closed {
			at = c.Time
			break
		}
		at = c.End()
	}
	a.next = at
	last := a.rows[len(a.rows)-1]
	a.more = limit > 0 && len(got) >= limit && last.Closed && last.End().Before(asked)
	return a
}
